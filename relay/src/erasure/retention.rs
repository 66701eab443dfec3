//! Retention: a site's closed chats and offline notes older than its
//! retention period (`--retention SITE=DAYS`, `[retention]` in the TOML;
//! off by default) are erased the way a data request erases them, by
//! erasures that replicate and win ([`crate::store::erasures`]).
//!
//! The sweeper runs on one node of a deployment: the one that holds the
//! replication lease on PostgreSQL, the one process on SQLite
//! ([`crate::replication::status::ReplicationStatus::leading`]). Both
//! deployments sweep, each its own store; what one erases, the other
//! receives as an erasure and applies, so the two converge whichever
//! swept first, and a sweep that overlaps another (a lease moving) erases
//! nothing twice: the second finds the rows gone. Each run takes at most
//! [`MAX_BATCHES`] erasures of [`BATCH`] chats and notes per site, so a
//! first run over years of history spreads over several runs instead of
//! holding the writer.
//!
//! How old a chat is: its last activity (its newest message, else when it
//! arrived here), closed chats only: a waiting or active chat is never
//! erased by retention, however old.

use super::ErasureError;
use crate::state::Shared;
use crate::store::erasures::{Erasure, Reason};
use crate::store::records::Record;
use crate::store::{Store, StoreError};
use serde::Serialize;
use twinline_core::model::MAX_SAFE_INTEGER;
use twinline_core::{ChatId, Hlc, Millis, OfflineId, Ulid};

/// Chats and notes one retention erasure lists at most.
pub const BATCH: usize = 200;

/// Erasures one run makes per site at most.
pub const MAX_BATCHES: usize = 20;

const DAY_MS: u64 = 24 * 3600 * 1000;

/// The time before which a chat or note is past `days` of retention.
pub fn cutoff(now: Millis, days: u32) -> Millis {
    Millis(now.0.saturating_sub(u64::from(days) * DAY_MS))
}

/// The erasure of one batch of expired rows of `site`.
pub fn batch_erasure(
    site: &str,
    chats: Vec<ChatId>,
    notes: Vec<OfflineId>,
    now: Millis,
    random: u128,
    node: u64,
) -> Erasure {
    let now = Millis(now.0.min(MAX_SAFE_INTEGER));
    Erasure {
        id: Ulid::new(now, random),
        site: site.to_string(),
        visitor: None,
        email: None,
        chats,
        notes,
        at: now,
        stamp: Hlc::zero(node & MAX_SAFE_INTEGER).tick(now),
        reason: Reason::Retention,
    }
}

/// What a retention period would erase now: the dry run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DryRun {
    /// The site.
    pub site: String,
    /// Its retention period, if it has one.
    pub days: Option<u32>,
    /// Rows older than this are past it (ms).
    pub before: Option<Millis>,
    /// Closed chats past it.
    pub chats: u64,
    /// Offline notes past it.
    pub notes: u64,
}

/// Counts what `days` of retention would erase on `site` now.
pub fn dry_run(
    conn: &mut dyn crate::store::backend::Reads,
    site: &str,
    days: Option<u32>,
    now: Millis,
) -> Result<DryRun, StoreError> {
    let Some(days) = days else {
        return Ok(DryRun {
            site: site.to_string(),
            days: None,
            before: None,
            chats: 0,
            notes: 0,
        });
    };
    let before = cutoff(now, days);
    let (chats, notes) = conn.expired_counts(site, before)?;
    Ok(DryRun {
        site: site.to_string(),
        days: Some(days),
        before: Some(before),
        chats,
        notes,
    })
}

/// One run over `site`: erases what is past `days`, a batch at a time;
/// returns the erasures it made.
pub async fn sweep_site(
    store: &Store,
    origin: &str,
    site: &str,
    days: u32,
    now: Millis,
) -> Result<Vec<Erasure>, ErasureError> {
    let before = cutoff(now, days);
    let mut erased = Vec::new();
    for _ in 0..MAX_BATCHES {
        let name = site.to_string();
        let (chats, notes) = store
            .read(move |conn| conn.expired(&name, before, BATCH / 2))
            .await?;
        if chats.is_empty() && notes.is_empty() {
            break;
        }
        // Half a batch of each: one kind's backlog does not hold up the
        // other's.
        let more = chats.len() == BATCH / 2 || notes.len() == BATCH / 2;
        let erasure = batch_erasure(site, chats, notes, now, rand::random(), rand::random());
        let applied = store
            .apply(Record::Erasure(erasure.clone()), origin)
            .await?;
        if let Some(refusal) = applied.refused {
            return Err(ErasureError::Refused(refusal.to_string()));
        }
        erased.push(erasure);
        if !more {
            break;
        }
    }
    Ok(erased)
}

/// The sweeper: every `retention_every`, on the node that leads, one run
/// over each site with a retention period. Runs until aborted.
pub async fn run(state: Shared) {
    if state.config.retention.is_empty() {
        return;
    }
    let mut every = tokio::time::interval(state.config.retention_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if !state.replication.leading() {
            continue;
        }
        for (site, days) in &state.config.retention {
            let span = tracing::info_span!("retention", %site, days);
            let _enter = span.enter();
            match sweep_site(
                &state.store,
                &state.config.name,
                site,
                *days,
                crate::clock::now(),
            )
            .await
            {
                Ok(erasures) if erasures.is_empty() => {
                    tracing::debug!("nothing past the retention period");
                }
                Ok(erasures) => {
                    let chats: usize = erasures.iter().map(|e| e.chats.len()).sum();
                    let notes: usize = erasures.iter().map(|e| e.notes.len()).sum();
                    tracing::info!(chats, notes, "erased what the retention period passed");
                    for erasure in &erasures {
                        super::tell_followers(&state, erasure);
                    }
                    crate::fanout::queue(&state).await;
                    crate::fanout::inbox(&state).await;
                }
                Err(error) => tracing::warn!(%error, "retention sweep failed; next run retries"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_days_before_now_and_never_below_zero() {
        assert_eq!(cutoff(Millis(10 * DAY_MS), 3), Millis(7 * DAY_MS));
        assert_eq!(cutoff(Millis(5), 30), Millis(0));
        let erasure = batch_erasure("demo", vec![ChatId(Ulid(1))], Vec::new(), Millis(9), 4, 2);
        assert_eq!((erasure.reason, erasure.at), (Reason::Retention, Millis(9)));
        assert!(erasure.visitor.is_none() && erasure.email.is_none());
    }

    #[test]
    fn a_retention_period_is_1_to_36500_days_as_help_says() {
        use crate::config::{MAX_RETENTION_DAYS, check_retention};
        assert_eq!(
            MAX_RETENTION_DAYS, 36_500,
            "serve --help and docs/API.md say 36500"
        );
        assert!(check_retention("demo", 0).is_err());
        assert!(check_retention("demo", 1).is_ok());
        assert!(check_retention("demo", MAX_RETENTION_DAYS).is_ok());
        assert!(check_retention("demo", MAX_RETENTION_DAYS + 1).is_err());
        let mut serve =
            <crate::config::ServeArgs as clap::Args>::augment_args(clap::Command::new("serve"));
        let help = serve.render_long_help();
        assert!(help.to_string().contains("1 to 36500 days"), "{help}");
    }
}
