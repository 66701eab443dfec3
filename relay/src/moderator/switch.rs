//! `twinline-relay switch`: manual failover from a shell, for planned
//! maintenance. It calls the moderator's `POST /v1/admin/active` and prints
//! the resulting active deployment, e.g.
//!
//! ```text
//! twinline-relay switch --moderator http://127.0.0.1:7000 --admin-token T --to redundant
//! twinline-relay switch --moderator http://127.0.0.1:7000 --admin-token T --release
//! ```

use anyhow::{Context, bail};
use serde_json::json;
use twinline_core::protocol::ActiveDeployment;

/// Arguments of `twinline-relay switch`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["to", "release"])))]
pub struct SwitchArgs {
    /// The moderator's base URL.
    #[arg(long, env = "TWINLINE_MODERATOR_URL")]
    pub moderator: String,
    /// The moderator's admin token.
    #[arg(long, env = "TWINLINE_MODERATOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// Make this deployment active and hold it there.
    #[arg(long)]
    pub to: Option<String>,
    /// With `--to`: switch without holding (automatic rules may switch back).
    #[arg(long, requires = "to")]
    pub no_hold: bool,
    /// End a hold; the automatic rules apply again.
    #[arg(long)]
    pub release: bool,
}

/// Runs `switch`.
pub fn run_from_cli(args: SwitchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let active = runtime.block_on(switch(&args))?;
    println!("{}", describe(&active));
    Ok(())
}

/// Calls the moderator.
pub async fn switch(args: &SwitchArgs) -> anyhow::Result<ActiveDeployment> {
    let body = match &args.to {
        Some(to) => json!({"active": to, "hold": !args.no_hold}),
        None => json!({"release": true}),
    };
    let url = format!("{}/v1/admin/active", args.moderator.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.admin_token)
        .json(&body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .with_context(|| format!("could not reach the moderator at {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the moderator refused ({status}): {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("unexpected answer: {text}"))
}

/// One line: `active: NAME (URL), epoch E, held|automatic; NAME up|down, ...`.
pub fn describe(active: &ActiveDeployment) -> String {
    let deployments: Vec<String> = active
        .deployments
        .iter()
        .map(|d| format!("{} {}", d.name, if d.up { "up" } else { "down" }))
        .collect();
    format!(
        "active: {} ({}), epoch {}, {}; {}",
        active.active,
        active.url,
        active.epoch,
        if active.held { "held" } else { "automatic" },
        deployments.join(", ")
    )
}
