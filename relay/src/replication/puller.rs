//! Following the peer's change feed: connect, apply pages with their
//! checkpoint, fan changes out to local clients, reconnect with backoff.

use super::bearer;
use super::decode::{self, Skipped};
use super::feed::KEEPALIVE;
use crate::fanout;
use crate::state::Shared;
use crate::store::records::{Applied, Record};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::Instrument;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Runs forever: follow the peer, reconnecting when the link drops.
pub async fn run(state: Shared) {
    let Some(peer) = state.config.peer.clone() else {
        return;
    };
    let mut backoff = BACKOFF_MIN;
    // Every line of following the peer carries its name.
    let span = tracing::info_span!("replication_pull", peer = %peer.name);
    loop {
        match follow(&state, &peer.url, &peer.name)
            .instrument(span.clone())
            .await
        {
            Ok(()) => backoff = BACKOFF_MIN,
            Err(error) => {
                tracing::debug!(peer = %peer.name, %error, "replication link down");
            }
        }
        state.replication.set_connected(false);
        if state.hub.clear_remote_operators() {
            fanout::presence(&state).await;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn follow(state: &Shared, peer_url: &str, peer_name: &str) -> anyhow::Result<()> {
    let checkpoint = {
        let peer = peer_name.to_string();
        state
            .store
            .read(move |conn| crate::store::reads::checkpoint(conn, &peer))
            .await?
    };
    let ws_url = format!(
        "{}/v1/replication/stream?since={checkpoint}&peer={}",
        peer_url.replacen("http", "ws", 1),
        state.config.name
    );
    let mut request = ws_url.into_client_request()?;
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", bearer(&state.config.secret)).parse()?,
    );
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 * 1024 * 1024))
        .max_frame_size(Some(64 * 1024 * 1024));
    let (mut socket, _) = tokio::time::timeout(
        Duration::from_secs(3),
        tokio_tungstenite::connect_async_with_config(request, Some(config), true),
    )
    .await??;
    tracing::info!(peer = %peer_name, since = checkpoint, "following the peer's change feed");
    state.replication.set_connected(true);
    let mut in_flight = FuturesOrdered::new();
    let outcome = read_pages(state, peer_name, &mut socket, &mut in_flight).await;
    // Pages already queued for the store commit anyway; finish them so their
    // changes still reach local clients (a re-pull would find them applied
    // and tell nobody).
    while let Some(done) = in_flight.next().await {
        finish_page(state, done?).await;
    }
    outcome
}

/// Pages being applied while the next ones are read and parsed: parsing a
/// page and committing the previous one overlap, and the store writer can
/// fold several pages into one commit.
const PAGES_IN_FLIGHT: usize = 4;

type PageDone = Pin<Box<dyn Future<Output = anyhow::Result<PageApplied>> + Send>>;

/// A page the store has committed, with what its status and fan-out need.
struct PageApplied {
    head: u64,
    next: u64,
    applied: Vec<Applied>,
}

async fn read_pages(
    state: &Shared,
    peer_name: &str,
    socket: &mut WebSocketStream<MaybeTlsStream<TcpStream>>,
    in_flight: &mut FuturesOrdered<PageDone>,
) -> anyhow::Result<()> {
    let mut told_operators: Option<Vec<String>> = None;
    // The checkpoint stays before the oldest change of an unknown kind seen
    // on this link (`decode`): a reconnect pulls it again.
    let mut held: Option<u64> = None;
    loop {
        let message = tokio::select! {
            // Committed pages first, in the order they came.
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                finish_page(state, done?).await;
                continue;
            }
            message = tokio::time::timeout(KEEPALIVE * 3, socket.next()), if in_flight.len() < PAGES_IN_FLIGHT => {
                message.map_err(|_| anyhow::anyhow!("no frame from the peer for {:?}", KEEPALIVE * 3))?
            }
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => return Ok(()),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
        };
        let decode::Decoded { frame, skipped } = decode::decode(text.as_str())?;
        if !skipped.is_empty() {
            note_skipped(state, &skipped);
            held = decode::hold(held, &skipped);
        }
        let now = crate::clock::now();
        if let Some(peer_now) = frame.now {
            state.replication.saw_peer_clock(peer_now, now);
        }
        state.replication.saw_peer_head(frame.page.head, now);
        let checkpoint = decode::held_checkpoint(frame.page.next, held);
        in_flight.push_back(submit_page(state, peer_name, frame.page, checkpoint));
        if told_operators.as_ref() != Some(&frame.operators) {
            state.hub.set_remote_operators(frame.operators.clone());
            told_operators = Some(frame.operators);
            fanout::presence(state).await;
        }
    }
}

/// Counts changes of kinds this version does not know, and says so once
/// per kind for the life of the process (a newer peer sends many).
fn note_skipped(state: &Shared, skipped: &[Skipped]) {
    static WARNED: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    state
        .metrics
        .replicated_unknown_kind
        .fetch_add(skipped.len() as u64, Relaxed);
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for change in skipped {
        if warned.insert(change.kind.clone()) {
            tracing::warn!(
                kind = %change.kind,
                seq = change.seq,
                "the peer sent a kind of record this version does not know (is the peer newer?): \
                 skipped, and the checkpoint held before it until this relay is upgraded"
            );
        }
    }
}

/// Queues a page for the store with `checkpoint` (its end, or less where a
/// change was skipped): one transaction, so the checkpoint never runs ahead
/// of the data it covers.
fn submit_page(
    state: &Shared,
    peer_name: &str,
    page: crate::store::records::ChangesPage,
    checkpoint: u64,
) -> PageDone {
    let next = page.next;
    let head = page.head;
    if page.changes.is_empty() && next <= state.replication.checkpoint() {
        return Box::pin(std::future::ready(Ok(PageApplied {
            head,
            next,
            applied: Vec::new(),
        })));
    }
    // A compromised or broken peer is in the threat model: its times are
    // bounded here, and the store checks its records as it checks clients'.
    let now = crate::clock::now();
    let records: Vec<(Record, String)> = page
        .changes
        .into_iter()
        .map(|change| (change.record.bounded(now), change.origin))
        .collect();
    for (record, _) in &records {
        if let Record::Chat(chat) = record {
            let rating = chat.rating.as_ref().map(|r| r.stamp).unwrap_or_default();
            state.observe(chat.status.stamp.max(chat.info.stamp).max(rating));
        }
    }
    let committed = state
        .store
        .submit_batch(records, Some((peer_name.to_string(), checkpoint)));
    Box::pin(async move {
        Ok(PageApplied {
            head,
            next,
            applied: committed.await?,
        })
    })
}

/// Records a committed page in the replication status and tells local
/// clients what it changed.
async fn finish_page(state: &Shared, page: PageApplied) {
    let PageApplied {
        head,
        next,
        applied,
    } = page;
    let changed = applied.iter().filter(|a| a.changed).count() as u64;
    for refused in applied.iter().filter(|a| a.refused.is_some()) {
        state.metrics.replicated_refused.fetch_add(1, Relaxed);
        if let Some(refusal) = &refused.refused {
            tracing::warn!(
                kind = refused.record.kind(),
                key = %refused.record.key(),
                %refusal,
                "a change from the peer was refused"
            );
        }
    }
    state.metrics.replicated_in.fetch_add(changed, Relaxed);
    state.replication.record(head, next, crate::clock::now());
    fan_out(state, applied).await;
}

/// Tells local clients about changes this node did not make: what
/// replication applied, and (`cluster::follower`) what other nodes of the
/// deployment committed.
pub(crate) async fn fan_out(state: &Shared, applied: Vec<Applied>) {
    let mut queue_dirty = false;
    let mut inbox_dirty = false;
    for item in applied.into_iter().filter(|a| a.changed) {
        match item.record {
            Record::Message(msg) => {
                queue_dirty |= msg.author.role == twinline_core::Role::Visitor;
                let chat = msg.chat;
                state.hub.publish_chat(
                    chat,
                    &twinline_core::protocol::ServerFrame::Message { msg },
                    None,
                );
            }
            Record::Chat(chat) => {
                fanout::chat_header(state, &chat);
                crate::presence::changed(state, &chat);
                queue_dirty = true;
            }
            Record::Note(_) => inbox_dirty = true,
            // Read at each API request: nobody connected to tell.
            Record::ApiKey(_) => {}
            // Erased chats leave the queue, erased notes the inbox.
            Record::Erasure(erasure) => {
                crate::erasure::tell_followers(state, &erasure);
                queue_dirty = true;
                inbox_dirty = true;
            }
            // The webhook sender reads them from the store's feed.
            Record::Webhook(_) | Record::Delivery(_) => {}
            // Read at each request (the resume endpoint, a download).
            Record::File(_) | Record::FileChunk(_) => {}
            Record::Receipt(receipt) => fanout::receipt(state, receipt),
            // A password change, logout or removal made at the peer ends
            // the sessions it revoked here too.
            Record::Account(account) => {
                if crate::sessions::end_stale(state, &account.username, Some(&account)) > 0 {
                    fanout::presence(state).await;
                }
            }
        }
    }
    if queue_dirty {
        fanout::queue(state).await;
    }
    if inbox_dirty {
        fanout::inbox(state).await;
    }
}
