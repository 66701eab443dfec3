//! The state every handler shares: configuration, store, fan-out hub,
//! token signer, metrics, rate limits, the relay's hybrid logical clock and
//! its drain flag.

use crate::accounts::PasswordGate;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::hub::Hub;
use crate::limits::{IpLimiter, RateLimits, Rates, WaitingChats};
use crate::metrics::{Gauges, Metrics};
use crate::net::{Admission, Caps};
use crate::replication::status::ReplicationStatus;
use crate::store::{Location, Store};
use crate::throttle::{AdminThrottle, LoginThrottle};
use crate::tokens::TokenSigner;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use twinline_core::Hlc;
use twinline_core::protocol::{Health, PROTOCOL_VERSION};

/// Shared by every handler.
pub type Shared = Arc<AppState>;

/// See the module docs.
#[derive(Debug)]
pub struct AppState {
    /// Merged configuration.
    pub config: Config,
    /// The SQLite store.
    pub store: Store,
    /// Connections and subscriptions.
    pub hub: Hub,
    /// Token signer (shared secret).
    pub signer: TokenSigner,
    /// Counters.
    pub metrics: Metrics,
    /// Sign-in attempts per client address.
    pub ip_limiter: IpLimiter,
    /// Token-request and upgrade rates, by address, visitor and in total.
    pub rates: RateLimits,
    /// Chats in the operators' queue per client address.
    pub waiting: WaitingChats,
    /// File chunks visitors upload, per client address and in total.
    pub uploads: RateLimits,
    /// Open WebSockets per client address (behind a trusted proxy the
    /// listener's own count sees only the proxy).
    pub websockets: Admission,
    /// Lag to the peer.
    pub replication: ReplicationStatus,
    /// Failed sign-ins per account and per address.
    pub login_throttle: LoginThrottle,
    /// Wrong admin tokens per address.
    pub admin_throttle: AdminThrottle,
    /// Wrong API keys per address (the admin tokens' budget).
    pub api_key_throttle: AdminThrottle,
    /// Bounds the password checks running and waiting.
    pub password_gate: PasswordGate,
    /// The link to the deployment's other nodes (PostgreSQL only).
    pub cluster: Option<Cluster>,
    hlc: Mutex<Hlc>,
    draining: Mutex<Option<crate::drain::DrainLease>>,
    shutting_down: AtomicBool,
}

impl AppState {
    /// Builds the state around an open store.
    pub fn new(config: Config, store: Store, caps: Caps) -> AppState {
        let node = node_id(&config.name);
        let cluster = match store.location() {
            Location::Postgres { url, node } => match Cluster::new(url, node) {
                Ok(cluster) => Some(cluster),
                Err(error) => {
                    // The store opened with the same settings, so this
                    // cannot fail; without it the node still serves alone.
                    tracing::error!(%error, "no link to the other nodes");
                    None
                }
            },
            Location::Sqlite(_) => None,
        };
        let replication = ReplicationStatus::new(config.peer.is_some());
        if cluster.is_some() {
            replication.set_clustered();
        }
        AppState {
            cluster,
            signer: TokenSigner::new(&config.secret),
            ip_limiter: IpLimiter::new(
                config.rates.ip_rate,
                config
                    .rates
                    .ip_rate
                    .saturating_mul(crate::limits::defaults::SIGN_IN_BURST_PER_RATE),
            ),
            rates: RateLimits::new(config.rates),
            waiting: WaitingChats::new(config.waiting_per_ip),
            uploads: RateLimits::new(Rates::uploads()),
            websockets: Admission::new(caps.total, caps.per_ip),
            replication,
            login_throttle: LoginThrottle::default(),
            admin_throttle: AdminThrottle::default(),
            api_key_throttle: AdminThrottle::default(),
            password_gate: PasswordGate::for_this_machine(),
            hub: Hub::default(),
            metrics: Metrics::default(),
            hlc: Mutex::new(Hlc::zero(node)),
            draining: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
            config,
            store,
        }
    }

    /// A fresh stamp for a last-writer-wins write made here.
    pub fn stamp(&self) -> Hlc {
        let mut hlc = self.hlc.lock().unwrap_or_else(|p| p.into_inner());
        *hlc = hlc.tick(crate::clock::now());
        *hlc
    }

    /// A fresh stamp for a write over a register stored with `stored`:
    /// above it whatever this machine's clock says (a peer whose clock runs
    /// ahead wrote it, or this relay before a restart, or before its clock
    /// was stepped back), so the write is never silently lost to an older
    /// one.
    pub fn stamp_over(&self, stored: Hlc) -> Hlc {
        let mut hlc = self.hlc.lock().unwrap_or_else(|p| p.into_inner());
        let now = crate::clock::now();
        *hlc = hlc.observe(stored, now).tick(now);
        *hlc
    }

    /// Moves the clock past a stamp seen from elsewhere.
    pub fn observe(&self, remote: Hlc) {
        let mut hlc = self.hlc.lock().unwrap_or_else(|p| p.into_inner());
        *hlc = hlc.observe(remote, crate::clock::now());
    }

    /// The deployment clients are told to move to while draining. A drain
    /// nobody renewed for [`crate::drain::DRAIN_LEASE`] ends here.
    pub fn drain_target(&self) -> Option<String> {
        let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
        let lease = draining.as_ref()?;
        if lease.live(std::time::Instant::now()) {
            return Some(lease.to.clone());
        }
        tracing::warn!(
            to = %lease.to,
            lease_secs = crate::drain::DRAIN_LEASE.as_secs(),
            "drain expired: nobody renewed it (is the moderator down?); serving clients again"
        );
        *draining = None;
        None
    }

    /// Starts (Some) or ends (None) a drain.
    pub fn set_drain_target(&self, target: Option<String>) {
        let lease = target.map(|to| crate::drain::DrainLease::start(to, std::time::Instant::now()));
        *self.draining.lock().unwrap_or_else(|p| p.into_inner()) = lease;
    }

    /// A drain call came (the moderator asking its progress): the drain,
    /// if one is on, lasts another lease.
    pub fn renew_drain(&self) {
        if let Some(lease) = self
            .draining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            lease.renew(std::time::Instant::now());
        }
    }

    /// Marks the relay as stopping: health turns not-ready.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Relaxed);
    }

    /// Whether the drain on moves clients off this node only: a node of
    /// several told to drain to its own deployment sends its clients back
    /// through the load balancer to the other nodes.
    pub fn node_drain(&self) -> bool {
        self.cluster.is_some() && self.drain_target().as_deref() == Some(self.config.name.as_str())
    }

    /// The `/v1/health` body: the deployment's health, as this relay sees
    /// it (what the moderator and clients probe). A node's own drain or
    /// shutdown is not the deployment's: the other nodes still serve, so
    /// only [`AppState::node_health`] reports them.
    pub fn health(&self) -> Health {
        let deployment_drain = self.drain_target().is_some() && !self.node_drain();
        // One relay is the whole deployment: its shutdown is the
        // deployment's.
        let stopping = self.cluster.is_none() && self.shutting_down.load(Relaxed);
        Health {
            deployment: self.config.name.clone(),
            role: self.config.role,
            epoch: self.store.epoch(),
            // Draining: the moderator and clients' own probes move away.
            // A store that cannot commit (its database gone) cannot ack.
            ready: !stopping && !deployment_drain && !self.store.failing(),
            draining: deployment_drain,
            lag: self.replication.lag(crate::clock::now()),
            version: format!(
                "{} (protocol {PROTOCOL_VERSION})",
                env!("CARGO_PKG_VERSION")
            ),
        }
    }

    /// The `/v1/health?node` body, for a load balancer's health check:
    /// [`AppState::health`], and not ready either while this node drains
    /// or shuts down.
    pub fn node_health(&self) -> Health {
        let mut health = self.health();
        if self.shutting_down.load(Relaxed) || self.drain_target().is_some() {
            health.ready = false;
        }
        health
    }

    /// Gauges for `/metrics`.
    pub fn gauges(&self) -> Gauges {
        let (chats_followed, _) = self.hub.subscription_counts();
        let lag = self.replication.lag(crate::clock::now());
        let stats = self.store.stats();
        Gauges {
            connections: self.hub.connection_count(),
            chats_followed,
            operators_online: self.hub.operators_online().len(),
            commits: stats.commits.load(Relaxed),
            commit_requests: stats.requests.load(Relaxed),
            replication_lag_changes: lag.as_ref().map_or(0, |l| l.changes),
            replication_lag_seconds: lag.as_ref().map_or(0.0, |l| l.seconds),
            replication_connected: lag.as_ref().is_some_and(|l| l.connected),
            draining: self.drain_target().is_some(),
            peer_clock_offset_seconds: self
                .replication
                .peer_clock_offset_ms()
                .map_or(0.0, |offset| offset as f64 / 1000.0),
            store_not_ready: self.store.failing(),
        }
    }
}

/// A stable node id for the clock, from the deployment name (FNV-1a), so
/// two deployments never tie; 53 bits, so every reader holds it exactly.
fn node_id(name: &str) -> u64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash & twinline_core::model::MAX_SAFE_INTEGER
}
