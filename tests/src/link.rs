//! A TCP link that a test can cut, silence, slow down and point elsewhere:
//! a loopback proxy in front of a relay or the moderator. The process tests,
//! the chaos soak and the failover benchmark all use this one.
//!
//! - [`Link::cut`] closes every connection through it and closes new ones at
//!   once: what a relay sees when its peer's data center is unplugged and
//!   the network says so (refused, reset).
//! - [`Link::silence`] keeps every connection open but forwards nothing
//!   more, and accepts new ones that never get an answer: a silent loss
//!   (black-holed packets), which only a timeout detects.
//! - [`Link::slow`] delays every byte by a fixed time without limiting
//!   throughput (chunks leave in order at the time they may).
//! - [`Link::retarget`] sends new connections to another port, so clients
//!   keep one URL while the process behind it is killed and started again
//!   on a new port (the soak's moderator).
//! - [`Link::restore`] forwards again at once.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// Mode word: `FORWARD`, `CUT`, `SILENT`, or a delay in ms above `SLOW_BASE`.
const FORWARD: u64 = 0;
const CUT: u64 = 1;
const SILENT: u64 = 2;
const SLOW_BASE: u64 = 1_000;

#[derive(Default)]
struct Held {
    tasks: Vec<AbortHandle>,
    silent: Vec<TcpStream>,
}

/// See the module docs.
pub struct Link {
    port: u16,
    target: Arc<AtomicU16>,
    mode: Arc<AtomicU64>,
    held: Arc<Mutex<Held>>,
    accept: AbortHandle,
}

impl Link {
    /// Listens on a free loopback port and forwards to `target_port`.
    pub async fn start(target_port: u16) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the link");
        let port = listener.local_addr().expect("link address").port();
        let target = Arc::new(AtomicU16::new(target_port));
        let mode = Arc::new(AtomicU64::new(FORWARD));
        let held: Arc<Mutex<Held>> = Arc::default();
        let accept = {
            let (target, mode, held) = (target.clone(), mode.clone(), held.clone());
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    let _ = inbound.set_nodelay(true);
                    let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
                    match mode.load(SeqCst) {
                        CUT => drop(inbound),
                        SILENT => held.silent.push(inbound),
                        _ => {
                            let task =
                                tokio::spawn(pipe(inbound, target.load(SeqCst), mode.clone()));
                            held.tasks.retain(|handle| !handle.is_finished());
                            held.tasks.push(task.abort_handle());
                        }
                    }
                }
            })
            .abort_handle()
        };
        Link {
            port,
            target,
            mode,
            held,
            accept,
        }
    }

    /// Its URL, given to clients instead of the target's.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends new connections to another port (a restarted moderator).
    pub fn retarget(&self, port: u16) {
        self.target.store(port, SeqCst);
    }

    fn close_all(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for handle in held.tasks.drain(..) {
            handle.abort();
        }
        held.silent.clear();
    }

    /// Closes every connection and refuses new ones until [`Link::restore`].
    pub fn cut(&self) {
        self.mode.store(CUT, SeqCst);
        self.close_all();
    }

    /// Stops forwarding without closing anything.
    pub fn silence(&self) {
        self.mode.store(SILENT, SeqCst);
    }

    /// Delays every byte in both directions by `delay`.
    pub fn slow(&self, delay: Duration) {
        self.mode
            .store(SLOW_BASE + delay.as_millis() as u64, SeqCst);
    }

    /// Forwards again at once. Connections held open while silent are
    /// closed (their peers would otherwise wait forever); slowed ones go on.
    pub fn restore(&self) {
        if self.mode.swap(FORWARD, SeqCst) == SILENT {
            self.close_all();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn pipe(inbound: TcpStream, target_port: u16, mode: Arc<AtomicU64>) {
    let Ok(outbound) = TcpStream::connect(("127.0.0.1", target_port)).await else {
        return;
    };
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    tokio::select! {
        () = forward(in_read, out_write, &mode) => {}
        () = forward(out_read, in_write, &mode) => {}
    }
}

/// Copies one direction. Chunks go through a queue stamped with the time
/// they may leave, so a slow link adds latency but keeps order and
/// throughput.
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mode: &AtomicU64) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    let reader = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let delay = match mode.load(SeqCst) {
                SILENT | CUT => {
                    // Swallow everything from now on, keeping the connection open.
                    std::future::pending::<()>().await;
                    return;
                }
                slow if slow >= SLOW_BASE => Duration::from_millis(slow - SLOW_BASE),
                _ => Duration::ZERO,
            };
            let at = tokio::time::Instant::now() + delay;
            if tx.send((at, buffer[..n].to_vec())).is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
}
