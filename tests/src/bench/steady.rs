//! Steady state: hours of ordinary traffic compressed into minutes, to see
//! whether memory, threads and the store's files stay flat once warm.
//!
//! `visitors` visitors write one message a second each; operators (one per
//! `per_operator` chats) reply to every `reply_every`-th message of each of
//! their chats; every minute `reconnects_per_minute` visitors (in turn,
//! spread over the minute) close their connection and resume on a new one.
//! Twinline runs as it is deployed, two relays replicating (clients on the
//! primary); the peer alone, as it has no replication. Every
//! `sample_every` the server processes' RSS, threads, CPU and WAL and
//! database sizes are printed and kept. At the end every acked message is
//! looked for in every store, by resuming each chat with its acked ids and
//! counting what the server lacks.

use super::Figure;
use super::load::{Meter, connect_visitors, say_hello};
use super::server::{ProcessSample, Server, VisitorId, message};
use super::wire::{Conn, Event};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use twinline_core::{ChatId, MessageId};

/// A resume names at most this many ids per hello, the newest (a
/// Twinline hello must fit in one 128 KiB frame; the peer gets the same).
const RESUME_IDS: usize = 2_000;

/// What the steady-state run does.
#[derive(Clone, Debug, Serialize)]
pub struct SteadyConfig {
    /// Visitors, one chat each.
    pub visitors: usize,
    /// Chats per operator.
    pub per_operator: usize,
    /// An operator replies to every n-th message of each chat.
    pub reply_every: u64,
    /// Visitors that reconnect each minute.
    pub reconnects_per_minute: usize,
    /// How long the traffic runs, seconds.
    pub seconds: f64,
    /// How often resource use is sampled, seconds.
    pub sample_every: f64,
}

/// One sample over time.
#[derive(Clone, Debug, Serialize)]
pub struct SteadySample {
    /// Seconds since the traffic began.
    pub t_s: f64,
    /// Messages acked so far.
    pub acked: u64,
    /// Each server process.
    pub processes: Vec<ProcessSample>,
}

/// The whole run, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct SteadyReport {
    /// Which server.
    pub server: String,
    /// The settings.
    pub config: SteadyConfig,
    /// Resource use over time.
    pub samples: Vec<SteadySample>,
    /// Messages acked.
    pub acked: u64,
    /// Reconnects done.
    pub reconnects: u64,
    /// Acked messages the server (Twinline: the primary) lacked at the end.
    pub lost: u64,
    /// Acked messages the redundant lacked at the end (Twinline only).
    pub lost_on_redundant: Option<u64>,
}

/// What every client task of the run adds to: the acked ids by chat,
/// counters, and the stop signal.
#[derive(Default)]
struct Tally {
    acked_by_chat: Mutex<HashMap<ChatId, Vec<MessageId>>>,
    acked: AtomicU64,
    reconnects: AtomicU64,
    stop: AtomicBool,
}

impl Tally {
    fn record(&self, chat: ChatId, id: MessageId) {
        self.acked_by_chat
            .lock()
            .unwrap()
            .entry(chat)
            .or_default()
            .push(id);
        self.acked.fetch_add(1, Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }
}

/// Runs the steady state on `server` (started with
/// [`Server::start_deployed`]).
pub async fn steady(server: &Arc<Server>, config: &SteadyConfig) -> (Vec<Figure>, SteadyReport) {
    let name = server.kind().name();
    let tally = Arc::new(Tally::default());
    eprintln!("{name} steady: connecting {} visitors", config.visitors);
    let mut visitors = connect_visitors(server, config.visitors, 50).await;
    for (chat, id) in say_hello(&mut visitors).await {
        tally.record(chat, id);
    }
    let operators = config.visitors.div_ceil(config.per_operator);
    eprintln!(
        "{name} steady: {operators} operators accept {} chats each",
        config.per_operator
    );
    let mut tasks = Vec::new();
    let chats: Vec<ChatId> = visitors.iter().map(|(v, _)| v.chat).collect();
    let by_chat: HashMap<ChatId, VisitorId> =
        visitors.iter().map(|(v, _)| (v.chat, v.clone())).collect();
    for (index, group) in chats.chunks(config.per_operator).enumerate() {
        let operator = server.new_operator(&format!("op{index}")).await;
        let (mut conn, _) = server
            .connect_operator(&operator, &[])
            .await
            .expect("an operator connects");
        for chat in group {
            conn.accept(*chat).await.expect("accepting");
        }
        let mut accepted = 0;
        while accepted < group.len() {
            if let Event::Accepted(_) = conn.next().await.expect("the operator stays connected") {
                accepted += 1;
            }
        }
        let tally = tally.clone();
        let author = operator.author();
        let reply_every = config.reply_every;
        tasks.push(tokio::spawn(async move {
            let mut seen: HashMap<ChatId, u64> = HashMap::new();
            let mut pending: HashMap<MessageId, ChatId> = HashMap::new();
            while let Some(event) = conn.next().await {
                match event {
                    Event::Message(msg) => {
                        let count = seen.entry(msg.chat).or_default();
                        *count += 1;
                        if count.is_multiple_of(reply_every) && !tally.stopped() {
                            let reply = message(&author, msg.chat, "a reply", msg.lamport.0 + 1);
                            pending.insert(reply.id, msg.chat);
                            if conn.send(&reply).await.is_err() {
                                break;
                            }
                        }
                    }
                    Event::Ack(id) => {
                        if let Some(chat) = pending.remove(&id) {
                            tally.record(chat, id);
                        }
                    }
                    _ => {}
                }
            }
        }));
    }
    let kicks: Vec<Arc<Notify>> = visitors.iter().map(|_| Arc::new(Notify::new())).collect();
    for ((visitor, conn), kick) in visitors.into_iter().zip(&kicks) {
        let server = server.clone();
        let (kick, tally) = (kick.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            visitor_loop(&server, visitor, conn, &kick, &tally).await;
        }));
    }
    // Reconnects: one visitor at a time, in turn, spread over each minute.
    let kicker = {
        let kicks = kicks.clone();
        let period = Duration::from_secs_f64(60.0 / config.reconnects_per_minute.max(1) as f64);
        let enabled = config.reconnects_per_minute > 0;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            for next in (0..kicks.len()).cycle() {
                tick.tick().await;
                if enabled {
                    kicks[next].notify_one();
                }
            }
        })
    };
    let started = Instant::now();
    let meter = Meter::start(server);
    let mut samples = Vec::new();
    let take = |samples: &mut Vec<SteadySample>| {
        let sample = SteadySample {
            t_s: started.elapsed().as_secs_f64(),
            acked: tally.acked.load(Relaxed),
            processes: server.samples(),
        };
        let line: Vec<String> = sample
            .processes
            .iter()
            .map(|p| {
                format!(
                    "{} RSS {:.1} MB, {} threads, WAL {:.1} MB, db {:.1} MB",
                    p.process,
                    p.rss_kib as f64 / 1024.0,
                    p.threads,
                    p.wal_bytes as f64 / 1e6,
                    p.db_bytes as f64 / 1e6
                )
            })
            .collect();
        eprintln!(
            "{name} steady t={:>5.0} s acked {:>8}: {}",
            sample.t_s,
            sample.acked,
            line.join("; ")
        );
        samples.push(sample);
    };
    take(&mut samples);
    let every = Duration::from_secs_f64(config.sample_every);
    while started.elapsed().as_secs_f64() < config.seconds {
        let left = config.seconds - started.elapsed().as_secs_f64();
        tokio::time::sleep(every.min(Duration::from_secs_f64(left.max(0.0)))).await;
        take(&mut samples);
    }
    let used = meter.stop(server);
    tally.stop.store(true, Relaxed);
    kicker.abort();
    // Let the last acks come in, then hang up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for task in &tasks {
        task.abort();
    }
    let total = tally.acked.load(Relaxed);
    let registry = tally.acked_by_chat.lock().unwrap().clone();
    let lost = missing(server, None, &by_chat, &registry).await;
    let lost_on_redundant = match server.redundant_ws() {
        Some(url) => {
            // Replication may still be catching up: look again for a while.
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut found = missing(server, Some(&url), &by_chat, &registry).await;
            while found > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(2)).await;
                found = missing(server, Some(&url), &by_chat, &registry).await;
            }
            Some(found)
        }
        None => None,
    };
    let report = SteadyReport {
        server: name.into(),
        config: config.clone(),
        samples,
        acked: total,
        reconnects: tally.reconnects.load(Relaxed),
        lost,
        lost_on_redundant,
    };
    eprintln!(
        "{name} steady: {total} acked, {} reconnects, {lost} acked messages missing{}; server CPU {:.0} us per message",
        report.reconnects,
        lost_on_redundant.map_or(String::new(), |n| format!(", {n} missing on the redundant")),
        used.server_cpu * 1e6 / total.max(1) as f64,
    );
    let figures = figures(&report, used.server_cpu);
    (figures, report)
}

/// A visitor writing once a second, reconnecting when kicked.
async fn visitor_loop(
    server: &Server,
    visitor: VisitorId,
    mut conn: Conn,
    kick: &Notify,
    tally: &Tally,
) {
    let author = visitor.author();
    let mut have: Vec<MessageId> = Vec::new();
    let mut lamport = 1;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut reconnect = false;
    loop {
        if reconnect {
            reconnect = false;
            conn.close().await;
            let from = have.len().saturating_sub(RESUME_IDS);
            let resumed = loop {
                if tally.stopped() {
                    return;
                }
                match server.connect_visitor(&visitor, &have[from..]).await {
                    Ok(resumed) => break resumed,
                    Err(error) => {
                        eprintln!("steady: a visitor could not reconnect ({error}); retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            };
            tally.reconnects.fetch_add(1, Relaxed);
            conn = resumed.0;
            for sync in resumed.1 {
                have.extend(sync.missing.iter().map(|m| m.id));
                lamport = sync
                    .missing
                    .iter()
                    .map(|m| m.lamport.0)
                    .fold(lamport, u64::max);
            }
        }
        tokio::select! {
            _ = tick.tick() => {
                if tally.stopped() { return; }
                lamport += 1;
                if conn.send(&message(&author, visitor.chat, "steady", lamport)).await.is_err() {
                    reconnect = true;
                }
            }
            _ = kick.notified() => reconnect = true,
            event = conn.next() => match event {
                Some(Event::Ack(id)) => {
                    have.push(id);
                    tally.record(visitor.chat, id);
                }
                Some(Event::Message(msg)) => {
                    lamport = lamport.max(msg.lamport.0);
                    have.push(msg.id);
                }
                Some(_) => {}
                None => reconnect = true,
            }
        }
    }
}

/// Acked messages a store lacks: each chat is resumed by its visitor with
/// its acked ids (in hellos of at most [`RESUME_IDS`]) at `url` (default:
/// the server).
async fn missing(
    server: &Server,
    url: Option<&str>,
    visitors: &HashMap<ChatId, VisitorId>,
    registry: &HashMap<ChatId, Vec<MessageId>>,
) -> u64 {
    let mut lacking = 0;
    for (chat, ids) in registry {
        for chunk in ids.chunks(RESUME_IDS) {
            lacking += lacking_in(server, url, &visitors[chat], chunk).await;
        }
    }
    lacking
}

async fn lacking_in(
    server: &Server,
    url: Option<&str>,
    visitor: &VisitorId,
    ids: &[MessageId],
) -> u64 {
    let result = match url {
        Some(url) => server.connect_visitor_at(url, visitor, ids).await,
        None => server.connect_visitor(visitor, ids).await,
    };
    match result {
        Ok((conn, chats)) => {
            conn.close().await;
            chats.iter().map(|c| c.lacking.len() as u64).sum()
        }
        Err(error) => {
            eprintln!("steady: could not check chat {}: {error}", visitor.chat);
            ids.len() as u64
        }
    }
}

fn figures(report: &SteadyReport, server_cpu: f64) -> Vec<Figure> {
    let mut figures = vec![
        Figure::new(
            "steady: messages acked",
            report.acked as f64,
            "messages",
            None,
        ),
        Figure::new(
            "steady: acked messages lost",
            report.lost as f64,
            "messages",
            None,
        ),
        Figure::new(
            "steady: server CPU per message",
            server_cpu * 1e6 / report.acked.max(1) as f64,
            "us",
            None,
        ),
    ];
    if let Some(n) = report.lost_on_redundant {
        figures.push(Figure::new(
            "steady: acked messages missing on the redundant",
            n as f64,
            "messages",
            None,
        ));
    }
    let Some(last) = report.samples.last() else {
        return figures;
    };
    // Warm-up: the first third of the run.
    let warm_t = last.t_s / 3.0;
    let warm = report
        .samples
        .iter()
        .find(|s| s.t_s >= warm_t)
        .unwrap_or(last);
    for process in &last.processes {
        let at = |sample: &SteadySample| {
            sample
                .processes
                .iter()
                .find(|p| p.process == process.process)
                .cloned()
        };
        let Some(start) = at(warm) else { continue };
        let p = &process.process;
        let hours = (last.t_s - warm.t_s) / 3600.0;
        let growth_mb = (process.rss_kib as f64 - start.rss_kib as f64) / 1024.0;
        let wal_max = report
            .samples
            .iter()
            .filter_map(at)
            .map(|s| s.wal_bytes)
            .max()
            .unwrap_or(0);
        let mb = |kib: u64| kib as f64 / 1024.0;
        let growth = if hours > 0.0 { growth_mb / hours } else { 0.0 };
        for (what, value, unit) in [
            ("RSS after warm-up", mb(start.rss_kib), "MB"),
            ("RSS at the end", mb(process.rss_kib), "MB"),
            ("RSS growth after warm-up", growth, "MB/h"),
            ("threads after warm-up", start.threads as f64, "threads"),
            ("threads at the end", process.threads as f64, "threads"),
            ("WAL largest", wal_max as f64 / 1e6, "MB"),
            ("WAL at the end", process.wal_bytes as f64 / 1e6, "MB"),
            ("database at the end", process.db_bytes as f64 / 1e6, "MB"),
        ] {
            figures.push(Figure::new(
                &format!("steady: {p} {what}"),
                value,
                unit,
                None,
            ));
        }
    }
    figures
}
