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

use crate::config::StoreArgs;
use crate::store::records::{Account, OperatorRole, Record};
use crate::store::{Store, StoreError, reads};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
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
    /// List operator accounts: username, name, role, sites. Reads only
    /// (the store is opened read-only: safe beside a running relay).
    List {
        /// The deployment's store.
        #[command(flatten)]
        store: StoreArgs,
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
    /// The deployment's store.
    #[command(flatten)]
    pub store: StoreArgs,
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
    /// The deployment's store.
    #[command(flatten)]
    pub store: StoreArgs,
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
    /// The deployment's store.
    #[command(flatten)]
    pub store: StoreArgs,
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
/// Blocking (argon2); the relay calls it through [`PasswordGate::check`].
pub fn verify_password(account: Option<&Account>, password: &str) -> bool {
    verify_with(account, password, &mut Vec::new())
}

/// Largest argon2 memory a stored hash may ask for (64 MiB; ours use 19).
const MAX_HASH_BLOCKS: usize = 64 * 1024;

/// [`verify_password`] in `memory`, which is grown to the hash's size and
/// kept for the next check: a check thread allocates its argon2 memory
/// once, not once per attempt.
fn verify_with(account: Option<&Account>, password: &str, memory: &mut Vec<Block>) -> bool {
    let usable = account.filter(|a| !a.removed && !a.hash.is_empty());
    let hash: &str = match usable {
        Some(account) => &account.hash,
        None => dummy_hash(),
    };
    matches_hash(hash, password, memory) && usable.is_some()
}

fn matches_hash(hash: &str, password: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    if blocks > MAX_HASH_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
        .is_ok()
        && crate::http::constant_time_eq(out, expected.as_bytes())
}

/// Password checks in flight and waiting, bounded (see the module docs).
///
/// A check reads the account and runs argon2 on a thread of the gate's
/// own, one per core, each with its argon2 memory allocated once: a check
/// costs no thread, no allocation and no store read beyond what the gate
/// admits. (On tokio's blocking pool a flood of 200 sign-ins grew the pool
/// to 160 threads, and the allocator kept 19 MiB of argon2 memory in each
/// arena they touched: 230 MB for what two threads could do.)
#[derive(Debug)]
pub struct PasswordGate {
    jobs: std::sync::mpsc::SyncSender<Check>,
    admitted: Arc<AtomicUsize>,
    limit: usize,
}

/// One sign-in for the gate's threads.
struct Check {
    store: Store,
    username: String,
    password: String,
    answer: tokio::sync::oneshot::Sender<Result<Option<Account>, StoreError>>,
}

/// Why the gate did not answer with a verdict.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Too many checks running and waiting: answer 503 with `Retry-After`.
    #[error("too many password checks at once")]
    Full,
    /// The account could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PasswordGate {
    /// `parallel` checks at once and `queue` more waiting.
    pub fn new(parallel: usize, queue: usize) -> PasswordGate {
        let parallel = parallel.max(1);
        let (jobs, waiting) = std::sync::mpsc::sync_channel::<Check>(parallel + queue);
        let waiting = Arc::new(std::sync::Mutex::new(waiting));
        for n in 0..parallel {
            let waiting = waiting.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-check-{n}"))
                .spawn(move || run_checks(&waiting));
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password-check thread");
            }
        }
        PasswordGate {
            jobs,
            admitted: Arc::new(AtomicUsize::new(0)),
            limit: parallel + queue,
        }
    }

    /// Sized to this machine: one check per core, four waiting per core.
    pub fn for_this_machine() -> PasswordGate {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PasswordGate::new(cores, 4 * cores)
    }

    /// Reads `username`'s account and checks `password` against it (or
    /// the dummy hash) once a check thread is free; the account if the
    /// password opens it. Refuses at once when the queue is full.
    pub async fn check(
        &self,
        store: &Store,
        username: String,
        password: String,
    ) -> Result<Option<Account>, GateError> {
        if self.admitted.fetch_add(1, Relaxed) >= self.limit {
            self.admitted.fetch_sub(1, Relaxed);
            return Err(GateError::Full);
        }
        // Released however this future ends (a client that hangs up).
        let _admitted = Admitted(self.admitted.clone());
        let (answer, verdict) = tokio::sync::oneshot::channel();
        let check = Check {
            store: store.clone(),
            username,
            password,
            answer,
        };
        if self.jobs.try_send(check).is_err() {
            return Err(GateError::Full);
        }
        Ok(verdict.await.map_err(|_| StoreError::Closed)??)
    }
}

/// A check thread: takes sign-ins one at a time, reusing its memory.
fn run_checks(waiting: &std::sync::Mutex<std::sync::mpsc::Receiver<Check>>) {
    // The dummy hash is made before the first check, so an unknown
    // username is never slower than a known one.
    let _ = dummy_hash();
    let mut memory = Vec::new();
    loop {
        let next = waiting
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .recv();
        let Ok(check) = next else {
            return;
        };
        let verdict = check
            .store
            .read_blocking(|conn| reads::account(conn, &check.username))
            .map(|account| {
                let opens = verify_with(account.as_ref(), &check.password, &mut memory);
                account.filter(|_| opens)
            });
        let _ = check.answer.send(verdict);
    }
}

/// One admitted check, counted until it is answered or dropped.
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
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
            change(&args.store, &args.username, |current, now, node| {
                new_account(&spec, current, now, node)
            })
        }
        OperatorCommand::Passwd(args) => {
            let password = read_password(args.password)?;
            change(&args.store, &args.username, |current, now, node| {
                let current =
                    current.ok_or_else(|| AccountError::Unknown(args.username.clone()))?;
                with_password(current, &password, now, node)
            })
        }
        OperatorCommand::Remove(args) => change(
            &args.store,
            &args.username,
            |current, now, node| match current {
                Some(current) if !current.removed => Ok(removed(current, now, node)),
                _ => Err(AccountError::Unknown(args.username.clone())),
            },
        ),
        OperatorCommand::List { store } => {
            // Reads only: nothing written, no epoch bump (it runs beside
            // a live relay).
            let accounts = Store::open_read_only(&store.location())?.read(reads::accounts)?;
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
    store_args: &StoreArgs,
    username: &str,
    next: impl FnOnce(Option<&Account>, Millis, u64) -> Result<Account, AccountError>,
) -> anyhow::Result<()> {
    let location = store_args.location();
    let (store, writer) = Store::open_at(&location)?;
    let lookup = username.to_string();
    let current = store.read_blocking(|conn| reads::account(conn, &lookup))?;
    let account = next(current.as_ref(), crate::clock::now(), rand::random())?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    // The CLI writes as the deployment whose directory it was given; the
    // running relay replicates the account to its peer, and ends the
    // sessions a change revokes (it looks at connected operators' accounts
    // every second).
    let origin = format!("cli@{}", location.describe());
    let applied = runtime.block_on(store.apply(Record::Account(account.clone()), &origin))?;
    drop(store);
    writer.join();
    // What the store kept, not what was asked: the stamp is above the
    // stored one (`next_revision`), so the change wins, but say so only
    // from the merge's answer.
    if let Some(refusal) = applied.refused {
        anyhow::bail!("operator {}: not stored: {refusal}", account.username);
    }
    let Record::Account(stored) = applied.record else {
        anyhow::bail!(
            "operator {}: the store answered with another record",
            account.username
        );
    };
    if !applied.changed || stored != account {
        anyhow::bail!(
            "operator {}: not stored: the store keeps a newer change (stamp {:?}); run it again",
            stored.username,
            stored.stamp
        );
    }
    let what = if stored.removed { "removed" } else { "saved" };
    println!(
        "operator {} ({}, {}) {what}",
        stored.username,
        stored.name,
        stored.role.as_str()
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

    fn temp_store() -> (Store, crate::store::WriterThread, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "twinline-gate-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let (store, writer) = Store::open(&dir).unwrap();
        (store, writer, dir)
    }

    #[tokio::test]
    async fn the_gate_reads_checks_and_refuses_past_its_queue() {
        let (store, writer, dir) = temp_store();
        let sites = demo();
        let account =
            new_account(&spec("ada", "correct horse", &sites), None, Millis(5), 1).unwrap();
        store
            .apply(Record::Account(account.clone()), "test")
            .await
            .unwrap();
        let gate = std::sync::Arc::new(PasswordGate::new(1, 1));
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let gate = gate.clone();
                let store = store.clone();
                tokio::spawn(async move { gate.check(&store, "ada".into(), "wrong".into()).await })
            })
            .collect();
        let mut refused = 0;
        let mut checked = 0;
        for check in checks {
            match check.await.unwrap() {
                Ok(verified) => {
                    assert!(verified.is_none());
                    checked += 1;
                }
                Err(GateError::Full) => refused += 1,
                Err(error) => panic!("{error}"),
            }
        }
        assert!(
            checked >= 2,
            "the running check and the queued one are served"
        );
        assert!(refused >= 1, "the rest are refused, not queued without end");
        let opened = gate
            .check(&store, "ada".into(), "correct horse".into())
            .await
            .unwrap();
        assert_eq!(opened, Some(account));
        let unknown = gate
            .check(&store, "nobody".into(), "correct horse".into())
            .await
            .unwrap();
        assert_eq!(unknown, None);
        drop(store);
        writer.join();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_check_thread_reuses_its_memory() {
        let sites = demo();
        let account =
            new_account(&spec("ada", "correct horse", &sites), None, Millis(5), 1).unwrap();
        let mut memory = Vec::new();
        assert!(verify_with(Some(&account), "correct horse", &mut memory));
        let allocated = memory.as_ptr();
        assert!(!verify_with(Some(&account), "wrong horse", &mut memory));
        assert!(!verify_with(None, "correct horse", &mut memory));
        assert_eq!(memory.as_ptr(), allocated, "no new argon2 memory per check");
        assert!(!verify_with(
            Some(&Account {
                hash: "$argon2id$v=19$m=999999999,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                ..account
            }),
            "x",
            &mut memory
        ));
    }
}
