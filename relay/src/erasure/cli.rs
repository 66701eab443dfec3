//! `twinline-relay visitor export|erase`: a data request answered from the
//! command line, on one deployment's store (the running relay replicates
//! an erasure to the peer like any record).

use super::{Subject, erase, export_from};
use crate::config::StoreArgs;
use crate::store::Store;
use crate::store::erasures::Reason;
use twinline_core::VisitorId;

/// `twinline-relay visitor ...`
#[derive(Debug, clap::Subcommand)]
pub enum VisitorCommand {
    /// Print everything the store holds of a visitor as one JSON document
    /// (chats with messages and ratings, notes, visitor details, erasures).
    /// Reads only (the store is opened read-only: safe beside a running
    /// relay).
    Export(WhoArgs),
    /// Erase a visitor's chats, notes and details on both deployments (a
    /// replicated tombstone: nothing of it comes back). Prints the erasure.
    Erase(WhoArgs),
}

/// Whose data, on which store.
#[derive(Debug, clap::Args)]
pub struct WhoArgs {
    /// The deployment's store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The site.
    #[arg(long)]
    pub site: String,
    /// The visitor id (26 characters, as the chat headers and the API show it).
    #[arg(long, required_unless_present = "email", conflicts_with = "email")]
    pub visitor: Option<VisitorId>,
    /// An email (offline notes and pre-chat forms; compared case-blind).
    #[arg(long)]
    pub email: Option<String>,
}

impl WhoArgs {
    fn subject(&self) -> Subject {
        match (&self.visitor, &self.email) {
            (Some(visitor), _) => Subject::Visitor(*visitor),
            (None, email) => Subject::Email(email.clone().unwrap_or_default()),
        }
    }
}

/// Runs a `visitor` subcommand.
pub fn run_from_cli(command: VisitorCommand) -> anyhow::Result<()> {
    crate::logging::init();
    match command {
        VisitorCommand::Export(args) => {
            // Reads only: safe beside a running relay, no epoch bump.
            let subject = args.subject();
            let document = Store::open_read_only(&args.store.location())?
                .read(|conn| export_from(conn, &args.site, &subject, crate::clock::now()))?;
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        VisitorCommand::Erase(args) => {
            let location = args.store.location();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (store, writer) = Store::open_at(&location)?;
            let origin = format!("cli@{}", location.describe());
            let erased = runtime.block_on(erase(
                &store,
                &origin,
                &args.site,
                &args.subject(),
                Reason::Request,
            ));
            drop(store);
            writer.join();
            let erasure = erased?;
            eprintln!(
                "erased {} chats and {} notes on site {} (erasure {})",
                erasure.chats.len(),
                erasure.notes.len(),
                erasure.site,
                erasure.id
            );
            println!("{}", serde_json::to_string(&erasure)?);
        }
    }
    Ok(())
}

/// `twinline-relay retention`: the dry run of a retention period.
#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    /// The deployment's store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The site.
    #[arg(long)]
    pub site: String,
    /// The retention period to count for, in days (the relay's
    /// `--retention SITE=DAYS`).
    #[arg(long)]
    pub days: u32,
}

/// Prints how many closed chats and notes `--days` of retention would
/// erase on the site now (reads only: safe beside a running relay).
pub fn retention_from_cli(args: RetentionArgs) -> anyhow::Result<()> {
    crate::logging::init();
    crate::config::check_retention(&args.site, args.days)?;
    let counted = Store::open_read_only(&args.store.location())?.read(|conn| {
        super::retention::dry_run(conn, &args.site, Some(args.days), crate::clock::now())
    })?;
    println!("{}", serde_json::to_string(&counted)?);
    Ok(())
}
