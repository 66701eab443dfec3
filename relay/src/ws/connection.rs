//! One WebSocket: the reader loop and the writer task.
//!
//! The writer owns the sink and drains the connection's bounded queue (see
//! the hub); it also sends a WebSocket ping every [`PING_EVERY`] so idle
//! proxies keep the link open, and ends the socket with the close frame it
//! is handed. The reader hands each text frame to the [`Client`], and
//! closes the connection when a rule is broken, with the RFC 6455 code
//! that names it:
//!
//! | what | close code |
//! | --- | --- |
//! | no `hello` within the hello timeout | 1008 |
//! | a frame before `hello`, a refused `hello` | 1008 (after the error frame) |
//! | more pings (JSON or WebSocket) than the ping bucket allows | 1008 |
//! | a message over [`super::SOCKET_MESSAGE_LIMIT`] | 1009 |
//! | a text message that is not UTF-8 | 1007 |
//! | shutdown, drain, a client too slow to keep up | 1001 |
//!
//! The last three are found by tungstenite (axum's WebSocket library) while
//! reading; its error is told apart by [`read_error_close`]. A connection
//! on which nothing at all arrives for [`IDLE_LIMIT`] after hello is
//! dropped (clients ping every few seconds, so this only catches dead
//! peers).
//!
//! Everything a connection does, its writer included, runs inside one
//! `connection` span with its hub key and client address, and, once
//! `hello` proves them, its site and chat or its operator's username: every
//! log line of one connection carries them (`RUST_LOG=twinline_relay=debug`
//! shows them all), so one client's story can be picked out of a busy
//! relay's log.
//!
//! [`run`] takes any `Sink + Stream` of WebSocket messages, not only
//! axum's socket, so tests drive a connection through channels
//! (`hostile_tests.rs`).

use super::client::Client;
use super::identity::Peer;
use super::pipeline::PIPELINE_DEPTH;
use crate::hub::{Closing, Outgoing, Registration};
use crate::net::Admitted;
use crate::state::Shared;
use axum::extract::ws::{CloseFrame, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

const PING_EVERY: Duration = Duration::from_secs(20);
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// Runs one connection until either side ends it. `admitted` is its place
/// in the per-client WebSocket count, given back when it ends.
pub(super) async fn run<S>(socket: S, state: Shared, peer: Peer, admitted: Option<Admitted>)
where
    S: Sink<Message, Error = axum::Error>
        + Stream<Item = Result<Message, axum::Error>>
        + Send
        + 'static,
{
    let registration = state.hub.register();
    // The identity fields are recorded by `hello` (see `Client::hello`).
    let span = tracing::info_span!(
        "connection",
        key = registration.key.0,
        ip = %peer.ip,
        site = tracing::field::Empty,
        chat = tracing::field::Empty,
        operator = tracing::field::Empty,
    );
    serve(socket, state, peer, registration, admitted)
        .instrument(span)
        .await;
}

async fn serve<S>(
    socket: S,
    state: Shared,
    peer: Peer,
    registration: Registration,
    admitted: Option<Admitted>,
) where
    S: Sink<Message, Error = axum::Error>
        + Stream<Item = Result<Message, axum::Error>>
        + Send
        + 'static,
{
    state.metrics.connections_total.fetch_add(1, Relaxed);
    let (sink, mut stream) = socket.split();
    let Registration {
        key,
        outbox,
        queue,
        kick,
    } = registration;
    let mut writer = tokio::spawn(write(sink, queue, kick).in_current_span());
    let mut writer_done = false;
    let hello_deadline = Instant::now() + state.config.hello_timeout;
    let mut client = Client::new(state.clone(), key, outbox, peer);
    let mut closing = None;
    loop {
        let pending = client.pending();
        let anonymous = client.is_anonymous();
        let deadline = if anonymous {
            hello_deadline
        } else {
            Instant::now() + IDLE_LIMIT
        };
        let message = tokio::select! {
            // Committed messages first: their acks free pipeline room.
            biased;
            Some(done) = client.next_committed(), if pending > 0 => {
                // Outside the select: fan-out and ack must not be cancelled.
                client.after_commit(done).await;
                continue;
            }
            next = tokio::time::timeout_at(deadline, stream.next()), if pending < PIPELINE_DEPTH => match next {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(error))) => {
                    closing = read_error_close(error);
                    break;
                }
                Ok(None) => break,
                Err(_) if anonymous => {
                    tracing::debug!("no hello in time; closing");
                    closing = Some(Closing::policy("hello expected first, within seconds"));
                    break;
                }
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
        let flow = match message {
            Message::Text(text) => client.handle_text(text.as_str()).await,
            Message::Binary(_) => client.handle_binary().await,
            Message::Close(_) => break,
            // tungstenite has queued the pong already; the bucket bounds
            // how many it is made to send.
            Message::Ping(_) | Message::Pong(_) => client.take_ping(),
        };
        if flow.is_break() {
            closing = Some(client.refusal());
            break;
        }
    }
    if let Some(closing) = closing {
        // Behind any error frame already queued; a client that does not
        // read gets the socket dropped below instead.
        client.outbox().close(closing, Duration::from_secs(1)).await;
    }
    let visitor_chat = client.visitor_chat();
    client.finish().await;
    state.hub.unregister(key);
    if let Some(chat) = visitor_chat {
        crate::presence::disconnected(&state, chat).await;
    }
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
    drop(admitted);
}

/// The writer task: drains the queue into the sink, pings, and closes.
async fn write<K>(
    mut sink: K,
    mut rx: mpsc::Receiver<Outgoing>,
    kick: std::sync::Arc<tokio::sync::Notify>,
) where
    K: Sink<Message, Error = axum::Error> + Unpin,
{
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
                    if let Some(closing) = closing {
                        let _ = close(&mut sink, closing).await;
                        break;
                    }
                }
                Some(Outgoing::Close(closing)) => {
                    let _ = close(&mut sink, closing).await;
                    break;
                }
                None => {
                    let _ = close(&mut sink, Closing::going_away("closing")).await;
                    break;
                }
            },
            () = kick.notified() => {
                let _ = close(&mut sink, Closing::going_away("going away")).await;
                break;
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// The close frame owed for a failed read: tungstenite refuses a message
/// over the size limit and text that is not UTF-8 before the relay sees
/// them; anything else (a reset, a protocol violation) ends the socket
/// without one. The error is tungstenite's, boxed inside axum's.
fn read_error_close(error: axum::Error) -> Option<Closing> {
    let inner = error.into_inner();
    let closing = match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => Some(Closing::TOO_BIG),
        Some(tungstenite::Error::Utf8(_)) => Some(Closing::BAD_UTF8),
        _ => None,
    };
    tracing::debug!(error = %inner, ?closing, "WebSocket read failed");
    closing
}

async fn close<K>(sink: &mut K, closing: Closing) -> Result<(), axum::Error>
where
    K: Sink<Message, Error = axum::Error> + Unpin,
{
    sink.send(Message::Close(Some(CloseFrame {
        code: closing.code,
        reason: closing.reason.into(),
    })))
    .await?;
    sink.close().await
}
