//! Every binary answers `--help` with its usage, at once, without running
//! anything: `twinline-bench --help` used to start the whole benchmark.
//! relay-under-test is `twinline_relay::cli::main`, the same entry point as
//! the `twinline-relay` binary, so its subcommands stand for the relay's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: a loaded CI machine may take a while to start a process, but
/// a binary that starts a benchmark or a server instead never gets here.
const LIMIT: Duration = Duration::from_secs(20);

/// Runs `program args`, returns its stdout; panics unless it exits 0 with
/// "Usage" in its output within [`LIMIT`].
fn help(program: impl AsRef<Path>, args: &[&str]) -> String {
    let program = program.as_ref();
    let what = format!("{} {}", program.display(), args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let started = Instant::now();
    loop {
        if child.try_wait().expect("waiting").is_some() {
            break;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {LIMIT:?}: it runs instead of printing its usage");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("its output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} exited with {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("Usage"),
        "{what} printed no usage:\n{stdout}"
    );
    stdout
}

#[test]
fn twinline_bench_prints_its_usage_and_commands() {
    let bench = env!("CARGO_BIN_EXE_twinline-bench");
    let top = help(bench, &["--help"]);
    for command in ["all", "compare", "steady", "replication", "failover"] {
        assert!(
            top.contains(command),
            "twinline-bench --help names {command}:\n{top}"
        );
    }
    assert!(help(bench, &["-h"]).contains("Usage"));
    let compare = help(bench, &["compare", "--help"]);
    for flag in ["--servers", "--scenarios", "--runs", "socketio-sqlite"] {
        assert!(
            compare.contains(flag),
            "compare --help names {flag}:\n{compare}"
        );
    }
    let steady = help(bench, &["steady", "--help"]);
    for flag in ["--minutes", "--visitors", "--reconnects"] {
        assert!(
            steady.contains(flag),
            "steady --help names {flag}:\n{steady}"
        );
    }
    for command in ["relay", "throughput", "replication", "failover", "all"] {
        help(bench, &[command, "--help"]);
    }
}

#[test]
fn the_webhook_receiver_prints_its_usage() {
    let usage = help(env!("CARGO_BIN_EXE_webhook-receiver"), &["--help"]);
    for flag in ["--port", "--secret", "--out", "--delay-ms", "--status"] {
        assert!(
            usage.contains(flag),
            "webhook-receiver --help names {flag}:
{usage}"
        );
    }
}

#[test]
fn twinline_soak_prints_its_usage() {
    let usage = help(env!("CARGO_BIN_EXE_twinline-soak"), &["--help"]);
    for flag in [
        "--chats",
        "--minutes",
        "--faults",
        "--seed",
        "--single",
        "--out",
    ] {
        assert!(
            usage.contains(flag),
            "twinline-soak --help names {flag}:\n{usage}"
        );
    }
}

#[test]
fn the_relay_and_each_subcommand_print_their_usage() {
    let relay = env!("CARGO_BIN_EXE_relay-under-test");
    let top = help(relay, &["--help"]);
    for command in [
        "serve",
        "operator",
        "apikey",
        "visitor",
        "retention",
        "moderator",
        "switch",
    ] {
        assert!(
            top.contains(command),
            "the relay's --help names {command}:\n{top}"
        );
    }
    let serve = help(relay, &["serve", "--help"]);
    for flag in [
        "--data-dir",
        "--webhooks-allow-private-targets",
        "--webhooks-retry-base-ms",
        "--webhooks-handover-ms",
        "--retention",
        "--retention-every-minutes",
    ] {
        assert!(serve.contains(flag), "serve --help names {flag}:\n{serve}");
    }
    for command in [
        &["visitor", "export"][..],
        &["visitor", "erase"],
        &["retention"],
    ] {
        let args: Vec<&str> = command.iter().copied().chain(["--help"]).collect();
        let usage = help(relay, &args);
        assert!(
            usage.contains("--site"),
            "{command:?} --help names --site:\n{usage}"
        );
    }
    help(relay, &["operator", "--help"]);
    help(relay, &["operator", "add", "--help"]);
    help(relay, &["moderator", "--help"]);
    help(relay, &["switch", "--help"]);
    let apikey_add = help(relay, &["apikey", "add", "--help"]);
    for scope in [
        "chats:read",
        "messages:write",
        "operators:manage",
        "settings:manage",
        "data:manage",
    ] {
        assert!(
            apikey_add.contains(scope),
            "apikey add --help names {scope}:\n{apikey_add}"
        );
    }
    help(relay, &["apikey", "revoke", "--help"]);
}

#[test]
fn the_socketio_peer_prints_its_usage() {
    let script = twinline_tests::bench::peer::peer_script();
    let node = std::env::var_os("TWINLINE_NODE").unwrap_or_else(|| "node".into());
    let usage = help(node, &[script.to_str().expect("a UTF-8 path"), "--help"]);
    for flag in ["--listen", "--mode", "--data-dir"] {
        assert!(
            usage.contains(flag),
            "the peer's --help names {flag}:\n{usage}"
        );
    }
}
