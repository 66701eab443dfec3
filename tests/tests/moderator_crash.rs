//! A moderator crash alone costs no client anything (issue 19): real
//! relays, a real moderator SIGKILLed and started again, native clients
//! writing all the while. The moderator only advises; while it is silent
//! clients keep the deployment they are on, and a restarted moderator
//! must not move anyone before it has looked at the deployments.
//!
//! Each scenario asserts, for the moderator's outage and the seconds after
//! its restart, that no client's link left `Connected` and that every
//! message written then was acked within [`NORMAL_ACK`] (a generous bound
//! for this loaded machine: a reconnection would show in the link states
//! first). The figures live in `twinline-bench incidents`, not here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;
use twinline_core::protocol::DeploymentRole::{Primary, Redundant};
use twinline_core::session::{LinkState, Timing};
use twinline_core::{MessageId, Millis};
use twinline_tests::link::Link;
use twinline_tests::moderator::ModeratorProcess;
use twinline_tests::native::{NativeClient, Target, now};
use twinline_tests::pair::Pair;
use twinline_tests::process::RelayProcess;

const LIMIT: Duration = Duration::from_secs(60);
const CLIENTS: u64 = 30;
/// Longer than any ack takes on a link that stays up, shorter than a lost
/// link costs (heartbeat timeout plus reconnection).
const NORMAL_ACK: u64 = 3_000;

/// What the clients wrote: (client index, when, id).
type Written = Vec<(usize, Millis, MessageId)>;

/// Both relays, a moderator behind a proxy (so a restarted one keeps the
/// URL the clients know) and clients connected to the primary.
struct World {
    pair: Pair,
    moderator: ModeratorProcess,
    proxy: Link,
    _links: (Link, Link),
    clients: Arc<Vec<NativeClient>>,
}

fn moderator_for(primary: &RelayProcess, redundant: &RelayProcess) -> ModeratorProcess {
    ModeratorProcess::start(primary, redundant, &[])
}

impl World {
    async fn start() -> World {
        let pair = Pair::start(twinline_tests::process::UNLIMITED_CLIENTS);
        let moderator = moderator_for(&pair.primary, &pair.redundant);
        let proxy = Link::start(moderator.port()).await;
        let links = (
            Link::start(pair.primary.port()).await,
            Link::start(pair.redundant.port()).await,
        );
        let target = Target {
            primary: links.0.url(),
            redundant: links.1.url(),
            moderator: Some(proxy.url()),
            timing: Timing::default(),
        };
        let mut clients = Vec::new();
        for seed in 0..CLIENTS {
            clients.push(NativeClient::visitor(&target, 100 + seed).await);
        }
        for client in &clients {
            client.wait_connected(Some(Primary), LIMIT).await;
        }
        World {
            pair,
            moderator,
            proxy,
            _links: links,
            clients: Arc::new(clients),
        }
    }

    fn kill_moderator(&mut self) {
        self.moderator.kill9();
    }

    async fn restart_moderator(&mut self) {
        let (primary, redundant) = (self.pair.primary.url(), self.pair.redundant.url());
        let (p, r) = (
            self.pair.primary.name().to_string(),
            self.pair.redundant.name().to_string(),
        );
        self.moderator = tokio::task::spawn_blocking(move || {
            ModeratorProcess::start_at((&p, &primary), (&r, &redundant), &[])
        })
        .await
        .expect("starting the moderator");
        self.proxy.retarget(self.moderator.port());
    }

    async fn all_on(&self, role: twinline_core::protocol::DeploymentRole) {
        for client in self.clients.iter() {
            client.wait_connected(Some(role), LIMIT).await;
        }
    }

    /// Every client writes every 300 ms until the returned flag is set;
    /// the task returns what was written and when.
    fn talk(&self) -> (Arc<AtomicBool>, tokio::task::JoinHandle<Written>) {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = self.clients.clone();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut sent = Vec::new();
            while !flag.load(Relaxed) {
                for (index, client) in clients.iter().enumerate() {
                    let at = now();
                    sent.push((index, at, client.say(client.own_chat(), "still here?")));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            sent
        });
        (stop, task)
    }

    /// Waits until every message in `sent` is acked (or the limit passes),
    /// then checks the window from `since`: no client left `Connected`,
    /// every message written in it acked within [`NORMAL_ACK`].
    async fn assert_nobody_noticed(&self, what: &str, since: Millis, sent: &Written) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        while self.clients.iter().any(|c| c.pending() > 0) && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut problems = Vec::new();
        for (index, client) in self.clients.iter().enumerate() {
            let seen = client.seen();
            let left: Vec<_> = seen
                .links
                .iter()
                .filter(|(at, state, _)| *at >= since && *state != LinkState::Connected)
                .collect();
            if !left.is_empty() {
                problems.push(format!("client {index} left connected: {left:?}"));
            }
            for (_, at, id) in sent.iter().filter(|(i, at, _)| *i == index && *at >= since) {
                match seen.acks.iter().find(|(_, acked)| acked == id) {
                    Some((acked, _)) if acked.since(*at) <= NORMAL_ACK => {}
                    Some((acked, _)) => problems.push(format!(
                        "client {index}: a message took {} ms to be acked",
                        acked.since(*at)
                    )),
                    None => problems.push(format!("client {index}: a message was never acked")),
                }
            }
        }
        assert!(problems.is_empty(), "{what}: {problems:#?}");
    }
}

/// Moderator killed while everyone is on the active primary, started again
/// four seconds later: clients keep their links, the restarted moderator
/// finds the primary active and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_crash_and_restart_cost_clients_on_the_primary_nothing() {
    let mut world = World::start().await;
    let (stop, talk) = world.talk();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let since = now();
    world.kill_moderator();
    tokio::time::sleep(Duration::from_secs(4)).await;
    world.restart_moderator().await;
    // Long enough for every client to ask the new moderator (every 3 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    stop.store(true, Relaxed);
    let sent = talk.await.expect("the talkers");
    world
        .assert_nobody_noticed("moderator crash", since, &sent)
        .await;
    world.all_on(Primary).await;
}

/// The harder case: the primary died, the moderator moved everyone to the
/// redundant, and the moderator crashes there. While it is silent the
/// primary comes back (clients move to it by their own rule once it says it
/// is caught up, make-before-break); then a new moderator starts out
/// believing its default, the primary, is active. Nobody notices any of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_crash_while_the_redundant_is_active_costs_nobody_anything() {
    let mut world = World::start().await;
    world.pair.primary.kill9();
    world.all_on(Redundant).await;
    let (stop, talk) = world.talk();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let since = now();
    world.kill_moderator();
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.pair.primary.restart();
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.restart_moderator().await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Relaxed);
    let sent = talk.await.expect("the talkers");
    world
        .assert_nobody_noticed("moderator crash on the redundant", since, &sent)
        .await;
    // The restarted moderator fails back once the primary is caught up, and
    // clients follow it.
    world.all_on(Primary).await;
}
