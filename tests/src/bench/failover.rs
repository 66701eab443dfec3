//! Failover time as clients see it: many native clients (the real core
//! session) on a replicating pair with a moderator, each reaching each
//! deployment through a proxy, through repeated rounds of:
//! - crash: SIGKILL the deployment the clients are on;
//! - silent loss: the clients' link to it stops forwarding (a black hole);
//! - planned switch: the moderator is told to hold the other deployment.
//!
//! For a crash or a silent loss, every client writes a message right after
//! the fault; the sample is the time from the fault to that message's
//! durable ack: how long a message typed at the worst moment waits. For a
//! planned switch every client writes every 50 ms throughout; the sample is
//! the time its link was not connected (make-before-break should give 0),
//! and the ack latency of the messages written meanwhile is reported too.

use super::Figure;
use super::stats::Samples;
use crate::link::Link;
use crate::moderator::ModeratorProcess;
use crate::native::{NativeClient, Target, now};
use crate::pair::Pair;
use crate::process::RelayProcess;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;
use twinline_core::protocol::DeploymentRole::{self, Primary, Redundant};
use twinline_core::session::{LinkState, Timing};
use twinline_core::{MessageId, Millis};

/// How long one round may take to recover or settle.
const LIMIT: Duration = Duration::from_secs(30);
/// How long the planned-switch writers keep writing.
const SWITCH_WINDOW: Duration = Duration::from_secs(3);

/// The raw samples in milliseconds, for plots.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FailoverSamples {
    /// Fault to ack after a SIGKILL.
    pub crash_ms: Vec<f64>,
    /// Fault to ack after a silent link loss.
    pub silent_ms: Vec<f64>,
    /// Time not connected during a planned switch.
    pub planned_interruption_ms: Vec<f64>,
    /// Ack latency of messages written during a planned switch.
    pub planned_ack_ms: Vec<f64>,
}

struct Bench {
    pair: Pair,
    moderator: ModeratorProcess,
    proxies: [Link; 2],
    clients: Vec<NativeClient>,
    http: reqwest::Client,
}

impl Bench {
    fn relay(&mut self, role: DeploymentRole) -> &mut RelayProcess {
        self.pair.relay_mut(role)
    }

    fn proxy(&self, role: DeploymentRole) -> &Link {
        match role {
            Primary => &self.proxies[0],
            Redundant => &self.proxies[1],
        }
    }

    /// The deployment most clients are on.
    fn majority(&self) -> DeploymentRole {
        let on_primary = self
            .clients
            .iter()
            .filter(|c| c.link().1 == Some(Primary))
            .count();
        if on_primary * 2 >= self.clients.len() {
            Primary
        } else {
            Redundant
        }
    }

    /// Waits until every client is connected to the same deployment as
    /// the others, with nothing pending, then a little more.
    async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let first = self.clients[0].link();
            let calm = self
                .clients
                .iter()
                .all(|c| c.pending() == 0 && c.link() == first && first.0 == LinkState::Connected);
            if calm {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "clients did not settle within {LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    /// Each client writes once; returns the ids (client index order).
    fn write_all(&self, text: &str) -> Vec<MessageId> {
        self.clients
            .iter()
            .map(|c| c.say(c.own_chat(), text))
            .collect()
    }

    /// Waits for every id's ack; returns each ack's time.
    async fn acks(&self, ids: &[MessageId]) -> Vec<Millis> {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let found: Vec<Option<Millis>> = self
                .clients
                .iter()
                .zip(ids)
                .map(|(c, id)| {
                    c.seen()
                        .acks
                        .iter()
                        .find(|(_, a)| a == id)
                        .map(|(at, _)| *at)
                })
                .collect();
            if found.iter().all(Option::is_some) {
                return found.into_iter().flatten().collect();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "messages written after a fault were not acked within {LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn crash_round(&mut self, samples: &mut Vec<f64>) {
        let on = self.majority();
        let fault = now();
        tokio::task::block_in_place(|| self.relay(on).kill9());
        let ids = self.write_all("written right after the crash");
        for at in self.acks(&ids).await {
            samples.push(at.since(fault) as f64);
        }
        tokio::task::block_in_place(|| self.relay(on).restart());
        self.settle().await;
    }

    async fn silent_round(&mut self, samples: &mut Vec<f64>) {
        let on = self.majority();
        let fault = now();
        self.proxy(on).silence();
        let ids = self.write_all("written right after the link went silent");
        for at in self.acks(&ids).await {
            samples.push(at.since(fault) as f64);
        }
        self.proxy(on).restore();
        self.settle().await;
    }

    async fn planned_round(&mut self, interruptions: &mut Vec<f64>, acks: &mut Vec<f64>) {
        let to = self.majority().other();
        let name = match to {
            Primary => "primary",
            Redundant => "redundant",
        };
        let start = now();
        let links_before: Vec<usize> = self.clients.iter().map(|c| c.seen().links.len()).collect();
        let mut written: Vec<Vec<(Millis, MessageId)>> = vec![Vec::new(); self.clients.len()];
        let switch = self
            .http
            .post(format!("{}/v1/admin/active", self.moderator.url()))
            .bearer_auth(crate::ADMIN_TOKEN)
            .header("Content-Type", "application/json")
            .body(format!(r#"{{"active":"{name}","hold":true}}"#));
        let writer = async {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            while now().since(start) < SWITCH_WINDOW.as_millis() as u64 {
                tick.tick().await;
                for (client, mine) in self.clients.iter().zip(written.iter_mut()) {
                    mine.push((
                        now(),
                        client.say(client.own_chat(), "written during a switch"),
                    ));
                }
            }
        };
        let (response, ()) = tokio::join!(
            async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                switch.send().await
            },
            writer
        );
        let response = response.expect("the moderator answers");
        assert!(response.status().is_success(), "the switch was refused");
        let last: Vec<MessageId> = written
            .iter()
            .map(|w| w.last().expect("written").1)
            .collect();
        self.acks(&last).await;
        for (i, client) in self.clients.iter().enumerate() {
            let seen = client.seen();
            let acked: HashMap<MessageId, Millis> =
                seen.acks.iter().map(|(at, id)| (*id, *at)).collect();
            for (at, id) in &written[i] {
                if let Some(acked) = acked.get(id) {
                    acks.push(acked.since(*at) as f64);
                }
            }
            // Time not connected since the round began.
            let mut down = 0;
            let mut left: Option<Millis> = None;
            for (at, state, _) in &seen.links[links_before[i]..] {
                match (state, left) {
                    (LinkState::Connected, Some(l)) => {
                        down += at.since(l);
                        left = None;
                    }
                    (LinkState::Connected, None) => {}
                    (_, None) => left = Some(*at),
                    _ => {}
                }
            }
            interruptions.push(down as f64);
            assert_eq!(
                client.link().1,
                Some(to),
                "a client did not follow the switch"
            );
        }
        self.http
            .post(format!("{}/v1/admin/active", self.moderator.url()))
            .bearer_auth(crate::ADMIN_TOKEN)
            .header("Content-Type", "application/json")
            .body(r#"{"release":true}"#)
            .send()
            .await
            .expect("the moderator answers");
        self.settle().await;
    }
}

/// Runs `rounds` crash rounds, and half as many silent and planned ones
/// (at least one each), with `clients` clients; returns the figures and
/// the raw samples.
pub async fn failover(clients: usize, rounds: usize) -> (Vec<Figure>, FailoverSamples) {
    let pair = tokio::task::block_in_place(|| Pair::start(crate::process::UNLIMITED_CLIENTS));
    let moderator = tokio::task::block_in_place(|| {
        ModeratorProcess::start(&pair.primary, &pair.redundant, &[])
    });
    let proxies = [
        Link::start(pair.primary.port()).await,
        Link::start(pair.redundant.port()).await,
    ];
    let target = Target {
        primary: proxies[0].url(),
        redundant: proxies[1].url(),
        moderator: Some(moderator.url()),
        timing: Timing::default(),
    };
    let all = NativeClient::visitors(&target, clients, 7_000).await;
    let mut bench = Bench {
        pair,
        moderator,
        proxies,
        clients: all,
        http: reqwest::Client::new(),
    };
    bench.write_all("hello");
    bench.settle().await;
    let mut samples = FailoverSamples::default();
    let fewer = rounds.div_ceil(2);
    // Planned switches first, while every client is on the moderator's
    // choice: a client that once lost a deployment does not probe it again
    // while the moderator answers, so after a crash or a silent loss it may
    // stay on the other one, and a switch would not move it (reported).
    for round in 0..fewer {
        eprintln!("failover: planned round {}", round + 1);
        bench
            .planned_round(
                &mut samples.planned_interruption_ms,
                &mut samples.planned_ack_ms,
            )
            .await;
    }
    for round in 0..rounds {
        eprintln!("failover: crash round {}", round + 1);
        bench.crash_round(&mut samples.crash_ms).await;
    }
    for round in 0..fewer {
        eprintln!("failover: silent round {}", round + 1);
        bench.silent_round(&mut samples.silent_ms).await;
    }
    let ms = |v: &[f64]| {
        Samples::new(
            v.iter()
                .map(|m| Duration::from_secs_f64(m / 1000.0))
                .collect(),
        )
    };
    let (crash, silent, planned, planned_acks) = (
        ms(&samples.crash_ms),
        ms(&samples.silent_ms),
        ms(&samples.planned_interruption_ms),
        ms(&samples.planned_ack_ms),
    );
    eprintln!(
        "failover with {clients} clients: crash p50 {:.0} p99 {:.0} max {:.0} ms ({} samples); silent p50 {:.0} p99 {:.0} max {:.0} ms ({}); planned switch not connected p50 {:.0} p99 {:.0} max {:.0} ms ({}), acks meanwhile p99 {:.0} ms",
        crash.percentile_ms(50.0),
        crash.percentile_ms(99.0),
        crash.max_ms(),
        crash.len(),
        silent.percentile_ms(50.0),
        silent.percentile_ms(99.0),
        silent.max_ms(),
        silent.len(),
        planned.percentile_ms(50.0),
        planned.percentile_ms(99.0),
        planned.max_ms(),
        planned.len(),
        planned_acks.percentile_ms(99.0),
    );
    let mut figures = Vec::new();
    for (what, s, target) in [
        ("failover after a crash (SIGKILL)", &crash, "p99 < 500"),
        ("failover after silent link loss", &silent, "p99 < 3000"),
        ("interruption on a planned switch", &planned, "0"),
    ] {
        figures.push(Figure::new(
            &format!("{what} p50"),
            s.percentile_ms(50.0),
            "ms",
            None,
        ));
        figures.push(Figure::new(
            &format!("{what} p99"),
            s.percentile_ms(99.0),
            "ms",
            Some(target),
        ));
        figures.push(Figure::new(&format!("{what} max"), s.max_ms(), "ms", None));
    }
    figures.push(Figure::new(
        "ack latency during a planned switch p99",
        planned_acks.percentile_ms(99.0),
        "ms",
        None,
    ));
    (figures, samples)
}
