//! What a session is told at start: who it is, where the deployments and
//! the moderator are, and how patient to be.
//!
//! Every duration lives in [`Timing`] so tests can shrink them and the
//! figures in docs/benchmarks.md can be traced to one place.

use crate::id::ChatId;
use crate::model::{Author, Role};
use crate::protocol::DeploymentRole;
use serde::{Deserialize, Serialize};

/// One deployment as a client reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Deployment name, as the relay reports it in `welcome` and `/v1/health`.
    pub name: String,
    /// Primary or redundant.
    pub role: DeploymentRole,
    /// HTTP base URL without a trailing slash, e.g. `http://127.0.0.1:7001`.
    pub url: String,
}

impl Endpoint {
    /// The WebSocket URL: `ws://…/v1/ws` (or `wss://` for `https://`).
    pub fn ws_url(&self) -> String {
        let base = self.url.trim_end_matches('/');
        let base = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_string()
        };
        format!("{base}/v1/ws")
    }

    /// The health URL probed to tell whether the deployment answers.
    pub fn health_url(&self) -> String {
        format!("{}/v1/health", self.url.trim_end_matches('/'))
    }
}

/// Every delay the session uses, in milliseconds.
///
/// The defaults aim at issue 9's and issue 19's targets:
///
/// - A crash is noticed when the socket closes and the other deployment is
///   tried at once, so a failover takes one connection set-up.
/// - A silent link is found within `heartbeat_interval + heartbeat_timeout`
///   (1.8 s) when idle, and within `reply_grace + heartbeat_timeout`
///   (1.1 s) of the first message it leaves unanswered, so the loss of a
///   link in use costs at most about 1.5 s to the next ack, while an idle
///   visitor still pings once per `heartbeat_interval`, as before.
/// - A deployment that does not answer at all (black-holed) costs a new
///   connection `race_delay` (RFC 8305's connection attempt delay), not a
///   `connect_timeout`: the other deployment is raced after that head
///   start, or after `race_delay_min` once the other has answered a
///   health probe this one has not.
/// - With both deployments down, both are probed every
///   `outage_probe_interval` (jittered), and the first to answer is
///   connected to at once: the first ack comes well within a second of it
///   answering, while the cost to it is one health request per client per
///   probe round and one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Silence on a live link after which a `ping` is sent.
    pub heartbeat_interval: u64,
    /// How long a `ping` may go unanswered before the link counts as dead.
    pub heartbeat_timeout: u64,
    /// How long a message may wait for its ack before the link is checked
    /// with a `ping`.
    pub reply_grace: u64,
    /// The shortest time between two pings of the heartbeat (relays allow
    /// 2 a second, docs/PROTOCOL.md's limits). A check the browser asks
    /// for (`Input::Network`, `Input::Resumed`) goes at once: it is one
    /// ping, and never while another is out.
    pub ping_gap: u64,
    /// How long opening a socket, and then getting `welcome`, may each take.
    pub connect_timeout: u64,
    /// Head start of the preferred deployment: a connection not welcomed
    /// after this long gets a rival to the other deployment (if it is not
    /// known to be down), and the first welcomed wins.
    pub race_delay: u64,
    /// The head start once the other deployment has answered a health
    /// probe that the preferred one, asked no later, has not: RFC 8305's
    /// minimum connection attempt delay (it is known to answer, and this
    /// one is slower right now).
    pub race_delay_min: u64,
    /// Head start of a rejoin: when a working link to the deployment the
    /// moderator names is closed (its relay node died or restarted), the
    /// session first reconnects to the same URL, where the deployment's
    /// load balancer sends it to a live node; only a rejoin not welcomed
    /// after this long gets a rival to the other deployment. Longer than
    /// `race_delay`: the deployment is known to be up (the moderator says
    /// so), and a node taking over hundreds of clients at once is slower
    /// to welcome each than an idle one.
    pub rejoin_grace: u64,
    /// How long a drained node's `migrate` naming its own deployment may
    /// wait before the session opens its new link (drawn evenly from zero
    /// to this): every client of the node hears it at once, and the nodes
    /// that take them over are spared their arriving in the same moment.
    pub migrate_spread: u64,
    /// How often both deployments are probed while the moderator is silent
    /// (each wait drawn from 3/4 to 5/4 of it).
    pub probe_interval: u64,
    /// How often both deployments are probed while no link is up (drawn
    /// the same way): how soon a deployment that comes back is found.
    pub outage_probe_interval: u64,
    /// How often the moderator is asked which deployment is active (drawn
    /// the same way).
    pub moderator_interval: u64,
    /// How long a moderator answer or a probe may take before it counts as
    /// failed (the I/O layer should time out sooner and say so).
    pub request_timeout: u64,
    /// First reconnect delay after a failed attempt (jittered).
    pub backoff_min: u64,
    /// Largest reconnect delay.
    pub backoff_max: u64,
    /// Wait before resending messages the relay asked to retry.
    pub resend_delay: u64,
    /// How long a relay's `migrate` outranks the moderator's older answer.
    pub migrate_hold: u64,
    /// While the user keeps typing, `typing on` goes out at most this often
    /// (each one refreshes the notice on the other side).
    pub typing_every: u64,
    /// Quiet after the last keystroke before `typing off` goes out.
    pub typing_quiet: u64,
    /// A notice heard that is not refreshed for this long is dropped (it
    /// must exceed `typing_every`, or a steady typist would flicker).
    pub typing_stale: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            heartbeat_interval: 1_000,
            heartbeat_timeout: 800,
            reply_grace: 300,
            ping_gap: 500,
            connect_timeout: 3_000,
            race_delay: 250,
            race_delay_min: 100,
            rejoin_grace: 1_500,
            migrate_spread: 2_000,
            probe_interval: 2_000,
            outage_probe_interval: 600,
            moderator_interval: 3_000,
            request_timeout: 3_500,
            backoff_min: 100,
            backoff_max: 5_000,
            resend_delay: 1_000,
            migrate_hold: 30_000,
            typing_every: 2_500,
            typing_quiet: 4_000,
            typing_stale: 8_000,
        }
    }
}

/// Where the session connects and as whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Visitor or operator.
    pub role: Role,
    /// Site id sent in `hello`.
    pub site: String,
    /// The moderator's base URL, if there is one.
    pub moderator: Option<String>,
    /// The deployments, normally one primary and one redundant.
    pub deployments: Vec<Endpoint>,
    /// Delays.
    pub timing: Timing,
}

impl SessionConfig {
    /// The endpoint of a role, if configured.
    pub fn endpoint(&self, role: DeploymentRole) -> Option<&Endpoint> {
        self.deployments.iter().find(|e| e.role == role)
    }

    /// The role of the deployment called `name`, if configured.
    pub fn role_named(&self, name: &str) -> Option<DeploymentRole> {
        self.deployments
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.role)
    }

    /// The role of the deployment at `url`, if configured.
    pub fn role_at(&self, url: &str) -> Option<DeploymentRole> {
        let url = url.trim_end_matches('/');
        self.deployments
            .iter()
            .find(|e| e.url.trim_end_matches('/') == url)
            .map(|e| e.role)
    }

    pub(crate) fn moderator_url(&self) -> Option<String> {
        self.moderator
            .as_deref()
            .map(|m| m.trim_end_matches('/'))
            .filter(|m| !m.is_empty())
            .map(|m| format!("{m}/v1/active"))
    }
}

/// Who the session speaks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Signed visitor token or operator session token.
    pub token: String,
    /// The author stamped on messages this session writes.
    pub author: Author,
    /// A visitor's chat (from its token); `None` for operators.
    #[serde(default)]
    pub chat: Option<ChatId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_scheme() {
        let plain = Endpoint {
            name: "primary".into(),
            role: DeploymentRole::Primary,
            url: "http://127.0.0.1:7001/".into(),
        };
        assert_eq!(plain.ws_url(), "ws://127.0.0.1:7001/v1/ws");
        assert_eq!(plain.health_url(), "http://127.0.0.1:7001/v1/health");
        let tls = Endpoint {
            url: "https://chat.example".into(),
            ..plain
        };
        assert_eq!(tls.ws_url(), "wss://chat.example/v1/ws");
    }
}
