//! One WebSocket: the reader loop and the writer task.
//!
//! The writer owns the sink and drains the connection's bounded queue (see
//! the hub); it also sends a WebSocket ping every [`PING_EVERY`] so idle
//! proxies keep the link open. The reader hands each text frame to the
//! [`Client`], and hangs up if nothing at all arrives for [`IDLE_LIMIT`]
//! (clients ping every few seconds, so this only catches dead peers).

use super::client::{Client, Context, PIPELINE_DEPTH};
use crate::hub::{OUTGOING_QUEUE, Outgoing};
use crate::state::Shared;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::mpsc;
use twinline_core::protocol::{ErrorCode, ServerFrame};

const PING_EVERY: Duration = Duration::from_secs(20);
const IDLE_LIMIT: Duration = Duration::from_secs(60);

pub(super) async fn run(socket: WebSocket, state: Shared, context: Context) {
    state.metrics.connections_total.fetch_add(1, Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Outgoing>(OUTGOING_QUEUE);
    let (key, kick) = state.hub.register(tx.clone());
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                item = rx.recv() => match item {
                    Some(Outgoing::Text(text)) => {
                        // Under load, write everything already queued and
                        // flush once: one syscall for many frames.
                        if sink.feed(Message::Text(text.as_ref().into())).await.is_err() {
                            break;
                        }
                        let mut closing = None;
                        for _ in 0..64 {
                            match rx.try_recv() {
                                Ok(Outgoing::Text(text)) => {
                                    if sink.feed(Message::Text(text.as_ref().into())).await.is_err() {
                                        break;
                                    }
                                }
                                Ok(Outgoing::Close(reason)) => {
                                    closing = Some(reason);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        if sink.flush().await.is_err() {
                            break;
                        }
                        if let Some(reason) = closing {
                            let _ = close(&mut sink, reason).await;
                            break;
                        }
                    }
                    Some(Outgoing::Close(reason)) => {
                        let _ = close(&mut sink, reason).await;
                        break;
                    }
                    None => {
                        let _ = close(&mut sink, "closing").await;
                        break;
                    }
                },
                () = kick.notified() => {
                    let _ = close(&mut sink, "going away").await;
                    break;
                }
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut writer = writer;
    let mut writer_done = false;
    let mut client = Client::new(state.clone(), key, tx, context);
    loop {
        let pending = client.pending();
        let message = tokio::select! {
            // Committed messages first: their acks free pipeline room.
            biased;
            Some(done) = client.next_committed(), if pending > 0 => {
                // Outside the select: fan-out and ack must not be cancelled.
                client.after_commit(done).await;
                continue;
            }
            next = tokio::time::timeout(IDLE_LIMIT, stream.next()), if pending < PIPELINE_DEPTH => match next {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(error))) => {
                    tracing::debug!(%error, "WebSocket read failed");
                    break;
                }
                Ok(None) => break,
                Err(_) => {
                    tracing::debug!("connection idle for too long; closing");
                    break;
                }
            },
            // The writer hung up (kicked, shutting down, peer gone).
            _ = &mut writer => {
                writer_done = true;
                break;
            }
        };
        match message {
            Message::Text(text) => {
                if client.handle_text(text.as_str()).await.is_break() {
                    break;
                }
            }
            Message::Binary(_) => {
                client
                    .reply_error(
                        ErrorCode::BadFrame,
                        "frames are JSON text, not binary",
                        None,
                    )
                    .await;
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    client.finish().await;
    state.hub.unregister(key);
    drop(client);
    // Let the writer flush what is queued (an error frame before a close),
    // but do not wait on a dead peer.
    if !writer_done
        && tokio::time::timeout(Duration::from_secs(2), &mut writer)
            .await
            .is_err()
    {
        writer.abort();
    }
}

async fn close(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    reason: &'static str,
) -> Result<(), axum::Error> {
    sink.send(Message::Close(Some(CloseFrame {
        code: 1001,
        reason: reason.into(),
    })))
    .await?;
    sink.close().await
}

/// Sends a frame on a connection's own queue (waiting if it is full: a
/// client's replies pace its own reading).
pub(super) async fn queue(tx: &mpsc::Sender<Outgoing>, frame: &ServerFrame) {
    let _ = tx.send(Outgoing::Text(frame.to_json().into())).await;
}
