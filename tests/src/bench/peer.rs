//! The reference peer as a process: `node tests/peer/socketio/server.mjs`
//! (a Socket.IO 4.8 server doing a relay's job, see that file's header) on
//! a free port, with its own data directory, killed with SIGKILL and
//! restarted on the same port with the same data, like
//! [`RelayProcess`](crate::process::RelayProcess).

use crate::process::{TempDir, listening_port, wait_until_free};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// How the peer keeps messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMode {
    /// SQLite in WAL with synchronous=FULL; ack after commit.
    Durable,
    /// A Map in the process; ack at once.
    Memory,
}

impl PeerMode {
    fn flag(self) -> &'static str {
        match self {
            PeerMode::Durable => "durable",
            PeerMode::Memory => "memory",
        }
    }
}

/// The peer's script: `TWINLINE_PEER_SCRIPT`, or the one in this repository.
pub fn peer_script() -> PathBuf {
    std::env::var_os("TWINLINE_PEER_SCRIPT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/socketio/server.mjs"),
        PathBuf::from,
    )
}

/// A running (or stopped) peer.
#[derive(Debug)]
pub struct PeerProcess {
    mode: PeerMode,
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl PeerProcess {
    /// Starts the peer on a free port (Node from `TWINLINE_NODE`, default
    /// `node` on PATH; it finds socket.io in the repository's node_modules).
    pub fn start(mode: PeerMode) -> PeerProcess {
        let mut peer = PeerProcess {
            mode,
            dir: TempDir::new(&format!("peer-{}", mode.flag())),
            port: 0,
            child: None,
        };
        peer.spawn();
        peer
    }

    fn spawn(&mut self) {
        let node = std::env::var_os("TWINLINE_NODE").unwrap_or_else(|| "node".into());
        let mut child = Command::new(node)
            .arg(peer_script())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["--mode", self.mode.flag(), "--data-dir"])
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the Socket.IO peer (is node on PATH and npm ci done?)");
        self.port = listening_port(&mut child, "socketio-peer listening on http://", "the peer");
        self.child = Some(child);
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its data directory (peer.db and its WAL in durable mode).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill9();
        wait_until_free(self.port);
        self.spawn();
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
