//! The chaos soak: many concurrent chats between native clients (the real
//! core session over real WebSockets) against real relay and moderator
//! processes, while a seeded schedule of faults runs; then everything is
//! healed and every chat is checked on every client and every deployment.
//!
//! Steps of [`run`]:
//! 1. start the deployments, the moderator and the client links ([`world`]);
//! 2. start the clients: a visitor per chat, operators holding several
//!    chats each; visitors greet, operators accept ([`traffic`]);
//! 3. fault phase: both sides of every chat write at a steady rate while
//!    the faults of [`faults::schedule`] are applied and healed;
//! 4. heal whatever is left, wait for clients and stores to settle;
//! 5. check ([`checks`]) and report ([`report`]).
//!
//! Two schedules ([`Plan`]): the chaos schedule (a given number of faults of
//! every kind, packed into the phase), and the seed schedule (each
//! deployment failing and being repaired on its own, with exponential
//! times of given means: [`faults::Renewal`]), whose figures can be set
//! beside the white paper's arithmetic.
//!
//! Availability is measured per message: of the messages written during
//! the fault phase, the fraction acked (durably stored by a relay) within
//! one second of being written. A client that can send and be acked within
//! a second is "up" for that message; anything slower counts as downtime.
//! Beside that count, the windowed user-uptime: the fraction of client
//! windows (of [`WINDOWS_MS`]) in which every message was acked within the
//! second ([`checks::windowed_uptime`]).

pub mod checks;
pub mod faults;
pub mod report;
pub mod traffic;
pub mod world;

use checks::{
    Holder, Invariants, availability, blame, check_chat, nines, outages, store_of, windowed_uptime,
};
use faults::{Mix, Renewal, Scheduled};
use report::{Availability, Downtime, FailoverRow, OutageRecord, Report, Spread, Windowed};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use traffic::{Sent, Side};
use twinline_core::{MessageId, Millis};
use world::World;

/// How long after writing a message its ack must come for availability.
pub const AVAILABLE_WITHIN_MS: u64 = 1_000;
/// The windows of the windowed user-uptime: 10 s and a minute.
pub const WINDOWS_MS: [u64; 2] = [10_000, 60_000];
/// How long clients and stores get to settle after healing.
const SETTLE_LIMIT: Duration = Duration::from_secs(90);

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Concurrent chats.
    pub chats: usize,
    /// Chats each operator client holds.
    pub per_operator: usize,
    /// Length of the fault phase.
    pub minutes: f64,
    /// Which faults, when.
    pub plan: Plan,
    /// Seed of the schedule (and of the clients).
    pub seed: u64,
    /// Only the primary runs.
    pub single: bool,
    /// Messages per second on each side of each chat.
    pub rate_per_side: f64,
}

/// Which faults a soak runs, and when.
#[derive(Clone, Debug)]
pub enum Plan {
    /// `faults` faults of kinds drawn from `mix` over the phase, never two
    /// on one resource at once ([`faults::schedule`]).
    Chaos {
        /// How many.
        faults: usize,
        /// Of which kinds.
        mix: Mix,
    },
    /// The seed schedule ([`faults::renewal`]).
    Renewal(Renewal),
}

impl Plan {
    /// The faults over `span`.
    pub fn schedule(&self, seed: u64, span: Duration) -> Vec<Scheduled> {
        match self {
            Plan::Chaos { faults, mix } => faults::schedule(seed, *faults, span, mix),
            Plan::Renewal(plan) => faults::renewal(seed, span, plan),
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            Plan::Chaos { faults, mix } => format!("chaos: {faults} faults, mix {mix}"),
            Plan::Renewal(plan) => {
                let moderator = plan.moderator.map_or("never fails".to_string(), |(f, r)| {
                    format!(
                        "MTBF {:.0} s, MTTR {:.1} s",
                        f.as_secs_f64(),
                        r.as_secs_f64()
                    )
                });
                format!(
                    "seed schedule: each deployment MTBF {:.0} s, MTTR {:.1} s, mix {}; moderator {moderator}",
                    plan.mtbf.as_secs_f64(),
                    plan.mttr.as_secs_f64(),
                    plan.mix
                )
            }
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            chats: 200,
            per_operator: 10,
            minutes: 3.0,
            plan: Plan::Chaos {
                faults: 50,
                mix: Mix::chaos(),
            },
            seed: 1,
            single: false,
            rate_per_side: 1.0,
        }
    }
}

/// Runs a soak; see the module docs.
pub async fn run(config: &Config) -> Report {
    let began = Instant::now();
    let world = World::start(config.single).await;
    eprintln!("soak: starting {} chats", config.chats);
    let clients = traffic::start(&world, config.chats, config.per_operator, config.seed).await;
    let span = Duration::from_secs_f64(config.minutes * 60.0);
    let schedule = config.plan.schedule(config.seed, span);
    eprintln!(
        "soak: {} chats up; {} faults over {:.0} s",
        clients.chats.len(),
        schedule.len(),
        span.as_secs_f64()
    );
    let phase = tokio::time::Instant::now();
    let phase_start = traffic::now();
    let fault_tasks: Vec<_> = schedule
        .iter()
        .map(|planned| {
            let (world, planned) = (world.clone(), *planned);
            tokio::spawn(async move {
                tokio::time::sleep_until(phase + planned.at).await;
                eprintln!(
                    "soak: +{:.1} s {:?}",
                    planned.at.as_secs_f64(),
                    planned.fault
                );
                world.apply(planned).await
            })
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let lag = tokio::spawn(generator_lag(stop.clone()));
    let stopper = {
        let stop = stop.clone();
        async move {
            tokio::time::sleep(span).await;
            stop.store(true, Relaxed);
        }
    };
    let period = Duration::from_secs_f64(1.0 / config.rate_per_side);
    let (mut sent, ()) = tokio::join!(clients.talk(period, stop), stopper);
    let lateness = lag.await.expect("the lag sampler");
    let mut applied = Vec::new();
    for task in fault_tasks {
        applied.push(task.await.expect("a fault task"));
    }
    eprintln!("soak: fault phase over; healing");
    world.heal().await;
    sent.extend(clients.greetings.iter().cloned());

    let mut written: Vec<Vec<&Sent>> = vec![Vec::new(); clients.chats.len()];
    for s in &sent {
        written[s.chat].push(s);
    }
    let expected: Vec<usize> = written.iter().map(Vec::len).collect();
    let settled = clients.settle(&expected, SETTLE_LIMIT).await;
    if !settled {
        eprintln!(
            "soak: links after the settle limit:\n{}",
            world.link_report().await
        );
    }
    eprintln!("soak: clients settled: {settled}; reading the stores");
    let mut problems = Vec::new();
    let stores = read_stores(&world, &sent, &mut problems).await;

    let mut invariants = Invariants::default();
    for (i, chat) in clients.chats.iter().enumerate() {
        let mut holders = vec![
            Holder {
                name: "visitor".into(),
                messages: traffic::messages(&chat.visitor, chat.id),
            },
            Holder {
                name: "operator".into(),
                messages: traffic::messages(&chat.operator, chat.id),
            },
        ];
        for (name, store) in &stores {
            holders.push(Holder {
                name: name.clone(),
                messages: store.0.get(&chat.id).cloned().unwrap_or_default(),
            });
        }
        invariants += check_chat(&written[i], &holders);
    }
    invariants.duplicated += stores.iter().map(|(_, s)| s.1).sum::<usize>();

    // Acks as each client saw them.
    let visitor_acks: Vec<HashMap<MessageId, Millis>> = clients
        .chats
        .iter()
        .map(|c| {
            c.visitor
                .seen()
                .acks
                .into_iter()
                .map(|(at, id)| (id, at))
                .collect()
        })
        .collect();
    let operator_acks: Vec<HashMap<MessageId, Millis>> = clients
        .operators
        .iter()
        .map(|o| o.seen().acks.into_iter().map(|(at, id)| (id, at)).collect())
        .collect();
    let (in_time, samples) = availability(
        &sent,
        |s| match s.side {
            Side::Visitor => visitor_acks[s.chat].get(&s.id).copied(),
            Side::Operator => operator_acks[clients.chats[s.chat].operator_index]
                .get(&s.id)
                .copied(),
        },
        AVAILABLE_WITHIN_MS,
    );
    let downtime = Downtime::of(&applied, span);
    let fraction = if samples == 0 {
        0.0
    } else {
        in_time as f64 / samples as f64
    };

    let acked_at = |s: &Sent| match s.side {
        Side::Visitor => visitor_acks[s.chat].get(&s.id).copied(),
        Side::Operator => operator_acks[clients.chats[s.chat].operator_index]
            .get(&s.id)
            .copied(),
    };
    let writer = |s: &Sent| match s.side {
        Side::Visitor => s.chat,
        Side::Operator => clients.chats.len() + clients.chats[s.chat].operator_index,
    };
    let windowed = WINDOWS_MS
        .iter()
        .map(|&window_ms| {
            let (up, windows) = windowed_uptime(
                &sent,
                writer,
                acked_at,
                AVAILABLE_WITHIN_MS,
                phase_start,
                window_ms,
            );
            Windowed {
                window_ms,
                up,
                windows,
                fraction: if windows == 0 {
                    0.0
                } else {
                    up as f64 / windows as f64
                },
            }
        })
        .collect();

    let (failover, unblamed_outages, outage_log) = failover_rows(&clients, &applied);
    Report {
        mode: if config.single {
            "single deployment".into()
        } else {
            "two deployments".into()
        },
        seed: config.seed,
        plan: config.plan.describe(),
        chats: clients.chats.len(),
        operators: clients.operators.len(),
        minutes: config.minutes,
        rate_per_side: config.rate_per_side,
        messages: sent.len(),
        faults_applied: applied.iter().filter(|a| a.applied).count(),
        faults: applied,
        settled,
        invariants,
        availability: Availability {
            within_ms: AVAILABLE_WITHIN_MS,
            acked_in_time: in_time,
            samples,
            fraction,
            nines: nines(fraction),
        },
        windowed,
        downtime,
        failover,
        unblamed_outages,
        outages: outage_log,
        generator_lag_ms: Spread::of(&lateness.iter().map(|(_, l)| *l).collect::<Vec<_>>()),
        generator_stalls: lateness.into_iter().filter(|(_, l)| *l > 250).collect(),
        seconds: began.elapsed().as_secs_f64(),
        problems,
    }
}

/// Samples how late a 100 ms timer fires until `stop`: (ms since the
/// start, lateness in ms).
async fn generator_lag(stop: Arc<AtomicBool>) -> Vec<(u64, u64)> {
    let start = Instant::now();
    let mut samples = Vec::new();
    while !stop.load(Relaxed) {
        let due = Instant::now() + Duration::from_millis(100);
        tokio::time::sleep_until(due.into()).await;
        let late = Instant::now().saturating_duration_since(due);
        samples.push((start.elapsed().as_millis() as u64, late.as_millis() as u64));
    }
    samples
}

type Store = (
    BTreeMap<twinline_core::ChatId, Vec<twinline_core::Message>>,
    usize,
);

/// Reads every running deployment's store once it holds every written
/// message (or the settle limit passes: then as it is).
async fn read_stores(
    world: &World,
    sent: &[Sent],
    problems: &mut Vec<String>,
) -> Vec<(String, Store)> {
    let mut stores = Vec::new();
    for (role, url) in world.relay_urls() {
        let name = format!("{role:?} store").to_lowercase();
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            match store_of(&url).await {
                Ok(store) => {
                    let held: usize = store.0.values().map(Vec::len).sum();
                    if held >= sent.len() || Instant::now() >= deadline {
                        stores.push((name, store));
                        break;
                    }
                }
                Err(error) if Instant::now() >= deadline => {
                    problems.push(error);
                    break;
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    stores
}

/// Client outages grouped by the fault they are blamed on, how many were
/// blamed on none, and every outage as a record.
fn failover_rows(
    clients: &traffic::Clients,
    applied: &[world::Applied],
) -> (Vec<FailoverRow>, usize, Vec<OutageRecord>) {
    let mut rows: BTreeMap<&'static str, FailoverRow> = BTreeMap::new();
    for fault in applied.iter().filter(|f| f.applied) {
        let row = rows.entry(fault.planned.fault.label()).or_default();
        row.fault = fault.planned.fault.label().into();
        row.faults += 1;
    }
    let mut interruptions: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    let mut unblamed = 0;
    let mut log = Vec::new();
    for (index, (client, group)) in clients.all().zip(clients.groups()).enumerate() {
        for outage in outages(&client.seen().links) {
            let blamed = blame(applied, &outage, group);
            let until = outage.back.unwrap_or(outage.left).0 + 500;
            let story = client
                .seen()
                .links
                .iter()
                .filter(|(at, _, _)| at.0 + 3_000 >= outage.left.0 && at.0 <= until)
                .map(|(at, state, to)| {
                    (
                        at.0 as i64 - outage.left.0 as i64,
                        format!("{state:?}"),
                        *to,
                    )
                })
                .collect();
            log.push(OutageRecord {
                client: index,
                group,
                story,
                outage,
                fault: blamed.and_then(|f| applied.iter().position(|a| std::ptr::eq(a, f))),
            });
            let Some(fault) = blamed else {
                unblamed += 1;
                continue;
            };
            let label = fault.planned.fault.label();
            let row = rows.entry(label).or_default();
            row.outages += 1;
            match outage.back {
                Some(back) => {
                    interruptions
                        .entry(label)
                        .or_default()
                        .push(back.since(outage.left));
                    row.recovery_samples_ms.push(back.since(fault.start));
                }
                None => row.unrecovered += 1,
            }
        }
    }
    for (label, row) in &mut rows {
        row.interruption_ms = Spread::of(interruptions.get(label).map_or(&[][..], Vec::as_slice));
        row.recovery_ms = Spread::of(&row.recovery_samples_ms);
        row.recovery_samples_ms.sort_unstable();
    }
    (rows.into_values().collect(), unblamed, log)
}
