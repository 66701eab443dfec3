//! Cross-node fan-out latency: visitors on one relay node, their operator
//! on another node of the same deployment (PostgreSQL, fsync on), and the
//! time from a visitor's send to the operator's copy. That path is the
//! whole cross-node fan-out: the first node's group commit, its one NOTIFY
//! per commit, the second node's read of the feed from its position, and
//! its fan-out to the operator.

use super::Figure;
use super::stats::Samples;
use crate::client::{Operator, Visitor};
use crate::nodes::{Deployment, database_on};
use crate::process::{RelayOptions, UNLIMITED_CLIENTS};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use twinline_core::MessageId;
use twinline_core::protocol::{ClientFrame, ServerFrame};
use twinline_relay::store::postgres::cluster::{Cluster, Durability};

/// `chats` visitors on node 1, each sending `rate` messages a second for
/// `duration`, one operator on node 2 holding every chat.
pub async fn cross_node_latency(chats: usize, rate: u32, duration: Duration) -> Vec<Figure> {
    let server = tokio::task::block_in_place(|| Cluster::start("cross-node", Durability::Durable))
        .unwrap_or_else(|error| panic!("a PostgreSQL server: {error}"));
    let url = tokio::task::block_in_place(|| database_on(&server, "cross_node"));
    let mut extra: Vec<String> = UNLIMITED_CLIENTS.iter().map(|s| s.to_string()).collect();
    extra.extend(["--frame-rate".into(), "0".into()]);
    let deployment = tokio::task::block_in_place(|| {
        Deployment::start(
            &url,
            RelayOptions {
                extra,
                ..RelayOptions::primary()
            },
            2,
        )
    });
    tokio::task::block_in_place(|| deployment.add_operator("bench", "Bench", "bench-password"));
    let (one, two) = (&deployment.nodes[0], &deployment.nodes[1]);
    let mut operator = Operator::join(&two.url(), &two.ws_url(), "bench", "bench-password").await;

    let mut visitors = Vec::new();
    for _ in 0..chats {
        let mut visitor = Visitor::join(&one.url(), &one.ws_url()).await;
        visitor.say("opening the chat").await;
        let chat = visitor.token.chat;
        operator.ws.send(&ClientFrame::Accept { chat }).await;
        operator
            .ws
            .recv_until(|f| matches!(f, ServerFrame::Chat { sync } if sync.chat == chat))
            .await;
        visitors.push(visitor);
    }

    let sent: Arc<Mutex<HashMap<MessageId, Instant>>> = Arc::default();
    // The operator reads while the visitors write: a copy's time is when
    // it arrives, not when a reader got round to it.
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reader = {
        let (sent, writing) = (sent.clone(), writing.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut quiet_since: Option<Instant> = None;
            loop {
                let done = !writing.load(std::sync::atomic::Ordering::Relaxed);
                if done && latencies.len() >= sent.lock().unwrap().len() {
                    return (operator, latencies);
                }
                // Short waits, so the end of the writing is seen; a copy
                // still missing 10 s after it is counted as missing.
                let frame =
                    tokio::time::timeout(Duration::from_millis(100), operator.ws.next()).await;
                let Ok(frame) = frame else {
                    if done
                        && quiet_since.get_or_insert_with(Instant::now).elapsed()
                            > Duration::from_secs(10)
                    {
                        return (operator, latencies);
                    }
                    continue;
                };
                quiet_since = None;
                match frame {
                    Some(ServerFrame::Message { msg }) => {
                        let received = Instant::now();
                        if let Some(at) = sent.lock().unwrap().get(&msg.id) {
                            latencies.push(received.duration_since(*at));
                        }
                    }
                    Some(_) => {}
                    None => return (operator, latencies),
                }
            }
        })
    };
    let deadline = Instant::now() + duration;
    let mut writers = Vec::new();
    for mut visitor in visitors {
        let sent = sent.clone();
        writers.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
            let mut lamport = 10;
            let mut count = 0usize;
            while Instant::now() < deadline {
                tick.tick().await;
                lamport += 1;
                let msg = visitor.message("across nodes", lamport);
                sent.lock().unwrap().insert(msg.id, Instant::now());
                visitor.ws.send(&ClientFrame::Send { msg }).await;
                count += 1;
            }
            // Acks, so the relay's writes to this socket never back up.
            while count > 0 {
                if let Some(ServerFrame::Ack { .. }) = visitor.ws.next().await {
                    count -= 1;
                }
            }
        }));
    }
    for writer in writers {
        writer.await.expect("a writer");
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let (operator, latencies) = reader.await.expect("the operator's reader");
    let written = sent.lock().unwrap().len();
    let samples = Samples::new(latencies);
    eprintln!(
        "cross-node fan-out: {} of {written} messages from {chats} visitors on node 1 reached the \
         operator on node 2: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        samples.percentile_ms(50.0),
        samples.percentile_ms(99.0),
        samples.max_ms()
    );
    let figures = vec![
        Figure::new(
            "cross-node fan-out: copies missing",
            (written - samples.len()) as f64,
            "messages",
            Some("0"),
        ),
        Figure::new(
            "cross-node fan-out latency p50",
            samples.percentile_ms(50.0),
            "ms",
            None,
        ),
        Figure::new(
            "cross-node fan-out latency p99",
            samples.percentile_ms(99.0),
            "ms",
            Some("< 20"),
        ),
    ];
    drop(operator);
    tokio::task::block_in_place(|| drop(deployment));
    figures
}
