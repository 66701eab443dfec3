//! `twinline-soak`: the chaos soak (see `twinline_tests::soak`). Prints a
//! table, writes the report as JSON and exits non-zero if any chat lost,
//! duplicated, reordered or diverged a message, or a client never came back.
//!
//! Usage: twinline-soak [--chats 200] [--minutes 3] [--faults 50] [--seed N]
//!                      [--rate 1] [--per-operator 10] [--single] [--out FILE]
//! `--single` runs the same schedule against the primary alone (the faults
//! that need the redundant or the moderator are skipped), for the
//! single-deployment availability figure. Default output:
//! target/bench/soak.json (soak-single.json with --single).

use twinline_tests::soak::{Config, run};

fn value<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<T> {
    let at = args.iter().position(|a| a == flag)?;
    let raw = args.get(at + 1)?;
    match raw.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            eprintln!("twinline-soak: {flag} takes a number, not {raw:?}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "twinline-soak [--chats 200] [--minutes 3] [--faults 50] [--seed N] [--rate 1] [--per-operator 10] [--single] [--out FILE]"
        );
        return;
    }
    let defaults = Config::default();
    let config = Config {
        chats: value(&args, "--chats").unwrap_or(defaults.chats),
        per_operator: value(&args, "--per-operator").unwrap_or(defaults.per_operator),
        minutes: value(&args, "--minutes").unwrap_or(defaults.minutes),
        faults: value(&args, "--faults").unwrap_or(defaults.faults),
        seed: value(&args, "--seed").unwrap_or(defaults.seed),
        single: args.iter().any(|a| a == "--single"),
        rate_per_side: value(&args, "--rate").unwrap_or(defaults.rate_per_side),
    };
    let out: String = value(&args, "--out").unwrap_or_else(|| {
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
    if let Some(dir) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let json = serde_json::to_string_pretty(&report).expect("the report serialises");
    std::fs::write(&out, json).expect("writing the report");
    println!("\nwritten to {out}");
    // Processes and clients are dropped with the runtime; leave at once.
    drop(runtime);
    std::process::exit(if report.passed() { 0 } else { 1 });
}
