//! Placeholder: the relay server lands here (issue 3).

/// Arguments of `twinline-relay serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

/// Runs `serve`.
pub fn run_from_cli(_args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("the relay server is not built yet")
}
