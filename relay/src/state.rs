//! The state every handler shares: configuration, store, fan-out hub,
//! token signer, metrics, rate limits, the relay's hybrid logical clock and
//! its drain flag.

use crate::accounts::PasswordGate;
use crate::config::Config;
use crate::hub::Hub;
use crate::limits::{IpLimiter, RateLimits, WaitingChats};
use crate::metrics::{Gauges, Metrics};
use crate::net::{Admission, Caps};
use crate::replication::status::ReplicationStatus;
use crate::store::Store;
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
    /// Open WebSockets per client address (behind a trusted proxy the
    /// listener's own count sees only the proxy).
    pub websockets: Admission,
    /// Lag to the peer.
    pub replication: ReplicationStatus,
    /// Failed sign-ins per account and per address.
    pub login_throttle: LoginThrottle,
    /// Wrong admin tokens per address.
    pub admin_throttle: AdminThrottle,
    /// Bounds the password checks running and waiting.
    pub password_gate: PasswordGate,
    hlc: Mutex<Hlc>,
    draining: Mutex<Option<String>>,
    shutting_down: AtomicBool,
}

impl AppState {
    /// Builds the state around an open store.
    pub fn new(config: Config, store: Store, caps: Caps) -> AppState {
        let node = node_id(&config.name);
        AppState {
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
            websockets: Admission::new(caps.total, caps.per_ip),
            replication: ReplicationStatus::new(config.peer.is_some()),
            login_throttle: LoginThrottle::default(),
            admin_throttle: AdminThrottle::default(),
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

    /// Moves the clock past a stamp seen from elsewhere.
    pub fn observe(&self, remote: Hlc) {
        let mut hlc = self.hlc.lock().unwrap_or_else(|p| p.into_inner());
        *hlc = hlc.observe(remote, crate::clock::now());
    }

    /// The deployment clients are told to move to while draining.
    pub fn drain_target(&self) -> Option<String> {
        self.draining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts (Some) or ends (None) a drain.
    pub fn set_drain_target(&self, target: Option<String>) {
        *self.draining.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }

    /// Marks the relay as stopping: health turns not-ready.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Relaxed);
    }

    /// The `/v1/health` body.
    pub fn health(&self) -> Health {
        Health {
            deployment: self.config.name.clone(),
            role: self.config.role,
            epoch: self.store.epoch(),
            // Draining: the moderator and clients' own probes move away.
            ready: !self.shutting_down.load(Relaxed) && self.drain_target().is_none(),
            draining: self.drain_target().is_some(),
            lag: self.replication.lag(crate::clock::now()),
            version: format!(
                "{} (protocol {PROTOCOL_VERSION})",
                env!("CARGO_PKG_VERSION")
            ),
        }
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
