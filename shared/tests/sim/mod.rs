//! The simulation harness: a deterministic world for the session state
//! machine, shared by the seeded fault schedules (shared/tests/simulation.rs)
//! and the hand-written scenarios (shared/tests/scenarios/). Real code where
//! it can be: every client is a real `twinline_core::session::Session` and
//! the moderator is the real `twinline_core::moderation::Moderation`; the
//! relays are fakes reduced to what clients observe, and the network and
//! the clock are virtual. One seed draws everything.
//!
//! # Layout
//! - `run`: a world's setup, and the run every test makes: faults, heal,
//!   settle.
//! - `world`: the clock, the clients and what their actions do.
//! - `outages`: what each fault does, healing, the failover times.
//! - `checks`: the rules, checked at every step that could break them
//!   (safety) and once settled (nothing lost, converged, connected).
//! - `relay`: a relay: group commit, then store, fan out, ack; its health.
//! - `moderator`: the real moderation decisions, driven as the moderator
//!   process drives them.
//! - `network`: in-order delivery, latency, slow and silent paths.
//! - `queue`: the agenda of the virtual clock.
//! - `faults`: random schedules of crashes, silent links, slow links,
//!   moderator loss, both-down, planned switches, reloads.
//! - `trace`: `TWINLINE_SIM_TRACE`, one line per input and action.

pub mod checks;
pub mod faults;
pub mod moderator;
pub mod network;
pub mod outages;
pub mod queue;
pub mod relay;
pub mod run;
pub mod trace;
pub mod world;
