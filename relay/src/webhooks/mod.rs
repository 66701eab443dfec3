//! Signed webhooks, delivered once across a failover (as far as a receiver
//! that dedupes by `webhook-id` can see).
//!
//! A site's subscriptions ([`crate::store::webhooks::Subscription`], made
//! through the REST API, `api/webhooks.rs`) name a URL and the events they
//! want. Events are not stored records: each deployment derives them from
//! the records it stores ([`events`]), with an id both compute the same, and
//! queues one replicated [`crate::store::webhooks::Delivery`] per event and
//! subscription. Who sends it, when, and when the other deployment takes
//! over are pure decisions ([`schedule`]); the [`sender`] carries them out
//! with reqwest (already the moderator's HTTP client; its `rustls-tls`
//! feature, added for https targets, is the one new build: rustls and ring,
//! about two minutes once on two cores), signing each attempt ([`signing`]) and connecting only to
//! addresses [`target`] allows. docs/PROTOCOL.md, "Webhooks", states the
//! rule and what a receiver sees.
//!
//! One sender runs per deployment: on SQLite the one relay process; on
//! PostgreSQL the node holding the replication lease
//! ([`crate::cluster::lease`]), so nodes of one deployment never race each
//! other for a delivery.
//!
//! A message whose chat header has not arrived when the sender reads it
//! holds no event (its site is unknown); headers are written before their
//! first message on the deployment a visitor writes to, so this is a
//! message replicated ahead of its header, and the owner, which had the
//! header, queues it.

pub mod events;
pub mod schedule;
pub mod sender;
pub mod signing;
pub mod target;

use crate::state::Shared;

/// An attempt's connect timeout.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;

/// The most subscriptions one site may have (deleted ones not counted).
pub const MAX_PER_SITE: usize = 20;

/// The `[webhooks]` settings of a relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Deliver to loopback, private, link-local, unique-local and
    /// unspecified addresses too (receivers on the relay's own network;
    /// the tests' local receiver). Off by default.
    pub allow_private_targets: bool,
    /// The wait after the first failed attempt (doubled after each, at
    /// most an hour).
    pub retry_base_ms: u64,
    /// How long the other deployment holds a pending delivery whose lease
    /// ran out before it takes it over.
    pub handover_ms: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        let timing = schedule::Timing::default();
        Settings {
            allow_private_targets: false,
            retry_base_ms: timing.retry_base_ms,
            handover_ms: timing.handover_ms,
        }
    }
}

impl Settings {
    /// The schedule's timing.
    pub fn timing(&self) -> schedule::Timing {
        schedule::Timing {
            retry_base_ms: self.retry_base_ms.max(1),
            handover_ms: self.handover_ms,
        }
    }
}

/// Starts the sender where this relay is the deployment's one (SQLite);
/// on PostgreSQL [`crate::cluster::lease`] starts it with the lease.
pub fn spawn(state: &Shared) -> Option<tokio::task::JoinHandle<()>> {
    state
        .cluster
        .is_none()
        .then(|| tokio::spawn(sender::run(state.clone())))
}
