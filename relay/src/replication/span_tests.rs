//! Each replication stream logs inside a span naming the other side: the
//! feed served to a follower (`replication_feed{peer, ip}`) and the pull
//! from the peer (`replication_pull{peer}`). Two relays in this process,
//! the feed's served on a real socket by the relay's own listener.

use super::puller;
use crate::config::ServeArgs;
use crate::console_page::ConsolePage;
use crate::net::{self, Caps};
use crate::test_relay::{TestRelay, captured_log};
use std::time::Duration;

/// Waits until a line has every one of `parts`, and returns it.
async fn line_with(parts: &[&str]) -> String {
    for _ in 0..600 {
        if let Some(line) = captured_log()
            .text()
            .lines()
            .find(|line| parts.iter().all(|part| line.contains(part)))
        {
            return line.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no line with {parts:?} in:\n{}", captured_log().text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ends_of_a_replication_stream_log_inside_a_span_naming_the_peer() {
    captured_log();
    let a = TestRelay::with(ServeArgs {
        name: Some("span-a".into()),
        ..ServeArgs::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    let app = crate::serve::router(
        a.state.clone(),
        ConsolePage::new(&a.state.config).expect("a console page"),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(net::serve(
        listener,
        app,
        a.state.config.listener.clone(),
        Caps {
            total: 100,
            per_ip: 100,
        },
        async move {
            let _ = stopped.await;
        },
    ));
    let b = TestRelay::with(ServeArgs {
        name: Some("span-b".into()),
        peer: Some(format!("http://{address}")),
        peer_name: Some("span-a".into()),
        ..ServeArgs::default()
    });
    let pull = tokio::spawn(puller::run(b.state.clone()));

    let following = line_with(&["following the peer's change feed", "replication_pull{"]).await;
    assert!(
        following.contains("replication_pull{peer=span-a}"),
        "{following}"
    );
    pull.abort();
    let _ = pull.await;
    let stopped = line_with(&["peer stopped following our change feed", "peer=span-b"]).await;
    assert!(
        stopped.contains("replication_feed{peer=span-b ip=127.0.0.1}"),
        "{stopped}"
    );

    let _ = stop.send(());
    server.await.expect("the server ends").expect("it served");
    a.stop().await;
    b.stop().await;
}
