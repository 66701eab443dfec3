//! Operator accounts: argon2id password hashes in the store, replicated to
//! the peer like everything else, and the `operator` CLI that creates them.

use crate::store::records::{Account, Record};
use crate::store::{Store, reads};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::io::Read;
use std::path::PathBuf;
use twinline_core::Hlc;
use twinline_core::model::check_field;

/// `twinline-relay operator ...`
#[derive(Debug, clap::Subcommand)]
pub enum OperatorCommand {
    /// Add an operator account (or replace its password and name).
    Add(AddArgs),
    /// List operator accounts.
    List {
        /// The deployment's data directory.
        #[arg(long, env = "TWINLINE_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
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
    /// Read the password from standard input (first line).
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    /// The password (prefer --password-stdin; visible in process lists).
    #[arg(long, env = "TWINLINE_OPERATOR_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// Why an account could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Username or name empty, too long or with control characters.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// argon2 failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|error| AccountError::Hash(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AccountError::Hash(error.to_string()))
}

/// Whether `password` matches the account's hash.
pub fn verify_password(account: &Account, password: &str) -> bool {
    PasswordHash::new(&account.hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Builds an account record, checking its fields.
pub fn new_account(
    username: &str,
    name: &str,
    password: &str,
    stamp: Hlc,
) -> Result<Account, AccountError> {
    let valid_username = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !valid_username {
        return Err(AccountError::Invalid {
            field: "username",
            reason: "use 1-64 letters, digits, '.', '_', '-' or '@'".into(),
        });
    }
    check_field(name).map_err(|error| AccountError::Invalid {
        field: "name",
        reason: error.to_string(),
    })?;
    if password.chars().count() < 8 {
        return Err(AccountError::Invalid {
            field: "password",
            reason: "at least 8 characters".into(),
        });
    }
    Ok(Account {
        username: username.to_string(),
        name: if name.trim().is_empty() {
            username.to_string()
        } else {
            name.trim().to_string()
        },
        hash: hash_password(password)?,
        stamp,
    })
}

/// Runs an `operator` subcommand.
pub fn run_from_cli(command: OperatorCommand) -> anyhow::Result<()> {
    match command {
        OperatorCommand::Add(args) => add(args),
        OperatorCommand::List { data_dir } => {
            let (store, writer) = Store::open(&data_dir)?;
            let usernames = store.read_blocking(|conn| {
                let mut stmt = conn.prepare("SELECT username FROM accounts ORDER BY username")?;
                stmt.query_map([], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })?;
            for username in usernames {
                let account = store.read_blocking(|conn| reads::account(conn, &username))?;
                if let Some(account) = account {
                    println!("{}\t{}", account.username, account.name);
                }
            }
            drop(store);
            writer.join();
            Ok(())
        }
    }
}

fn add(args: AddArgs) -> anyhow::Result<()> {
    let password = match (args.password_stdin, args.password) {
        (true, _) => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            input.lines().next().unwrap_or_default().to_string()
        }
        (false, Some(password)) => password,
        (false, None) => anyhow::bail!("give the password with --password-stdin"),
    };
    let now = crate::clock::now();
    let stamp = Hlc::zero(rand::random()).tick(now);
    let account = new_account(
        &args.username,
        args.name.as_deref().unwrap_or(""),
        &password,
        stamp,
    )?;
    let (store, writer) = Store::open(&args.data_dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    // The CLI writes as the deployment whose directory it was given; the
    // running relay replicates the account to its peer.
    let origin = format!("cli@{}", args.data_dir.display());
    runtime.block_on(store.apply(Record::Account(account.clone()), &origin))?;
    drop(store);
    writer.join();
    println!("operator {} ({}) saved", account.username, account.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::Millis;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let account =
            new_account("ada", "Ada", "correct horse", Hlc::zero(1).tick(Millis(5))).unwrap();
        assert!(account.hash.starts_with("$argon2id$"));
        assert!(verify_password(&account, "correct horse"));
        assert!(!verify_password(&account, "wrong horse"));
    }

    #[test]
    fn bad_usernames_and_short_passwords_are_refused() {
        let stamp = Hlc::zero(1);
        assert!(new_account("", "x", "long enough", stamp).is_err());
        assert!(new_account("a b", "x", "long enough", stamp).is_err());
        assert!(new_account("ada", "x", "short", stamp).is_err());
    }
}
