//! Exploration: what clients see when the moderator dies and comes back.

use std::time::Duration;
use twinline_core::session::Timing;
use twinline_tests::link::Link;
use twinline_tests::moderator::ModeratorProcess;
use twinline_tests::native::{NativeClient, Target, now};
use twinline_tests::pair::Pair;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explore() {
    let pair = Pair::start(twinline_tests::process::UNLIMITED_CLIENTS);
    let start = |pair: &Pair| {
        ModeratorProcess::start_at(("primary", &pair.primary.url()), ("redundant", &pair.redundant.url()), &[])
    };
    let mut moderator = start(&pair);
    let proxy = Link::start(moderator.port()).await;
    let lp = Link::start(pair.primary.port()).await;
    let lr = Link::start(pair.redundant.port()).await;
    let target = Target {
        primary: lp.url(),
        redundant: lr.url(),
        moderator: Some(proxy.url()),
        timing: Timing::default(),
    };
    let mut clients = Vec::new();
    for i in 0..30 {
        clients.push(NativeClient::visitor(&target, 100 + i).await);
    }
    for c in &clients {
        c.wait_connected(None, LIMIT).await;
    }
    let t0 = now();
    let step = |what: &str| eprintln!("+{} {what}", now().since(t0));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let talk = async {
        for _ in 0..100 {
            for c in &clients { c.say(c.own_chat(), "x"); }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let script = async {
        step("kill moderator");
        moderator.kill9();
        tokio::time::sleep(Duration::from_millis(3700)).await;
        moderator = tokio::task::spawn_blocking({ let (p, r) = (pair.primary.url(), pair.redundant.url()); move || ModeratorProcess::start_at(("primary", &p), ("redundant", &r), &[]) }).await.unwrap();
        proxy.retarget(moderator.port());
        step("moderator back");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        step("silence R");
        lr.silence();
        tokio::time::sleep(Duration::from_millis(5000)).await;
        lr.restore();
        step("restore R");
        tokio::time::sleep(Duration::from_millis(1300)).await;
        step("kill moderator");
        moderator.kill9();
        tokio::time::sleep(Duration::from_millis(6000)).await;
        step("end");
    };
    tokio::select! { () = talk => {}, () = script => {} }
    let _ = start;
    for (i, c) in clients.iter().enumerate() {
        let seen = c.seen();
        let links: Vec<String> = seen.links
            .iter()
            .filter(|(at, _, _)| *at >= t0)
            .map(|(at, s, d)| format!("+{} {s:?} {d:?}", at.0 as i64 - t0.0 as i64))
            .collect();
        eprintln!("client {i}: {links:?} errors {:?} now {:?}", seen.errors, c.link());
    }
}
