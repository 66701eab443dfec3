//! The comparison's load scenarios, each run unchanged against any
//! [`Server`]: full load (acks per second and server CPU per ack), everyday
//! load (1,000 chats x 1 msg/s: server CPU per message and the latencies
//! in the same run), and idle connections (memory per connection).
//!
//! CPU is the server processes' own (/proc/<pid>/stat, see
//! [`Server::cpu_seconds`]); the load generator's is reported beside it,
//! per message, to show that it does the same work for both protocols and
//! is not what limits the figures.

use super::Figure;
use super::server::{Server, VisitorId, message};
use super::stats::Samples;
use super::wire::{Conn, Event};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use twinline_core::{ChatId, MessageId};

/// CPU used by the server and by this load generator over a window.
pub struct Meter {
    server: f64,
    own: f64,
    at: Instant,
}

/// What a [`Meter`] measured.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Server CPU seconds.
    pub server_cpu: f64,
    /// Load generator CPU seconds.
    pub own_cpu: f64,
    /// Wall seconds.
    pub elapsed: f64,
}

impl Meter {
    /// Starts measuring.
    pub fn start(server: &Server) -> Meter {
        Meter {
            server: server.cpu_seconds(),
            own: own_cpu(),
            at: Instant::now(),
        }
    }

    /// What was used since [`Meter::start`].
    pub fn stop(&self, server: &Server) -> Measured {
        Measured {
            server_cpu: server.cpu_seconds() - self.server,
            own_cpu: own_cpu() - self.own,
            elapsed: self.at.elapsed().as_secs_f64(),
        }
    }
}

/// This process's CPU seconds (the load generator).
pub fn own_cpu() -> f64 {
    super::cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// Runs `count` tasks made by `make`, `parallel` at a time; returns their
/// results in order (connecting thousands of clients without opening them
/// all at once).
pub async fn in_batches<T, F>(count: usize, parallel: usize, make: impl Fn() -> F) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut done = Vec::with_capacity(count);
    let mut pending = Vec::new();
    for _ in 0..count {
        pending.push(tokio::spawn(make()));
        if pending.len() == parallel {
            for task in pending.drain(..) {
                done.push(task.await.expect("a task of the batch"));
            }
        }
    }
    for task in pending {
        done.push(task.await.expect("a task of the batch"));
    }
    done
}

/// Makes `count` visitors and connects them, `parallel` at a time.
pub async fn connect_visitors(
    server: &Arc<Server>,
    count: usize,
    parallel: usize,
) -> Vec<(VisitorId, Conn)> {
    in_batches(count, parallel, || {
        let server = server.clone();
        async move {
            let visitor = server.new_visitor().await;
            let (conn, _) = server
                .connect_visitor(&visitor, &[])
                .await
                .unwrap_or_else(|e| panic!("a visitor connects to {}: {e}", server.kind().name()));
            (visitor, conn)
        }
    })
    .await
}

/// Each visitor writes a first message and waits for its ack (so its chat
/// exists before an operator accepts it); returns the ids by chat.
pub async fn say_hello(visitors: &mut [(VisitorId, Conn)]) -> Vec<(ChatId, MessageId)> {
    let mut ids = Vec::with_capacity(visitors.len());
    for (visitor, conn) in visitors {
        let first = message(&visitor.author(), visitor.chat, "hello", 1);
        conn.send(&first).await.expect("sending");
        wait_for_ack(conn, first.id)
            .await
            .expect("the first message is acked");
        ids.push((visitor.chat, first.id));
    }
    ids
}

/// Acks per second with `connections` visitors each keeping `window`
/// messages in flight for `duration` (after one second of warm-up).
pub async fn throughput(
    server: &Arc<Server>,
    connections: usize,
    window: usize,
    duration: Duration,
) -> Vec<Figure> {
    let visitors = connect_visitors(server, connections, 50).await;
    let acked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (visitor, mut conn) in visitors {
        let (acked, refused, stop) = (acked.clone(), refused.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let author = visitor.author();
            let mut lamport = 0u64;
            let mut next = || {
                lamport += 1;
                message(&author, visitor.chat, "throughput", lamport)
            };
            for _ in 0..window {
                if conn.feed(&next()).await.is_err() {
                    return;
                }
            }
            if conn.flush().await.is_err() {
                return;
            }
            while let Some(event) = conn.next().await {
                match event {
                    Event::Ack(_) => {
                        acked.fetch_add(1, Relaxed);
                        if stop.load(Relaxed) || conn.send(&next()).await.is_err() {
                            break;
                        }
                    }
                    Event::Refused { .. } => {
                        refused.fetch_add(1, Relaxed);
                    }
                    _ => {}
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let meter = Meter::start(server);
    let base = acked.load(Relaxed);
    tokio::time::sleep(duration).await;
    let count = acked.load(Relaxed) - base;
    let used = meter.stop(server);
    stop.store(true, Relaxed);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let rate = count as f64 / used.elapsed;
    let per_ack = used.server_cpu * 1e6 / count.max(1) as f64;
    let own_per_ack = used.own_cpu * 1e6 / count.max(1) as f64;
    let name = server.kind().name();
    eprintln!(
        "{name} full load: {count} acks in {:.1} s = {rate:.0}/s ({connections} connections x {window} in flight); server CPU {:.2} s ({:.0}% of one core) = {per_ack:.1} us per ack; load generator {own_per_ack:.1} us per ack ({:.0}% of one core); {} refused",
        used.elapsed,
        used.server_cpu,
        100.0 * used.server_cpu / used.elapsed,
        100.0 * used.own_cpu / used.elapsed,
        refused.load(Relaxed),
    );
    assert_eq!(
        refused.load(Relaxed),
        0,
        "{name} refused messages under full load"
    );
    vec![
        Figure::new("acks per second at full load", rate, "messages/s", None),
        Figure::new("server CPU per ack at full load", per_ack, "us", None),
        Figure::new(
            "server CPU use at full load",
            100.0 * used.server_cpu / used.elapsed,
            "% of a core",
            None,
        ),
        Figure::new(
            "load generator CPU per ack at full load",
            own_per_ack,
            "us",
            None,
        ),
    ]
}

/// `chats` visitors each sending one message a second for `duration`, one
/// operator holding every chat: server CPU per message, send -> ack and
/// send -> operator latency, all from the same run.
pub async fn everyday(server: &Arc<Server>, chats: usize, duration: Duration) -> Vec<Figure> {
    let operator = server.new_operator("bench").await;
    let (mut op, _) = server
        .connect_operator(&operator, &[])
        .await
        .expect("the operator connects");
    let mut visitors = connect_visitors(server, chats, 50).await;
    // Each chat gets a first message, then the operator accepts it.
    say_hello(&mut visitors).await;
    let chat_ids: Vec<ChatId> = visitors.iter().map(|(v, _)| v.chat).collect();
    for chat in &chat_ids {
        op.accept(*chat).await.expect("accepting");
    }
    let mut accepted = 0;
    while accepted < chats {
        match op.next().await.expect("the operator stays connected") {
            Event::Accepted(_) => accepted += 1,
            Event::Refused { code, .. } => panic!("an accept was refused: {code}"),
            _ => {}
        }
    }
    let sent_at: Arc<Mutex<HashMap<MessageId, Instant>>> = Arc::default();
    let delivery = Arc::new(Mutex::new(Vec::new()));
    let op_task = {
        let (sent_at, delivery) = (sent_at.clone(), delivery.clone());
        tokio::spawn(async move {
            while let Some(event) = op.next().await {
                if let Event::Message(msg) = event
                    && let Some(at) = sent_at.lock().unwrap().get(&msg.id)
                {
                    delivery.lock().unwrap().push(at.elapsed());
                }
            }
        })
    };
    let acks = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (index, (visitor, mut conn)) in visitors.into_iter().enumerate() {
        let (sent_at, acks, stop, sent) =
            (sent_at.clone(), acks.clone(), stop.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let author = visitor.author();
            // Spread the chats over the second.
            let offset = Duration::from_micros((index as u64 * 1_000_000) / chats as u64);
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut lamport = 10;
            let mut in_flight: HashMap<MessageId, Instant> = HashMap::new();
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if stop.load(Relaxed) { break; }
                        lamport += 1;
                        let msg = message(&author, visitor.chat, "latency probe", lamport);
                        let now = Instant::now();
                        in_flight.insert(msg.id, now);
                        sent_at.lock().unwrap().insert(msg.id, now);
                        if conn.send(&msg).await.is_err() { break; }
                        sent.fetch_add(1, Relaxed);
                    }
                    event = conn.next() => match event {
                        Some(Event::Ack(id)) => {
                            if let Some(at) = in_flight.remove(&id) {
                                acks.lock().unwrap().push(at.elapsed());
                            }
                        }
                        Some(_) => {}
                        None => break,
                    }
                }
            }
        }));
    }
    // Measure once every chat has started sending.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let meter = Meter::start(server);
    let sent_base = sent.load(Relaxed);
    tokio::time::sleep(duration).await;
    let used = meter.stop(server);
    let messages = sent.load(Relaxed) - sent_base;
    stop.store(true, Relaxed);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    op_task.abort();
    let acks = Samples::new(acks.lock().unwrap().clone());
    let delivery = Samples::new(delivery.lock().unwrap().clone());
    let per_message = used.server_cpu * 1e6 / messages.max(1) as f64;
    let own_per_message = used.own_cpu * 1e6 / messages.max(1) as f64;
    eprintln!(
        "{} at {chats} chats x 1 msg/s: {messages} messages in {:.1} s, server CPU {per_message:.0} us per message ({:.0}% of one core), load generator {own_per_message:.0} us; send->ack p50 {:.2} ms p99 {:.2} ms ({} samples); send->operator p50 {:.2} ms p99 {:.2} ms ({} samples)",
        server.kind().name(),
        used.elapsed,
        100.0 * used.server_cpu / used.elapsed,
        acks.percentile_ms(50.0),
        acks.percentile_ms(99.0),
        acks.len(),
        delivery.percentile_ms(50.0),
        delivery.percentile_ms(99.0),
        delivery.len()
    );
    let mut figures = vec![
        Figure::new(
            &format!("server CPU per message at {chats} chats x 1 msg/s"),
            per_message,
            "us",
            None,
        ),
        Figure::new(
            &format!("load generator CPU per message at {chats} chats x 1 msg/s"),
            own_per_message,
            "us",
            None,
        ),
    ];
    for (what, samples) in [("send to ack", &acks), ("send to operator", &delivery)] {
        for (p, value) in [
            ("p50", samples.percentile_ms(50.0)),
            ("p90", samples.percentile_ms(90.0)),
            ("p99", samples.percentile_ms(99.0)),
            ("p99.9", samples.percentile_ms(99.9)),
            ("max", samples.max_ms()),
        ] {
            figures.push(Figure::new(
                &format!("{what} {p} at {chats} chats"),
                value,
                "ms",
                None,
            ));
        }
    }
    figures
}

/// Reads events until `id` is acked; an error if the server refuses it or
/// the connection closes first.
pub async fn wait_for_ack(conn: &mut Conn, id: MessageId) -> Result<(), String> {
    loop {
        match conn.next().await {
            Some(Event::Ack(acked)) if acked == id => return Ok(()),
            Some(Event::Refused { id: Some(r), code }) if r == id => {
                return Err(format!("message refused: {code}"));
            }
            Some(_) => {}
            None => return Err("the connection closed before the ack".into()),
        }
    }
}

/// Holds `count` idle, welcomed visitor connections and reads the server's
/// memory before and after.
pub async fn idle_connections(server: &Arc<Server>, count: usize) -> Vec<Figure> {
    let before = server.rss_kib();
    let started = Instant::now();
    let visitors = connect_visitors(server, count, 100).await;
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_kib();
    let per_connection = after.saturating_sub(before) as f64 / count as f64;
    eprintln!(
        "{} idle: {count} connections held (connected in {:.1} s); server RSS {:.1} MB -> {:.1} MB, {per_connection:.1} KiB per connection",
        server.kind().name(),
        connect_time.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
    );
    drop(visitors);
    vec![
        Figure::new(
            &format!("memory per idle connection at {count}"),
            per_connection,
            "KiB",
            None,
        ),
        Figure::new(
            &format!("server RSS with {count} idle connections"),
            after as f64 / 1024.0,
            "MB",
            None,
        ),
    ]
}
