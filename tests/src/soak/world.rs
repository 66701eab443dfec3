//! The processes and links a soak runs against, and the faults applied to
//! them.
//!
//! Clients never talk to a relay directly: each client group reaches each
//! deployment through its own [`Link`], so a link can go silent or slow for
//! some clients only, as when one ISP loses a route. The moderator sits
//! behind a proxy too, which keeps its URL stable across restarts (a new
//! process gets a new port). Relays replicate to each other directly, and
//! the moderator probes them directly.
//!
//! In single mode there is only the primary: the redundant's URL leads to a
//! proxy that refuses every connection, and there is no moderator. Faults
//! that need the missing parts are skipped; a planned switch becomes
//! maintenance of the primary without a standby.
//!
//! Process control (SIGKILL, restart) blocks, so it runs on tokio's
//! blocking pool, never on a worker the clients need.

use super::faults::{Fault, GROUPS, Scheduled};
use crate::link::Link;
use crate::moderator::ModeratorProcess;
use crate::native::{Target, now};
use crate::pair::Pair;
use crate::process::{RelayOptions, RelayProcess};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use twinline_core::Millis;
use twinline_core::protocol::DeploymentRole::{self, Primary, Redundant};
use twinline_core::session::Timing;

/// Relays share 127.0.0.1 with every soak client: a per-IP limit would
/// measure the test's own address, not the relay. Per-connection frame
/// limits stay at their defaults.
const RELAY_FLAGS: &[&str] = crate::process::UNLIMITED_CLIENTS;

/// A fault as it was carried out.
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    /// The planned fault.
    pub planned: Scheduled,
    /// When it started (wall clock ms).
    pub start: Millis,
    /// When it was healed.
    pub end: Millis,
    /// False when it did not apply here (single mode) or was refused.
    pub applied: bool,
    /// Why not, or what happened.
    pub note: String,
}

#[cfg(test)]
impl Applied {
    /// `fault`, carried out from `start` to `end` (ms), for the tests of
    /// what reads applied faults.
    pub(crate) fn carried_out(fault: Fault, start: u64, end: u64) -> Applied {
        Applied {
            planned: Scheduled {
                at: Duration::ZERO,
                length: Duration::ZERO,
                fault,
            },
            start: Millis(start),
            end: Millis(end),
            applied: true,
            note: String::new(),
        }
    }
}

/// See the module docs.
pub struct World {
    /// Only the primary runs.
    pub single: bool,
    primary: Mutex<RelayProcess>,
    redundant: Option<Mutex<RelayProcess>>,
    moderator: Mutex<Option<ModeratorProcess>>,
    moderator_proxy: Option<Link>,
    /// Per group: the link to the primary, then to the redundant.
    links: Vec<[Link; 2]>,
    http: reqwest::Client,
}

impl World {
    /// Starts the relays, the moderator and the proxies.
    pub async fn start(single: bool) -> Arc<World> {
        let (primary, redundant) = tokio::task::spawn_blocking(move || {
            if single {
                let options = RelayOptions {
                    extra: RELAY_FLAGS.iter().map(|s| s.to_string()).collect(),
                    ..RelayOptions::primary()
                };
                (RelayProcess::start(options), None)
            } else {
                let pair = Pair::start(RELAY_FLAGS);
                (pair.primary, Some(pair.redundant))
            }
        })
        .await
        .expect("starting the relays");
        let moderator = match &redundant {
            Some(redundant) => Some(start_moderator(&primary, redundant).await),
            None => None,
        };
        let moderator_proxy = match &moderator {
            Some(m) => Some(Link::start(port_of(&m.url())).await),
            None => None,
        };
        // Nothing listens on the redundant's port in single mode: its proxy
        // is cut for good.
        let redundant_port = redundant.as_ref().map_or(1, RelayProcess::port);
        let mut links = Vec::new();
        for _ in 0..GROUPS {
            let to_primary = Link::start(primary.port()).await;
            let to_redundant = Link::start(redundant_port).await;
            if single {
                to_redundant.cut();
            }
            links.push([to_primary, to_redundant]);
        }
        Arc::new(World {
            single,
            primary: Mutex::new(primary),
            redundant: redundant.map(Mutex::new),
            moderator: Mutex::new(moderator),
            moderator_proxy,
            links,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .expect("an HTTP client"),
        })
    }

    /// Where clients of `group` connect.
    pub fn target(&self, group: usize) -> Target {
        Target {
            primary: self.links[group][0].url(),
            redundant: self.links[group][1].url(),
            moderator: self.moderator_proxy.as_ref().map(Link::url),
            timing: Timing::default(),
        }
    }

    /// Adds an operator account (accounts replicate to the redundant).
    pub fn add_operator(&self, username: &str, password: &str) {
        let relay = self.primary.lock().expect("primary lock");
        relay.add_operator(username, username, password);
    }

    /// The running relays' base URLs, primary first.
    pub fn relay_urls(&self) -> Vec<(DeploymentRole, String)> {
        let mut urls = vec![(Primary, self.primary.lock().expect("lock").url())];
        if let Some(redundant) = &self.redundant {
            urls.push((Redundant, redundant.lock().expect("lock").url()));
        }
        urls
    }

    fn relay(&self, who: DeploymentRole) -> Option<&Mutex<RelayProcess>> {
        match who {
            Primary => Some(&self.primary),
            Redundant => self.redundant.as_ref(),
        }
    }

    fn link(&self, group: usize, who: DeploymentRole) -> Option<&Link> {
        match who {
            Primary => Some(&self.links[group][0]),
            Redundant if !self.single => Some(&self.links[group][1]),
            Redundant => None,
        }
    }

    /// Carries out `planned` (already at its time) and heals it after its
    /// length.
    pub async fn apply(self: &Arc<World>, planned: Scheduled) -> Applied {
        let start = now();
        let length = planned.length;
        let skipped = |note: &str| Applied {
            planned,
            start,
            end: now(),
            applied: false,
            note: note.into(),
        };
        let note = match planned.fault {
            Fault::Crash { who } => {
                if self.relay(who).is_none() {
                    return skipped("no such deployment here");
                }
                self.kill(&[who]).await;
                tokio::time::sleep(length).await;
                self.restart(&[who]).await;
                String::new()
            }
            Fault::Hang { who } => {
                if self.relay(who).is_none() {
                    return skipped("no such deployment here");
                }
                self.on_relays(&[who], |relay| relay.freeze()).await;
                tokio::time::sleep(length).await;
                self.on_relays(&[who], |relay| relay.thaw()).await;
                String::new()
            }
            Fault::BothDown => {
                let all: Vec<DeploymentRole> = [Primary, Redundant]
                    .into_iter()
                    .filter(|who| self.relay(*who).is_some())
                    .collect();
                self.kill(&all).await;
                tokio::time::sleep(length).await;
                self.restart(&all).await;
                String::new()
            }
            Fault::ModeratorCrash => {
                if self.moderator_proxy.is_none() {
                    return skipped("no moderator here");
                }
                let world = self.clone();
                blocking(move || world.moderator.lock().expect("lock").take()).await;
                tokio::time::sleep(length).await;
                self.restart_moderator().await;
                String::new()
            }
            Fault::Silent { group, who } => {
                let Some(link) = self.link(group, who) else {
                    return skipped("no such deployment here");
                };
                link.silence();
                tokio::time::sleep(length).await;
                link.restore();
                String::new()
            }
            Fault::Slow {
                group,
                who,
                delay_ms,
            } => {
                let Some(link) = self.link(group, who) else {
                    return skipped("no such deployment here");
                };
                link.slow(Duration::from_millis(delay_ms));
                tokio::time::sleep(length).await;
                link.restore();
                String::new()
            }
            Fault::Planned { to } => match self.planned(to, length).await {
                Ok(note) => note,
                Err(note) => return skipped(&note),
            },
        };
        Applied {
            planned,
            start,
            end: now(),
            applied: true,
            note,
        }
    }

    /// Maintenance of `to.other()`: switch away (if there is a moderator),
    /// stop it cleanly, start it again, release the hold.
    async fn planned(
        self: &Arc<World>,
        to: DeploymentRole,
        length: Duration,
    ) -> Result<String, String> {
        let stopped = to.other();
        if self.relay(stopped).is_none() {
            return Err("no such deployment here".into());
        }
        let window = length.saturating_sub(Duration::from_secs(3));
        if self.single {
            // Nowhere to switch to: the maintenance is downtime.
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.terminate(stopped).await;
            tokio::time::sleep(window).await;
            self.restart(&[stopped]).await;
            return Ok("maintenance without a standby".into());
        }
        let name = match to {
            Primary => "primary",
            Redundant => "redundant",
        };
        let (status, body) = self
            .admin(&format!(r#"{{"active":"{name}","hold":true}}"#))
            .await;
        if status != 200 {
            return Err(format!("the moderator refused the switch: {status} {body}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.terminate(stopped).await;
        tokio::time::sleep(window).await;
        self.restart(&[stopped]).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (status, body) = self.admin(r#"{"release":true}"#).await;
        Ok(if status == 200 {
            String::new()
        } else {
            format!("release refused: {status} {body}")
        })
    }

    async fn admin(&self, body: &str) -> (u16, String) {
        let Some(proxy) = &self.moderator_proxy else {
            return (0, "no moderator".into());
        };
        let response = self
            .http
            .post(format!("{}/v1/admin/active", proxy.url()))
            .bearer_auth(crate::ADMIN_TOKEN)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        match response {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Err(error) => (0, error.to_string()),
        }
    }

    /// Does `act` to each named relay this world has, off the runtime (the
    /// process calls wait for the process).
    async fn on_relays(self: &Arc<World>, who: &[DeploymentRole], act: fn(&mut RelayProcess)) {
        let (world, who) = (self.clone(), who.to_vec());
        blocking(move || {
            for role in who {
                if let Some(relay) = world.relay(role) {
                    act(&mut relay.lock().expect("lock"));
                }
            }
        })
        .await;
    }

    async fn kill(self: &Arc<World>, who: &[DeploymentRole]) {
        self.on_relays(who, RelayProcess::kill9).await;
    }

    async fn terminate(self: &Arc<World>, who: DeploymentRole) {
        self.on_relays(&[who], |relay| {
            relay.terminate();
        })
        .await;
    }

    async fn restart(self: &Arc<World>, who: &[DeploymentRole]) {
        self.on_relays(who, RelayProcess::restart).await;
    }

    async fn restart_moderator(self: &Arc<World>) {
        let world = self.clone();
        let url = blocking(move || {
            let primary = world.primary.lock().expect("lock");
            let redundant = world
                .redundant
                .as_ref()
                .expect("a redundant")
                .lock()
                .expect("lock");
            let moderator = ModeratorProcess::start(&primary, &redundant, &[]);
            let url = moderator.url();
            *world.moderator.lock().expect("lock") = Some(moderator);
            url
        })
        .await;
        if let Some(proxy) = &self.moderator_proxy {
            proxy.retarget(port_of(&url));
        }
    }

    /// Undoes whatever is still broken: every link forwards, every process
    /// runs. Faults heal themselves; this is the safety net at the end.
    pub async fn heal(self: &Arc<World>) {
        for group in &self.links {
            group[0].restore();
            if !self.single {
                group[1].restore();
            }
        }
        let world = self.clone();
        let moderator_missing = blocking(move || {
            for relay in [Some(&world.primary), world.redundant.as_ref()]
                .into_iter()
                .flatten()
            {
                let mut relay = relay.lock().expect("lock");
                relay.thaw();
                if !relay.is_running() {
                    relay.restart();
                }
            }
            world.moderator_proxy.is_some() && world.moderator.lock().expect("lock").is_none()
        })
        .await;
        if moderator_missing {
            self.restart_moderator().await;
        }
        if self.moderator_proxy.is_some() {
            self.admin(r#"{"release":true}"#).await;
        }
    }

    /// Whether each client link reaches its relay's `/v1/health` now, and
    /// whether the relay answers directly: tells a dead proxy from a dead
    /// or stuck relay when clients do not settle.
    pub async fn link_report(&self) -> String {
        let mut lines = Vec::new();
        for group in 0..self.links.len() {
            for who in [Primary, Redundant] {
                if let Some(link) = self.link(group, who) {
                    let answer = self.health_answer(&link.url()).await;
                    lines.push(format!("group {group} -> {who:?} via its link: {answer}"));
                }
            }
        }
        for who in [Primary, Redundant] {
            if let Some(relay) = self.relay(who) {
                let url = relay.lock().expect("lock").url();
                let answer = self.health_answer(&url).await;
                lines.push(format!("{who:?} directly at {url}: {answer}"));
            }
        }
        lines.join("\n")
    }

    /// The status of `GET {base}/v1/health`, or why there was none.
    async fn health_answer(&self, base: &str) -> String {
        match self.http.get(format!("{base}/v1/health")).send().await {
            Ok(response) => response.status().to_string(),
            Err(error) => format!("{error:?}"),
        }
    }
}

async fn start_moderator(primary: &RelayProcess, redundant: &RelayProcess) -> ModeratorProcess {
    let (p, r) = (primary.url(), redundant.url());
    tokio::task::spawn_blocking(move || {
        ModeratorProcess::start_at(("primary", &p), ("redundant", &r), &[])
    })
    .await
    .expect("starting the moderator")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a blocking task")
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .expect("a port in the URL")
}
