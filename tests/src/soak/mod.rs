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
//! Availability is measured per message: of the messages written during
//! the fault phase, the fraction acked (durably stored by a relay) within
//! one second of being written. A client that can send and be acked within
//! a second is "up" for that message; anything slower counts as downtime.

pub mod checks;
pub mod faults;
pub mod report;
pub mod traffic;
pub mod world;

use checks::{Holder, Invariants, availability, blame, check_chat, nines, outages, store_of};
use report::{Availability, FailoverRow, Report, Spread};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use traffic::{Sent, Side};
use twinline_core::{MessageId, Millis};
use world::World;

/// How long after writing a message its ack must come for availability.
pub const AVAILABLE_WITHIN_MS: u64 = 1_000;
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
    /// Faults to schedule.
    pub faults: usize,
    /// Seed of the schedule (and of the clients).
    pub seed: u64,
    /// Only the primary runs.
    pub single: bool,
    /// Messages per second on each side of each chat.
    pub rate_per_side: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            chats: 200,
            per_operator: 10,
            minutes: 3.0,
            faults: 50,
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
    let schedule = faults::schedule(config.seed, config.faults, span);
    eprintln!(
        "soak: {} chats up; {} faults over {:.0} s",
        clients.chats.len(),
        schedule.len(),
        span.as_secs_f64()
    );
    let phase = tokio::time::Instant::now();
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
    let stopper = {
        let stop = stop.clone();
        async move {
            tokio::time::sleep(span).await;
            stop.store(true, Relaxed);
        }
    };
    let period = Duration::from_secs_f64(1.0 / config.rate_per_side);
    let (mut sent, ()) = tokio::join!(clients.talk(period, stop), stopper);
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
    let fraction = if samples == 0 {
        0.0
    } else {
        in_time as f64 / samples as f64
    };

    let (failover, unblamed_outages) = failover_rows(&clients, &applied);
    Report {
        mode: if config.single {
            "single deployment".into()
        } else {
            "two deployments".into()
        },
        seed: config.seed,
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
        failover,
        unblamed_outages,
        seconds: began.elapsed().as_secs_f64(),
        problems,
    }
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

/// Client outages grouped by the fault they are blamed on.
fn failover_rows(
    clients: &traffic::Clients,
    applied: &[world::Applied],
) -> (Vec<FailoverRow>, usize) {
    let mut rows: BTreeMap<&'static str, FailoverRow> = BTreeMap::new();
    for fault in applied.iter().filter(|f| f.applied) {
        let row = rows.entry(fault.planned.fault.label()).or_default();
        row.fault = fault.planned.fault.label().into();
        row.faults += 1;
    }
    let mut interruptions: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    let mut unblamed = 0;
    for client in clients.all() {
        for outage in outages(&client.seen().links) {
            let Some(fault) = blame(applied, outage.left) else {
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
    (rows.into_values().collect(), unblamed)
}
