//! Placeholder: operator accounts land here (issue 3).

/// `twinline-relay operator ...`
#[derive(Debug, clap::Subcommand)]
pub enum OperatorCommand {
    /// Add an operator account.
    Add,
}

/// Runs an `operator` subcommand.
pub fn run_from_cli(_command: OperatorCommand) -> anyhow::Result<()> {
    anyhow::bail!("operator accounts are not built yet")
}
