//! Operator accounts: argon2id password hashes in the store, replicated to
//! the peer like everything else, and the `operator` CLI that manages them.
//!
//! An account names the sites its operator serves and a role (an admin
//! serves every site). Every change to it (password, sites, role, removal,
//! a logout) moves its `version` on; operator tokens carry the version they
//! were issued at, so a change on either deployment ends the older sessions
//! on both (see [`crate::sessions`]).
//!
//! Checking a password is the most expensive thing a client can make the
//! relay do (argon2id, 19 MiB and tens of milliseconds each), so checks go
//! through a [`PasswordGate`]: as many at once as there are cores, a short
//! queue behind them, and a refusal past that. A username that does not
//! exist is checked against a dummy hash, so the answer and the time it
//! takes do not tell whether an account exists.

use crate::store::records::{Account, OperatorRole, Record};
use crate::store::{Store, reads};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use tokio::sync::Semaphore;
use twinline_core::model::{MAX_SAFE_INTEGER, check_field};
use twinline_core::{Hlc, Millis};

/// `twinline-relay operator ...`
#[derive(Debug, clap::Subcommand)]
pub enum OperatorCommand {
    /// Add an operator account, or replace one (name, password, sites, role).
    Add(AddArgs),
    /// Change an operator's password (ends its sessions on both deployments).
    Passwd(PasswdArgs),
    /// Remove an operator account (ends its sessions on both deployments).
    Remove(RemoveArgs),
    /// List operator accounts: username, name, role, sites.
    List {
        /// The deployment's data directory.
        #[arg(long, env = "TWINLINE_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

/// How a command reads a password.
#[derive(Debug, clap::Args)]
pub struct PasswordArgs {
    /// Read the password from standard input (first line).
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    /// The password (prefer --password-stdin; visible in process lists).
    #[arg(long, env = "TWINLINE_OPERATOR_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// Arguments of `operator add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The deployment's data directory.
    #[arg(long, env = "TWINLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Login name.
    #[arg(long)]
    pub username: String,
    /// Name shown to visitors (defaults to the login name).
    #[arg(long)]
    pub name: Option<String>,
    /// A site this operator serves (repeatable); an agent needs at least one.
    #[arg(long = "site")]
    pub sites: Vec<String>,
    /// agent (serves its --site list) or admin (serves every site and may
    /// transfer any chat).
    #[arg(long, default_value = "agent", value_parser = parse_role)]
    pub role: OperatorRole,
    /// The password.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Arguments of `operator passwd`.
#[derive(Debug, clap::Args)]
pub struct PasswdArgs {
    /// The deployment's data directory.
    #[arg(long, env = "TWINLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Login name.
    #[arg(long)]
    pub username: String,
    /// The new password.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Arguments of `operator remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The deployment's data directory.
    #[arg(long, env = "TWINLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Login name.
    #[arg(long)]
    pub username: String,
}

fn parse_role(text: &str) -> Result<OperatorRole, String> {
    match text {
        "agent" => Ok(OperatorRole::Agent),
        "admin" => Ok(OperatorRole::Admin),
        other => Err(format!("role must be agent or admin, not {other:?}")),
    }
}

/// Why an account could not be made, changed or used.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A field empty, too long or with characters it may not have.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such account (or it was removed).
    #[error("no operator named {0:?}")]
    Unknown(String),
    /// argon2 failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest username accepted.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|error| AccountError::Hash(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AccountError::Hash(error.to_string()))
}

/// A hash of nothing anyone knows, with the same parameters as real ones:
/// what an unknown username's password is checked against.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&format!("{:032x}", rand::random::<u128>())).unwrap_or_default()
    })
}

/// Whether `password` opens `account`. An unknown or removed account is
/// checked against a dummy hash and fails: the same work, the same answer.
/// Blocking (argon2); call it through [`PasswordGate::check`].
pub fn verify_password(account: Option<&Account>, password: &str) -> bool {
    let usable = account.filter(|a| !a.removed && !a.hash.is_empty());
    let hash: &str = match usable {
        Some(account) => &account.hash,
        None => dummy_hash(),
    };
    let matches = PasswordHash::new(hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    });
    matches && usable.is_some()
}

/// Password checks in flight and waiting, bounded (see the module docs).
#[derive(Debug)]
pub struct PasswordGate {
    running: Semaphore,
    admitted: AtomicUsize,
    limit: usize,
}

/// The gate is full: the caller answers 503 with `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error("too many password checks at once")]
pub struct GateFull;

impl PasswordGate {
    /// `parallel` checks at once and `queue` more waiting.
    pub fn new(parallel: usize, queue: usize) -> PasswordGate {
        let parallel = parallel.max(1);
        PasswordGate {
            running: Semaphore::new(parallel),
            admitted: AtomicUsize::new(0),
            limit: parallel + queue,
        }
    }

    /// Sized to this machine: one check per core, four waiting per core.
    pub fn for_this_machine() -> PasswordGate {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PasswordGate::new(cores, 4 * cores)
    }

    /// Checks a password on a blocking thread once a core is free; refuses
    /// at once when the queue is full.
    pub async fn check(
        &self,
        account: Option<Account>,
        password: String,
    ) -> Result<bool, GateFull> {
        if self.admitted.fetch_add(1, Relaxed) >= self.limit {
            self.admitted.fetch_sub(1, Relaxed);
            return Err(GateFull);
        }
        let permit = self.running.acquire().await;
        let verified =
            tokio::task::spawn_blocking(move || verify_password(account.as_ref(), &password))
                .await
                .unwrap_or(false);
        drop(permit);
        self.admitted.fetch_sub(1, Relaxed);
        Ok(verified)
    }
}

/// What an account is made of, checked.
#[derive(Debug)]
pub struct AccountSpec<'a> {
    /// Login name.
    pub username: &'a str,
    /// Display name ("" for the login name).
    pub name: &'a str,
    /// Password.
    pub password: &'a str,
    /// Role.
    pub role: OperatorRole,
    /// Sites served.
    pub sites: &'a [String],
}

fn check_username(username: &str) -> Result<(), AccountError> {
    let valid = !username.is_empty()
        && username.len() <= MAX_USERNAME_CHARS
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(())
    } else {
        Err(AccountError::Invalid {
            field: "username",
            reason: format!("use 1-{MAX_USERNAME_CHARS} letters, digits, '.', '_', '-' or '@'"),
        })
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::Invalid {
            field: "password",
            reason: format!("at least {MIN_PASSWORD_CHARS} characters"),
        });
    }
    Ok(())
}

/// The stamp and version of a change made now to an account stamped
/// `current`: later than it whatever this machine's clock says, so the
/// change wins on both deployments.
pub fn next_revision(current: Option<&Account>, now: Millis, node: u64) -> (Hlc, u64) {
    let base = current.map(|a| a.stamp).unwrap_or_default();
    let stamp = Hlc::zero(node & MAX_SAFE_INTEGER)
        .observe(base, now)
        .tick(now);
    let version = current
        .map_or(0, |a| a.version.saturating_add(1))
        .min(MAX_SAFE_INTEGER);
    (stamp, version)
}

/// Builds an account record, checking its fields.
pub fn new_account(
    spec: &AccountSpec<'_>,
    current: Option<&Account>,
    now: Millis,
    node: u64,
) -> Result<Account, AccountError> {
    check_username(spec.username)?;
    check_field(spec.name).map_err(|error| AccountError::Invalid {
        field: "name",
        reason: error.to_string(),
    })?;
    check_password(spec.password)?;
    let mut sites: Vec<String> = spec.sites.iter().map(|s| s.trim().to_string()).collect();
    sites.sort();
    sites.dedup();
    if let Some(bad) = sites
        .iter()
        .find(|s| s.is_empty() || check_field(s).is_err())
    {
        return Err(AccountError::Invalid {
            field: "site",
            reason: format!("{bad:?} is not a site id"),
        });
    }
    if spec.role == OperatorRole::Agent && sites.is_empty() {
        return Err(AccountError::Invalid {
            field: "site",
            reason: "an agent serves at least one site: give --site (or --role admin)".into(),
        });
    }
    let (stamp, version) = next_revision(current, now, node);
    Ok(Account {
        username: spec.username.to_string(),
        name: if spec.name.trim().is_empty() {
            spec.username.to_string()
        } else {
            spec.name.trim().to_string()
        },
        hash: hash_password(spec.password)?,
        stamp,
        role: spec.role,
        sites,
        version,
        removed: false,
    })
}

/// The account with a new password.
pub fn with_password(
    current: &Account,
    password: &str,
    now: Millis,
    node: u64,
) -> Result<Account, AccountError> {
    if current.removed {
        return Err(AccountError::Unknown(current.username.clone()));
    }
    check_password(password)?;
    let (stamp, version) = next_revision(Some(current), now, node);
    Ok(Account {
        hash: hash_password(password)?,
        stamp,
        version,
        ..current.clone()
    })
}

/// The account with every session ended (a logout).
pub fn signed_out(current: &Account, now: Millis, node: u64) -> Account {
    let (stamp, version) = next_revision(Some(current), now, node);
    Account {
        stamp,
        version,
        ..current.clone()
    }
}

/// The account's tombstone: no password, no sites, every session ended.
pub fn removed(current: &Account, now: Millis, node: u64) -> Account {
    let (stamp, version) = next_revision(Some(current), now, node);
    Account {
        hash: String::new(),
        sites: Vec::new(),
        stamp,
        version,
        removed: true,
        ..current.clone()
    }
}

/// Runs an `operator` subcommand.
pub fn run_from_cli(command: OperatorCommand) -> anyhow::Result<()> {
    // The store's one-time clean-up and migrations log what they did.
    crate::logging::init();
    match command {
        OperatorCommand::Add(args) => {
            let password = read_password(args.password)?;
            let name = args.name.unwrap_or_default();
            let spec = AccountSpec {
                username: &args.username,
                name: &name,
                password: &password,
                role: args.role,
                sites: &args.sites,
            };
            change(&args.data_dir, &args.username, |current, now, node| {
                new_account(&spec, current, now, node)
            })
        }
        OperatorCommand::Passwd(args) => {
            let password = read_password(args.password)?;
            change(&args.data_dir, &args.username, |current, now, node| {
                let current =
                    current.ok_or_else(|| AccountError::Unknown(args.username.clone()))?;
                with_password(current, &password, now, node)
            })
        }
        OperatorCommand::Remove(args) => change(
            &args.data_dir,
            &args.username,
            |current, now, node| match current {
                Some(current) if !current.removed => Ok(removed(current, now, node)),
                _ => Err(AccountError::Unknown(args.username.clone())),
            },
        ),
        OperatorCommand::List { data_dir } => {
            let (store, writer) = Store::open(&data_dir)?;
            let accounts = store.read_blocking(reads::accounts)?;
            for account in accounts.iter().filter(|a| !a.removed) {
                let sites = match account.role {
                    OperatorRole::Admin => "*".to_string(),
                    OperatorRole::Agent => account.sites.join(","),
                };
                println!(
                    "{}\t{}\t{}\t{}",
                    account.username,
                    account.name,
                    account.role.as_str(),
                    sites
                );
            }
            drop(store);
            writer.join();
            Ok(())
        }
    }
}

fn read_password(args: PasswordArgs) -> anyhow::Result<String> {
    match (args.password_stdin, args.password) {
        (true, _) => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            Ok(input.lines().next().unwrap_or_default().to_string())
        }
        (false, Some(password)) => Ok(password),
        (false, None) => anyhow::bail!("give the password with --password-stdin"),
    }
}

/// Reads an account, makes its next value and stores it.
fn change(
    data_dir: &std::path::Path,
    username: &str,
    next: impl FnOnce(Option<&Account>, Millis, u64) -> Result<Account, AccountError>,
) -> anyhow::Result<()> {
    let (store, writer) = Store::open(data_dir)?;
    let lookup = username.to_string();
    let current = store.read_blocking(|conn| reads::account(conn, &lookup))?;
    let account = next(current.as_ref(), crate::clock::now(), rand::random())?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    // The CLI writes as the deployment whose directory it was given; the
    // running relay replicates the account to its peer, and ends the
    // sessions a change revokes (it looks at connected operators' accounts
    // every second).
    let origin = format!("cli@{}", data_dir.display());
    runtime.block_on(store.apply(Record::Account(account.clone()), &origin))?;
    drop(store);
    writer.join();
    let what = if account.removed { "removed" } else { "saved" };
    println!(
        "operator {} ({}, {}) {what}",
        account.username,
        account.name,
        account.role.as_str()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(username: &'a str, password: &'a str, sites: &'a [String]) -> AccountSpec<'a> {
        AccountSpec {
            username,
            name: "",
            password,
            role: OperatorRole::Agent,
            sites,
        }
    }

    fn demo() -> Vec<String> {
        vec!["demo".to_string()]
    }

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let sites = demo();
        let account =
            new_account(&spec("ada", "correct horse", &sites), None, Millis(5), 1).unwrap();
        assert!(account.hash.starts_with("$argon2id$"));
        assert!(verify_password(Some(&account), "correct horse"));
        assert!(!verify_password(Some(&account), "wrong horse"));
        assert!(!verify_password(None, "correct horse"));
        let gone = removed(&account, Millis(6), 1);
        assert!(!verify_password(Some(&gone), "correct horse"));
    }

    #[test]
    fn bad_usernames_short_passwords_and_agents_without_sites_are_refused() {
        let sites = demo();
        assert!(new_account(&spec("", "long enough", &sites), None, Millis(1), 1).is_err());
        assert!(new_account(&spec("a b", "long enough", &sites), None, Millis(1), 1).is_err());
        assert!(new_account(&spec("ada", "short", &sites), None, Millis(1), 1).is_err());
        assert!(new_account(&spec("ada", "long enough", &[]), None, Millis(1), 1).is_err());
        let admin = AccountSpec {
            role: OperatorRole::Admin,
            ..spec("root", "long enough", &[])
        };
        let admin = new_account(&admin, None, Millis(1), 1).unwrap();
        assert!(admin.serves("any-site"));
    }

    #[test]
    fn every_change_wins_over_the_last_and_moves_the_version_on() {
        let sites = demo();
        // The stored account was stamped by a machine whose clock is ahead.
        let first = new_account(
            &spec("ada", "correct horse", &sites),
            None,
            Millis(9_000),
            1,
        )
        .unwrap();
        let changed = with_password(&first, "battery staple", Millis(5_000), 2).unwrap();
        assert!(changed.stamp > first.stamp, "a slow clock still wins");
        assert!(changed.version > first.version);
        let out = signed_out(&changed, Millis(5_000), 2);
        assert!(out.stamp > changed.stamp && out.version > changed.version);
        assert_eq!(out.hash, changed.hash);
        let gone = removed(&out, Millis(5_000), 2);
        assert!(gone.removed && gone.hash.is_empty() && gone.version > out.version);
        assert!(with_password(&gone, "resurrect me", Millis(6_000), 2).is_err());
        assert!(gone.stamp.node <= MAX_SAFE_INTEGER);
    }

    #[tokio::test]
    async fn the_gate_refuses_checks_past_its_queue() {
        let sites = demo();
        let account =
            new_account(&spec("ada", "correct horse", &sites), None, Millis(5), 1).unwrap();
        let gate = std::sync::Arc::new(PasswordGate::new(1, 1));
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let gate = gate.clone();
                let account = account.clone();
                tokio::spawn(async move { gate.check(Some(account), "wrong".into()).await })
            })
            .collect();
        let mut refused = 0;
        let mut checked = 0;
        for check in checks {
            match check.await.unwrap() {
                Ok(verified) => {
                    assert!(!verified);
                    checked += 1;
                }
                Err(GateFull) => refused += 1,
            }
        }
        assert!(
            checked >= 2,
            "the running check and the queued one are served"
        );
        assert!(refused >= 1, "the rest are refused, not queued without end");
        assert!(
            gate.check(Some(account), "correct horse".into())
                .await
                .unwrap()
        );
    }
}
