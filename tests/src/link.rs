//! A TCP link that a test can cut and restore: a loopback proxy in front of
//! a relay. Cutting it closes every connection through it and closes new
//! ones at once, which is what a relay sees when its peer's data center
//! drops off the network while it is itself fine.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// See the module docs.
pub struct Link {
    port: u16,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
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
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let cut = cut.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) =
                            TcpStream::connect(("127.0.0.1", target_port)).await
                        {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    let mut list = connections.lock().unwrap_or_else(|p| p.into_inner());
                    list.retain(|handle| !handle.is_finished());
                    list.push(task.abort_handle());
                }
            })
            .abort_handle()
        };
        Link {
            port,
            cut,
            connections,
            accept,
        }
    }

    /// Its URL, to give a relay as its peer.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes every connection and refuses new ones until [`Link::restore`].
    pub fn cut(&self) {
        self.cut.store(true, SeqCst);
        for handle in self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            handle.abort();
        }
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.cut.store(false, SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
