//! Probing: one task per deployment asks its `/v1/health` every interval
//! and feeds the answer to the decision machine; while that deployment is
//! being drained it also asks how many clients it still has.
//!
//! One task per deployment, not one for both: a black-holed deployment
//! makes its probe wait for the whole timeout, and that must not slow the
//! detection of a crash on the other one.

use super::state::ModeratorState;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use twinline_core::protocol::{DeploymentRole, Health};

/// What a prober needs.
#[derive(Clone, Debug)]
pub struct Prober {
    /// Shared state.
    pub state: Arc<ModeratorState>,
    /// HTTP client (keeps a connection to each relay).
    pub http: reqwest::Client,
    /// Which deployment.
    pub role: DeploymentRole,
    /// Its base URL.
    pub url: String,
    /// Time between probes.
    pub interval: Duration,
    /// Time a probe may take.
    pub timeout: Duration,
    /// Bearer for the relay's `/v1/admin/drain`.
    pub relay_admin_token: String,
}

impl Prober {
    /// Probes until the task is aborted.
    pub async fn run(self) {
        let mut ticker = tokio::time::interval(self.interval);
        // A probe that took the whole timeout is followed by the next one at
        // once, then the rhythm resumes: no burst of catch-up probes.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let answer = self.probe().await;
            let role = self.role;
            let draining = self.state.update(|machine, now| {
                machine.handle_probe(now, role, answer);
                machine.drain_in_progress() == Some(role)
            });
            if draining {
                let clients = self.drain_clients().await;
                self.state.update(|machine, now| {
                    machine.handle_drain_progress(now, role, clients);
                });
            }
        }
    }

    /// One health probe. A relay that is shutting down answers 503 with a
    /// health body saying not ready: that body counts, not the status.
    async fn probe(&self) -> Option<Health> {
        let response = self
            .http
            .get(format!("{}/v1/health", self.url))
            .timeout(self.timeout)
            .send()
            .await;
        let body = match response {
            Ok(response) => response.json::<Health>().await,
            Err(error) => {
                tracing::debug!(url = %self.url, %error, "health probe failed");
                return None;
            }
        };
        body.inspect_err(|error| {
            tracing::debug!(url = %self.url, %error, "health probe answered garbage");
        })
        .ok()
    }

    /// `GET /v1/admin/drain` on the drained relay: clients left.
    async fn drain_clients(&self) -> Option<u64> {
        #[derive(Deserialize)]
        struct Progress {
            clients: u64,
        }
        let response = self
            .http
            .get(format!("{}/v1/admin/drain", self.url))
            .bearer_auth(&self.relay_admin_token)
            .timeout(self.timeout)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            tracing::warn!(url = %self.url, status = %response.status(), "drain progress refused");
            return None;
        }
        response
            .json::<Progress>()
            .await
            .ok()
            .map(|progress| progress.clients)
    }
}
