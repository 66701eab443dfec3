//! A TCP link that a test can cut, silence and restore: a loopback proxy in
//! front of a relay.
//!
//! - [`Link::cut`] closes every connection through it and closes new ones at
//!   once: what a relay sees when its peer's data center is unplugged and
//!   the network says so (refused, reset).
//! - [`Link::silence`] keeps every connection open but forwards nothing
//!   more, and accepts new ones that never get an answer: a silent loss
//!   (black-holed packets), which only a timeout detects.

use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

const FORWARD: u8 = 0;
const CUT: u8 = 1;
const SILENT: u8 = 2;

#[derive(Default)]
struct Held {
    tasks: Vec<AbortHandle>,
    silent: Vec<TcpStream>,
}

/// See the module docs.
pub struct Link {
    port: u16,
    mode: Arc<AtomicU8>,
    held: Arc<Mutex<Held>>,
    accept: AbortHandle,
}

impl Link {
    /// Listens on a free loopback port and forwards to `target_port`
    /// (which need not be listening yet). Runs on the current tokio runtime.
    pub async fn start(target_port: u16) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the link");
        let port = listener.local_addr().expect("link address").port();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let held: Arc<Mutex<Held>> = Arc::default();
        let accept = {
            let mode = mode.clone();
            let held = held.clone();
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
                    match mode.load(SeqCst) {
                        CUT => drop(inbound),
                        SILENT => held.silent.push(inbound),
                        _ => {
                            let task = tokio::spawn(pipe(inbound, target_port, mode.clone()));
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
            mode,
            held,
            accept,
        }
    }

    /// Its URL, to give a relay or the moderator instead of the target's.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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

    /// Stops forwarding without closing anything, until [`Link::restore`].
    pub fn silence(&self) {
        self.mode.store(SILENT, SeqCst);
    }

    /// Forwards again; connections held open while silent are closed.
    pub fn restore(&self) {
        self.close_all();
        self.mode.store(FORWARD, SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn pipe(inbound: TcpStream, target_port: u16, mode: Arc<AtomicU8>) {
    let Ok(outbound) = TcpStream::connect(("127.0.0.1", target_port)).await else {
        return;
    };
    let (mut in_read, mut in_write) = inbound.into_split();
    let (mut out_read, mut out_write) = outbound.into_split();
    tokio::select! {
        () = forward(&mut in_read, &mut out_write, &mode) => {}
        () = forward(&mut out_read, &mut in_write, &mode) => {}
    }
}

async fn forward(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    mode: &AtomicU8,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if mode.load(SeqCst) == SILENT {
            // Swallow everything from now on, keeping the connection open.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
