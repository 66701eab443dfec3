//! Channels posing as a WebSocket, so tests run the real connection loop
//! ([`super::connection::run`]) without a socket.

use axum::extract::ws::Message as WsMessage;
use futures_util::{Sink, Stream};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use tokio::sync::mpsc;

/// What a test sends in as the client.
pub(super) type Incoming = mpsc::UnboundedSender<Result<WsMessage, axum::Error>>;
/// What the relay wrote out.
pub(super) type Outgoing = mpsc::UnboundedReceiver<WsMessage>;

/// A socket and its two ends.
pub(super) fn channel_socket() -> (ChannelSocket, Incoming, Outgoing) {
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let socket = ChannelSocket {
        incoming: in_rx,
        outgoing: out_tx,
    };
    (socket, in_tx, out_rx)
}

/// Channels posing as a WebSocket: what the test sends in, what the relay
/// writes out.
pub(super) struct ChannelSocket {
    incoming: mpsc::UnboundedReceiver<Result<WsMessage, axum::Error>>,
    outgoing: mpsc::UnboundedSender<WsMessage>,
}

impl Stream for ChannelSocket {
    type Item = Result<WsMessage, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_recv(cx)
    }
}

impl Sink<WsMessage> for ChannelSocket {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), Self::Error> {
        self.outgoing.send(item).map_err(axum::Error::new)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}
