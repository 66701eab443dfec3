//! The benchmark harness itself: the same scenarios drive Twinline's relay
//! and the Socket.IO reference peer (real processes: relay-under-test and
//! node tests/peer/socketio/server.mjs), so what the comparison prints is
//! only worth something if every server does the job it is measured on.
//! These run the scenarios small and check what they found.

use std::sync::Arc;
use std::time::Duration;
use twinline_tests::bench::Figure;
use twinline_tests::bench::server::{Kind, Server, message};
use twinline_tests::bench::steady::{SteadyConfig, steady};
use twinline_tests::bench::wire::Event;
use twinline_tests::bench::{load, restart};

fn value(figures: &[Figure], name: &str) -> f64 {
    figures
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no figure {name:?} in {figures:?}"))
        .value
}

async fn next_matching(
    conn: &mut twinline_tests::bench::wire::Conn,
    what: &str,
    wanted: impl Fn(&Event) -> bool,
) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = conn
                .next()
                .await
                .unwrap_or_else(|| panic!("closed while waiting for {what}"));
            if wanted(&event) {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_acks_and_fans_out_both_ways() {
    for kind in Kind::ALL {
        let server = Arc::new(tokio::task::block_in_place(|| Server::start(kind)));
        let visitor = server.new_visitor().await;
        let (mut v, _) = server
            .connect_visitor(&visitor, &[])
            .await
            .expect("a visitor connects");
        let first = message(&visitor.author(), visitor.chat, "hello", 1);
        v.send(&first).await.unwrap();
        load::wait_for_ack(&mut v, first.id).await.expect("acked");
        let operator = server.new_operator("ann").await;
        let (mut op, _) = server
            .connect_operator(&operator, &[])
            .await
            .expect("an operator connects");
        op.accept(visitor.chat).await.unwrap();
        next_matching(
            &mut op,
            "the accept",
            |e| matches!(e, Event::Accepted(c) if *c == visitor.chat),
        )
        .await;
        let second = message(&visitor.author(), visitor.chat, "is anyone there?", 2);
        v.send(&second).await.unwrap();
        let got = next_matching(&mut op, "the visitor's message", |e| {
            matches!(e, Event::Message(_))
        })
        .await;
        // As sent, but for `at`: a relay dates a message by its own receive
        // time (issue 16), which need not be the visitor's millisecond.
        assert!(
            matches!(&got, Event::Message(m) if m.id == second.id && m.same_as(&second)),
            "{}: the operator gets the message as sent, not {got:?}",
            kind.name()
        );
        let reply = message(&operator.author(), visitor.chat, "yes", 3);
        op.send(&reply).await.unwrap();
        load::wait_for_ack(&mut op, reply.id)
            .await
            .expect("the reply is acked");
        let got = next_matching(&mut v, "the reply", |e| matches!(e, Event::Message(_))).await;
        assert!(
            matches!(got, Event::Message(m) if m.id == reply.id),
            "{}: the visitor gets the reply",
            kind.name()
        );
        // A visitor may not write in another chat.
        let other = server.new_visitor().await;
        let forged = message(&visitor.author(), other.chat, "not mine", 4);
        v.send(&forged).await.unwrap();
        let refused = next_matching(&mut v, "the refusal", |e| {
            matches!(e, Event::Refused { .. } | Event::Ack(_))
        })
        .await;
        assert!(
            matches!(refused, Event::Refused { .. }),
            "{}: a message for another chat is refused, got {refused:?}",
            kind.name()
        );
        // Resuming: the server lists what it lacks and sends what we lack.
        let unknown = message(&visitor.author(), visitor.chat, "never sent", 9).id;
        let (_, chats) = server
            .connect_visitor(&visitor, &[first.id, unknown])
            .await
            .expect("resumes");
        assert_eq!(chats.len(), 1);
        assert_eq!(chats[0].lacking, vec![unknown], "{}", kind.name());
        let missing: Vec<_> = chats[0].missing.iter().map(|m| m.id).collect();
        assert_eq!(missing, vec![second.id, reply.id], "{}", kind.name());
        tokio::task::block_in_place(|| drop(server));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_only_the_in_memory_peer_loses_acked_messages() {
    for kind in Kind::ALL {
        let server = Arc::new(tokio::task::block_in_place(|| Server::start(kind)));
        let figures = restart::kill_and_restart(&server, 10, Duration::from_secs(1)).await;
        let acked = value(&figures, "messages acked before the kill");
        let lost = value(&figures, "acked messages missing after the restart");
        let back = value(
            &figures,
            "SIGKILL + restart, 99% of 10 clients reconnected and acked",
        );
        assert!(
            acked >= 10.0,
            "{}: messages were acked before the kill ({acked})",
            kind.name()
        );
        assert!(
            back.is_finite() && back > 0.0,
            "{}: clients came back ({back} ms)",
            kind.name()
        );
        match kind {
            Kind::SocketioMemory => {
                assert_eq!(lost, acked, "in memory, every acked message is gone")
            }
            _ => assert_eq!(lost, 0.0, "{}: an ack means durable", kind.name()),
        }
        tokio::task::block_in_place(|| drop(server));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_scenarios_measure_the_server_processes() {
    for kind in [Kind::Twinline, Kind::SocketioSqlite] {
        let server = Arc::new(tokio::task::block_in_place(|| Server::start(kind)));
        let full = load::throughput(&server, 4, 4, Duration::from_secs(1)).await;
        assert!(value(&full, "acks per second at full load") > 0.0);
        assert!(
            value(&full, "server CPU per ack at full load") > 0.0,
            "{}: server CPU is read",
            kind.name()
        );
        // 150 messages: enough CPU for /proc's 10 ms ticks to see (10 of
        // them, 5 chats for 2 s, read 0 ticks once on a loaded machine).
        let everyday = load::everyday(&server, 50, Duration::from_secs(3)).await;
        assert!(
            value(&everyday, "server CPU per message at 50 chats x 1 msg/s") > 0.0,
            "{}: server CPU at everyday load is read",
            kind.name()
        );
        let p99 = value(&everyday, "send to operator p99 at 50 chats");
        assert!(
            p99.is_finite() && p99 > 0.0,
            "{}: the operator got the messages",
            kind.name()
        );
        let idle = load::idle_connections(&server, 50).await;
        assert!(value(&idle, "server RSS with 50 idle connections") > 1.0);
        tokio::task::block_in_place(|| drop(server));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steady_state_samples_resources_and_finds_nothing_lost() {
    let config = SteadyConfig {
        visitors: 10,
        per_operator: 5,
        reply_every: 2,
        reconnects_per_minute: 60,
        seconds: 6.0,
        sample_every: 2.0,
    };
    for kind in [Kind::Twinline, Kind::SocketioSqlite] {
        let server = Arc::new(tokio::task::block_in_place(|| Server::start_deployed(kind)));
        let (_, report) = steady(&server, &config).await;
        assert!(
            report.acked > 50,
            "{}: traffic flowed ({} acked)",
            kind.name(),
            report.acked
        );
        assert!(
            report.reconnects >= 3,
            "{}: visitors reconnected ({})",
            kind.name(),
            report.reconnects
        );
        assert_eq!(report.lost, 0, "{}: nothing acked is lost", kind.name());
        let last = report.samples.last().expect("samples");
        assert!(report.samples.len() >= 3);
        let processes: Vec<&str> = last.processes.iter().map(|p| p.process.as_str()).collect();
        match kind {
            Kind::Twinline => {
                assert_eq!(processes, ["primary", "redundant"]);
                assert_eq!(
                    report.lost_on_redundant,
                    Some(0),
                    "replicated to the redundant"
                );
            }
            _ => assert_eq!(processes, ["peer"]),
        }
        for p in &last.processes {
            assert!(p.rss_kib > 1000 && p.threads >= 1, "{p:?}");
            assert!(
                p.db_bytes + p.wal_bytes > 0,
                "the store's files are found: {p:?}"
            );
        }
        tokio::task::block_in_place(|| drop(server));
    }
}

/// `twinline-bench incidents`, small: the measure sees what a crash of the
/// active deployment costs (every client left connected, and a message
/// waited), and finds that a moderator crash costs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_bench_sees_a_crash_and_no_cost_of_a_moderator_crash() {
    use twinline_tests::bench::incidents::{Kind, incidents};
    let (figures, rows) = incidents(20, 1, &[Kind::Moderator, Kind::Crash]).await;
    let row = |kind| {
        rows.iter()
            .find(|r| r.kind == kind)
            .unwrap_or_else(|| panic!("no row for {kind:?}: {rows:?}"))
    };
    let moderator = row(Kind::Moderator);
    assert_eq!(moderator.samples, 20, "one sample per client");
    assert_eq!(
        moderator.saw_not_connected, 0.0,
        "a moderator crash moved a client: {moderator:?}"
    );
    let crash = row(Kind::Crash);
    assert_eq!(crash.saw_not_connected, 1.0, "every client lost its relay");
    assert!(crash.unavailable_ms.p50 > 0, "{crash:?}");
    let first = crash.first_ack_ms.expect("a crash measures the next ack");
    assert!(first.max >= first.p50 && first.p50 > 0, "{first:?}");
    let phases = crash.phases_ms.expect("a crash splits the first ack");
    assert!(
        phases.connect_ms.p50 > 0
            && phases.notice_ms.max + phases.connect_ms.max + phases.ack_ms.max >= first.p50,
        "the phases add up to the first ack: {phases:?} {first:?}"
    );
    assert!(
        figures
            .iter()
            .any(|f| f.name.starts_with("the kill to the next ack")),
        "{figures:?}"
    );
}

/// `twinline-bench reconnects`, small: every visitor of each storm is
/// welcomed (a panic in the bench otherwise), the window hooks run with
/// the relay's pid (the profile script zeroes and dumps callgrind with
/// them), and the relay serves the storms' reads without growing a thread
/// per read: its reads run on one thread per reader connection and its
/// blocking pool is bounded (it held 55-68 threads under the steady
/// bench when the reads went through tokio's blocking pool).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconnect_storm_welcomes_everyone_and_runs_its_hooks() {
    use twinline_tests::bench::reconnects::{ReconnectConfig, reconnects};
    let dir = std::env::temp_dir().join(format!("twinline-storm-hooks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let (started, ended) = (dir.join("start"), dir.join("end"));
    let server = Arc::new(tokio::task::block_in_place(|| {
        Server::start(Kind::Twinline)
    }));
    let config = ReconnectConfig {
        visitors: 60,
        messages: 4,
        missing: 1,
        operators: 2,
        rounds: 2,
        on_window_start: Some(format!("echo $RELAY_PID > {}", started.display())),
        on_window_end: Some(format!("echo $RELAY_PID > {}", ended.display())),
    };
    let figures = reconnects(&server, &config).await;
    let pid = server.pids()[0].to_string();
    for hook in [&started, &ended] {
        let written = std::fs::read_to_string(hook).expect("the hook ran");
        assert_eq!(written.trim(), pid, "the hook got the relay's pid");
    }
    let cpu = figures
        .iter()
        .find(|f| f.name.ends_with("relay CPU per reconnect"))
        .expect("the CPU figure");
    assert!(cpu.value > 0.0, "{cpu:?}");
    let threads = server.samples()[0].threads;
    assert!(
        threads <= 24,
        "the relay holds {threads} threads after storms of {} reconnects",
        config.visitors
    );
    tokio::task::block_in_place(|| drop(server));
    let _ = std::fs::remove_dir_all(dir);
}
