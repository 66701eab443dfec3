//! `twinline-soak`: the chaos soak (see `twinline_tests::soak`). Prints a
//! table, writes the report as JSON and exits non-zero if any chat lost,
//! duplicated, reordered or diverged a message, or a client never came back.
//! `twinline-soak --help` gives the flags.

use clap::Parser;
use std::path::PathBuf;
use twinline_tests::soak::{Config, run};

/// The chaos soak: many chats between native clients on two deployments
/// (or the primary alone) while a seeded schedule of faults runs; then
/// every chat is checked on its visitor, its operator and every store.
/// Exits 1 if a message was lost, duplicated, reordered or diverged, or a
/// client never settled.
#[derive(Debug, Parser)]
#[command(name = "twinline-soak")]
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
    /// Faults in the schedule.
    #[arg(long, default_value_t = Config::default().faults)]
    faults: usize,
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

fn main() {
    let args = Args::parse();
    let config = Config {
        chats: args.chats,
        per_operator: args.per_operator,
        minutes: args.minutes,
        faults: args.faults,
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
