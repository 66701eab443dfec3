//! Ending the operator sessions an account change revoked.
//!
//! A session's token carries the account version it was issued at; the
//! hello checks it, so a revoked token never connects again. A session that
//! is already connected is ended here: its connection gets a `bad_token`
//! error (the console then asks its operator to sign in again) and closes.
//! Account changes reach a relay three ways, and each ends what it
//! revokes: a logout on this relay at once ([`end_revoked`]), a change
//! replicated from the peer as it is applied, and a change the `operator`
//! CLI wrote into this relay's store (another process) within a second, by
//! [`watch`], which compares the connected sessions with their accounts.

use crate::state::Shared;
use crate::store::reads;
use crate::store::records::Account;
use std::time::Duration;
use twinline_core::protocol::{ErrorCode, ServerFrame};

/// How often connected sessions are compared with their accounts.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The frame a revoked session gets before its connection closes.
fn ended() -> ServerFrame {
    ServerFrame::error(
        ErrorCode::BadToken,
        "this session has ended (signed out, password changed or account removed): sign in again",
    )
}

/// Ends the sessions of `account`'s operator that it no longer accepts
/// (`None`: the account is gone); returns how many.
pub fn end_stale(state: &Shared, username: &str, account: Option<&Account>) -> usize {
    let current = account.filter(|a| !a.removed).map(|a| a.version);
    let stale = state.hub.stale_sessions(username, current);
    for key in &stale {
        state.hub.end_session(*key, &ended());
    }
    if !stale.is_empty() {
        tracing::info!(%username, sessions = stale.len(), "ended revoked operator sessions");
    }
    stale.len()
}

/// Reads `username`'s account and ends the sessions it revoked.
pub async fn end_revoked(state: &Shared, username: &str) {
    let lookup = username.to_string();
    match state
        .store
        .read(move |conn| reads::account(conn, &lookup))
        .await
    {
        Ok(account) => {
            if end_stale(state, username, account.as_ref()) > 0 {
                crate::fanout::presence(state).await;
            }
        }
        Err(error) => tracing::error!(%error, "could not read an account to end its sessions"),
    }
}

/// Runs forever: every [`WATCH_EVERY`], ends connected sessions whose
/// account has moved on (see the module docs).
pub async fn watch(state: Shared) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        tick.tick().await;
        let sessions = state.hub.operator_sessions();
        if sessions.is_empty() {
            continue;
        }
        let accounts = match state.store.read(reads::accounts).await {
            Ok(accounts) => accounts,
            Err(error) => {
                tracing::error!(%error, "could not read accounts to check sessions");
                continue;
            }
        };
        let mut ended = 0;
        let mut seen = std::collections::BTreeSet::new();
        for (username, _) in sessions {
            if !seen.insert(username.clone()) {
                continue;
            }
            let account = accounts.iter().find(|a| a.username == username);
            ended += end_stale(&state, &username, account);
        }
        if ended > 0 {
            crate::fanout::presence(&state).await;
        }
    }
}
