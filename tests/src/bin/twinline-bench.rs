//! `twinline-bench`: the benchmarks. Prints figures and writes them as JSON
//! for scripts/bench-report.mjs (docs/benchmarks.md). `npm run bench` runs
//! it in release mode; `twinline-bench --help` says what each command does.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use twinline_tests::bench::node_failover::{self, NodeFailoverConfig};
use twinline_tests::bench::reconnects::{self, ReconnectConfig};
use twinline_tests::bench::server::{Kind, Server};
use twinline_tests::bench::steady::SteadyConfig;
use twinline_tests::bench::{Figure, failover, incidents, load, replication, restart, steady};
use twinline_tests::pair::Pair;

/// Twinline's benchmarks: figures, never pass/fail (except lost messages).
#[derive(Debug, Parser)]
#[command(
    name = "twinline-bench",
    about,
    after_help = "Servers: twinline (the relay), twinline-postgres and twinline-postgres-2 (one relay node on PostgreSQL, two behind HAProxy; with `compare --servers`, not by default), socketio-sqlite and socketio-memory (the \
                  Socket.IO 4.8 reference peer in tests/peer/socketio, durable or in memory; \
                  needs node and `npm ci`).\n\
                  Figures are written as JSON to --out; `npm run bench` runs the lot and \
                  writes docs/benchmarks.md."
)]
struct Args {
    /// What to run (default: all).
    #[command(subcommand)]
    command: Option<Command>,
    /// Small sizes and short runs: to try the pipeline, not to publish.
    #[arg(long, global = true)]
    quick: bool,
    /// Where the figures go (JSON).
    #[arg(long, global = true, default_value = "target/bench/relay.json")]
    out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// compare (Twinline and the peer), replication and failover.
    All(CompareArgs),
    /// The side-by-side scenarios, each run against every server given:
    /// full load, everyday load (1,000 chats x 1 msg/s), idle connections
    /// (10,000), SIGKILL + restart (500 clients).
    Compare(CompareArgs),
    /// Steady state over minutes: Twinline as two replicating relays, the
    /// peer alone; 500 visitors at 1 msg/s, operators replying, 100
    /// reconnects a minute; RSS, threads, WAL and database size over time,
    /// and lost messages at the end. Also writes steady-<server>.json
    /// beside --out.
    Steady(SteadyArgs),
    /// The comparison scenarios against Twinline's relay alone.
    Relay,
    /// Full load against Twinline's relay alone.
    Throughput,
    /// Replication lag at 1,000 msg/s and catch-up after an outage.
    Replication,
    /// Failover time seen by native clients (crash, silent loss, planned
    /// switch); also writes failover-samples.json beside --out.
    Failover,
    /// What one incident of each kind costs each client (crash, hang,
    /// silent loss and planned switch of the active deployment, moderator
    /// crash, standby crash, both down then one back, primary unreachable
    /// from page load): unavailability p50/p99/max and the share of
    /// clients that saw anything but "connected". Also writes
    /// incidents.json beside --out (the soak's prediction reads it).
    Incidents(IncidentArgs),
    /// Cross-node fan-out on PostgreSQL: 50 visitors on one relay node at
    /// 10 msg/s each, their operator on another node (needs PostgreSQL
    /// and HAProxy: scripts/ensure-toolchain.sh --servers).
    Nodes,
    /// A node of the primary SIGKILLed while 1,000 native clients (950
    /// visitors, 50 operators) chat at 1 msg/s through HAProxy, then a
    /// rolling restart with drains: kill to next ack, where moved clients
    /// went, the longest ack wait, lost messages (needs PostgreSQL and
    /// HAProxy). Also writes node-failover.json beside --out.
    NodeFailover(NodeFailoverArgs),
    /// What a reconnect costs one relay (SQLite, or --servers
    /// twinline-postgres): storms in which every visitor reconnects at
    /// once with what it holds, operators connected; relay CPU per
    /// reconnect and hello -> welcome latency. scripts/profile-relay.sh
    /// --reconnects counts its instructions under callgrind.
    Reconnects(ReconnectArgs),
}

#[derive(Clone, Debug, clap::Args)]
struct ReconnectArgs {
    /// The server: twinline (SQLite) or twinline-postgres (one node).
    #[arg(long, default_value = "twinline", value_enum)]
    server: Kind,
    /// Visitors reconnecting in each storm, one chat each.
    #[arg(long, default_value_t = 500)]
    visitors: usize,
    /// Messages stored in each chat.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// Of those, how many (the newest) a reconnecting visitor lacks.
    #[arg(long, default_value_t = 0)]
    missing: usize,
    /// Operators connected during the storms.
    #[arg(long, default_value_t = 10)]
    operators: usize,
    /// Storms measured (after one unmeasured).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Shell command run just before the measured storms ($RELAY_PID set).
    #[arg(long)]
    on_window_start: Option<String>,
    /// Shell command run just after them ($RELAY_PID set).
    #[arg(long)]
    on_window_end: Option<String>,
}

#[derive(Clone, Copy, Debug, clap::Args)]
struct NodeFailoverArgs {
    /// Visitors, one chat each (--quick: 190).
    #[arg(long, default_value_t = 950)]
    visitors: usize,
    /// Operators holding the chats between them (--quick: 10).
    #[arg(long, default_value_t = 50)]
    operators: usize,
}

#[derive(Clone, Debug, clap::Args)]
struct IncidentArgs {
    /// Clients living through each incident.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Incidents of each kind.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Kinds to run, in order.
    #[arg(long, value_delimiter = ',', default_values_t = incidents::Kind::ALL.to_vec(), value_enum)]
    kinds: Vec<incidents::Kind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Full,
    Everyday,
    Idle,
    Restart,
}

#[derive(Clone, Debug, clap::Args)]
struct CompareArgs {
    /// Servers to measure, in order.
    #[arg(long, value_delimiter = ',', default_values_t = Kind::ALL.to_vec(), value_enum)]
    servers: Vec<Kind>,
    /// Scenarios to run.
    #[arg(long, value_delimiter = ',', default_values_t = [Scenario::Full, Scenario::Everyday, Scenario::Idle, Scenario::Restart], value_enum)]
    scenarios: Vec<Scenario>,
    /// Repetitions of the whole comparison (the report gives ranges).
    #[arg(long, default_value_t = 2)]
    runs: u32,
    /// Chats of the everyday load.
    #[arg(long, default_value_t = 1000)]
    chats: usize,
    /// Seconds the everyday load is measured.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

impl Default for CompareArgs {
    fn default() -> CompareArgs {
        CompareArgs {
            servers: Kind::ALL.to_vec(),
            scenarios: vec![
                Scenario::Full,
                Scenario::Everyday,
                Scenario::Idle,
                Scenario::Restart,
            ],
            runs: 2,
            chats: 1000,
            seconds: 10,
        }
    }
}

#[derive(Clone, Debug, clap::Args)]
struct SteadyArgs {
    /// Servers to run it on, one after the other.
    #[arg(long, value_delimiter = ',', default_values_t = [Kind::Twinline, Kind::SocketioSqlite], value_enum)]
    servers: Vec<Kind>,
    /// Minutes of traffic per server.
    #[arg(long, default_value_t = 15.0)]
    minutes: f64,
    /// Visitors (one chat each).
    #[arg(long, default_value_t = 500)]
    visitors: usize,
    /// Chats per operator.
    #[arg(long, default_value_t = 10)]
    per_operator: usize,
    /// Operators reply to every n-th message of a chat.
    #[arg(long, default_value_t = 5)]
    reply_every: u64,
    /// Visitors reconnecting each minute.
    #[arg(long, default_value_t = 100)]
    reconnects: usize,
    /// Seconds between samples of resource use.
    #[arg(long, default_value_t = 30.0)]
    sample_every: f64,
}

fn main() {
    let args = Args::parse();
    let quick = args.quick;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let command = args
        .command
        .unwrap_or_else(|| Command::All(CompareArgs::default()));
    let mut figures: Vec<Figure> = Vec::new();
    let mut failed = false;
    runtime.block_on(async {
        match command {
            Command::All(compare_args) => {
                figures.extend(compare(&compare_args, quick).await);
                figures.extend(replication_figures(quick).await);
                figures.extend(failover_figures(quick, &args.out).await);
            }
            Command::Compare(compare_args) => figures.extend(compare(&compare_args, quick).await),
            Command::Relay => {
                let only = CompareArgs {
                    servers: vec![Kind::Twinline],
                    runs: 1,
                    ..CompareArgs::default()
                };
                figures.extend(compare(&only, quick).await);
            }
            Command::Throughput => {
                let only = CompareArgs {
                    servers: vec![Kind::Twinline],
                    scenarios: vec![Scenario::Full],
                    runs: 1,
                    ..CompareArgs::default()
                };
                figures.extend(compare(&only, quick).await);
            }
            Command::Replication => figures.extend(replication_figures(quick).await),
            Command::Failover => figures.extend(failover_figures(quick, &args.out).await),
            Command::Incidents(incident_args) => {
                let (found, rows) = incidents::incidents(
                    if quick { 100 } else { incident_args.clients },
                    if quick { 1 } else { incident_args.rounds },
                    &incident_args.kinds,
                )
                .await;
                write_json(&args.out.with_file_name("incidents.json"), &rows);
                figures.extend(found);
            }
            Command::Nodes => {
                let seconds = if quick { 3 } else { 10 };
                figures.extend(
                    twinline_tests::bench::nodes::cross_node_latency(
                        50,
                        10,
                        Duration::from_secs(seconds),
                    )
                    .await,
                );
            }
            Command::NodeFailover(sizes) => {
                let config = NodeFailoverConfig {
                    visitors: if quick { 190 } else { sizes.visitors },
                    operators: if quick { 10 } else { sizes.operators },
                };
                let (found, report) = node_failover::node_failover(config).await;
                failed |= report.failed();
                figures.extend(found);
                write_json(&args.out.with_file_name("node-failover.json"), &report);
            }
            Command::Reconnects(storm) => {
                let config = ReconnectConfig {
                    visitors: if quick { 50 } else { storm.visitors },
                    messages: storm.messages,
                    missing: storm.missing,
                    operators: storm.operators,
                    rounds: if quick { 1 } else { storm.rounds },
                    on_window_start: storm.on_window_start,
                    on_window_end: storm.on_window_end,
                };
                let server = Arc::new(tokio::task::block_in_place(|| Server::start(storm.server)));
                let found = reconnects::reconnects(&server, &config).await;
                figures.extend(found.into_iter().map(|f| f.on(storm.server.name(), 1)));
                tokio::task::block_in_place(|| drop(server));
            }
            Command::Steady(steady_args) => {
                let config = SteadyConfig {
                    visitors: if quick { 100 } else { steady_args.visitors },
                    per_operator: steady_args.per_operator,
                    reply_every: steady_args.reply_every,
                    reconnects_per_minute: if quick { 60 } else { steady_args.reconnects },
                    seconds: if quick {
                        30.0
                    } else {
                        steady_args.minutes * 60.0
                    },
                    sample_every: if quick { 5.0 } else { steady_args.sample_every },
                };
                for kind in steady_args.servers {
                    let server =
                        Arc::new(tokio::task::block_in_place(|| Server::start_deployed(kind)));
                    let (found, report) = steady::steady(&server, &config).await;
                    failed |= report.lost > 0 || report.lost_on_redundant.unwrap_or(0) > 0;
                    figures.extend(found.into_iter().map(|f| f.on(kind.name(), 1)));
                    write_json(
                        &args
                            .out
                            .with_file_name(format!("steady-{}.json", kind.name())),
                        &report,
                    );
                    drop(server);
                }
            }
        }
    });
    print_figures(&figures);
    write_json(&args.out, &figures);
    println!("\nwritten to {}", args.out.display());
    drop(runtime);
    if failed {
        eprintln!(
            "twinline-bench: acked messages were lost (or, node-failover, the moderator left the primary)"
        );
        std::process::exit(1);
    }
}

/// Every scenario against every server, `runs` times (server by server
/// within a run, so both see the same machine load as far as possible).
async fn compare(args: &CompareArgs, quick: bool) -> Vec<Figure> {
    let scale = |full: u64, small: u64| if quick { small } else { full };
    let runs = if quick { 1 } else { args.runs.max(1) };
    let mut figures = Vec::new();
    for run in 1..=runs {
        for &kind in &args.servers {
            let name = kind.name();
            eprintln!("\n== compare run {run} of {runs}: {name}");
            let start = || Arc::new(tokio::task::block_in_place(|| Server::start(kind)));
            let mut found = Vec::new();
            for scenario in &args.scenarios {
                let server = start();
                found.extend(match scenario {
                    Scenario::Full => {
                        load::throughput(&server, 100, 64, Duration::from_secs(scale(5, 2))).await
                    }
                    Scenario::Everyday => {
                        load::everyday(
                            &server,
                            if quick { 200 } else { args.chats },
                            Duration::from_secs(scale(args.seconds, 3)),
                        )
                        .await
                    }
                    Scenario::Idle => {
                        load::idle_connections(&server, scale(10_000, 1_000) as usize).await
                    }
                    Scenario::Restart => {
                        restart::kill_and_restart(
                            &server,
                            scale(500, 100) as usize,
                            Duration::from_secs(2),
                        )
                        .await
                    }
                });
                tokio::task::block_in_place(|| drop(server));
            }
            figures.extend(found.into_iter().map(|f| f.on(name, run)));
        }
    }
    figures
}

async fn replication_figures(quick: bool) -> Vec<Figure> {
    let scale = |full: u64, small: u64| if quick { small } else { full };
    let mut pair = tokio::task::block_in_place(|| {
        Pair::start(
            &[
                twinline_tests::process::UNLIMITED_CLIENTS,
                &["--frame-rate", "0"],
            ]
            .concat(),
        )
    });
    let mut figures = replication::lag(&pair, 100, 1000, Duration::from_secs(scale(10, 3))).await;
    figures.extend(replication::catch_up(&mut pair, scale(100_000, 10_000)).await);
    tokio::task::block_in_place(|| drop(pair));
    figures
}

async fn failover_figures(quick: bool, out: &Path) -> Vec<Figure> {
    let scale = |full: u64, small: u64| if quick { small } else { full };
    let (found, samples) = failover::failover(scale(100, 20) as usize, scale(10, 3) as usize).await;
    write_json(&out.with_file_name("failover-samples.json"), &samples);
    found
}

fn print_figures(figures: &[Figure]) {
    println!(
        "\n{:<64} {:<16} {:>3} {:>12}  {:<12} target",
        "figure", "server", "run", "value", "unit"
    );
    for figure in figures {
        println!(
            "{:<64} {:<16} {:>3} {:>12.2}  {:<12} {}",
            figure.name,
            figure.server.as_deref().unwrap_or("twinline"),
            figure.run.map_or(String::new(), |r| r.to_string()),
            figure.value,
            figure.unit,
            figure.target.as_deref().unwrap_or("")
        );
    }
}

fn write_json(path: &Path, value: &impl serde::Serialize) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let json = serde_json::to_string_pretty(value).expect("figures serialise");
    std::fs::write(path, json).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
