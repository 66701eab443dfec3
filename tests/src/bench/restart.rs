//! SIGKILL and restart under load: `clients` visitors write (one message
//! every 100 ms each, acks recorded) until the server is killed with
//! SIGKILL and started again on the same port with the same data. Each
//! client then reconnects (every 50 ms until it gets in), resumes with the
//! ids it had acked, counts the ones the server says it lacks (acked, then
//! lost), writes one message and waits for its ack. The figures: the time
//! from the kill until 99% (and 50%) of the clients have their new ack,
//! and the acked messages missing after the restart.
//!
//! The restart is immediate, so the time includes the server's own start
//! (opening its store). Twinline's clients would fail over to the other
//! deployment instead (the failover benchmark); here both servers are
//! measured alone, as the peer has no other.

use super::Figure;
use super::load::{connect_visitors, wait_for_ack};
use super::server::{Server, VisitorId, message};
use super::stats::Samples;
use super::wire::{Conn, Event};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use twinline_core::MessageId;

/// How long a client keeps trying after the kill before it gives up.
const GIVE_UP: Duration = Duration::from_secs(60);

/// Runs the scenario with `clients` visitors writing for `before` first.
pub async fn kill_and_restart(
    server: &Arc<Server>,
    clients: usize,
    before: Duration,
) -> Vec<Figure> {
    let visitors = connect_visitors(server, clients, 50).await;
    let killed_at: Arc<OnceLock<Instant>> = Arc::default();
    let acked_before = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let writing = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for (visitor, conn) in visitors {
        let server = server.clone();
        let (killed_at, acked_before, lost, writing) = (
            killed_at.clone(),
            acked_before.clone(),
            lost.clone(),
            writing.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let acked = write_until_closed(&visitor, conn, &writing).await;
            acked_before.fetch_add(acked.len() as u64, Relaxed);
            let killed = loop {
                // Set just before the kill, so it is there once the
                // connection has closed.
                if let Some(at) = killed_at.get() {
                    break *at;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            let back = reconnect(&server, &visitor, &acked, killed).await?;
            lost.fetch_add(back.lost as u64, Relaxed);
            Some(back.acked_after)
        }));
    }
    tokio::time::sleep(before).await;
    let server_for_kill = server.clone();
    let killed = killed_at.clone();
    tokio::task::spawn_blocking(move || {
        killed.set(Instant::now()).expect("killed once");
        server_for_kill.kill9_and_restart();
    })
    .await
    .expect("the restart");
    writing.store(false, Relaxed);
    let mut times = Vec::new();
    let mut never = 0;
    for task in tasks {
        match task.await.expect("a client task") {
            Some(time) => times.push(time),
            None => never += 1,
        }
    }
    let samples = Samples::new(times);
    let lost = lost.load(Relaxed);
    let acked = acked_before.load(Relaxed);
    eprintln!(
        "{} SIGKILL + restart with {clients} clients: reconnected and acked p50 {:.0} ms, 99% {:.0} ms, max {:.0} ms ({never} never back); {acked} messages acked before the kill, {lost} of them missing after the restart",
        server.kind().name(),
        samples.percentile_ms(50.0),
        samples.percentile_ms(99.0),
        samples.max_ms(),
    );
    let recovered = |p: f64| {
        if never as f64 > clients as f64 * (1.0 - p / 100.0) {
            f64::INFINITY
        } else {
            // Nearest rank over all clients, the ones never back last.
            let rank = ((p / 100.0) * clients as f64).ceil() as usize;
            samples
                .as_slice()
                .get(rank.clamp(1, clients) - 1)
                .map_or(f64::INFINITY, |d| d.as_secs_f64() * 1000.0)
        }
    };
    vec![
        Figure::new(
            &format!("SIGKILL + restart, 99% of {clients} clients reconnected and acked"),
            recovered(99.0),
            "ms",
            None,
        ),
        Figure::new(
            &format!("SIGKILL + restart, 50% of {clients} clients reconnected and acked"),
            recovered(50.0),
            "ms",
            None,
        ),
        Figure::new(
            "acked messages missing after the restart",
            lost as f64,
            "messages",
            None,
        ),
        Figure::new(
            "messages acked before the kill",
            acked as f64,
            "messages",
            None,
        ),
    ]
}

/// Writes every 100 ms until the connection closes (the kill) or `writing`
/// turns false; returns the ids acked.
async fn write_until_closed(
    visitor: &VisitorId,
    mut conn: Conn,
    writing: &AtomicBool,
) -> Vec<MessageId> {
    let author = visitor.author();
    let mut acked = Vec::new();
    let mut lamport = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !writing.load(Relaxed) { break; }
                lamport += 1;
                if conn.send(&message(&author, visitor.chat, "before the kill", lamport)).await.is_err() {
                    break;
                }
            }
            event = conn.next() => match event {
                Some(Event::Ack(id)) => acked.push(id),
                Some(_) => {}
                None => break,
            }
        }
    }
    acked
}

struct Back {
    /// From the kill to the ack of the first message written after it.
    acked_after: Duration,
    /// Acked ids the server lacked on resume.
    lost: usize,
}

/// Reconnects every 50 ms until welcomed, resuming with `acked`; then
/// writes one message and waits for its ack. None after [`GIVE_UP`].
async fn reconnect(
    server: &Server,
    visitor: &VisitorId,
    acked: &[MessageId],
    killed: Instant,
) -> Option<Back> {
    while killed.elapsed() < GIVE_UP {
        if let Ok((mut conn, chats)) = server.connect_visitor(visitor, acked).await {
            let lost = chats.iter().map(|c| c.lacking.len()).sum();
            let msg = message(&visitor.author(), visitor.chat, "after the restart", 1_000);
            if conn.send(&msg).await.is_ok()
                && let Ok(Ok(())) =
                    tokio::time::timeout(Duration::from_secs(10), wait_for_ack(&mut conn, msg.id))
                        .await
            {
                let acked_after = killed.elapsed();
                conn.close().await;
                return Some(Back { acked_after, lost });
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
