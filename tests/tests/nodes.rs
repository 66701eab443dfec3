//! Issue 18's failure rows inside a deployment: relay nodes over a real
//! PostgreSQL, behind a real HAProxy, killed with SIGKILL, their database
//! stopped and started again, replication to the other deployment moving
//! from node to node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use twinline_core::protocol::{ClientFrame, ServerFrame, VisitorTokenResponse};
use twinline_core::{ChatState, Message, MessageId, Role};
use twinline_relay::store::postgres::cluster::{Cluster, Durability};
use twinline_tests::client::{Operator, Visitor, WsClient, make_message, untimed};
use twinline_tests::moderator::ModeratorProcess;
use twinline_tests::nodes::{
    Deployment, answering_node, busiest_node, database_on, fresh_database, node_admin,
    primary_on_postgres_and_redundant, reaches, unlimited, watch_moderator,
};
use twinline_tests::pair::{eventually, health, health_at, messages_at, messages_of};
use twinline_tests::process::{RelayOptions, RelayProcess};

const PASSWORD: &str = "correct horse";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_one_node_and_an_operator_on_another_chat_live() {
    let deployment = Deployment::start(
        &fresh_database("live"),
        unlimited(RelayOptions::primary()),
        2,
    );
    deployment.add_operator("ada", "Ada", PASSWORD);
    let (one, two) = (&deployment.nodes[0], &deployment.nodes[1]);

    // The balancer spreads requests over both nodes.
    let mut answered = BTreeSet::new();
    for _ in 0..6 {
        answered.extend(answering_node(&deployment.url()).await);
    }
    assert_eq!(
        answered,
        BTreeSet::from(["node-1".to_string(), "node-2".to_string()]),
        "HAProxy reaches both nodes"
    );

    let mut operator = Operator::join(&two.url(), &two.ws_url(), "ada", PASSWORD).await;
    let mut visitor = Visitor::join(&one.url(), &one.ws_url()).await;
    let chat = visitor.token.chat;
    // Presence: an operator online on node 2 counts for a visitor on node 1.
    visitor
        .ws
        .recv_until(|f| {
            matches!(f, ServerFrame::Presence { operators_online, .. } if *operators_online == 1)
        })
        .await;

    let hello = visitor.say("Hello from node 1").await;
    let queue = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Queue { chats } if !chats.is_empty()))
        .await;
    let ServerFrame::Queue { chats } = queue else {
        unreachable!()
    };
    assert_eq!(chats[0].chat, chat);
    assert_eq!(chats[0].preview, "Hello from node 1");

    let sync = operator.accept(chat).await;
    assert_eq!(sync.status.state, ChatState::Active);
    assert_eq!(
        sync.missing.iter().map(|m| m.id).collect::<Vec<_>>(),
        [hello.id]
    );
    // The assignment reaches the visitor on the other node.
    visitor
        .ws
        .recv_until(|f| {
            matches!(f, ServerFrame::Status { status, .. }
                if status.operator.as_deref() == Some("ada"))
        })
        .await;

    let reply = make_message(operator.author(), chat, "Hi from node 2", 2);
    operator
        .ws
        .send(&ClientFrame::Send { msg: reply.clone() })
        .await;
    let sent = Instant::now();
    let ServerFrame::Message { msg } = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await
    else {
        unreachable!()
    };
    eprintln!(
        "node 2 to node 1: {:?} (one message, loaded machine)",
        sent.elapsed()
    );
    assert_eq!(untimed(msg), untimed(reply));

    // Typing crosses nodes too.
    visitor
        .ws
        .send(&ClientFrame::Typing { chat, on: true })
        .await;
    let typing = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Typing { .. }))
        .await;
    assert!(matches!(
        typing,
        ServerFrame::Typing { who, on: true, .. } if who.role == Role::Visitor
    ));

    // A replay racing the original: one message sent to both nodes at once
    // is acked by both and stored once.
    let twice = visitor.message("sent to both nodes", 3);
    let connect = |url: String| async move {
        WsClient::connect(&url, Some(twinline_tests::SITE_ORIGIN))
            .await
            .expect("connecting")
    };
    let mut first =
        Visitor::hello_on(connect(one.ws_url()).await, visitor.token.clone(), &[]).await;
    let mut second =
        Visitor::hello_on(connect(two.ws_url()).await, visitor.token.clone(), &[]).await;
    let send = ClientFrame::Send { msg: twice.clone() };
    tokio::join!(first.ws.send(&send), second.ws.send(&send));
    let acked = |f: &ServerFrame| matches!(f, ServerFrame::Ack { id } if *id == twice.id);
    tokio::join!(first.ws.recv_until(acked), second.ws.recv_until(acked));
    // Stored once: the feed holds one change per stored message (a
    // reader may be sent a copy twice, in its catch-up and live from the
    // follower, and merges by id; the store must not hold two).
    let held = messages_at(&deployment.url()).await;
    assert!(
        held.contains_key(&twice.id.to_string()),
        "the raced message is stored"
    );
    assert_eq!(
        held.len(),
        3,
        "hello, the reply and the raced one, each once: {:?}",
        held.keys()
    );
}

/// What one writing visitor saw: every id acked, how often its connection
/// died, and when the first ack came after each reconnect.
struct Written {
    token: VisitorTokenResponse,
    acked: Vec<MessageId>,
    reconnects: usize,
    first_ack_after_reconnect: Option<Instant>,
    /// The longest time between two acks: what a person would notice.
    longest_gap: Duration,
}

/// A visitor writing through `ws_url` as a widget does: a window of
/// messages in flight, and after a lost connection a new one (through the
/// balancer, to whichever node it picks) that replays what was not acked;
/// told to migrate (a node draining), it does the same at once.
/// Writes until `stop`, then until nothing is in flight.
async fn write_through(
    ws_url: String,
    token: VisitorTokenResponse,
    stop: Arc<AtomicBool>,
) -> Written {
    const WINDOW: usize = 10;
    let mut written = Written {
        token,
        acked: Vec::new(),
        reconnects: 0,
        first_ack_after_reconnect: None,
        longest_gap: Duration::ZERO,
    };
    let mut last_ack = Instant::now();
    let mut pending: Vec<Message> = Vec::new();
    let mut lamport = 0;
    let started = Instant::now();
    'connection: loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "a writer could not reconnect"
        );
        let Ok(ws) = WsClient::connect(&ws_url, Some(twinline_tests::SITE_ORIGIN)).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let mut visitor = Visitor::hello_on(ws, written.token.clone(), &written.acked).await;
        let reconnected = written.reconnects > 0;
        let mut first_ack_pending = reconnected;
        for msg in &pending {
            let frame = ClientFrame::Send { msg: msg.clone() };
            if visitor
                .ws
                .send_raw(WsMessage::Text(frame.to_json().into()))
                .await
                .is_err()
            {
                written.reconnects += 1;
                continue 'connection;
            }
        }
        loop {
            if stop.load(Relaxed) && pending.is_empty() {
                return written;
            }
            while !stop.load(Relaxed) && pending.len() < WINDOW {
                lamport += 1;
                let msg = visitor.message(&format!("m{lamport}"), lamport);
                let frame = ClientFrame::Send { msg: msg.clone() };
                pending.push(msg);
                if visitor
                    .ws
                    .send_raw(WsMessage::Text(frame.to_json().into()))
                    .await
                    .is_err()
                {
                    written.reconnects += 1;
                    continue 'connection;
                }
            }
            match visitor.ws.next().await {
                Some(ServerFrame::Ack { id }) => {
                    if let Some(at) = pending.iter().position(|m| m.id == id) {
                        pending.remove(at);
                        written.acked.push(id);
                        written.longest_gap = written.longest_gap.max(last_ack.elapsed());
                        last_ack = Instant::now();
                        if first_ack_pending {
                            first_ack_pending = false;
                            written
                                .first_ack_after_reconnect
                                .get_or_insert(Instant::now());
                        }
                    }
                }
                Some(ServerFrame::Migrate { .. }) | None => {
                    written.reconnects += 1;
                    continue 'connection;
                }
                Some(_) => {}
            }
        }
    }
}

/// A primary on PostgreSQL behind HAProxy, a redundant on SQLite, and a
/// moderator watching both that has settled on the primary.
async fn watched_deployments(label: &str) -> (Deployment, RelayProcess, Arc<ModeratorProcess>) {
    let database = fresh_database(label);
    let (primary, redundant) = primary_on_postgres_and_redundant(&database, 2);
    let moderator = Arc::new(ModeratorProcess::start_at(
        ("primary", &primary.url()),
        ("redundant", &redundant.url()),
        &["--probe-interval-ms", "100"],
    ));
    moderator
        .wait_active(Duration::from_secs(20), "the primary active", |a| {
            a.active == "primary"
        })
        .await;
    (primary, redundant, moderator)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_sigkilled_while_chatting_loses_nothing_and_the_moderator_stays() {
    let (mut primary, redundant, moderator) = watched_deployments("kill").await;
    let load = Load::start(&primary, &moderator).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let victim = busiest_node(&primary).await;
    let killed = Instant::now();
    primary.nodes[victim].kill9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let written = load.finish().await;

    let moved: Vec<&Written> = written.iter().filter(|w| w.reconnects > 0).collect();
    assert!(!moved.is_empty(), "some writer was on the killed node");
    let mut failover: Vec<Duration> = moved
        .iter()
        .map(|w| {
            w.first_ack_after_reconnect
                .expect("a moved writer was acked again")
                .duration_since(killed)
        })
        .collect();
    failover.sort();
    eprintln!(
        "node SIGKILL: {} of {} writers moved, kill to next ack median {:?}, max {:?} \
         (the balancer's checks every 200 ms; loaded machine)",
        moved.len(),
        written.len(),
        failover[failover.len() / 2],
        failover[failover.len() - 1]
    );
    nothing_lost_or_doubled(&primary, &redundant, &written).await;
}

/// Every node of the deployment slow at once for a moment, as nodes are
/// on a loaded machine while one takes over a dead node's clients: frozen
/// for longer than the 200 ms the balancer's checks used to be given
/// (HAProxy takes `inter` as a check's timeout unless `timeout check`
/// says otherwise), shorter than their 2 s now and than the moderator's
/// probe timeout. Neither node is called down, so the balancer never runs
/// out of servers (it then answers 503 to every client and to the
/// moderator's probes, and the moderator fails the deployment over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_slow_for_a_moment_stay_in_rotation_and_the_moderator_stays() {
    let (primary, _redundant, moderator) = watched_deployments("slow").await;
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = watch_moderator(moderator.clone(), watching.clone());
    for _ in 0..3 {
        for node in &primary.nodes {
            node.freeze();
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        for node in &primary.nodes {
            node.thaw();
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    watching.store(false, Relaxed);
    let named = watcher.await.expect("the moderator's watcher");
    let log = primary.balancer.log();
    assert!(
        !log.contains("is DOWN") && !log.contains("no server available"),
        "a slow node was taken out of rotation:\n{log}"
    );
    assert_eq!(
        named,
        BTreeSet::from(["primary".to_string()]),
        "the moderator never left the primary"
    );
}

/// Writers through a deployment's balancer, and a watch on the moderator:
/// what happens to one node must stay inside the deployment.
struct Load {
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<Written>>,
    watching: Arc<AtomicBool>,
    watcher: tokio::task::JoinHandle<BTreeSet<String>>,
}

impl Load {
    const WRITERS: usize = 8;

    async fn start(primary: &Deployment, moderator: &Arc<ModeratorProcess>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let http = reqwest::Client::new();
        let mut writers = Vec::new();
        for _ in 0..Load::WRITERS {
            let token = twinline_tests::client::visitor_token_with(
                &http,
                &primary.url(),
                twinline_tests::SITE,
                None,
                Some(twinline_tests::SITE_ORIGIN),
            )
            .await
            .expect("a visitor token through the balancer");
            writers.push(tokio::spawn(write_through(
                primary.ws_url(),
                token,
                stop.clone(),
            )));
        }
        let watching = Arc::new(AtomicBool::new(true));
        let watcher = watch_moderator(moderator.clone(), watching.clone());
        Load {
            stop,
            writers,
            watching,
            watcher,
        }
    }

    /// Stops the writers (each once nothing is in flight) and checks that
    /// the moderator never left the primary.
    async fn finish(self) -> Vec<Written> {
        self.stop.store(true, Relaxed);
        let mut written = Vec::new();
        for writer in self.writers {
            written.push(
                tokio::time::timeout(Duration::from_secs(60), writer)
                    .await
                    .expect("a writer finishes")
                    .expect("a writer's task"),
            );
        }
        self.watching.store(false, Relaxed);
        let seen = self.watcher.await.unwrap();
        assert_eq!(
            seen,
            BTreeSet::from(["primary".to_string()]),
            "the moderator never left the primary"
        );
        written
    }
}

/// Everything acked is stored, once, and replicated to the redundant
/// deployment.
async fn nothing_lost_or_doubled(
    primary: &Deployment,
    redundant: &RelayProcess,
    written: &[Written],
) {
    let mut acked_total = 0;
    // Each message once in the feed (messages_at refuses a second copy).
    let held = messages_at(&primary.url()).await;
    for w in written {
        let stored = WsClient::stored_for(&primary.ws_url(), &w.token.token).await;
        let ids: BTreeSet<MessageId> = stored.iter().map(|m| m.id).collect();
        let lost: Vec<_> = w
            .acked
            .iter()
            .filter(|id| !ids.contains(id) || !held.contains_key(&id.to_string()))
            .collect();
        assert!(lost.is_empty(), "acked and lost: {lost:?}");
        acked_total += w.acked.len();
    }
    assert!(acked_total > 100, "only {acked_total} acks");
    let acked: BTreeSet<String> = written
        .iter()
        .flat_map(|w| w.acked.iter().map(MessageId::to_string))
        .collect();
    eventually(
        Duration::from_secs(30),
        "the redundant has every acked message",
        || {
            let acked = &acked;
            async move {
                let held = messages_of(redundant).await;
                acked.iter().all(|id| held.contains_key(id))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_with_drains_moves_clients_without_a_visible_gap() {
    let (mut primary, redundant, moderator) = watched_deployments("rolling").await;
    let load = Load::start(&primary, &moderator).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let http = reqwest::Client::new();
    for n in 0..primary.nodes.len() {
        let node = primary.nodes[n].url();
        // Drain to the deployment itself: clients reconnect through the
        // balancer, which no longer picks this node (its health is 503).
        let drain = http
            .post(format!("{node}/v1/admin/drain"))
            .json(&serde_json::json!({ "to": "primary" }));
        assert_eq!(node_admin(drain).await["draining"], true);
        // The node is out of the balancer's rotation; the deployment, which
        // its other node serves, is not draining.
        let node_check = http
            .get(format!("{node}/v1/health?node"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            node_check.status(),
            reqwest::StatusCode::SERVICE_UNAVAILABLE
        );
        let deployment = health(&primary.nodes[n]).await.expect("the node's health");
        assert!(deployment.ready && !deployment.draining, "{deployment:?}");
        eventually(Duration::from_secs(20), "the node's clients moved", || {
            let (http, node) = (&http, &node);
            async move {
                let progress = http.get(format!("{node}/v1/admin/drain"));
                node_admin(progress).await["clients"] == 0
            }
        })
        .await;
        // Stopped only once the balancer has it out of rotation: a
        // request it still forwarded to a stopping node would wait.
        let name = format!("node-{}", n + 1);
        eventually(
            Duration::from_secs(20),
            "the balancer passes the node over",
            || {
                let (url, name) = (primary.url(), &name);
                async move { !reaches(&url, name).await }
            },
        )
        .await;
        assert_eq!(primary.nodes[n].terminate(), Some(0), "a clean exit");
        primary.nodes[n].restart();
        eventually(Duration::from_secs(20), "the new node in rotation", || {
            let (url, name) = (primary.url(), &name);
            async move { reaches(&url, name).await }
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let written = load.finish().await;
    let longest = written
        .iter()
        .map(|w| w.longest_gap)
        .max()
        .unwrap_or_default();
    let moved = written.iter().filter(|w| w.reconnects > 0).count();
    eprintln!(
        "rolling restart of 2 nodes: {moved} of {} writers moved, longest time between two acks {longest:?}",
        written.len()
    );
    assert!(moved > 0, "a drain moved some writer");
    assert!(
        longest < Duration::from_secs(5),
        "a writer waited {longest:?} for an ack (the widget shows nothing under 5 s)"
    );
    nothing_lost_or_doubled(&primary, &redundant, &written).await;
}

/// Sends one message as a new visitor of the deployment at `base`.
async fn one_message(base: &str, ws_url: &str, text: &str) -> Message {
    let mut visitor = Visitor::join(base, ws_url).await;
    visitor.say(text).await
}

/// Waits until the deployment at `base` holds message `id` (through its
/// feed).
async fn until_held(base: &str, id: MessageId, what: &str) {
    let id = id.to_string();
    eventually(Duration::from_secs(30), what, || {
        let id = id.clone();
        async move { messages_at(base).await.contains_key(&id) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_runs_on_one_node_and_moves_when_that_node_dies() {
    let database = fresh_database("lease");
    let (mut primary, redundant) = primary_on_postgres_and_redundant(&database, 2);

    // Both ways, with both nodes up.
    let on_primary = one_message(&primary.url(), &primary.ws_url(), "to the redundant").await;
    until_held(&redundant.url(), on_primary.id, "primary to redundant").await;
    let on_redundant = one_message(&redundant.url(), &redundant.ws_url(), "to the primary").await;
    until_held(&primary.url(), on_redundant.id, "redundant to primary").await;

    // Each node killed in turn (one of them held the lease): the other
    // keeps pulling from the redundant deployment.
    for victim in [0, 1] {
        primary.nodes[victim].kill9();
        let pulled_at = Instant::now();
        let after = one_message(&redundant.url(), &redundant.ws_url(), "after a kill").await;
        until_held(
            &primary.url(),
            after.id,
            &format!("pulled after node-{} died", victim + 1),
        )
        .await;
        eprintln!(
            "node-{} SIGKILLed: the redundant's next message on the primary after {:?}",
            victim + 1,
            pulled_at.elapsed()
        );
        primary.nodes[victim].restart();
        eventually(
            Duration::from_secs(20),
            "the node is back in rotation",
            || {
                let node = &primary.nodes[victim];
                async move { health(node).await.is_some_and(|h| h.ready) }
            },
        )
        .await;
    }

    // Nothing pulled twice: the checkpoint moved with what it applied.
    let held = messages_at(&primary.url()).await;
    assert_eq!(held.len(), 4, "each message once: {:?}", held.keys());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_fails_over_and_the_nodes_recover_without_a_restart() {
    let server = Cluster::start("stopped", Durability::Fast).expect("a PostgreSQL server");
    let database = database_on(&server, "stopped");
    let (primary, redundant) = primary_on_postgres_and_redundant(&database, 2);
    let moderator = ModeratorProcess::start_at(
        ("primary", &primary.url()),
        ("redundant", &redundant.url()),
        &["--probe-interval-ms", "100"],
    );
    moderator
        .wait_active(Duration::from_secs(20), "the primary active", |a| {
            a.active == "primary"
        })
        .await;
    let before = one_message(&primary.url(), &primary.ws_url(), "before the stop").await;

    let stopped = Instant::now();
    server.stop().expect("stopping PostgreSQL");
    for node in &primary.nodes {
        eventually(
            Duration::from_secs(20),
            "a node reports not ready",
            || async move { health(node).await.is_some_and(|h| !h.ready) },
        )
        .await;
    }
    moderator
        .wait_active(Duration::from_secs(20), "failover to the redundant", |a| {
            a.active == "redundant"
        })
        .await;
    eprintln!(
        "PostgreSQL stopped: the moderator moved to the redundant {:?} later",
        stopped.elapsed()
    );
    let during = one_message(&redundant.url(), &redundant.ws_url(), "during the outage").await;

    let restarted = Instant::now();
    server.restart().expect("starting PostgreSQL again");
    for node in &primary.nodes {
        eventually(
            Duration::from_secs(30),
            "a node ready again",
            || async move { health(node).await.is_some_and(|h| h.ready) },
        )
        .await;
    }
    eventually(
        Duration::from_secs(10),
        "the deployment answers ready through the balancer",
        || async { health_at(&primary.url()).await.is_some_and(|h| h.ready) },
    )
    .await;
    // It catches up with what the redundant took meanwhile, and the
    // moderator goes back to it.
    until_held(&primary.url(), during.id, "the outage's message caught up").await;
    moderator
        .wait_active(Duration::from_secs(30), "failback to the primary", |a| {
            a.active == "primary"
        })
        .await;
    eprintln!(
        "PostgreSQL started again: the moderator back on the primary {:?} later",
        restarted.elapsed()
    );
    let after = one_message(&primary.url(), &primary.ws_url(), "after the restart").await;
    let held: BTreeMap<String, Message> = messages_at(&primary.url()).await;
    for id in [before.id, during.id, after.id] {
        assert!(held.contains_key(&id.to_string()), "{id} missing");
    }
}

/// The `twinline-bench node-failover` scenario, run small: what it prints
/// at 1,000 clients is only worth something if it moves clients, times
/// them, and checks what it says it checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_failover_bench_moves_clients_and_finds_nothing_lost() {
    use twinline_tests::bench::node_failover::{NodeFailoverConfig, node_failover};
    let (figures, report) = node_failover(NodeFailoverConfig {
        visitors: 18,
        operators: 2,
    })
    .await;
    assert_eq!(report.clients, 20);
    assert!(
        !report.kill_to_ack_ms.is_empty()
            && report.kill_to_ack_ms.len()
                == report.moved_within_primary + report.moved_to_redundant,
        "the killed node's clients were timed: {report:?}"
    );
    assert!(
        report.connections_before_kill.iter().all(|&n| n > 0)
            && report.connections_before_kill.iter().sum::<u64>() >= 20,
        "the clients spread over both nodes: {report:?}"
    );
    assert!(!report.rolling_ack_ms.is_empty(), "{report:?}");
    assert!(!report.failed(), "{report:?}");
    // A node's death and its restart stay inside the deployment: the
    // killed node's clients rejoin through the balancer, a drained node's
    // clients move to the other node before it is stopped.
    assert_eq!(report.moved_to_redundant, 0, "{report:?}");
    assert_eq!(report.rolling_to_redundant, 0, "{report:?}");
    assert!(
        report.left_on_node_when_stopped.iter().all(|&n| n == 0),
        "a drain moves every client before the SIGTERM: {report:?}"
    );
    assert!(
        figures
            .iter()
            .any(|f| f.name == "node failover: kill to next ack p99" && f.value > 0.0),
        "{figures:?}"
    );
}
