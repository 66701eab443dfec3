//! Probing: one task per deployment asks its `/v1/health` every interval
//! and feeds the answers to the decision machine; while that deployment is
//! being drained it also asks how many clients it still has.
//!
//! One task per deployment, not one for both: a black-holed deployment
//! makes its probes wait for the whole timeout, and that must not slow the
//! detection of a crash on the other one.
//!
//! Probes overlap: one goes out every interval whether or not the last has
//! come back (at most [`MAX_IN_FLIGHT`] at once), each given the silence
//! limit, `probe_timeout` times `down_after`, to answer. A refused
//! connection or a body that is not health (a load balancer's 503 with no
//! node left) fails at once, so a crash is seen as fast as before; a
//! silent deployment's probes fail one interval apart once the limit has
//! passed, so it is called down after about the same time as when each
//! probe had `probe_timeout` and the next waited for it. What changes is
//! a deployment that answers slowly: a relay taking over a dead node's
//! thousand clients on a loaded machine answered in 1.0-1.2 s, so every
//! probe timed out at 1 s and the moderator failed a deployment over
//! whose nodes all worked; now its answers keep coming and it stays up.

use super::state::ModeratorState;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use twinline_core::protocol::{DeploymentRole, Health};

/// What a prober needs.
#[derive(Clone, Debug)]
pub struct Prober {
    /// Shared state.
    pub state: Arc<ModeratorState>,
    /// HTTP client (keeps a connection to each relay).
    pub http: reqwest::Client,
    /// Which deployment.
    pub role: DeploymentRole,
    /// Its base URL.
    pub url: String,
    /// Time between probes.
    pub interval: Duration,
    /// Time a drain-progress call may take (the moderator's
    /// `--probe-timeout-ms`).
    pub timeout: Duration,
    /// Time a health probe may take: the silence limit, `--probe-timeout-ms`
    /// times `--down-after` (see the module docs).
    pub silence: Duration,
    /// Bearer for the relay's `/v1/admin/drain`.
    pub relay_admin_token: String,
}

impl Prober {
    /// Probes until the task is aborted.
    pub async fn run(self) {
        let mut ticker = tokio::time::interval(self.interval);
        // After a stall (the process starved of CPU), one probe, then the
        // rhythm resumes: no burst of catch-up probes.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut probes = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = ticker.tick(), if probes.len() < MAX_IN_FLIGHT => {
                    let (http, url, limit) = (self.http.clone(), self.url.clone(), self.silence);
                    probes.spawn(probe(http, url, limit));
                }
                Some(done) = probes.join_next() => {
                    // A probe task only ends by answering.
                    let answer = done.unwrap_or(None);
                    self.feed(answer).await;
                }
            }
        }
    }

    /// Hands one probe's answer to the machine, then asks a drained
    /// deployment how many clients it still has.
    async fn feed(&self, answer: Option<Health>) {
        let role = self.role;
        let draining = self.state.update(|machine, now| {
            machine.handle_probe(now, role, answer);
            machine.drain_in_progress() == Some(role)
        });
        if draining {
            let clients = self.drain_clients().await;
            self.state.update(|machine, now| {
                machine.handle_drain_progress(now, role, clients);
            });
        }
    }

    /// `GET /v1/admin/drain` on the drained relay: clients left.
    async fn drain_clients(&self) -> Option<u64> {
        #[derive(Deserialize)]
        struct Progress {
            clients: u64,
        }
        let response = self
            .http
            .get(format!("{}/v1/admin/drain", self.url))
            .bearer_auth(&self.relay_admin_token)
            .timeout(self.timeout)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            tracing::warn!(url = %self.url, status = %response.status(), "drain progress refused");
            return None;
        }
        response
            .json::<Progress>()
            .await
            .ok()
            .map(|progress| progress.clients)
    }
}

/// Probes out at once per deployment: enough for answers as slow as the
/// silence limit to keep coming at the default interval's pace, few
/// enough that a black-holed deployment costs a handful of sockets.
pub const MAX_IN_FLIGHT: usize = 8;

/// One health probe, given `limit` to answer. A relay that is shutting
/// down answers 503 with a health body saying not ready: that body
/// counts, not the status.
async fn probe(http: reqwest::Client, url: String, limit: Duration) -> Option<Health> {
    let response = http
        .get(format!("{url}/v1/health"))
        .timeout(limit)
        .send()
        .await;
    let body = match response {
        Ok(response) => response.json::<Health>().await,
        Err(error) => {
            tracing::debug!(%url, %error, "health probe failed");
            return None;
        }
    };
    body.inspect_err(|error| {
        tracing::debug!(%url, %error, "health probe answered garbage");
    })
    .ok()
}
