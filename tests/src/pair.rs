//! A primary and a redundant relay that replicate to each other, and ways
//! to read what each one holds.

use crate::process::{RelayOptions, RelayProcess, free_port};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use twinline_core::Message;
use twinline_core::protocol::{DeploymentRole, Health};

/// Two relays naming each other as peers.
pub struct Pair {
    /// The primary deployment.
    pub primary: RelayProcess,
    /// The redundant deployment.
    pub redundant: RelayProcess,
}

impl Pair {
    /// Starts both with `extra` flags each.
    pub fn start(extra: &[&str]) -> Pair {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Pair::start_each(extra.clone(), extra)
    }

    /// Starts the primary with `primary_extra` flags and the redundant
    /// with `redundant_extra` (a setting one deployment has and the other
    /// lacks).
    pub fn start_each(primary_extra: Vec<String>, redundant_extra: Vec<String>) -> Pair {
        let primary_port = free_port();
        let redundant_port = free_port();
        let primary = RelayProcess::start_on(
            RelayOptions {
                peer: Some((
                    format!("http://127.0.0.1:{redundant_port}"),
                    "redundant".into(),
                )),
                extra: primary_extra,
                ..RelayOptions::primary()
            },
            primary_port,
        );
        let redundant = RelayProcess::start_on(
            RelayOptions {
                peer: Some((format!("http://127.0.0.1:{primary_port}"), "primary".into())),
                extra: redundant_extra,
                ..RelayOptions::redundant()
            },
            redundant_port,
        );
        Pair { primary, redundant }
    }

    /// The relay of `role`.
    pub fn relay_mut(&mut self, role: DeploymentRole) -> &mut RelayProcess {
        match role {
            DeploymentRole::Primary => &mut self.primary,
            DeploymentRole::Redundant => &mut self.redundant,
        }
    }
}

/// One page of a relay's replication feed after `since`, as JSON, read
/// with the shared secret's bearer like the peer reads it.
pub async fn feed_page(relay: &RelayProcess, since: u64) -> serde_json::Value {
    feed_page_at(&relay.url(), since).await
}

/// [`feed_page`] of the relay (or load balancer) at `base`.
pub async fn feed_page_at(base: &str, since: u64) -> serde_json::Value {
    let bearer = twinline_relay::replication::bearer(crate::SECRET);
    reqwest::Client::new()
        .get(format!(
            "{base}/v1/replication/changes?since={since}&peer=inspector"
        ))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("reading the feed")
        .json()
        .await
        .expect("a feed page")
}

/// Every message a relay holds, by id, read through its replication feed.
pub async fn messages_of(relay: &RelayProcess) -> BTreeMap<String, Message> {
    messages_at(&relay.url()).await
}

/// [`messages_of`] the relay (or load balancer) at `base`.
pub async fn messages_at(base: &str) -> BTreeMap<String, Message> {
    let mut since = 0u64;
    let mut messages = BTreeMap::new();
    loop {
        let page = feed_page_at(base, since).await;
        let changes = page["changes"].as_array().cloned().unwrap_or_default();
        for change in &changes {
            if change["kind"] == "message" {
                let message: Message =
                    serde_json::from_value(change["body"].clone()).expect("a message body");
                let previous = messages.insert(message.id.to_string(), message);
                assert!(previous.is_none(), "a message appears twice in a feed");
            }
        }
        let next = page["next"].as_u64().unwrap_or(since);
        if next == since || next >= page["head"].as_u64().unwrap_or(0) {
            return messages;
        }
        since = next;
    }
}

/// The usernames of the operator accounts a relay holds (not removed), read
/// through its replication feed. Tests wait on this rather than on
/// repeated logins, which the relay throttles like any wrong password.
pub async fn accounts_of(relay: &RelayProcess) -> Vec<String> {
    let page = feed_page(relay, 0).await;
    let mut latest: BTreeMap<String, bool> = BTreeMap::new();
    for change in page["changes"].as_array().cloned().unwrap_or_default() {
        if change["kind"] == "account"
            && let Some(username) = change["body"]["username"].as_str()
        {
            let removed = change["body"]["removed"].as_bool().unwrap_or(false);
            latest.insert(username.to_string(), removed);
        }
    }
    latest
        .into_iter()
        .filter(|(_, removed)| !removed)
        .map(|(username, _)| username)
        .collect()
}

/// A relay's health.
pub async fn health(relay: &RelayProcess) -> Option<Health> {
    health_at(&relay.url()).await
}

/// [`health`] of the relay (or load balancer) at `base`; `None` also when
/// it answers with something else than a health body.
pub async fn health_at(base: &str) -> Option<Health> {
    reqwest::Client::new()
        .get(format!("{base}/v1/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Waits until `done` holds, polling; panics with `what` after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
