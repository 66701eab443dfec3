//! `twinline-bench`: the relay, replication and failover benchmarks. Prints
//! figures and writes them as JSON (default target/bench/relay.json); the
//! failover benchmark also writes its raw samples next to it
//! (failover-samples.json), for plots.
//!
//! Usage: twinline-bench [relay|replication|throughput|failover|all] [--quick] [--out FILE]
//! Run through `npm run bench`, which builds everything in release mode.

use std::time::Duration;
use twinline_tests::bench::{Figure, failover, relay, replication};
use twinline_tests::pair::Pair;
use twinline_tests::process::{RelayOptions, RelayProcess};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args
        .iter()
        .find(|a| !a.starts_with("--") && !a.ends_with(".json"))
        .cloned()
        .unwrap_or_else(|| "all".into());
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "target/bench/relay.json".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut figures: Vec<Figure> = Vec::new();
    // No per-client limit, and no frame limit either.
    let unlimited = &[
        twinline_tests::process::UNLIMITED_CLIENTS,
        &["--frame-rate", "0"],
    ]
    .concat();
    let options = || RelayOptions {
        extra: unlimited.iter().map(|s| s.to_string()).collect(),
        ..RelayOptions::primary()
    };
    let scale = |full: u64, small: u64| if quick { small } else { full };
    runtime.block_on(async {
        if which == "relay" || which == "all" || which == "throughput" {
            let relay = RelayProcess::start(options());
            figures
                .extend(relay::throughput(&relay, 100, 64, Duration::from_secs(scale(5, 2))).await);
            drop(relay);
        }
        if which == "relay" || which == "all" {
            let relay = RelayProcess::start(options());
            figures.extend(
                relay::latency(
                    &relay,
                    scale(1000, 200) as usize,
                    Duration::from_secs(scale(10, 3)),
                )
                .await,
            );
            drop(relay);
            let relay = RelayProcess::start(options());
            figures.extend(relay::idle_connections(&relay, scale(10_000, 1_000) as usize).await);
        }
        if which == "replication" || which == "all" {
            let mut pair = Pair::start(unlimited);
            figures.extend(
                replication::lag(&pair, 100, 1000, Duration::from_secs(scale(10, 3))).await,
            );
            figures.extend(replication::catch_up(&mut pair, scale(100_000, 10_000)).await);
        }
        if which == "failover" || which == "all" {
            let (found, samples) =
                failover::failover(scale(100, 20) as usize, scale(10, 3) as usize).await;
            figures.extend(found);
            let path = std::path::Path::new(&out).with_file_name("failover-samples.json");
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let json = serde_json::to_string_pretty(&samples).expect("samples serialise");
            std::fs::write(&path, json).expect("writing the failover samples");
        }
    });
    println!("\n{:<50} {:>12}  {:<12} target", "figure", "value", "unit");
    for figure in &figures {
        println!(
            "{:<50} {:>12.2}  {:<12} {}",
            figure.name,
            figure.value,
            figure.unit,
            figure.target.as_deref().unwrap_or("")
        );
    }
    if let Some(dir) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let json = serde_json::to_string_pretty(&figures).expect("figures serialise");
    std::fs::write(&out, json).expect("writing the figures");
    println!("\nwritten to {out}");
}
