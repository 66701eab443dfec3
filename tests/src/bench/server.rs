//! A server under test: a Twinline relay (alone, or a replicating pair for
//! the steady-state run) or the Socket.IO reference peer in one of its two
//! modes. It hands out visitors and operators as the protocol wants them
//! (Twinline: a signed token over HTTP, an operator account and login; the
//! peer: ids the client makes, no accounts), opens [`Conn`]s, and reads the
//! server processes' CPU, memory, threads and store files from /proc and
//! the data directory: only the server's, never the load generator's.

use super::peer::{PeerMode, PeerProcess};
use super::wire::{Conn, Hello, Protocol, WireError};
use crate::client::{login, random_u128, visitor_token_with};
use crate::nodes::Deployment;
use crate::pair::Pair;
use crate::process::{RelayOptions, RelayProcess};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Mutex;
use twinline_core::protocol::ChatSync;
use twinline_core::{Author, ChatId, Message, MessageId, Millis, Role, Ulid};
use twinline_relay::store::postgres::cluster::{Cluster, Durability};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Twinline's relay (SQLite WAL, synchronous=FULL).
    Twinline,
    /// One Twinline relay node on PostgreSQL (fsync on, synchronous_commit
    /// on), clients connected to it directly (only when named).
    TwinlinePostgres,
    /// Two Twinline relay nodes on one PostgreSQL behind HAProxy, clients
    /// through the balancer (only when named).
    #[value(name = "twinline-postgres-2")]
    #[serde(rename = "twinline-postgres-2")]
    TwinlinePostgres2,
    /// The Socket.IO peer with SQLite (WAL, synchronous=FULL).
    SocketioSqlite,
    /// The Socket.IO peer in memory.
    SocketioMemory,
}

impl Kind {
    /// Every server, Twinline first.
    pub const ALL: [Kind; 3] = [Kind::Twinline, Kind::SocketioSqlite, Kind::SocketioMemory];

    /// The name figures carry.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Twinline => "twinline",
            Kind::TwinlinePostgres => "twinline-postgres",
            Kind::TwinlinePostgres2 => "twinline-postgres-2",
            Kind::SocketioSqlite => "socketio-sqlite",
            Kind::SocketioMemory => "socketio-memory",
        }
    }

    /// Its wire protocol.
    pub fn protocol(self) -> Protocol {
        match self {
            Kind::Twinline | Kind::TwinlinePostgres | Kind::TwinlinePostgres2 => Protocol::Twinline,
            Kind::SocketioSqlite | Kind::SocketioMemory => Protocol::SocketIo,
        }
    }
}

enum Processes {
    Relay(RelayProcess),
    Pair(Pair),
    Peer(PeerProcess),
    /// Relay nodes on a PostgreSQL server of their own (declared after
    /// the deployment, so the nodes stop before their database).
    Nodes {
        deployment: Deployment,
        _server: Cluster,
    },
}

/// A visitor the server knows (or, for the peer, will know on connect).
#[derive(Clone, Debug)]
pub struct VisitorId {
    /// The visitor's id.
    pub visitor: String,
    /// Its chat.
    pub chat: ChatId,
    /// Twinline's signed token; empty for the peer.
    pub token: String,
}

impl VisitorId {
    /// The visitor as a message author.
    pub fn author(&self) -> Author {
        Author {
            role: Role::Visitor,
            id: self.visitor.clone(),
            name: String::new(),
        }
    }
}

/// An operator the server knows.
#[derive(Clone, Debug)]
pub struct OperatorId {
    /// The user name.
    pub username: String,
    /// Twinline's session token; empty for the peer.
    pub token: String,
}

impl OperatorId {
    /// The operator as a message author (the relay fills in the display
    /// name from the account; the bench names operators after their login).
    pub fn author(&self) -> Author {
        Author {
            role: Role::Operator,
            id: self.username.clone(),
            name: self.username.clone(),
        }
    }
}

/// The operator password every benchmark account gets.
const PASSWORD: &str = "bench-password";

/// Resource use of one server process at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessSample {
    /// Which process ("primary", "redundant" or "peer").
    pub process: String,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Threads.
    pub threads: u64,
    /// CPU seconds used so far (user + system).
    pub cpu_s: f64,
    /// Size of the store's WAL file(s), bytes.
    pub wal_bytes: u64,
    /// Size of the store's database file(s), bytes.
    pub db_bytes: u64,
}

/// A running server under test.
pub struct Server {
    kind: Kind,
    processes: Mutex<Processes>,
    base: String,
    ws: String,
    http: reqwest::Client,
}

impl Server {
    /// Starts one server of `kind` (Twinline: one relay with no rate limits).
    pub fn start(kind: Kind) -> Server {
        let processes = match kind {
            Kind::Twinline => Processes::Relay(RelayProcess::start(RelayOptions {
                extra: unlimited().iter().map(|s| s.to_string()).collect(),
                ..RelayOptions::primary()
            })),
            Kind::TwinlinePostgres => nodes(1),
            Kind::TwinlinePostgres2 => nodes(2),
            Kind::SocketioSqlite => Processes::Peer(PeerProcess::start(PeerMode::Durable)),
            Kind::SocketioMemory => Processes::Peer(PeerProcess::start(PeerMode::Memory)),
        };
        Server::new(kind, processes)
    }

    /// Starts `kind` as it runs in production: Twinline as two relays that
    /// replicate (clients on the primary), the peer alone (it has no
    /// replication).
    pub fn start_deployed(kind: Kind) -> Server {
        match kind {
            Kind::Twinline => Server::new(kind, Processes::Pair(Pair::start(&unlimited()))),
            _ => Server::start(kind),
        }
    }

    fn new(kind: Kind, processes: Processes) -> Server {
        let port = match &processes {
            Processes::Relay(relay) => relay.port(),
            Processes::Pair(pair) => pair.primary.port(),
            Processes::Peer(peer) => peer.port(),
            // One node: to it directly, as to a relay on SQLite; more:
            // through the balancer, as in production.
            Processes::Nodes { deployment, .. } => match deployment.nodes.as_slice() {
                [one] => one.port(),
                _ => deployment.balancer.port(),
            },
        };
        let base = format!("http://127.0.0.1:{port}");
        let ws = match kind.protocol() {
            Protocol::Twinline => format!("ws://127.0.0.1:{port}/v1/ws"),
            Protocol::SocketIo => format!("ws://127.0.0.1:{port}{}", super::socketio::WS_PATH),
        };
        Server {
            kind,
            processes: Mutex::new(processes),
            base,
            ws,
            http: reqwest::Client::new(),
        }
    }

    /// Which server this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The second relay's WebSocket URL, for a Twinline pair.
    pub fn redundant_ws(&self) -> Option<String> {
        match &*self.processes.lock().unwrap() {
            Processes::Pair(pair) => Some(pair.redundant.ws_url()),
            _ => None,
        }
    }

    /// A new visitor (Twinline: `POST /v1/visitor/token`).
    pub async fn new_visitor(&self) -> VisitorId {
        match self.kind.protocol() {
            Protocol::Twinline => {
                let token = visitor_token_with(
                    &self.http,
                    &self.base,
                    crate::SITE,
                    None,
                    Some(crate::SITE_ORIGIN),
                )
                .await
                .expect("a visitor token");
                VisitorId {
                    visitor: token.visitor.to_string(),
                    chat: token.chat,
                    token: token.token,
                }
            }
            Protocol::SocketIo => VisitorId {
                visitor: Ulid::new(now(), random_u128()).to_string(),
                chat: ChatId::new(now(), random_u128()),
                token: String::new(),
            },
        }
    }

    /// Connects `visitor` holding `have`, to the server or (Twinline pair)
    /// to the WebSocket URL given.
    pub async fn connect_visitor(
        &self,
        visitor: &VisitorId,
        have: &[MessageId],
    ) -> Result<(Conn, Vec<ChatSync>), WireError> {
        self.connect_visitor_at(&self.ws, visitor, have).await
    }

    /// [`Server::connect_visitor`] at another URL of the same deployment.
    pub async fn connect_visitor_at(
        &self,
        url: &str,
        visitor: &VisitorId,
        have: &[MessageId],
    ) -> Result<(Conn, Vec<ChatSync>), WireError> {
        let hello = Hello::Visitor {
            visitor: &visitor.visitor,
            chat: visitor.chat,
            token: &visitor.token,
            have,
        };
        Conn::open(self.kind.protocol(), url, hello).await
    }

    /// A new operator (Twinline: `operator add`, then a login).
    pub async fn new_operator(&self, username: &str) -> OperatorId {
        match self.kind.protocol() {
            Protocol::Twinline => {
                let store: Vec<std::ffi::OsString> = match &*self.processes.lock().unwrap() {
                    Processes::Relay(relay) => vec!["--data-dir".into(), relay.data_dir().into()],
                    Processes::Pair(pair) => {
                        vec!["--data-dir".into(), pair.primary.data_dir().into()]
                    }
                    Processes::Nodes { deployment, .. } => {
                        deployment.store_flags().map(Into::into).to_vec()
                    }
                    Processes::Peer(_) => unreachable!("a peer speaks Socket.IO"),
                };
                let store: Vec<&std::ffi::OsStr> = store.iter().map(|s| s.as_os_str()).collect();
                tokio::task::block_in_place(|| {
                    crate::process::add_operator_on(&store, username, username, PASSWORD)
                });
                let session = login(&self.base, username, PASSWORD)
                    .await
                    .expect("the operator logs in");
                OperatorId {
                    username: username.into(),
                    token: session.token,
                }
            }
            Protocol::SocketIo => OperatorId {
                username: username.into(),
                token: String::new(),
            },
        }
    }

    /// Connects `operator`, resuming the chats in `have`.
    pub async fn connect_operator(
        &self,
        operator: &OperatorId,
        have: &[(ChatId, Vec<MessageId>)],
    ) -> Result<(Conn, Vec<ChatSync>), WireError> {
        let hello = Hello::Operator {
            username: &operator.username,
            token: &operator.token,
            have,
        };
        Conn::open(self.kind.protocol(), &self.ws, hello).await
    }

    fn each_process<T>(&self, read: impl Fn(&str, u32, PathBuf) -> T) -> Vec<T> {
        let processes = self.processes.lock().unwrap();
        let mut found = Vec::new();
        let mut add = |name: &str, pid: Option<u32>, dir: &std::path::Path| {
            if let Some(pid) = pid {
                found.push(read(name, pid, dir.to_path_buf()));
            }
        };
        match &*processes {
            Processes::Relay(relay) => add("relay", relay.pid(), relay.data_dir()),
            Processes::Pair(pair) => {
                add("primary", pair.primary.pid(), pair.primary.data_dir());
                add("redundant", pair.redundant.pid(), pair.redundant.data_dir());
            }
            Processes::Peer(peer) => add("peer", peer.pid(), peer.data_dir()),
            // The relay nodes only: PostgreSQL's own processes are not
            // counted (the figures say so).
            Processes::Nodes { deployment, .. } => {
                for (i, node) in deployment.nodes.iter().enumerate() {
                    add(&format!("node-{}", i + 1), node.pid(), node.data_dir());
                }
            }
        }
        found
    }

    /// The server's process ids (a relay's, a pair's primary first).
    pub fn pids(&self) -> Vec<u32> {
        self.each_process(|_, pid, _| pid)
    }

    /// CPU seconds used so far by every server process, added up.
    pub fn cpu_seconds(&self) -> f64 {
        self.each_process(|_, pid, _| super::cpu_seconds(pid).unwrap_or(0.0))
            .into_iter()
            .sum()
    }

    /// Resident memory of every server process, added up, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.each_process(|_, pid, _| super::rss_kib(pid).unwrap_or(0))
            .into_iter()
            .sum()
    }

    /// Per process: memory, threads, CPU, and its store's file sizes.
    pub fn samples(&self) -> Vec<ProcessSample> {
        self.each_process(|name, pid, dir| {
            let (wal_bytes, db_bytes) = store_bytes(&dir);
            ProcessSample {
                process: name.into(),
                rss_kib: super::rss_kib(pid).unwrap_or(0),
                threads: threads(pid).unwrap_or(0),
                cpu_s: super::cpu_seconds(pid).unwrap_or(0.0),
                wal_bytes,
                db_bytes,
            }
        })
    }

    /// SIGKILL the server (every process of a pair's primary; the peer),
    /// then start it again on the same port with the same data; returns
    /// once it listens.
    pub fn kill9_and_restart(&self) {
        let mut processes = self.processes.lock().unwrap();
        match &mut *processes {
            Processes::Relay(relay) => relay.restart(),
            Processes::Pair(pair) => pair.primary.restart(),
            Processes::Peer(peer) => peer.restart(),
            Processes::Nodes { deployment, .. } => deployment.nodes[0].restart(),
        }
    }
}

/// `count` relay nodes on a new PostgreSQL server (fsync on: durable as
/// in production), no rate limits.
fn nodes(count: usize) -> Processes {
    let server = Cluster::start("bench", Durability::Durable)
        .unwrap_or_else(|error| panic!("a PostgreSQL server: {error}"));
    let url = crate::nodes::database_on(&server, "bench");
    let deployment = Deployment::start(
        &url,
        RelayOptions {
            extra: unlimited().iter().map(|s| s.to_string()).collect(),
            ..RelayOptions::primary()
        },
        count,
    );
    Processes::Nodes {
        deployment,
        _server: server,
    }
}

/// Limits off: the benchmark's load comes from one IP (per-client limits,
/// see `process::UNLIMITED_CLIENTS`) and floods frames.
fn unlimited() -> Vec<&'static str> {
    [crate::process::UNLIMITED_CLIENTS, &["--frame-rate", "0"]].concat()
}

/// Threads of a process (Linux /proc).
pub fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|rest| rest.trim().parse().ok())
}

/// Bytes in a data directory's SQLite WAL files (`*-wal`) and database
/// files (everything else but shared-memory indexes), walking down one
/// level.
pub fn store_bytes(dir: &std::path::Path) -> (u64, u64) {
    let mut wal = 0;
    let mut db = 0;
    let mut visit = |path: PathBuf, len: u64| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with("-wal") {
            wal += len;
        } else if name.ends_with(".db") || name.ends_with(".sqlite") || name.ends_with(".sqlite3") {
            db += len;
        }
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            for inner in std::fs::read_dir(entry.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if let Ok(m) = inner.metadata() {
                    visit(inner.path(), m.len());
                }
            }
        } else {
            visit(entry.path(), meta.len());
        }
    }
    (wal, db)
}

/// Wall-clock milliseconds, as message stamps.
pub fn now() -> Millis {
    Millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

/// A new message by `author` in `chat`.
pub fn message(author: &Author, chat: ChatId, text: &str, lamport: u64) -> Message {
    crate::client::make_message(author.clone(), chat, text, lamport)
}
