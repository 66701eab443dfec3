//! The HTTP listener the relay and the moderator share: what one client
//! may hold of a server, enforced before any handler runs.
//!
//! - Every connection must send a complete request head within the header
//!   timeout (hyper's `header_read_timeout`, which also ends an idle
//!   keep-alive connection): a socket that never sends a byte, or sends half
//!   a head, is closed after a few seconds instead of being kept forever.
//! - Connections are capped in total and per client address
//!   ([`admission`]); the total is derived from the file descriptor limit,
//!   which is raised to its hard limit at start ([`fd_limit`]), so the
//!   process never runs out of descriptors; the per-address cap is at most
//!   half the total, so one address holding every connection it may still
//!   leaves room for everyone else's health checks and token requests.
//! - A connection over a cap gets a `503` with `Retry-After` if it can be
//!   answered cheaply, else it is closed at accept ([`refusal`]).
//! - Every request carries a [`ClientIp`]: the peer, or behind a
//!   `--trusted-proxy` the client the proxy names ([`client_ip`]).
//!
//! axum's own `serve` has no header timeout and no per-connection hook to
//! refuse, so this loop replaces it: accept, admit, then hyper's HTTP/1
//! connection with upgrades (WebSockets), shut down gracefully the way
//! axum's is. The admission guard travels inside the socket ([`Guarded`]),
//! so an upgraded WebSocket keeps counting until it closes, and the socket
//! closes without a reset, so a refusal or a close frame is read.

pub mod admission;
pub mod client_ip;
pub mod fd_limit;
pub mod refusal;

pub use admission::{Admission, Admitted};
pub use client_ip::{ClientIp, TrustedProxies};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// How long a server waits, once it stops accepting, for requests in
/// flight to finish.
const GRACE: Duration = Duration::from_secs(5);

/// A listener's limits, as configured.
#[derive(Clone, Debug)]
pub struct ListenerLimits {
    /// Time a client has to send a whole request head.
    pub header_timeout: Duration,
    /// A lower total cap than the one derived from the descriptor limit.
    pub max_connections: Option<usize>,
    /// Connections one client address may hold.
    pub max_connections_per_ip: usize,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: TrustedProxies,
}

/// The caps in force, derived from [`ListenerLimits`] and the descriptor
/// limit obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Connections in total.
    pub total: usize,
    /// Connections per client address.
    pub per_ip: usize,
}

impl Caps {
    /// Raises the descriptor limit and derives the caps under it (logged).
    pub fn for_this_process(limits: &ListenerLimits) -> Caps {
        let fds = fd_limit::raise();
        let caps = Caps::derive(limits, fds.now);
        tracing::info!(
            total = caps.total,
            per_ip = caps.per_ip,
            header_timeout_ms = limits.header_timeout.as_millis() as u64,
            trusted_proxies = ?limits.trusted_proxies,
            "connection limits"
        );
        caps
    }

    /// The caps under a descriptor limit of `fds`: the total is the
    /// derived cap (or the configured one, if lower); one address gets at
    /// most half of it. A per-address cap of 0 turns that cap off (only the
    /// total holds: benchmarks whose thousands of clients share one
    /// address).
    pub fn derive(limits: &ListenerLimits, fds: u64) -> Caps {
        let derived = fd_limit::connection_cap(fds);
        let total = limits
            .max_connections
            .map_or(derived, |max| max.min(derived))
            .max(2);
        let per_ip = match limits.max_connections_per_ip {
            0 => total,
            cap => cap.clamp(1, total / 2),
        };
        Caps { total, per_ip }
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes,
/// then lets requests in flight finish (at most [`GRACE`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    caps: Caps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let admission = Admission::new(caps.total, caps.per_ip);
    let refusals = Admission::new(
        fd_limit::REFUSAL_ROOM as usize,
        refusal::REFUSALS_PER_ADDRESS,
    );
    let refused_log = RefusalLog::default();
    let (signal_tx, signal_rx) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        // Chat frames are small and latency-bound: no Nagle delay.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let exempt = limits.trusted_proxies.contains(peer.ip());
        match admission.admit(peer.ip(), exempt) {
            Ok(admitted) => {
                let connection = Connection {
                    io: Guarded::new(tcp, admitted),
                    peer,
                    app: app.clone(),
                    header_timeout: limits.header_timeout,
                    trusted: limits.trusted_proxies.clone(),
                };
                let signal = signal_rx.clone();
                let close = close_rx.clone();
                tokio::spawn(async move {
                    connection.run(signal).await;
                    drop(close);
                });
            }
            Err(why) => {
                refused_log.note(peer, why);
                if let Ok(admitted) = refusals.admit(peer.ip(), false) {
                    let io = Guarded::new(tcp, admitted);
                    tokio::spawn(refusal::answer_busy(io, why.to_string()));
                }
                // Else `tcp` drops here: closed at accept.
            }
        }
    }
    drop(listener);
    drop(signal_rx);
    drop(close_rx);
    // Every connection task starts a graceful shutdown of its HTTP side.
    let _ = signal_tx.send(());
    if tokio::time::timeout(GRACE, close_tx.closed())
        .await
        .is_err()
    {
        tracing::debug!("requests still in flight after the grace period");
    }
    Ok(())
}

/// One accepted connection: hyper's HTTP/1 with upgrades, every request
/// carrying the peer ([`ConnectInfo`]) and the [`ClientIp`].
struct Connection {
    io: Guarded,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    trusted: TrustedProxies,
}

impl Connection {
    async fn run(self, mut signal: watch::Receiver<()>) {
        let Connection {
            io,
            peer,
            app,
            header_timeout,
            trusted,
        } = self;
        let service = hyper::service::service_fn(move |mut request: Request<_>| {
            let client = trusted.client_ip(peer, request.headers());
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(client);
            app.clone().oneshot(request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let mut connection = pin!(
            builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades()
        );
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::trace!(%error, %peer, "connection ended with an error");
                    }
                    break;
                }
                _ = signal.changed() => {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A socket that holds its admission: the connection counts as open for
/// exactly as long as the socket lives, upgraded or not, lingering
/// included.
///
/// Dropped, it closes the way RFC 6455 and RFC 9112 ask a server to
/// ("lingering close"): it sends its FIN after everything written, then
/// reads and discards what the client still sends, until the client closes
/// too or [`LINGER`] / [`LINGER_BYTES`] run out. Closing a socket with
/// unread data in it makes the kernel send a reset, and a reset makes the
/// client's kernel throw away what it had not yet read: the `503` answer
/// or the close frame (1008, 1009) the client was meant to see.
struct Guarded {
    io: Option<TcpStream>,
    admitted: Option<Admitted>,
}

/// Longest a closed socket is read and discarded before it is dropped.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes discarded while lingering.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

impl Guarded {
    fn new(io: TcpStream, admitted: Admitted) -> Guarded {
        Guarded {
            io: Some(io),
            admitted: Some(admitted),
        }
    }

    fn io(self: Pin<&mut Self>) -> io::Result<Pin<&mut TcpStream>> {
        match &mut self.get_mut().io {
            Some(io) => Ok(Pin::new(io)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let (Some(io), Ok(runtime)) = (self.io.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let admitted = self.admitted.take();
        runtime.spawn(async move {
            linger(io).await;
            drop(admitted);
        });
    }
}

async fn linger(mut io: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = io.shutdown().await;
    let mut buf = vec![0u8; 16 * 1024];
    let mut discarded = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while discarded < LINGER_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    })
    .await;
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.io() {
            Ok(io) => io.poll_read(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.io() {
            Ok(io) => io.poll_write(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.io() {
            Ok(io) => io.poll_write_vectored(cx, bufs),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io() {
            Ok(io) => io.poll_flush(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io() {
            Ok(io) => io.poll_shutdown(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

/// An accept that failed: a connection reset before it was accepted is
/// nothing; running out of descriptors (which the caps are there to
/// prevent) is logged and waited out briefly instead of spinning.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Refusals are logged at most once every ten seconds, with how many there
/// were: an attack must not also flood the log.
#[derive(Default)]
struct RefusalLog {
    count: AtomicU64,
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl RefusalLog {
    fn note(&self, peer: SocketAddr, why: admission::Refused) {
        let count = self.count.fetch_add(1, Relaxed) + 1;
        tracing::debug!(%peer, %why, "connection refused");
        let now = std::time::Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(10)) {
            *last = Some(now);
            self.count.store(0, Relaxed);
            tracing::warn!(%peer, %why, refused = count, "connections refused at accept");
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(client) = parts.extensions.get::<ClientIp>().copied() {
            return Ok(client);
        }
        // axum's own extractor: the peer a listener recorded, or the
        // address an in-process test gives with `MockConnectInfo`.
        ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map(|ConnectInfo(peer)| ClientIp(peer.ip()))
            .map_err(|_| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "no client address (not served through net::serve)",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: Option<usize>, per_ip: usize) -> ListenerLimits {
        ListenerLimits {
            header_timeout: Duration::from_secs(5),
            max_connections: max,
            max_connections_per_ip: per_ip,
            trusted_proxies: TrustedProxies::default(),
        }
    }

    #[test]
    fn one_address_gets_at_most_half_of_the_total() {
        assert_eq!(
            Caps::derive(&limits(None, 1_000), 1024),
            Caps {
                total: 832,
                per_ip: 416
            }
        );
        assert_eq!(
            Caps::derive(&limits(None, 2_000), 20_000),
            Caps {
                total: 17_936,
                per_ip: 2_000
            }
        );
        assert_eq!(Caps::derive(&limits(None, 0), 1024).per_ip, 832);
        // A configured total only lowers the derived one.
        assert_eq!(Caps::derive(&limits(Some(100), 1_000), 20_000).total, 100);
        assert_eq!(Caps::derive(&limits(Some(1 << 40), 10), 1024).total, 832);
    }
}
