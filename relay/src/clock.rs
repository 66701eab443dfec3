//! Wall-clock time as the core's [`Millis`]; the only place the relay reads
//! the system clock.

use std::time::{SystemTime, UNIX_EPOCH};
use twinline_core::Millis;

/// Milliseconds since the Unix epoch.
pub fn now() -> Millis {
    Millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}
