//! One Twinline deployment.
//!
//! # Layout
//! - [`cli`]: command line (`serve`, `operator add`, `moderator`).
pub mod cli;
