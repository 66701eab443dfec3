//! Node failover at scale: issue 18's row "a node of the active deployment
//! SIGKILLed while chatting", and its rolling restart, measured with 1,000
//! native clients (the real core session, as the widget and the console
//! run it) instead of the process test's eight raw writers.
//!
//! The primary is two relay nodes on a real PostgreSQL (fsync and
//! `synchronous_commit` on) behind a real HAProxy, the redundant one relay
//! on SQLite, a moderator watching both; visitors and a few operators
//! holding their chats reach the primary through the balancer, so they are
//! spread over both nodes, and chat at the everyday rate (one message a
//! second each, spread over the second).
//!
//! - Kill: the node holding more connections is SIGKILLed and every client
//!   writes one message at once (typed at the worst moment, as in
//!   [`super::failover`]); per client whose link broke, the sample is the
//!   time from the kill to that message's durable ack, and where the client
//!   went: another node of the primary (through the balancer) or the
//!   redundant deployment.
//! - Rolling restart: each node in turn is drained towards its own
//!   deployment, stopped once its clients left (or after a while, SIGTERM
//!   closing the rest), and started again; the figure is the longest wait
//!   for an ack of any message written meanwhile.
//!
//! Throughout, the moderator is watched (it must never leave the primary),
//! and at the end every acked message must be stored once on both
//! deployments and shown on both sides of its chat.

use super::Figure;
use super::load::in_batches;
use super::stats::Samples;
use crate::moderator::ModeratorProcess;
use crate::native::{NativeClient, Target, now};
use crate::nodes::{
    Deployment, connections, database_on, node_admin, primary_on_postgres_and_redundant, reaches,
    watch_moderator,
};
use crate::pair::{messages_at, messages_of};
use crate::process::RelayProcess;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use twinline_core::protocol::DeploymentRole::{self, Primary, Redundant};
use twinline_core::session::{LinkState, Timing};
use twinline_core::{ChatId, ChatState, MessageId, Millis};
use twinline_relay::store::postgres::cluster::{Cluster, Durability};

/// How long setting up, an ack after a fault, or settling may take.
const LIMIT: Duration = Duration::from_secs(60);
/// How long a draining node is given to see its clients leave before it is
/// stopped anyway (its SIGTERM closes the rest with 1001).
const DRAIN_WAIT: Duration = Duration::from_secs(10);
/// Chatting before a fault, and after it before the next step.
const CHATTING: Duration = Duration::from_secs(3);
const PASSWORD: &str = "bench-password";

/// The sizes of a run.
#[derive(Clone, Copy, Debug)]
pub struct NodeFailoverConfig {
    /// Visitors, one chat each.
    pub visitors: usize,
    /// Operators; visitor `i`'s chat is held by operator `i % operators`.
    pub operators: usize,
}

/// What a run found, also written as JSON beside the figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeFailoverReport {
    /// Clients (visitors and operators).
    pub clients: usize,
    /// Connections each node held just before the kill.
    pub connections_before_kill: Vec<u64>,
    /// Kill to the ack of the message written right after it, per client
    /// whose link broke, in ms.
    pub kill_to_ack_ms: Vec<f64>,
    /// Kill to the welcome on the new link, per such client, in ms: the
    /// reconnect's share of the wait (the rest is the replay and the
    /// message's commit).
    pub kill_to_welcome_ms: Vec<f64>,
    /// CPU seconds used from the kill until every message written right
    /// after it was acked: by this load generator (the clients), by the
    /// surviving node, and by the whole machine (which includes both, the
    /// database, the balancer, and whatever else runs), beside the wall
    /// seconds of that window and the cores there are.
    pub failover_window: CpuWindow,
    /// Messages written right after the kill and not acked within a
    /// minute.
    pub unacked_after_kill: usize,
    /// Of those, how many reconnected to the primary (another node).
    pub moved_within_primary: usize,
    /// And how many went to the redundant deployment.
    pub moved_to_redundant: usize,
    /// Send to ack of every message written during the rolling restart, ms.
    pub rolling_ack_ms: Vec<f64>,
    /// Clients whose link went to the redundant during the rolling restart.
    pub rolling_to_redundant: usize,
    /// Clients still on each node when it was stopped (after its drain).
    pub left_on_node_when_stopped: Vec<u64>,
    /// Clients not connected to the primary with nothing pending a
    /// minute after the writing stopped.
    pub unsettled_at_end: usize,
    /// Every deployment the moderator named while the nodes failed.
    pub moderator_named: BTreeSet<String>,
    /// Messages acked to a client and not stored on the primary.
    pub lost_on_primary: usize,
    /// Messages acked and not replicated to the redundant.
    pub lost_on_redundant: usize,
    /// Acked messages missing from the other side's transcript of a chat.
    pub undelivered: usize,
}

impl NodeFailoverReport {
    /// Whether something the issue forbids happened: an acked message lost
    /// or undelivered, or the moderator leaving the primary.
    pub fn failed(&self) -> bool {
        self.lost_on_primary
            + self.lost_on_redundant
            + self.undelivered
            + self.unacked_after_kill
            + self.unsettled_at_end
            > 0
            || self.moderator_named != BTreeSet::from(["primary".to_string()])
    }
}

/// Where the CPU went over a window.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CpuWindow {
    /// Wall seconds.
    pub wall: f64,
    /// The load generator's CPU seconds.
    pub load_generator: f64,
    /// The surviving node's.
    pub surviving_node: f64,
    /// The whole machine's.
    pub machine: f64,
    /// Cores of the machine.
    pub cores: usize,
}

/// A [`CpuWindow`] being measured.
struct CpuMeter {
    at: std::time::Instant,
    own: f64,
    node: f64,
    machine: f64,
    node_pid: Option<u32>,
}

impl CpuMeter {
    fn start(node_pid: Option<u32>) -> CpuMeter {
        let cpu = |pid: Option<u32>| pid.and_then(super::cpu_seconds).unwrap_or(0.0);
        CpuMeter {
            at: std::time::Instant::now(),
            own: cpu(Some(std::process::id())),
            node: cpu(node_pid),
            machine: super::machine_busy_seconds().unwrap_or(0.0),
            node_pid,
        }
    }

    fn stop(&self) -> CpuWindow {
        let cpu = |pid: Option<u32>| pid.and_then(super::cpu_seconds).unwrap_or(0.0);
        CpuWindow {
            wall: self.at.elapsed().as_secs_f64(),
            load_generator: cpu(Some(std::process::id())) - self.own,
            surviving_node: cpu(self.node_pid) - self.node,
            machine: super::machine_busy_seconds().unwrap_or(0.0) - self.machine,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// One client of the run and what was written through it.
struct Client {
    native: NativeClient,
    /// The chats it writes in: a visitor's own, an operator's held ones.
    chats: Vec<ChatId>,
    /// Every message written: when, and its id.
    written: std::sync::Mutex<Vec<(Millis, MessageId)>>,
}

impl Client {
    fn new(native: NativeClient, chats: Vec<ChatId>) -> Client {
        Client {
            native,
            chats,
            written: std::sync::Mutex::default(),
        }
    }

    /// Writes the `n`-th message (in one of its chats, in turn).
    fn write(&self, n: usize, text: &str) -> MessageId {
        let chat = self.chats[n % self.chats.len()];
        let at = now();
        let id = self.native.say(chat, text);
        self.written.lock().expect("written").push((at, id));
        id
    }

    /// When `id` was acked, if it was.
    fn acked_at(&self, id: MessageId) -> Option<Millis> {
        let seen = self.native.seen();
        seen.acks.iter().find(|(_, a)| *a == id).map(|(at, _)| *at)
    }

    /// The link changes since index `from` of its history.
    fn links_since(&self, from: usize) -> Vec<(Millis, LinkState, Option<DeploymentRole>)> {
        self.native.seen().links.split_off(from)
    }
}

struct Bench {
    primary: Deployment,
    redundant: RelayProcess,
    clients: Arc<Vec<Client>>,
    http: reqwest::Client,
}

impl Bench {
    fn histories(&self) -> Vec<usize> {
        self.clients
            .iter()
            .map(|c| c.native.seen().links.len())
            .collect()
    }

    /// Waits until every client is connected to `to` with nothing pending;
    /// returns how many are not, after `limit`.
    async fn settle_on(&self, to: DeploymentRole, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let unsettled = self
                .clients
                .iter()
                .filter(|c| {
                    c.native.pending() > 0 || c.native.link() != (LinkState::Connected, Some(to))
                })
                .count();
            if unsettled == 0 || tokio::time::Instant::now() >= deadline {
                return unsettled;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every id (one per client, in order) is acked, or
    /// [`LIMIT`]; each ack's time, `None` for one that never came (the
    /// client's state is printed).
    async fn acks(&self, ids: &[MessageId]) -> Vec<Option<Millis>> {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let found: Vec<Option<Millis>> = self
                .clients
                .iter()
                .zip(ids)
                .map(|(c, id)| c.acked_at(*id))
                .collect();
            let done = found.iter().all(Option::is_some);
            if done || tokio::time::Instant::now() >= deadline {
                for (i, _) in found.iter().enumerate().filter(|(_, f)| f.is_none()) {
                    let client = &self.clients[i].native;
                    let seen = client.seen();
                    eprintln!(
                        "node failover: client {i} not acked after {LIMIT:?}: link {:?}, {} \
                         pending, last links {:?}, errors {:?}",
                        client.link(),
                        client.pending(),
                        &seen.links[seen.links.len().saturating_sub(4)..],
                        &seen.errors[seen.errors.len().saturating_sub(4)..],
                    );
                }
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs the busier node, has every client write at once, and
    /// notes how long each moved client waited and where it went.
    async fn kill(&mut self, report: &mut NodeFailoverReport) {
        for node in &self.primary.nodes {
            report.connections_before_kill.push(connections(node).await);
        }
        let victim = (0..self.primary.nodes.len())
            .max_by_key(|&i| report.connections_before_kill[i])
            .expect("a node");
        let before = self.histories();
        let survivor = (0..self.primary.nodes.len())
            .find(|&i| i != victim)
            .and_then(|i| self.primary.nodes[i].pid());
        let meter = CpuMeter::start(survivor);
        let killed = now();
        tokio::task::block_in_place(|| self.primary.nodes[victim].kill9());
        let ids: Vec<MessageId> = self
            .clients
            .iter()
            .map(|c| c.write(0, "written right after the kill"))
            .collect();
        let acked = self.acks(&ids).await;
        report.failover_window = meter.stop();
        report.unacked_after_kill = acked.iter().filter(|a| a.is_none()).count();
        for ((client, from), at) in self.clients.iter().zip(before).zip(acked) {
            let links = client.links_since(from);
            let Some(broke) = links
                .iter()
                .position(|(_, s, _)| *s != LinkState::Connected)
            else {
                continue;
            };
            if let Some(at) = at {
                report.kill_to_ack_ms.push(at.since(killed) as f64);
            }
            let landed = links[broke..]
                .iter()
                .find(|(_, s, _)| *s == LinkState::Connected);
            if let Some((welcomed, _, _)) = landed {
                report
                    .kill_to_welcome_ms
                    .push(welcomed.since(killed) as f64);
            }
            match landed.and_then(|(_, _, d)| *d) {
                Some(Redundant) => report.moved_to_redundant += 1,
                _ => report.moved_within_primary += 1,
            }
        }
        tokio::time::sleep(CHATTING).await;
        tokio::task::block_in_place(|| self.primary.nodes[victim].restart());
        self.wait_in_rotation(victim).await;
    }

    /// Waits until the balancer sends requests to node `n` again.
    async fn wait_in_rotation(&self, n: usize) {
        let name = format!("node-{}", n + 1);
        let deadline = tokio::time::Instant::now() + LIMIT;
        while !reaches(&self.primary.url(), &name).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not back in rotation"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drains, stops and restarts each node in turn while the clients
    /// chat; notes every ack's wait meanwhile.
    async fn rolling_restart(&mut self, report: &mut NodeFailoverReport) {
        let before = self.histories();
        let written_before: Vec<usize> = self
            .clients
            .iter()
            .map(|c| c.written.lock().expect("written").len())
            .collect();
        for n in 0..self.primary.nodes.len() {
            let node = self.primary.nodes[n].url();
            let drain = self
                .http
                .post(format!("{node}/v1/admin/drain"))
                .json(&serde_json::json!({ "to": "primary" }));
            node_admin(drain).await;
            let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
            let left = loop {
                let progress = self.http.get(format!("{node}/v1/admin/drain"));
                let left = node_admin(progress).await["clients"].as_u64().unwrap_or(0);
                if left == 0 || tokio::time::Instant::now() >= deadline {
                    break left;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            report.left_on_node_when_stopped.push(left);
            let name = format!("node-{}", n + 1);
            let deadline = tokio::time::Instant::now() + LIMIT;
            while reaches(&self.primary.url(), &name).await {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the balancer kept sending requests to draining {name}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::task::block_in_place(|| {
                self.primary.nodes[n].terminate();
                self.primary.nodes[n].restart();
            });
            self.wait_in_rotation(n).await;
        }
        tokio::time::sleep(CHATTING).await;
        self.settle_on(Primary, LIMIT).await;
        for ((client, from), first) in self.clients.iter().zip(before).zip(written_before) {
            if client
                .links_since(from)
                .iter()
                .any(|(_, _, d)| *d == Some(Redundant))
            {
                report.rolling_to_redundant += 1;
            }
            let seen = client.native.seen();
            let acked: HashMap<MessageId, Millis> =
                seen.acks.iter().map(|(at, id)| (*id, *at)).collect();
            let written = client.written.lock().expect("written");
            for (at, id) in &written[first..] {
                if let Some(acked) = acked.get(id) {
                    report.rolling_ack_ms.push(acked.since(*at) as f64);
                }
            }
        }
    }

    /// Every acked message stored on both deployments (the primary's feed
    /// refuses a second copy) and on both sides of its chat.
    async fn check(&self, report: &mut NodeFailoverReport, pairs: &[(usize, usize)]) {
        let acked: BTreeSet<String> = self
            .clients
            .iter()
            .flat_map(|c| {
                c.native
                    .seen()
                    .acks
                    .into_iter()
                    .map(|(_, id)| id.to_string())
            })
            .collect();
        let held = messages_at(&self.primary.url()).await;
        report.lost_on_primary = acked.iter().filter(|id| !held.contains_key(*id)).count();
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let held = messages_of(&self.redundant).await;
            report.lost_on_redundant = acked.iter().filter(|id| !held.contains_key(*id)).count();
            if report.lost_on_redundant == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            report.undelivered = pairs
                .iter()
                .map(|&(visitor, operator)| self.undelivered(visitor, operator))
                .sum();
            if report.undelivered == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Messages of the visitor's chat acked to one side and missing from
    /// the other side's transcript.
    fn undelivered(&self, visitor: usize, operator: usize) -> usize {
        let (v, o) = (&self.clients[visitor], &self.clients[operator]);
        let chat = v.chats[0];
        let ids =
            |c: &Client| -> BTreeSet<MessageId> { c.native.transcript(chat).into_iter().collect() };
        let acked = |c: &Client| -> BTreeSet<MessageId> {
            let written: BTreeSet<MessageId> = c
                .written
                .lock()
                .expect("written")
                .iter()
                .map(|(_, id)| *id)
                .collect();
            c.native
                .seen()
                .acks
                .into_iter()
                .map(|(_, id)| id)
                .filter(|id| written.contains(id))
                .collect()
        };
        let (at_visitor, at_operator) = (ids(v), ids(o));
        // The operator writes in several chats: its messages of this one
        // are those its own transcript of it holds.
        let from_operator = acked(o)
            .intersection(&at_operator)
            .copied()
            .collect::<Vec<_>>();
        acked(v).difference(&at_operator).count()
            + from_operator
                .iter()
                .filter(|id| !at_visitor.contains(id))
                .count()
    }
}

/// Every client writes one message a second, spread over the second, until
/// `stop`.
fn chat(clients: Arc<Vec<Client>>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        const TICK: Duration = Duration::from_millis(10);
        let per_tick = clients.len().div_ceil(100);
        let mut tick = tokio::time::interval(TICK);
        let (mut next, mut round) = (0usize, 0usize);
        while !stop.load(Relaxed) {
            tick.tick().await;
            for _ in 0..per_tick {
                clients[next].write(round, "everyday chat");
                next += 1;
                if next == clients.len() {
                    next = 0;
                    round += 1;
                }
            }
        }
    })
}

/// Starts the deployments, the moderator and the clients; runs the kill
/// and the rolling restart; checks; returns the figures and the report.
pub async fn node_failover(config: NodeFailoverConfig) -> (Vec<Figure>, NodeFailoverReport) {
    let server =
        tokio::task::block_in_place(|| Cluster::start("node-failover", Durability::Durable))
            .unwrap_or_else(|error| panic!("a PostgreSQL server: {error}"));
    let url = tokio::task::block_in_place(|| database_on(&server, "node_failover"));
    let (primary, redundant) =
        tokio::task::block_in_place(|| primary_on_postgres_and_redundant(&url, 2));
    let moderator = Arc::new(tokio::task::block_in_place(|| {
        ModeratorProcess::start_at(
            ("primary", &primary.url()),
            ("redundant", &redundant.url()),
            &["--probe-interval-ms", "100"],
        )
    }));
    moderator
        .wait_active(LIMIT, "the primary active", |a| a.active == "primary")
        .await;
    let operators = config.operators.max(1);
    for j in 0..operators {
        tokio::task::block_in_place(|| {
            primary.add_operator(&format!("op{j}"), &format!("Operator {j}"), PASSWORD)
        });
    }
    let target = Target {
        primary: primary.url(),
        redundant: redundant.url(),
        moderator: Some(moderator.url()),
        timing: Timing::default(),
    };
    eprintln!("node failover: connecting {} visitors", config.visitors);
    let seed = Arc::new(AtomicU64::new(18_000));
    let visitors = in_batches(config.visitors, 50, || {
        let (target, seed) = (target.clone(), seed.clone());
        async move {
            let client = NativeClient::visitor(&target, seed.fetch_add(1, Relaxed)).await;
            client.wait_connected(Some(Primary), LIMIT).await;
            let chat = client.own_chat();
            client.say(chat, "hello");
            (client, chat)
        }
    })
    .await;
    let mut clients: Vec<Client> = Vec::new();
    let mut held: Vec<Vec<ChatId>> = vec![Vec::new(); operators];
    for (i, (native, chat)) in visitors.into_iter().enumerate() {
        held[i % operators].push(chat);
        clients.push(Client::new(native, vec![chat]));
    }
    for (j, chats) in held.into_iter().enumerate() {
        let operator =
            NativeClient::operator(&target, &format!("op{j}"), PASSWORD, 1_000_000 + j as u64)
                .await;
        operator.with(|s, now| s.set_availability(now, true));
        operator.wait_connected(Some(Primary), LIMIT).await;
        for chat in &chats {
            operator.with(|s, now| s.accept(now, *chat));
        }
        operator
            .wait(LIMIT, "every chat accepted", |s| {
                chats.iter().all(|chat| {
                    s.chat_status(*chat)
                        .is_some_and(|st| st.state == ChatState::Active)
                })
            })
            .await;
        clients.push(Client::new(operator, chats));
    }
    // Each visitor's chat and the operator holding it, by client index.
    let pairs: Vec<(usize, usize)> = (0..config.visitors)
        .map(|i| (i, config.visitors + i % operators))
        .collect();
    let clients = Arc::new(clients);
    let mut bench = Bench {
        primary,
        redundant,
        clients: clients.clone(),
        http: reqwest::Client::new(),
    };
    let mut report = NodeFailoverReport {
        clients: clients.len(),
        ..NodeFailoverReport::default()
    };
    assert_eq!(
        bench.settle_on(Primary, LIMIT).await,
        0,
        "clients did not settle on the primary"
    );
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = watch_moderator(moderator.clone(), watching.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let chatting = chat(clients.clone(), stop.clone());
    tokio::time::sleep(CHATTING).await;

    eprintln!("node failover: SIGKILL of the busier node");
    bench.kill(&mut report).await;
    let unsettled = bench.settle_on(Primary, LIMIT).await;
    eprintln!("node failover: rolling restart ({unsettled} clients not back on the primary)");
    bench.rolling_restart(&mut report).await;
    stop.store(true, Relaxed);
    chatting.await.expect("the chat loop");
    report.unsettled_at_end = bench.settle_on(Primary, LIMIT).await;
    watching.store(false, Relaxed);
    report.moderator_named = watcher.await.expect("the moderator's watcher");
    bench.check(&mut report, &pairs).await;
    let figures = figures(&report);
    drop(bench);
    drop(clients);
    tokio::task::block_in_place(|| drop(server));
    (figures, report)
}

fn samples(ms: &[f64]) -> Samples {
    Samples::new(
        ms.iter()
            .map(|m| Duration::from_secs_f64(m / 1000.0))
            .collect(),
    )
}

/// The figures a report gives, printed and returned.
pub fn figures(report: &NodeFailoverReport) -> Vec<Figure> {
    let kill = samples(&report.kill_to_ack_ms);
    let welcome = samples(&report.kill_to_welcome_ms);
    let rolling = samples(&report.rolling_ack_ms);
    let moved = report.kill_to_ack_ms.len();
    eprintln!(
        "node failover with {} clients (connections per node before the kill {:?}): {moved} moved, \
         {} to another node, {} to the redundant; kill to next ack p50 {:.0} p99 {:.0} max {:.0} ms \
         (to the welcome p50 {:.0} p99 {:.0} max {:.0} ms; in those {:.1} s of {} cores the \
         machine was busy {:.1} s, this load generator {:.1} s, the surviving node {:.1} s). \
         Rolling restart: ack wait p50 {:.0} p99 {:.0} max {:.0} ms ({} acks), {} clients went \
         to the redundant, left on each node when stopped {:?}. Moderator named {:?}; lost on \
         the primary {}, on the redundant {}, undelivered {}; not acked within a minute of the kill {}, \
         not settled at the end {}",
        report.clients,
        report.connections_before_kill,
        report.moved_within_primary,
        report.moved_to_redundant,
        kill.percentile_ms(50.0),
        kill.percentile_ms(99.0),
        kill.max_ms(),
        welcome.percentile_ms(50.0),
        welcome.percentile_ms(99.0),
        welcome.max_ms(),
        report.failover_window.wall,
        report.failover_window.cores,
        report.failover_window.machine,
        report.failover_window.load_generator,
        report.failover_window.surviving_node,
        rolling.percentile_ms(50.0),
        rolling.percentile_ms(99.0),
        rolling.max_ms(),
        rolling.len(),
        report.rolling_to_redundant,
        report.left_on_node_when_stopped,
        report.moderator_named,
        report.lost_on_primary,
        report.lost_on_redundant,
        report.undelivered,
        report.unacked_after_kill,
        report.unsettled_at_end,
    );
    let count = |name: &str, value: usize, target: Option<&str>| {
        Figure::new(name, value as f64, "clients", target)
    };
    vec![
        count("node failover: clients", report.clients, None),
        count("node failover: clients on the killed node", moved, None),
        count(
            "node failover: moved clients that left the deployment",
            report.moved_to_redundant,
            Some("0"),
        ),
        Figure::new(
            "node failover: kill to next ack p50",
            kill.percentile_ms(50.0),
            "ms",
            None,
        ),
        Figure::new(
            "node failover: kill to next ack p99",
            kill.percentile_ms(99.0),
            "ms",
            Some("< 300"),
        ),
        Figure::new(
            "node failover: kill to next ack max",
            kill.max_ms(),
            "ms",
            None,
        ),
        Figure::new(
            "node failover: kill to welcome p99",
            welcome.percentile_ms(99.0),
            "ms",
            None,
        ),
        Figure::new(
            "rolling restart: ack wait p99",
            rolling.percentile_ms(99.0),
            "ms",
            None,
        ),
        Figure::new(
            "rolling restart: longest wait for an ack",
            rolling.max_ms(),
            "ms",
            Some("< 5000"),
        ),
        count(
            "rolling restart: clients that left the deployment",
            report.rolling_to_redundant,
            Some("0"),
        ),
        Figure::new(
            "node failover: moderator left the primary",
            f64::from(u8::from(
                report.moderator_named != BTreeSet::from(["primary".to_string()]),
            )),
            "",
            Some("0"),
        ),
        Figure::new(
            "node failover: messages not acked within a minute of the kill",
            report.unacked_after_kill as f64,
            "messages",
            Some("0"),
        ),
        count(
            "node failover: clients not settled on the primary at the end",
            report.unsettled_at_end,
            Some("0"),
        ),
        Figure::new(
            "node failover: acked messages lost or undelivered",
            (report.lost_on_primary + report.lost_on_redundant + report.undelivered) as f64,
            "messages",
            Some("0"),
        ),
    ]
}
