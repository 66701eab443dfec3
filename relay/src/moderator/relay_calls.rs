//! Performs the decision machine's actions on the relays: drain and
//! undrain, one at a time and in the order decided (a drain followed by an
//! undrain of the same relay must arrive in that order).
//!
//! A failed call is logged and not retried here: a drain that cannot reach
//! its relay means the relay is down and has no clients to move, and the
//! machine asks again for an undrain the active deployment still needs.

use serde::Serialize;
use std::time::Duration;
use tokio::sync::mpsc;
use twinline_core::moderation::Action;

/// Runs until the sending side is dropped.
pub async fn run(
    mut actions: mpsc::UnboundedReceiver<Action>,
    http: reqwest::Client,
    relay_admin_token: String,
    timeout: Duration,
) {
    while let Some(action) = actions.recv().await {
        let (deployment, request) = match &action {
            Action::Drain {
                deployment,
                url,
                to,
            } => {
                #[derive(Serialize)]
                struct DrainRequest<'a> {
                    to: &'a str,
                }
                let request = http
                    .post(format!("{url}/v1/admin/drain"))
                    .json(&DrainRequest { to });
                (deployment, request)
            }
            Action::Undrain { deployment, url } => {
                (deployment, http.post(format!("{url}/v1/admin/undrain")))
            }
        };
        let result = request
            .bearer_auth(&relay_admin_token)
            .timeout(timeout)
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => {
                tracing::info!(%deployment, ?action, "relay call done");
            }
            Ok(response) => {
                tracing::warn!(%deployment, ?action, status = %response.status(), "relay refused the call");
            }
            Err(error) => {
                tracing::warn!(%deployment, ?action, %error, "relay call failed");
            }
        }
    }
}
