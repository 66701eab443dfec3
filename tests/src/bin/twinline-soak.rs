//! `twinline-soak`: the chaos soak (see `twinline_tests::soak`). Prints a
//! table, writes the report as JSON and exits non-zero if any chat lost,
//! duplicated, reordered or diverged a message, or a client never came back.
//! `twinline-soak --help` gives the flags.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;
use twinline_tests::soak::faults::{Kind, Mix, Renewal};
use twinline_tests::soak::{Config, Plan, run};

/// The chaos soak: many chats between native clients on two deployments
/// (or the primary alone) while a seeded schedule of faults runs; then
/// every chat is checked on its visitor, its operator and every store.
/// Exits 1 if a message was lost, duplicated, reordered or diverged, or a
/// client never settled.
#[derive(Debug, Parser)]
#[command(
    name = "twinline-soak",
    after_help = "Schedules:\n  \
  --schedule chaos (default): --faults faults over the phase, kinds drawn from --mix\n    \
  (default crash=30,both-down=8,moderator=10,silent=25,slow=15,planned=12),\n    \
  never two on one resource at once.\n  \
  --schedule seed: each deployment fails on its own, up for an exponential time of\n    \
  mean --mtbf, down for one of mean --mttr, the kind drawn from --mix (crash, hang,\n    \
  planned; default crash=6,hang=3,planned=1); the moderator too if\n    \
  --moderator-mtbf is given. The same seed gives the primary the same failures\n    \
  with or without --single, so A1 (--single) and A2 come from one schedule.\n\n\
  Fault kinds: crash (SIGKILL, restarted at repair), both-down, moderator (SIGKILL,\n  \
  restarted), silent (one client group's link to one deployment black-holed),\n  \
  slow (that link delayed), planned (the moderator holds the other deployment,\n  \
  this one is stopped and started again), hang (SIGSTOP, SIGCONT at repair: a\n  \
  black hole for clients, the moderator and the peer alike)."
)]
struct Args {
    /// Concurrent chats.
    #[arg(long, default_value_t = Config::default().chats)]
    chats: usize,
    /// Chats per operator.
    #[arg(long, default_value_t = Config::default().per_operator)]
    per_operator: usize,
    /// Minutes of the fault phase.
    #[arg(long, default_value_t = Config::default().minutes)]
    minutes: f64,
    /// Which schedule: chaos or seed (see below).
    #[arg(long, value_enum, default_value_t = Schedule::Chaos)]
    schedule: Schedule,
    /// Faults in the chaos schedule.
    #[arg(long, default_value_t = 50)]
    faults: usize,
    /// Fault kinds and their weights, e.g. crash=6,hang=3,planned=1.
    #[arg(long)]
    mix: Option<Mix>,
    /// Seed schedule: mean seconds between failures of a deployment.
    #[arg(long, default_value_t = 60.0)]
    mtbf: f64,
    /// Seed schedule: mean seconds to repair a deployment.
    #[arg(long, default_value_t = 5.0)]
    mttr: f64,
    /// Seed schedule: mean seconds between moderator crashes (none if not
    /// given).
    #[arg(long)]
    moderator_mtbf: Option<f64>,
    /// Seed schedule: mean seconds to restart the moderator.
    #[arg(long, default_value_t = 3.0)]
    moderator_mttr: f64,
    /// Seed of the fault schedule (the same seed gives the same schedule).
    #[arg(long, default_value_t = Config::default().seed)]
    seed: u64,
    /// Messages per second each side of each chat writes.
    #[arg(long, default_value_t = Config::default().rate_per_side)]
    rate: f64,
    /// The primary alone: the same schedule, skipping the faults that need
    /// the redundant or the moderator (the single-deployment figure).
    #[arg(long)]
    single: bool,
    /// Where the report goes (default target/bench/soak.json, or
    /// soak-single.json with --single).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Schedule {
    Chaos,
    Seed,
}

fn main() {
    let args = Args::parse();
    let secs = Duration::from_secs_f64;
    let plan = match args.schedule {
        Schedule::Chaos => Plan::Chaos {
            faults: args.faults,
            mix: args.mix.unwrap_or_else(Mix::chaos),
        },
        Schedule::Seed => {
            let mix = args.mix.unwrap_or_else(Mix::deployment);
            if let Some(kind) = mix.kinds().find(|k| !k.of_a_deployment()) {
                eprintln!(
                    "twinline-soak: --schedule seed draws a deployment's own failures: crash, hang or planned, not {}",
                    Kind::name(kind)
                );
                std::process::exit(2);
            }
            Plan::Renewal(Renewal {
                mtbf: secs(args.mtbf),
                mttr: secs(args.mttr),
                mix,
                moderator: args
                    .moderator_mtbf
                    .map(|mtbf| (secs(mtbf), secs(args.moderator_mttr))),
            })
        }
    };
    let config = Config {
        chats: args.chats,
        per_operator: args.per_operator,
        minutes: args.minutes,
        plan,
        seed: args.seed,
        single: args.single,
        rate_per_side: args.rate,
    };
    let out = args.out.unwrap_or_else(|| {
        if config.single {
            "target/bench/soak-single.json".into()
        } else {
            "target/bench/soak.json".into()
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let report = runtime.block_on(run(&config));
    report.print();
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let json = serde_json::to_string_pretty(&report).expect("the report serialises");
    std::fs::write(&out, json).expect("writing the report");
    println!("\nwritten to {}", out.display());
    // Processes and clients are dropped with the runtime; leave at once.
    drop(runtime);
    std::process::exit(if report.passed() { 0 } else { 1 });
}
