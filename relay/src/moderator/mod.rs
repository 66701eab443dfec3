//! Placeholder: the moderator lands here (issue 5).

/// Arguments of `twinline-relay moderator`.
#[derive(Debug, clap::Args)]
pub struct ModeratorArgs {}

/// Runs the moderator.
pub fn run_from_cli(_args: ModeratorArgs) -> anyhow::Result<()> {
    anyhow::bail!("the moderator is not built yet")
}
