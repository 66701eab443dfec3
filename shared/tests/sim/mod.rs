//! A deterministic world for the session state machine: fake relays, a fake
//! moderator and a network on a virtual clock, all driven by one seed.
//!
//! - `relay`: a relay reduced to what clients can observe: a durable
//!   message store that acks, fans out and answers `hello` with what each
//!   side lacks, plus replication to its peer.
//! - `world`: the clock, the event queue, the network (latency, crashes,
//!   silent paths) and the clients, each a real `Session`.
//! - `faults`: random schedules of crashes, silent links, slow links,
//!   moderator loss, both-down, planned switches.

pub mod faults;
pub mod random;
pub mod relay;
pub mod world;
