//! One relay under load: durable-ack throughput, ack and delivery latency
//! at many concurrent chats, idle connections and memory per connection.

use super::stats::Samples;
use super::{Figure, rss_kib};
use crate::client::{Operator, Visitor, make_message};
use crate::process::RelayProcess;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use twinline_core::protocol::{ClientFrame, ServerFrame};
use twinline_core::{ChatId, MessageId};

/// Connects `count` visitors, `parallel` at a time.
pub async fn connect_visitors(relay: &RelayProcess, count: usize, parallel: usize) -> Vec<Visitor> {
    let http = reqwest::Client::new();
    let mut visitors = Vec::with_capacity(count);
    let mut pending = Vec::new();
    for _ in 0..count {
        let http = http.clone();
        let base = relay.url();
        let ws = relay.ws_url();
        pending.push(tokio::spawn(async move {
            Visitor::join_with(&http, &base, &ws).await
        }));
        if pending.len() == parallel {
            for task in pending.drain(..) {
                visitors.push(task.await.expect("a visitor connects"));
            }
        }
    }
    for task in pending {
        visitors.push(task.await.expect("a visitor connects"));
    }
    visitors
}

/// Acks per second with `connections` visitors each keeping `window`
/// messages in flight for `duration`.
pub async fn throughput(
    relay: &RelayProcess,
    connections: usize,
    window: usize,
    duration: Duration,
) -> Vec<Figure> {
    let visitors = connect_visitors(relay, connections, 50).await;
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for visitor in visitors {
        let acked = acked.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let author = visitor.author();
            let chat = visitor.token.chat;
            let (mut sink, mut stream) = visitor.ws.split();
            let mut lamport = 0u64;
            let next = |lamport: &mut u64| {
                *lamport += 1;
                let msg = make_message(author.clone(), chat, "throughput", *lamport);
                WsMessage::Text(ClientFrame::Send { msg }.to_json().into())
            };
            for _ in 0..window {
                let _ = sink.send(next(&mut lamport)).await;
            }
            while let Some(Ok(WsMessage::Text(text))) = stream.next().await {
                if text.as_str().starts_with("{\"type\":\"ack\"") {
                    acked.fetch_add(1, Relaxed);
                    if stop.load(Relaxed) {
                        break;
                    }
                    if sink.send(next(&mut lamport)).await.is_err() {
                        break;
                    }
                }
            }
        }));
    }
    // Measure the steady part: skip the first second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu = || relay.pid().and_then(super::cpu_seconds);
    let cpu_base = cpu();
    let base = acked.load(Relaxed);
    let measure_start = Instant::now();
    tokio::time::sleep(duration).await;
    let count = acked.load(Relaxed) - base;
    let elapsed = measure_start.elapsed().as_secs_f64();
    let relay_cpu = cpu().zip(cpu_base).map(|(end, start)| end - start);
    stop.store(true, Relaxed);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let rate = count as f64 / elapsed;
    eprintln!(
        "throughput: {count} durable acks in {elapsed:.1} s = {rate:.0}/s ({connections} connections x {window} in flight; total run {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let mut figures = vec![Figure::new(
        "relay throughput, durable acks",
        rate,
        "messages/s",
        Some(">= 20000"),
    )];
    // The load generator shares the machine's cores with the relay, so the
    // rate above is bounded by both; the relay's own CPU per ack says what
    // one core given to the relay alone would sustain.
    if let Some(seconds) = relay_cpu.filter(|s| *s > 0.0 && count > 0) {
        let per_ack_us = seconds * 1e6 / count as f64;
        eprintln!(
            "throughput: relay used {seconds:.2} s of CPU ({:.0}% of one core): {per_ack_us:.1} us per durable ack, {:.0} acks/s per core",
            100.0 * seconds / elapsed,
            1e6 / per_ack_us
        );
        figures.push(Figure::new(
            "relay CPU per durable ack",
            per_ack_us,
            "us",
            None,
        ));
        figures.push(Figure::new(
            "durable acks per relay CPU core",
            1e6 / per_ack_us,
            "messages/s",
            Some(">= 20000"),
        ));
    }
    figures
}

/// Ack latency and visitor-to-operator latency with `chats` visitors each
/// sending one message a second for `duration`, one operator holding all.
pub async fn latency(relay: &RelayProcess, chats: usize, duration: Duration) -> Vec<Figure> {
    relay.add_operator("bench", "Bench", "bench-password");
    let mut operator =
        Operator::join(&relay.url(), &relay.ws_url(), "bench", "bench-password").await;
    let mut visitors = connect_visitors(relay, chats, 50).await;
    // Each chat gets a first message, then the operator accepts it.
    for visitor in &mut visitors {
        visitor.say("hello").await;
    }
    let chat_ids: Vec<ChatId> = visitors.iter().map(|v| v.token.chat).collect();
    for chat in &chat_ids {
        operator.ws.send(&ClientFrame::Accept { chat: *chat }).await;
    }
    let mut accepted = 0;
    while accepted < chats {
        if let ServerFrame::Chat { .. } = operator.ws.recv().await {
            accepted += 1;
        }
    }
    let sent_at: Arc<Mutex<HashMap<MessageId, Instant>>> = Arc::default();
    let delivery = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (_, mut op_stream) = operator.ws.split();
    let op_task = {
        let sent_at = sent_at.clone();
        let delivery = delivery.clone();
        tokio::spawn(async move {
            while let Some(Ok(WsMessage::Text(text))) = op_stream.next().await {
                if let Ok(ServerFrame::Message { msg }) = ServerFrame::parse(text.as_str())
                    && let Some(at) = sent_at.lock().unwrap().get(&msg.id)
                {
                    delivery.lock().unwrap().push(at.elapsed());
                }
            }
        })
    };
    let acks = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (index, visitor) in visitors.into_iter().enumerate() {
        let sent_at = sent_at.clone();
        let acks = acks.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let author = visitor.author();
            let chat = visitor.token.chat;
            let (mut sink, mut stream) = visitor.ws.split();
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
                        let msg = make_message(author.clone(), chat, "latency probe", lamport);
                        let now = Instant::now();
                        in_flight.insert(msg.id, now);
                        sent_at.lock().unwrap().insert(msg.id, now);
                        if sink.send(WsMessage::Text(ClientFrame::Send { msg }.to_json().into())).await.is_err() {
                            break;
                        }
                    }
                    item = stream.next() => match item {
                        Some(Ok(WsMessage::Text(text))) => {
                            if let Ok(ServerFrame::Ack { id }) = ServerFrame::parse(text.as_str())
                                && let Some(at) = in_flight.remove(&id)
                            {
                                acks.lock().unwrap().push(at.elapsed());
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Relaxed);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    op_task.abort();
    let acks = Samples::new(acks.lock().unwrap().clone());
    let delivery = Samples::new(delivery.lock().unwrap().clone());
    eprintln!(
        "latency at {chats} chats x 1 msg/s: ack p50 {:.2} ms p99 {:.2} ms ({} samples); visitor->operator p50 {:.2} ms p99 {:.2} ms ({} samples)",
        acks.percentile_ms(50.0),
        acks.percentile_ms(99.0),
        acks.len(),
        delivery.percentile_ms(50.0),
        delivery.percentile_ms(99.0),
        delivery.len()
    );
    vec![
        Figure::new(
            &format!("ack latency p50 at {chats} chats"),
            acks.percentile_ms(50.0),
            "ms",
            None,
        ),
        Figure::new(
            &format!("ack latency p99 at {chats} chats"),
            acks.percentile_ms(99.0),
            "ms",
            None,
        ),
        Figure::new(
            &format!("visitor to operator latency p50 at {chats} chats"),
            delivery.percentile_ms(50.0),
            "ms",
            None,
        ),
        Figure::new(
            &format!("visitor to operator latency p99 at {chats} chats"),
            delivery.percentile_ms(99.0),
            "ms",
            None,
        ),
        Figure::new(
            &format!("visitor to operator latency p90 at {chats} chats"),
            delivery.percentile_ms(90.0),
            "ms",
            None,
        ),
        Figure::new(
            &format!("visitor to operator latency p99.9 at {chats} chats"),
            delivery.percentile_ms(99.9),
            "ms",
            None,
        ),
        Figure::new(
            &format!("visitor to operator latency max at {chats} chats"),
            delivery.max_ms(),
            "ms",
            None,
        ),
        Figure::new(
            &format!("ack latency p90 at {chats} chats"),
            acks.percentile_ms(90.0),
            "ms",
            None,
        ),
        Figure::new(
            &format!("ack latency p99.9 at {chats} chats"),
            acks.percentile_ms(99.9),
            "ms",
            None,
        ),
        Figure::new(
            &format!("ack latency max at {chats} chats"),
            acks.max_ms(),
            "ms",
            None,
        ),
    ]
}

/// Holds `count` idle, welcomed visitor connections and reads the relay's
/// memory before and after.
pub async fn idle_connections(relay: &RelayProcess, count: usize) -> Vec<Figure> {
    let pid = relay.pid().expect("the relay runs");
    let before = rss_kib(pid).unwrap_or(0);
    let started = Instant::now();
    let visitors = connect_visitors(relay, count, 100).await;
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid).unwrap_or(0);
    let per_connection = (after.saturating_sub(before)) as f64 * 1024.0 / count as f64;
    eprintln!(
        "idle: {count} connections held (connected in {:.1} s); relay RSS {:.1} MB -> {:.1} MB, {:.1} KB per connection",
        connect_time.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per_connection / 1024.0
    );
    drop(visitors);
    vec![
        Figure::new(
            "idle connections held",
            count as f64,
            "connections",
            Some(">= 10000"),
        ),
        Figure::new(
            "relay RSS with them",
            after as f64 / 1024.0,
            "MB",
            Some("< 300"),
        ),
        Figure::new(
            "memory per idle connection",
            per_connection / 1024.0,
            "KB",
            None,
        ),
    ]
}
