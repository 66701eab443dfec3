//! What one incident of each kind costs the visitors who live through it.
//!
//! Many native clients (the real core session) on a replicating pair with a
//! moderator; each reaches each deployment through a [`Link`] of its own
//! kind (one per deployment, shared by all), and the moderator through one
//! too (so a restarted moderator keeps its URL). Every client writes a
//! message every [`WRITE_EVERY`] throughout, and one more the moment the
//! fault is applied. Then, per client and per incident:
//!
//! - **unavailability**: the longest any message written from the fault on
//!   waited for its durable ack. One gap in service of length g makes the
//!   message written as it began wait g (within the writing period), so
//!   this is the visitor-visible gap; with no gap it is an ordinary ack
//!   latency (milliseconds).
//! - **late**: how much of that exceeds the one second the soak's
//!   availability allows (`max(0, unavailability - 1 s)`): what the
//!   incident takes off a message-count availability, in client time.
//! - **saw not connected**: whether the client's link state, which is what
//!   the widget shows, was anything but connected at any moment.
//! - **first ack**: from the event the issue names to the client's next
//!   ack: the kill (crash), the restarted deployment answering (both down),
//!   the page load (primary unreachable).
//! - **where the time goes** (crash only): the first ack split into the
//!   client noticing (kill to its link leaving `connected`: the socket's
//!   close, then the session's jittered reconnect start), connecting
//!   (from there to the other deployment's `welcome`: TCP, the WebSocket
//!   upgrade, `hello`, the relay storing the chat's header and reading
//!   what the client lacks) and the ack (from `welcome` to the ack of the
//!   resent message: one durable commit on the new relay).
//!
//! The kinds ([`Kind`]): crash of the deployment the clients are on
//! (SIGKILL, restarted after [`DOWN`]); hang of it (SIGSTOP, SIGCONT after
//! [`DOWN`]: a black hole for everyone, the moderator included); silent
//! loss of the clients' link to it (the moderator still sees it); a planned
//! switch (hold the other, stop this one cleanly, start it, release);
//! moderator crash; standby crash; both down, then the one the clients were
//! not on back first; and the primary unreachable (hung) when the page
//! loads: fresh visitors start then. Each incident runs until every client
//! is back on the moderator's choice with nothing pending, so a failback
//! after the repair is part of the cost.

use super::Figure;
use crate::link::Link;
use crate::moderator::ModeratorProcess;
use crate::native::{NativeClient, Target, now};
use crate::pair::Pair;
use crate::process::RelayProcess;
use crate::soak::report::Spread;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;
use twinline_core::protocol::{
    ActiveDeployment,
    DeploymentRole::{self, Primary, Redundant},
};
use twinline_core::session::{Delivery, LinkState, Timing};
use twinline_core::{MessageId, Millis};

/// How often every client writes during an incident: 1,000 clients at
/// 1 msg/s is the everyday load the comparison with Socket.IO uses. Four
/// times that saturated this 2-core machine, where the load generator
/// shares the CPU with both relays, and measured the overload (seconds per
/// ack with no fault at all) instead of the incident. The message written
/// the moment the fault is applied catches the start of a gap, so the
/// period bounds only how late the measure sees a gap that opens later.
pub const WRITE_EVERY: Duration = Duration::from_secs(1);
/// How long a crashed, hung or stopped deployment stays down.
pub const DOWN: Duration = Duration::from_secs(3);
/// How long a silent link stays silent (longer than the heartbeat needs).
const SILENT_FOR: Duration = Duration::from_secs(5);
/// How long an incident may take to settle, or its acks to come.
const LIMIT: Duration = Duration::from_secs(60);
/// The soak's availability deadline: an ack later than this is downtime.
const AVAILABLE_WITHIN_MS: u64 = 1_000;

/// The kinds of incident, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The moderator holds the other deployment; this one is stopped
    /// cleanly, started again, and the hold released.
    Planned,
    /// SIGKILL of the moderator, started again after [`DOWN`].
    Moderator,
    /// SIGKILL of the deployment the clients are not on.
    Standby,
    /// SIGKILL of the deployment the clients are on.
    Crash,
    /// SIGSTOP of the deployment the clients are on.
    Hang,
    /// The clients' link to their deployment black-holed.
    Silent,
    /// SIGKILL of both; the other one back first.
    BothDown,
    /// The primary hung before fresh visitors load the page.
    PageLoad,
}

impl Kind {
    /// Every kind, in running order.
    pub const ALL: [Kind; 8] = [
        Kind::Planned,
        Kind::Moderator,
        Kind::Standby,
        Kind::Crash,
        Kind::Hang,
        Kind::Silent,
        Kind::BothDown,
        Kind::PageLoad,
    ];

    /// Its row label in docs/benchmarks.md.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Planned => "planned switch",
            Kind::Moderator => "moderator crash",
            Kind::Standby => "standby crash",
            Kind::Crash => "crash of the active deployment",
            Kind::Hang => "hang of the active deployment",
            Kind::Silent => "silent link loss",
            Kind::BothDown => "both down, then one back",
            Kind::PageLoad => "primary unreachable from page load",
        }
    }

    /// What "first ack" is measured from, if anything.
    pub fn first_ack_from(self) -> Option<&'static str> {
        match self {
            Kind::Crash => Some("the kill"),
            Kind::BothDown => Some("the deployment answering"),
            Kind::PageLoad => Some("the page load"),
            _ => None,
        }
    }
}

/// What one incident kind cost, over every client of every round.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The kind.
    pub kind: Kind,
    /// Its label.
    pub label: String,
    /// Rounds run.
    pub rounds: usize,
    /// Client samples (clients x rounds).
    pub samples: usize,
    /// Unavailability per client, ms.
    pub unavailable_ms: Spread,
    /// Mean unavailability, ms.
    pub unavailable_mean_ms: f64,
    /// Mean of `max(0, unavailability - 1 s)`, ms.
    pub late_mean_ms: f64,
    /// Fraction of client samples that saw a state other than connected.
    pub saw_not_connected: f64,
    /// From the event of [`Kind::first_ack_from`] to the next ack, ms.
    pub first_ack_ms: Option<Spread>,
    /// The first ack after a crash, split (see the module docs).
    pub phases_ms: Option<Phases>,
    /// The raw unavailability samples, ms.
    pub samples_ms: Vec<u64>,
}

/// Where the first ack after a crash spends its time, per client.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Phases {
    /// The kill to the client's link leaving `connected`.
    pub notice_ms: Spread,
    /// From there to the new relay's `welcome`.
    pub connect_ms: Spread,
    /// From `welcome` to the ack.
    pub ack_ms: Spread,
}

/// One client's measures for one incident.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    unavailable: u64,
    not_connected: bool,
    first_ack: Option<u64>,
    /// Notice, connect, ack (crash only).
    phases: Option<[u64; 3]>,
}

struct Bench {
    pair: Pair,
    moderator: Option<ModeratorProcess>,
    moderator_proxy: Link,
    proxies: [Link; 2],
    target: Target,
    clients: Vec<Arc<NativeClient>>,
    http: reqwest::Client,
}

/// Messages each client wrote, with when.
type Written = Arc<Mutex<Vec<Vec<(Millis, MessageId)>>>>;

impl Bench {
    fn relay(&mut self, role: DeploymentRole) -> &mut RelayProcess {
        self.pair.relay_mut(role)
    }

    fn proxy(&self, role: DeploymentRole) -> &Link {
        match role {
            Primary => &self.proxies[0],
            Redundant => &self.proxies[1],
        }
    }

    async fn active(&self) -> Option<ActiveDeployment> {
        let url = format!("{}/v1/active", self.moderator_proxy.url());
        self.http.get(url).send().await.ok()?.json().await.ok()
    }

    /// Waits until every client is connected to the moderator's choice with
    /// nothing pending; returns that deployment.
    async fn settle(&self) -> DeploymentRole {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let active = self.active().await.and_then(|a| match a.active.as_str() {
                "primary" => Some(Primary),
                "redundant" => Some(Redundant),
                _ => None,
            });
            if let Some(active) = active {
                let calm = self
                    .clients
                    .iter()
                    .all(|c| c.pending() == 0 && c.link() == (LinkState::Connected, Some(active)));
                if calm {
                    return active;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "clients did not settle on the moderator's choice within {LIMIT:?}: {:?}",
                self.link_counts()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn link_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for c in &self.clients {
            *counts
                .entry(format!("{:?} pending {}", c.link(), c.pending() > 0))
                .or_default() += 1;
        }
        counts
    }

    /// Every client writes every [`WRITE_EVERY`] until `stop`.
    fn start_writing(&self, stop: Arc<AtomicBool>) -> (Written, tokio::task::JoinHandle<()>) {
        let written: Written = Arc::new(Mutex::new(vec![Vec::new(); self.clients.len()]));
        let clients = self.clients.clone();
        let task = {
            let written = written.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(WRITE_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while !stop.load(Relaxed) {
                    tick.tick().await;
                    write_once(&clients, &written, "written during an incident");
                }
            })
        };
        (written, task)
    }

    /// Runs one incident of `kind` and measures every client through it.
    async fn round(&mut self, kind: Kind) -> Vec<Sample> {
        let on = self.settle().await;
        let links_before: Vec<usize> = self.clients.iter().map(|c| c.seen().links.len()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let (written, writer) = self.start_writing(stop.clone());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let fault = now();
        // The event "first ack" counts from, if not the fault itself.
        let mut from = fault;
        let mut fresh = Vec::new();
        match kind {
            Kind::Planned => self.planned(on).await,
            Kind::Moderator => {
                tokio::task::block_in_place(|| {
                    if let Some(mut m) = self.moderator.take() {
                        m.kill9();
                    }
                });
                write_once(&self.clients, &written, "written as the moderator died");
                tokio::time::sleep(DOWN).await;
                self.restart_moderator();
            }
            Kind::Standby | Kind::Crash => {
                let who = if kind == Kind::Crash { on } else { on.other() };
                tokio::task::block_in_place(|| self.relay(who).kill9());
                write_once(&self.clients, &written, "written right after a kill");
                tokio::time::sleep(DOWN).await;
                tokio::task::block_in_place(|| self.relay(who).restart());
            }
            Kind::Hang => {
                self.relay(on).freeze();
                write_once(&self.clients, &written, "written right after a hang");
                tokio::time::sleep(DOWN).await;
                self.relay(on).thaw();
            }
            Kind::Silent => {
                self.proxy(on).silence();
                write_once(&self.clients, &written, "written into the void");
                tokio::time::sleep(SILENT_FOR).await;
                self.proxy(on).restore();
            }
            Kind::BothDown => {
                tokio::task::block_in_place(|| {
                    self.pair.primary.kill9();
                    self.pair.redundant.kill9();
                });
                write_once(&self.clients, &written, "written with both down");
                tokio::time::sleep(DOWN).await;
                tokio::task::block_in_place(|| self.relay(on.other()).restart());
                from = now();
                tokio::time::sleep(DOWN).await;
                tokio::task::block_in_place(|| self.relay(on).restart());
            }
            Kind::PageLoad => {
                self.pair.primary.freeze();
                self.wait_active(Redundant).await;
                from = now();
                fresh = self.fresh_visitors().await;
                self.pair.primary.thaw();
            }
        }
        self.settle().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Relaxed);
        let _ = writer.await;
        if kind == Kind::PageLoad {
            return fresh;
        }
        let written = written.lock().expect("written").clone();
        let mut samples = Vec::new();
        for (i, client) in self.clients.iter().enumerate() {
            let mine: Vec<MessageId> = written[i].iter().map(|(_, id)| *id).collect();
            client
                .wait(LIMIT, "every message of the incident acked", |s| {
                    mine.iter().all(|id| s.delivery(*id) != Delivery::Pending)
                })
                .await;
            let seen = client.seen();
            let acks: HashMap<MessageId, Millis> =
                seen.acks.iter().map(|(at, id)| (*id, *at)).collect();
            let unavailable = written[i]
                .iter()
                .filter(|(at, _)| *at >= fault)
                .filter_map(|(at, id)| acks.get(id).map(|acked| acked.since(*at)))
                .max()
                .unwrap_or(0);
            let first_ack = kind
                .first_ack_from()
                .and_then(|_| seen.acks.iter().find(|(at, _)| *at >= from))
                .map(|(at, _)| at.since(from));
            let links = &seen.links[links_before[i]..];
            let phases = (kind == Kind::Crash)
                .then(|| phases(links, first_ack.map(|ms| from.plus(ms)), from))
                .flatten();
            samples.push(Sample {
                unavailable,
                not_connected: links
                    .iter()
                    .any(|(_, state, _)| *state != LinkState::Connected),
                first_ack,
                phases,
            });
        }
        samples
    }

    /// Maintenance of `on`: hold the other, stop `on` cleanly once the
    /// clients have moved, start it again, release.
    async fn planned(&mut self, on: DeploymentRole) {
        let name = match on.other() {
            Primary => "primary",
            Redundant => "redundant",
        };
        self.admin(&format!(r#"{{"active":"{name}","hold":true}}"#))
            .await;
        let deadline = tokio::time::Instant::now() + LIMIT;
        while self
            .clients
            .iter()
            .any(|c| c.link() != (LinkState::Connected, Some(on.other())))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "clients did not follow the planned switch"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::task::block_in_place(|| {
            self.relay(on).terminate();
            self.relay(on).restart();
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.admin(r#"{"release":true}"#).await;
    }

    async fn admin(&self, body: &str) {
        let response = self
            .http
            .post(format!("{}/v1/admin/active", self.moderator_proxy.url()))
            .bearer_auth(crate::ADMIN_TOKEN)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("the moderator answers");
        assert!(
            response.status().is_success(),
            "the moderator refused {body}: {}",
            response.status()
        );
    }

    fn restart_moderator(&mut self) {
        let moderator = tokio::task::block_in_place(|| {
            ModeratorProcess::start(&self.pair.primary, &self.pair.redundant, &[])
        });
        self.moderator_proxy.retarget(moderator.port());
        self.moderator = Some(moderator);
    }

    async fn wait_active(&self, role: DeploymentRole) {
        let name = match role {
            Primary => "primary",
            Redundant => "redundant",
        };
        let deadline = tokio::time::Instant::now() + LIMIT;
        while self.active().await.is_none_or(|a| a.active != name) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the moderator never named {name}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// As many fresh visitors as there are clients, each loading the page
    /// now: a token, a session, one message at once. Measures each from
    /// its start.
    async fn fresh_visitors(&self) -> Vec<Sample> {
        let mut tasks = Vec::new();
        for i in 0..self.clients.len() {
            let target = self.target.clone();
            tasks.push(tokio::spawn(async move {
                let start = now();
                let visitor = NativeClient::visitor(&target, 90_000 + i as u64).await;
                let id = visitor.say(visitor.own_chat(), "hello from a fresh page");
                visitor
                    .wait(LIMIT, "a fresh visitor's first ack", |s| {
                        s.delivery(id) != Delivery::Pending
                    })
                    .await;
                let seen = visitor.seen();
                let acked = seen
                    .acks
                    .iter()
                    .find(|(_, a)| *a == id)
                    .map_or(start, |(at, _)| *at);
                Sample {
                    unavailable: acked.since(start),
                    not_connected: seen.links.iter().any(|(_, state, _)| {
                        !matches!(state, LinkState::Connected | LinkState::Connecting)
                    }),
                    first_ack: Some(acked.since(start)),
                    phases: None,
                }
            }));
        }
        let mut samples = Vec::new();
        for task in tasks {
            samples.push(task.await.expect("a fresh visitor"));
        }
        samples
    }
}

/// Splits the time from `from` to `acked` at the link leaving `connected`
/// and coming back (see [`Phases`]); `None` if the link never left.
fn phases(
    links: &[(Millis, LinkState, Option<DeploymentRole>)],
    acked: Option<Millis>,
    from: Millis,
) -> Option<[u64; 3]> {
    let left = links
        .iter()
        .find(|(at, state, _)| *at >= from && *state != LinkState::Connected)?
        .0;
    let back = links
        .iter()
        .find(|(at, state, _)| *at >= left && *state == LinkState::Connected)?
        .0;
    let acked = acked?;
    Some([left.since(from), back.since(left), acked.since(back)])
}

/// Every client writes one message now.
fn write_once(clients: &[Arc<NativeClient>], written: &Written, text: &str) {
    let at = now();
    let ids: Vec<MessageId> = clients.iter().map(|c| c.say(c.own_chat(), text)).collect();
    let mut written = written.lock().expect("written");
    for (mine, id) in written.iter_mut().zip(ids) {
        mine.push((at, id));
    }
}

/// Runs `rounds` incidents of each of `kinds` with `clients` clients;
/// returns the figures and the rows.
pub async fn incidents(clients: usize, rounds: usize, kinds: &[Kind]) -> (Vec<Figure>, Vec<Row>) {
    let pair = tokio::task::block_in_place(|| Pair::start(crate::process::UNLIMITED_CLIENTS));
    let moderator = tokio::task::block_in_place(|| {
        ModeratorProcess::start(&pair.primary, &pair.redundant, &[])
    });
    let moderator_proxy = Link::start(moderator.port()).await;
    let proxies = [
        Link::start(pair.primary.port()).await,
        Link::start(pair.redundant.port()).await,
    ];
    let target = Target {
        primary: proxies[0].url(),
        redundant: proxies[1].url(),
        moderator: Some(moderator_proxy.url()),
        timing: Timing::default(),
    };
    let all = NativeClient::visitors(&target, clients, 7_000)
        .await
        .into_iter()
        .map(Arc::new)
        .collect();
    let mut bench = Bench {
        pair,
        moderator: Some(moderator),
        moderator_proxy,
        proxies,
        target,
        clients: all,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .expect("an HTTP client"),
    };
    let hello = Arc::new(Mutex::new(vec![Vec::new(); clients]));
    write_once(&bench.clients, &hello, "hello");
    let mut rows = Vec::new();
    let mut figures = Vec::new();
    for &kind in kinds {
        let mut samples = Vec::new();
        for round in 0..rounds {
            eprintln!("incidents: {} round {}", kind.label(), round + 1);
            samples.extend(bench.round(kind).await);
        }
        let row = row_of(kind, rounds, &samples);
        eprintln!(
            "incidents: {}: unavailable p50 {} p99 {} max {} ms, late mean {:.0} ms, {:.1}% saw not connected{}",
            row.label,
            row.unavailable_ms.p50,
            row.unavailable_ms.p99,
            row.unavailable_ms.max,
            row.late_mean_ms,
            row.saw_not_connected * 100.0,
            row.first_ack_ms.map_or(String::new(), |f| format!(
                ", first ack p50 {} p99 {} max {} ms",
                f.p50, f.p99, f.max
            ))
        );
        if let Some(p) = row.phases_ms {
            eprintln!(
                "incidents: {}: p50/p99 notice {}/{} ms, connect {}/{} ms, ack {}/{} ms",
                row.label,
                p.notice_ms.p50,
                p.notice_ms.p99,
                p.connect_ms.p50,
                p.connect_ms.p99,
                p.ack_ms.p50,
                p.ack_ms.p99
            );
        }
        figures.extend(figures_of(&row, clients));
        rows.push(row);
    }
    tokio::task::block_in_place(|| drop(bench));
    (figures, rows)
}

fn row_of(kind: Kind, rounds: usize, samples: &[Sample]) -> Row {
    let unavailable: Vec<u64> = samples.iter().map(|s| s.unavailable).collect();
    let first: Vec<u64> = samples.iter().filter_map(|s| s.first_ack).collect();
    let count = samples.len().max(1) as f64;
    Row {
        kind,
        label: kind.label().into(),
        rounds,
        samples: samples.len(),
        unavailable_ms: Spread::of(&unavailable),
        unavailable_mean_ms: unavailable.iter().sum::<u64>() as f64 / count,
        late_mean_ms: unavailable
            .iter()
            .map(|u| u.saturating_sub(AVAILABLE_WITHIN_MS))
            .sum::<u64>() as f64
            / count,
        saw_not_connected: samples.iter().filter(|s| s.not_connected).count() as f64 / count,
        first_ack_ms: (!first.is_empty()).then(|| Spread::of(&first)),
        phases_ms: phases_of(samples),
        samples_ms: unavailable,
    }
}

fn phases_of(samples: &[Sample]) -> Option<Phases> {
    let split: Vec<[u64; 3]> = samples.iter().filter_map(|s| s.phases).collect();
    let part = |i: usize| Spread::of(&split.iter().map(|p| p[i]).collect::<Vec<_>>());
    (!split.is_empty()).then(|| Phases {
        notice_ms: part(0),
        connect_ms: part(1),
        ack_ms: part(2),
    })
}

fn figures_of(row: &Row, clients: usize) -> Vec<Figure> {
    let at = format!("{} at {clients} clients", row.label);
    let mut figures = vec![
        Figure::new(
            &format!("unavailability, {at}, p50"),
            row.unavailable_ms.p50 as f64,
            "ms",
            None,
        ),
        Figure::new(
            &format!("unavailability, {at}, p99"),
            row.unavailable_ms.p99 as f64,
            "ms",
            None,
        ),
        Figure::new(
            &format!("unavailability, {at}, max"),
            row.unavailable_ms.max as f64,
            "ms",
            None,
        ),
        Figure::new(
            &format!("clients that saw not connected, {at}"),
            row.saw_not_connected * 100.0,
            "%",
            None,
        ),
    ];
    if let Some(p) = row.phases_ms {
        for (part, spread) in [
            ("the kill noticed", p.notice_ms),
            ("connected to the other", p.connect_ms),
            ("welcome to ack", p.ack_ms),
        ] {
            figures.push(Figure::new(
                &format!("{part}, {at}, p99"),
                spread.p99 as f64,
                "ms",
                None,
            ));
        }
    }
    if let (Some(first), Some(from)) = (row.first_ack_ms, row.kind.first_ack_from()) {
        let target = match row.kind {
            Kind::Crash => Some("p99 < 300"),
            Kind::BothDown | Kind::PageLoad => Some("p99 < 1000"),
            _ => None,
        };
        figures.push(Figure::new(
            &format!("{from} to the next ack, {at}, p99"),
            first.p99 as f64,
            "ms",
            target,
        ));
    }
    figures
}
