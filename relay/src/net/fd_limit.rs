//! File descriptors: raise the soft `RLIMIT_NOFILE` to the hard limit at
//! start, and derive from what was obtained how many connections a
//! listener may hold.
//!
//! Every connection is a descriptor, and so is everything else the process
//! opens: the store (database, WAL and shared-memory files for the writer,
//! each reader and the checkpointer), a static file being served, the
//! connections to the peer, the runtime's own. A process that runs out
//! cannot accept, cannot open a file, and answers nobody: so the connection
//! cap leaves a reserve below the limit, and a little room above the cap
//! to refuse politely (see [`super::refusal`]).

/// Descriptors kept for everything that is not a client connection: at
/// least this many, or a tenth of the limit when that is more.
pub const RESERVE_MIN: u64 = 128;

/// Connections beyond the cap that may still get a `503` answer (instead
/// of being closed at once) at the same time.
pub const REFUSAL_ROOM: u64 = 64;

/// The smallest connection cap ever derived (a tiny limit still serves).
const FLOOR: u64 = 16;

/// What [`raise`] found and obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit before.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the soft limit to the hard one (logged either way). Where the
/// platform has no such limit, answers 1,024 for all three.
pub fn raise() -> FdLimit {
    let Ok((before, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) else {
        tracing::warn!("could not read RLIMIT_NOFILE; assuming 1024");
        return FdLimit {
            before: 1024,
            now: 1024,
            hard: 1024,
        };
    };
    let now = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => now,
        Err(error) => {
            tracing::warn!(%error, soft = before, hard, "could not raise RLIMIT_NOFILE");
            before
        }
    };
    let limit = FdLimit { before, now, hard };
    tracing::info!(
        before = limit.before,
        obtained = limit.now,
        hard = limit.hard,
        connection_cap = connection_cap(limit.now),
        "file descriptor limit"
    );
    limit
}

/// How many client connections fit under a descriptor limit of `fds`:
/// the limit less the reserve and the refusal room.
pub fn connection_cap(fds: u64) -> usize {
    let reserve = RESERVE_MIN.max(fds / 10);
    let cap = fds.saturating_sub(reserve + REFUSAL_ROOM).max(FLOOR);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_a_reserve_and_refusal_room_below_the_limit() {
        assert_eq!(connection_cap(1024), 1024 - 128 - 64);
        assert_eq!(connection_cap(20_000), 20_000 - 2_000 - 64);
        assert_eq!(connection_cap(100), FLOOR as usize);
        for fds in [256, 1024, 4096, 65_536, 1_048_576] {
            let cap = connection_cap(fds) as u64;
            assert!(cap + REFUSAL_ROOM + RESERVE_MIN <= fds, "{fds}");
        }
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        let limit = raise();
        assert!(limit.now >= limit.before);
        assert!(limit.now <= limit.hard);
    }
}
