//! What the moderator reports besides `/v1/active`: the failover history and
//! the per-deployment probe state behind its status page (`GET /v1/status`).

use crate::protocol::ActiveDeployment;
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// One change of the active deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failover {
    /// When it happened.
    pub at: Millis,
    /// The epoch it produced.
    pub epoch: u64,
    /// The deployment that was active.
    pub from: String,
    /// The deployment that is active now.
    pub to: String,
    /// Why, in words for the operator of the service.
    pub reason: String,
    /// True when an administrator asked for it.
    pub manual: bool,
}

/// How one deployment answers its health probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    /// Not probed yet.
    Unknown,
    /// Answers and says it is ready.
    Up,
    /// Answers, but says it is not ready (shutting down or starting).
    NotReady,
    /// Failed its last probes (refused, timed out or garbled) but not yet
    /// enough of them in a row to be called down.
    Failing,
    /// Failed `down_after` probes in a row.
    Unreachable,
}

/// The moderator's view of one deployment's probes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeState {
    /// Deployment name.
    pub name: String,
    /// What its probes say.
    pub reachability: Reachability,
    /// Failed probes in a row.
    pub consecutive_failures: u32,
    /// Probes in a row in which it was ready and fully caught up with its
    /// peer (what failback waits for).
    pub caught_up_streak: u32,
    /// When it last answered a probe.
    pub last_answer: Option<Millis>,
    /// When it was last probed.
    pub last_probe: Option<Millis>,
}

/// A drain the moderator started and has not ended yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainState {
    /// The deployment whose clients are leaving.
    pub deployment: String,
    /// Where they are sent.
    pub to: String,
    /// When the drain started.
    pub since: Millis,
    /// Clients still connected there, as last reported.
    pub clients: Option<u64>,
}

/// `GET /v1/status` on the moderator: everything its status page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModeratorStatus {
    /// The same answer as `/v1/active`.
    pub active: ActiveDeployment,
    /// Both deployments' probe state, primary first.
    pub probes: Vec<ProbeState>,
    /// The drain in progress, if any.
    pub drain: Option<DrainState>,
    /// Recent changes of the active deployment, oldest first.
    pub history: Vec<Failover>,
    /// The moderator's time when this was built.
    pub now: Millis,
}
