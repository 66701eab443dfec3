//! One Twinline deployment: the relay that visitors and operators connect
//! to, and the moderator that tells them which deployment is active.
//!
//! # Layout
//! - [`cli`]: command line (`serve`, `operator add`, `moderator`).
//! - [`serve`]: configuration, wiring and the HTTP/WebSocket server of a relay.
//! - [`accounts`]: operator accounts (argon2) and their CLI.
//! - [`moderator`]: health probing of both deployments, `/v1/active`, manual
//!   failover and the status page.
pub mod accounts;
pub mod cli;
pub mod moderator;
pub mod serve;
