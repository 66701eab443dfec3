//! What a reconnect costs the relay: the storm a node taking over a dead
//! node's clients (or a deployment taking over from a crashed one) lives
//! through, without the kill. `visitors` chats each get `messages` stored
//! messages; then, `rounds` times, every visitor connects at once with the
//! ids it holds (hello with a token and a resume -> welcome), and all hang
//! up once all are welcomed. Operators stay connected throughout, so each
//! welcome pays for the presence it reports and any fan-out to operators a
//! join causes.
//!
//! The figures: relay CPU per reconnect (from /proc, noisy on a shared
//! machine) and hello -> welcome latency in the storm. For exact counts,
//! scripts/profile-relay.sh --reconnects runs the relay under callgrind
//! and brackets the rounds with the hooks of [`ReconnectConfig`] (counters
//! zeroed at the start, dumped at the end), so the instructions divided by
//! the reconnects are the cost of one, hang-up included.

use super::Figure;
use super::load::{in_batches, wait_for_ack};
use super::server::{Server, VisitorId, message};
use super::stats::Samples;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinline_core::MessageId;

/// The storm's shape.
#[derive(Clone, Debug)]
pub struct ReconnectConfig {
    /// Visitors, one chat each.
    pub visitors: usize,
    /// Messages stored in each chat before the storms.
    pub messages: usize,
    /// Of those, how many the reconnecting client lacks (the newest): the
    /// welcome carries them. 0 is the failover case: the widget holds
    /// every message it was acked.
    pub missing: usize,
    /// Operators connected during the storms.
    pub operators: usize,
    /// Storms measured (after one that warms caches up, not measured).
    pub rounds: usize,
    /// Run by `sh -c` just before the measured storms, with the relay's
    /// pid in `RELAY_PID` (the profile script zeroes callgrind's counters).
    pub on_window_start: Option<String>,
    /// Run by `sh -c` just after them (the profile script dumps).
    pub on_window_end: Option<String>,
}

/// Runs the storms on `server` (a single relay) and returns the figures.
pub async fn reconnects(server: &Arc<Server>, config: &ReconnectConfig) -> Vec<Figure> {
    let mut operators = Vec::new();
    for i in 0..config.operators {
        let operator = server.new_operator(&format!("storm{i}")).await;
        let (conn, _) = server
            .connect_operator(&operator, &[])
            .await
            .unwrap_or_else(|e| panic!("an operator connects: {e}"));
        operators.push(conn);
    }
    let chats: Vec<(VisitorId, Vec<MessageId>)> = in_batches(config.visitors, 50, || {
        let server = server.clone();
        let messages = config.messages;
        async move {
            let visitor = server.new_visitor().await;
            let (mut conn, _) = server
                .connect_visitor(&visitor, &[])
                .await
                .unwrap_or_else(|e| panic!("a visitor connects: {e}"));
            let mut ids = Vec::with_capacity(messages);
            for lamport in 1..=messages {
                let msg = message(
                    &visitor.author(),
                    visitor.chat,
                    "a message of an ordinary length, stored before the storm",
                    lamport as u64,
                );
                conn.send(&msg).await.expect("sending");
                wait_for_ack(&mut conn, msg.id).await.expect("an ack");
                ids.push(msg.id);
            }
            conn.close().await;
            (visitor, ids)
        }
    })
    .await;
    let chats: Arc<Vec<(VisitorId, Vec<MessageId>)>> = Arc::new(
        chats
            .into_iter()
            .map(|(visitor, mut ids)| {
                ids.truncate(ids.len().saturating_sub(config.missing));
                (visitor, ids)
            })
            .collect(),
    );
    storm(server, &chats).await;
    hook(server, config.on_window_start.as_deref());
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for _ in 0..config.rounds {
        latencies.extend(storm(server, &chats).await);
    }
    let wall = started.elapsed();
    let cpu = server.cpu_seconds() - cpu_before;
    hook(server, config.on_window_end.as_deref());
    for conn in operators {
        conn.close().await;
    }
    let reconnects = (config.rounds * config.visitors).max(1);
    let samples = Samples::new(latencies);
    let per = cpu * 1e6 / reconnects as f64;
    let shape = format!(
        "{} visitors x {} messages ({} missing), {} operators",
        config.visitors, config.messages, config.missing, config.operators
    );
    eprintln!(
        "reconnect storms ({shape}): {reconnects} reconnects in {:.1} s; relay CPU {per:.0} us per reconnect; hello -> welcome p50 {:.0} ms, p99 {:.0} ms",
        wall.as_secs_f64(),
        samples.percentile_ms(50.0),
        samples.percentile_ms(99.0),
    );
    vec![
        Figure::new(
            &format!("reconnect storm ({shape}): relay CPU per reconnect"),
            per,
            "us",
            None,
        ),
        Figure::new(
            &format!("reconnect storm ({shape}): hello -> welcome p50"),
            samples.percentile_ms(50.0),
            "ms",
            None,
        ),
        Figure::new(
            &format!("reconnect storm ({shape}): hello -> welcome p99"),
            samples.percentile_ms(99.0),
            "ms",
            None,
        ),
    ]
}

/// Every visitor connects at once and is welcomed; then all hang up.
/// Returns each one's connect -> welcome time.
async fn storm(
    server: &Arc<Server>,
    chats: &Arc<Vec<(VisitorId, Vec<MessageId>)>>,
) -> Vec<Duration> {
    let tasks: Vec<_> = (0..chats.len())
        .map(|i| {
            let (server, chats) = (server.clone(), chats.clone());
            tokio::spawn(async move {
                let (visitor, have) = &chats[i];
                let started = Instant::now();
                let (conn, _) = server
                    .connect_visitor(visitor, have)
                    .await
                    .unwrap_or_else(|e| panic!("a visitor reconnects: {e}"));
                (started.elapsed(), conn)
            })
        })
        .collect();
    let mut times = Vec::with_capacity(tasks.len());
    let mut conns = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (time, conn) = task.await.expect("a reconnect");
        times.push(time);
        conns.push(conn);
    }
    for conn in conns {
        conn.close().await;
    }
    times
}

fn hook(server: &Server, command: Option<&str>) {
    let Some(command) = command else { return };
    let pid = server.pids().first().copied().unwrap_or(0);
    let status = tokio::task::block_in_place(|| {
        std::process::Command::new("sh")
            .args(["-c", command])
            .env("RELAY_PID", pid.to_string())
            .status()
    });
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("reconnects: the hook {command:?} failed: {status:?}");
    }
}
