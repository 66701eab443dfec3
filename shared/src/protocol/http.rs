//! JSON bodies of the HTTP endpoints: relay health, the moderator's answer,
//! visitor tokens, operator login and the operator console's configuration.

use crate::id::{ChatId, VisitorId};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// Which of the two deployments a relay is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentRole {
    /// Active by default.
    Primary,
    /// Takes over when the primary fails.
    Redundant,
}

impl DeploymentRole {
    /// The other role.
    pub fn other(self) -> DeploymentRole {
        match self {
            DeploymentRole::Primary => DeploymentRole::Redundant,
            DeploymentRole::Redundant => DeploymentRole::Primary,
        }
    }
}

/// How far a relay is behind its peer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicationLag {
    /// Changes the peer has that this relay has not applied yet.
    pub changes: u64,
    /// Age of the oldest unapplied change, in seconds.
    pub seconds: f64,
    /// True when the relay reached its peer recently enough to know.
    pub connected: bool,
}

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Deployment name.
    pub deployment: String,
    /// Primary or redundant.
    pub role: DeploymentRole,
    /// Failover epoch as the relay knows it.
    pub epoch: u64,
    /// True when the relay accepts chats (store open, not draining).
    pub ready: bool,
    /// True while draining for planned maintenance.
    #[serde(default)]
    pub draining: bool,
    /// Replication lag to the peer, once a peer is configured.
    #[serde(default)]
    pub lag: Option<ReplicationLag>,
    /// Relay version.
    #[serde(default)]
    pub version: String,
}

/// One deployment as the moderator sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentState {
    /// Deployment name.
    pub name: String,
    /// Primary or redundant.
    pub role: DeploymentRole,
    /// Base HTTP URL, e.g. `http://127.0.0.1:7001`.
    pub url: String,
    /// True while its health probes succeed.
    pub up: bool,
    /// Its last health answer.
    #[serde(default)]
    pub health: Option<Health>,
}

/// `GET /v1/active` on the moderator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveDeployment {
    /// Increases at every change of the active deployment.
    pub epoch: u64,
    /// Name of the active deployment.
    pub active: String,
    /// Its base HTTP URL.
    pub url: String,
    /// True while an administrator holds the choice (manual failover).
    #[serde(default)]
    pub held: bool,
    /// Both deployments.
    pub deployments: Vec<DeploymentState>,
}

/// `POST /v1/visitor/token`: a visitor asks for (or renews) its token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorTokenRequest {
    /// Site id from the embed snippet.
    pub site: String,
    /// A token held from before, to keep the same visitor and chat.
    #[serde(default)]
    pub token: Option<String>,
}

/// Answer to [`VisitorTokenRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorTokenResponse {
    /// Signed token binding site, visitor and chat; both deployments accept it.
    pub token: String,
    /// The visitor id the token names.
    pub visitor: VisitorId,
    /// The chat id the token names.
    pub chat: ChatId,
    /// When the token expires.
    pub expires: Millis,
}

/// `POST /v1/operator/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Operator username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Answer to [`LoginRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Signed session token; both deployments accept it.
    pub token: String,
    /// Username.
    pub username: String,
    /// Display name.
    pub name: String,
    /// When the token expires.
    pub expires: Millis,
}

/// `GET /console/config.json`: the deployments the operator console served
/// by a relay talks to, written by that relay from its own configuration.
/// The serving deployment's base URL is the page's origin, so it is not
/// repeated here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleConfig {
    /// The role of the deployment that serves the page.
    pub role: DeploymentRole,
    /// Its name.
    pub name: String,
    /// The other deployment, if the relay has one (`--peer`).
    pub peer: Option<ConsolePeer>,
    /// The moderator's base URL, if the relay names one (`--moderator-url`).
    pub moderator: Option<String>,
}

/// The other deployment in a [`ConsoleConfig`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsolePeer {
    /// Its name.
    pub name: String,
    /// Its base URL.
    pub url: String,
}
