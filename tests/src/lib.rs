//! Helpers for Twinline's process-level tests: start real relays and
//! moderators on free ports in temporary directories, kill them with SIGKILL,
//! restart them, and talk to them over real WebSockets and HTTP.
//!
//! - [`process`]: a relay process ([`process::RelayProcess`]) and its data dir.
//! - [`client`]: a protocol client over tokio-tungstenite and HTTP helpers.
//! - [`pair`]: a replicating primary/redundant pair and readers of their stores.
//! - [`moderator`]: a moderator process ([`moderator::ModeratorProcess`]) and calls to it.
//! - [`native`]: the core session over real sockets (widget logic, natively).
//! - [`nodes`]: a deployment of relay nodes over PostgreSQL behind HAProxy.
//! - [`link`]: a TCP link a test can cut, silence, slow or retarget.
//! - [`soak`]: the chaos soak (many chats, a seeded fault schedule, checks).

pub mod bench;
pub mod client;
pub mod link;
pub mod moderator;
pub mod native;
pub mod nodes;
pub mod pair;
pub mod process;
pub mod soak;

/// The shared secret every test deployment pair uses.
pub const SECRET: &str = "test-secret-0123456789";
/// The admin token of test deployments.
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// The site every test relay serves, and its allowed origin.
pub const SITE: &str = "demo";
/// The origin allowed to embed [`SITE`].
pub const SITE_ORIGIN: &str = "http://site.test";
