//! The command line: `serve`, `operator add`, `apikey add`, `visitor
//! export|erase`, `moderator`, `switch`.
//!
//! main.rs only calls [`main`]; each subcommand hands its parsed arguments to
//! the module that owns that job, so this file stays a table of contents.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Twinline relay: one deployment of the chat service, or the moderator.
#[derive(Debug, Parser)]
#[command(name = "twinline-relay", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one deployment's relay (boxed: its flags outweigh the rest).
    Serve(Box<crate::serve::ServeArgs>),
    /// Manage operator accounts in a deployment's store.
    Operator {
        /// What to do with operator accounts.
        #[command(subcommand)]
        command: crate::accounts::OperatorCommand,
    },
    /// Manage API keys (for the REST API) in a deployment's store.
    Apikey {
        /// What to do with API keys.
        #[command(subcommand)]
        command: crate::apikeys::ApiKeyCommand,
    },
    /// Export or erase a visitor's data (GDPR requests), on both deployments.
    Visitor {
        /// What to do with the visitor's data.
        #[command(subcommand)]
        command: crate::erasure::cli::VisitorCommand,
    },
    /// Count what a retention period would erase on a site now (a dry run).
    Retention(crate::erasure::cli::RetentionArgs),
    /// Run the moderator, which tells clients which deployment is active.
    Moderator(crate::moderator::ModeratorArgs),
    /// Ask the moderator to switch the active deployment (and hold it), or release.
    Switch(crate::moderator::switch::SwitchArgs),
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => crate::serve::run_from_cli(*args),
        Command::Operator { command } => crate::accounts::run_from_cli(command),
        Command::Apikey { command } => crate::apikeys::run_from_cli(command),
        Command::Visitor { command } => crate::erasure::cli::run_from_cli(command),
        Command::Retention(args) => crate::erasure::cli::retention_from_cli(args),
        Command::Moderator(args) => crate::moderator::run_from_cli(args),
        Command::Switch(args) => crate::moderator::switch::run_from_cli(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("twinline-relay: {error:#}");
            ExitCode::FAILURE
        }
    }
}
