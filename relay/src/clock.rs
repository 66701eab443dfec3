//! Wall-clock time as the core's [`Millis`]; the only place the relay reads
//! the system clock.
//!
//! `TWINLINE_CLOCK_OFFSET_MS` (test-only, read once at the first reading)
//! shifts this process's clock by that many milliseconds, positive or
//! negative: the clock-skew process tests run one deployment minutes ahead
//! of the other without libfaketime. It is not a `--flag` on purpose: no
//! deployment should ever set it.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};
use twinline_core::Millis;

/// The test-only clock shift, in milliseconds.
pub const OFFSET_VAR: &str = "TWINLINE_CLOCK_OFFSET_MS";

fn offset_ms() -> i64 {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        let offset = std::env::var(OFFSET_VAR)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .unwrap_or(0);
        if offset != 0 {
            tracing::warn!(
                offset_ms = offset,
                "{OFFSET_VAR} is set: this relay's clock is shifted (tests only)"
            );
        }
        offset
    })
}

/// Milliseconds since the Unix epoch.
pub fn now() -> Millis {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Millis(real.saturating_add_signed(offset_ms()))
}
