//! One Twinline deployment: the relay that visitors and operators connect
//! to, its replication to the peer deployment, and the moderator that tells
//! clients which deployment is active.
//!
//! # Layout
//! - [`cli`]: command line (`serve`, `operator`, `moderator`).
//! - [`config`]: flags, environment and TOML merged into one [`config::Config`].
//! - [`serve`]: wiring: router, startup, graceful shutdown.
//! - [`state`]: what every handler shares.
//! - [`http`]: health, visitor tokens, operator login, admin drain, metrics.
//! - [`assets`]: the static files, compressed and cached by name.
//! - [`console_page`]: the operator console's `config.json` and headers.
//! - [`ws`]: the WebSocket protocol for visitors and operators.
//! - [`hub`]: who is connected and follows which chat; each connection's
//!   outgoing queue.
//! - [`fanout`]: what connected clients are told when something changes,
//!   here or at the peer (queue, inbox, presence, chat headers).
//! - [`presence`]: whether a chat's visitor is still there (its last
//!   connection's close recorded in the header, a left visitor's waiting
//!   chat out of the queue).
//! - [`catchup`]: what a client and the relay each lack of a chat.
//! - [`store`]: the merge rules over SQLite or PostgreSQL, a group-commit
//!   writer; the change feed.
//! - [`cluster`]: a deployment of several nodes on PostgreSQL: cross-node
//!   fan-out, presence and typing between nodes, the replication lease.
//! - [`replication`]: pulling and streaming the peer's change feed.
//! - [`tokens`]: HMAC-signed visitor and operator tokens.
//! - [`accounts`]: operator accounts (argon2, sites, roles) and their CLI.
//! - [`apikeys`]: API keys (SHA-256 of 256 random bits, scopes) and their CLI.
//! - [`api`]: the REST API under `/v1/api/`, for keys.
//! - [`authz`]: who may do what on the operator side (pure decisions).
//! - [`history`]: the console's history search and a chat read whole.
//! - [`sessions`]: ending operator sessions an account change revokes.
//! - [`throttle`]: failure throttling for logins and admin tokens.
//! - [`net`]: the HTTP listener relay and moderator share (header timeout,
//!   connection caps, descriptor limit, client address behind a proxy).
//! - [`limits`]: rate limits, and every limit's default.
//! - [`drain`]: a drain as a lease the moderator renews.
//! - [`metrics`], [`logging`], [`clock`]: the small utilities.
//! - [`moderator`]: health probing of both deployments, `/v1/active`, manual
//!   failover and the status page.
pub mod accounts;
pub mod api;
pub mod apikeys;
pub mod assets;
pub mod authz;
pub mod catchup;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod console_page;
pub mod drain;
pub mod erasure;
pub mod fanout;
pub mod files;
pub mod history;
#[cfg(test)]
mod history_tests;
pub mod http;
pub mod hub;
pub mod limits;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod moderator;
pub mod net;
pub mod presence;
pub mod replication;
#[cfg(test)]
mod router_tests;
pub mod serve;
pub mod sessions;
pub mod state;
pub mod store;
#[cfg(test)]
mod test_relay;
pub mod throttle;
pub mod tokens;
pub mod webhooks;
pub mod ws;
