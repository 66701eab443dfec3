//! Two relays: replication lag under steady load, catch-up rate after an
//! outage.

use super::Figure;
use super::load::in_batches;
use super::stats::Samples;
use crate::client::{Visitor, make_message};
use crate::pair::{Pair, health};
use crate::process::RelayProcess;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use twinline_core::MessageId;
use twinline_core::protocol::{ClientFrame, ServerFrame};

/// Lag from a durable ack on the primary to the message reaching a client
/// of the same chat on the redundant, at `rate` messages/s over `chats`.
pub async fn lag(pair: &Pair, chats: usize, rate: usize, duration: Duration) -> Vec<Figure> {
    let writers = connect_visitors(&pair.primary, chats, 50).await;
    let acked_at: Arc<Mutex<HashMap<MessageId, Instant>>> = Arc::default();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for writer in writers {
        // The same visitor, also connected to the redundant.
        let reader = Visitor::resume(writer.token.clone(), &pair.redundant.ws_url(), &[]).await;
        let (_, mut read_stream) = reader.ws.split();
        let acked_at_r = acked_at.clone();
        let samples_r = samples.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(WsMessage::Text(text))) = read_stream.next().await {
                if let Ok(ServerFrame::Message { msg }) = ServerFrame::parse(text.as_str()) {
                    let at = acked_at_r.lock().unwrap().get(&msg.id).copied();
                    if let Some(at) = at {
                        samples_r.lock().unwrap().push(at.elapsed());
                    }
                }
            }
        }));
        let acked_at_w = acked_at.clone();
        let stop = stop.clone();
        let period = Duration::from_secs_f64(chats as f64 / rate as f64);
        tasks.push(tokio::spawn(async move {
            let author = writer.author();
            let chat = writer.token.chat;
            let (mut sink, mut stream) = writer.ws.split();
            let mut tick = tokio::time::interval(period);
            let mut lamport = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if stop.load(Relaxed) { break; }
                        lamport += 1;
                        let msg = make_message(author.clone(), chat, "lag probe", lamport);
                        if sink.send(WsMessage::Text(ClientFrame::Send { msg }.to_json().into())).await.is_err() { break; }
                    }
                    item = stream.next() => match item {
                        Some(Ok(WsMessage::Text(text))) => {
                            if let Ok(ServerFrame::Ack { id }) = ServerFrame::parse(text.as_str()) {
                                acked_at_w.lock().unwrap().insert(id, Instant::now());
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    for task in tasks {
        task.abort();
    }
    // A message can reach the redundant before its ack reaches the writer;
    // those count as zero lag rather than being dropped.
    let samples = Samples::new(samples.lock().unwrap().clone());
    eprintln!(
        "replication lag at {rate} msg/s over {chats} chats: p50 {:.2} ms p99 {:.2} ms max {:.2} ms ({} samples)",
        samples.percentile_ms(50.0),
        samples.percentile_ms(99.0),
        samples.max_ms(),
        samples.len()
    );
    vec![
        Figure::new(
            &format!("replication lag p50 at {rate} msg/s"),
            samples.percentile_ms(50.0),
            "ms",
            None,
        ),
        Figure::new(
            &format!("replication lag p99 at {rate} msg/s"),
            samples.percentile_ms(99.0),
            "ms",
            Some("< 50"),
        ),
    ]
}

/// Writes `count` messages to the primary while the redundant is down, then
/// restarts the redundant and times its catch-up.
pub async fn catch_up(pair: &mut Pair, count: u64) -> Vec<Figure> {
    pair.redundant.kill9();
    let writers = connect_visitors(&pair.primary, 50, 50).await;
    let acked = Arc::new(AtomicU64::new(0));
    let per_writer = count / writers.len() as u64;
    let total = per_writer * writers.len() as u64;
    let mut tasks = Vec::new();
    for writer in writers {
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let author = writer.author();
            let chat = writer.token.chat;
            let (mut sink, mut stream) = writer.ws.split();
            let mut sent = 0;
            let mut got = 0;
            while sent < per_writer.min(64) {
                sent += 1;
                let msg = make_message(author.clone(), chat, "written during the outage", sent);
                let _ = sink
                    .send(WsMessage::Text(ClientFrame::Send { msg }.to_json().into()))
                    .await;
            }
            while got < per_writer {
                match stream.next().await {
                    Some(Ok(WsMessage::Text(text)))
                        if text.as_str().starts_with("{\"type\":\"ack\"") =>
                    {
                        got += 1;
                        acked.fetch_add(1, Relaxed);
                        if sent < per_writer {
                            sent += 1;
                            let msg = make_message(
                                author.clone(),
                                chat,
                                "written during the outage",
                                sent,
                            );
                            let _ = sink
                                .send(WsMessage::Text(ClientFrame::Send { msg }.to_json().into()))
                                .await;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    assert_eq!(acked.load(Relaxed), total, "every outage write acked");
    let started = Instant::now();
    pair.redundant.restart();
    loop {
        if let Some(lag) = health(&pair.redundant).await.and_then(|h| h.lag)
            && lag.connected
            && lag.changes == 0
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "catch-up took over 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Each message brings its chat header along only once; count messages.
    let rate = total as f64 / elapsed;
    eprintln!(
        "catch-up: {total} messages written during the outage applied in {elapsed:.2} s after restart = {rate:.0} messages/s"
    );
    vec![Figure::new(
        "catch-up rate after an outage",
        rate,
        "messages/s",
        Some(">= 50000"),
    )]
}

/// Connects `count` visitors to `relay`, `parallel` at a time (the
/// protocol client of [`crate::client`], split for pipelined writes).
async fn connect_visitors(relay: &RelayProcess, count: usize, parallel: usize) -> Vec<Visitor> {
    let http = reqwest::Client::new();
    let (base, ws) = (relay.url(), relay.ws_url());
    in_batches(count, parallel, || {
        let (http, base, ws) = (http.clone(), base.clone(), ws.clone());
        async move { Visitor::join_with(&http, &base, &ws).await }
    })
    .await
}
