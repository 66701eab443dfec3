//! API keys: how one is made, shown once, checked on every request of the
//! REST API ([`crate::api`]), and the `apikey` CLI that manages them.
//!
//! A key reads `twl_<id>_<secret>`: `id` is 16 hex digits (64 random bits)
//! and public, the store's primary key, so a request finds its key with one
//! indexed read; `secret` is 64 hex digits (256 random bits) and is never
//! stored, only its SHA-256. SHA-256 rather than argon2 on purpose: argon2
//! makes guessing a *password* slow because people pick guessable ones,
//! but nobody can guess 256 random bits however fast the hash is, so a slow
//! hash would buy nothing and cost every API request tens of milliseconds
//! and 19 MiB (and hand anyone with a wrong key a way to load the cores).
//! The presented digest is compared with the stored one in constant time;
//! the id's lookup may take longer or shorter, but the id is not secret.
//!
//! The record replicates like an account (LWW by stamp, see
//! [`crate::store::api_keys`]), and a revocation wins on both deployments.

use crate::config::StoreArgs;
use crate::store::api_keys::{ApiKey, Scope};
use crate::store::records::Record;
use crate::store::{Store, reads};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use twinline_core::model::{MAX_SAFE_INTEGER, check_field};
use twinline_core::{Hlc, Millis};

/// What every key starts with (so secret scanners and people can tell one).
pub const KEY_PREFIX: &str = "twl_";
/// Hex digits of a key's public id.
pub const ID_HEX: usize = 16;
/// Hex digits of a key's secret part.
pub const SECRET_HEX: usize = 64;

/// `twinline-relay apikey ...`
#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Make a key for one site; prints it once (only its hash is stored).
    Add(AddArgs),
    /// List keys: id, site, scopes, name, state (never the secret). Reads
    /// only (the store is opened read-only: safe beside a running relay).
    List {
        /// The deployment's store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by its id (refused on both deployments from then on).
    Revoke(RevokeArgs),
}

/// Arguments of `apikey add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The deployment's store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The site the key acts for.
    #[arg(long)]
    pub site: String,
    /// What it may do (repeatable): chats:read, messages:write,
    /// operators:manage, settings:manage, data:manage.
    #[arg(long = "scope", required = true, value_parser = Scope::parse)]
    pub scopes: Vec<Scope>,
    /// A label for people (what the key is for).
    #[arg(long, default_value = "")]
    pub name: String,
}

/// Arguments of `apikey revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The deployment's store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The key's id (the 16 hex digits after `twl_`, as `apikey list` shows).
    #[arg(long)]
    pub id: String,
}

/// Why a key could not be made or revoked.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// A field empty, too long or otherwise unusable.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such key.
    #[error("no API key with id {0:?}")]
    Unknown(String),
}

/// A key as presented in `Authorization: Bearer`, split into its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The public id.
    pub id: &'a str,
    /// The secret part.
    pub secret: &'a str,
}

/// Splits `twl_<id>_<secret>`; `None` for anything else.
pub fn parse(key: &str) -> Option<Presented<'_>> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    (hex(id, ID_HEX) && hex(secret, SECRET_HEX)).then_some(Presented { id, secret })
}

/// Lowercase hex SHA-256 of a secret: what the store keeps.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Whether `presented` opens `stored`: the right id, not revoked, and the
/// secret's digest equal to the stored one (compared in constant time).
pub fn opens(stored: &ApiKey, presented: Presented<'_>) -> bool {
    let digest_matches = crate::http::constant_time_eq(
        hash_secret(presented.secret).as_bytes(),
        stored.hash.as_bytes(),
    );
    digest_matches && stored.id == presented.id && !stored.revoked
}

/// A new key for `site`: the record to store and the whole key, which is
/// shown once. `random` is 320 bits of randomness (id, then secret).
pub fn new_key(
    site: &str,
    name: &str,
    scopes: &[Scope],
    now: Millis,
    node: u64,
    random: [u8; 40],
) -> Result<(ApiKey, String), ApiKeyError> {
    let site = site.trim();
    if site.is_empty() || check_field(site).is_err() {
        return Err(ApiKeyError::Invalid {
            field: "site",
            reason: format!("{site:?} is not a site id"),
        });
    }
    check_field(name).map_err(|error| ApiKeyError::Invalid {
        field: "name",
        reason: error.to_string(),
    })?;
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ApiKeyError::Invalid {
            field: "scope",
            reason: "a key needs at least one --scope".into(),
        });
    }
    let id = hex(&random[..ID_HEX / 2]);
    let secret = hex(&random[ID_HEX / 2..]);
    let record = ApiKey {
        hash: hash_secret(&secret),
        id: id.clone(),
        site: site.to_string(),
        name: name.trim().to_string(),
        scopes,
        created: Millis(now.0.min(MAX_SAFE_INTEGER)),
        stamp: Hlc::zero(node & MAX_SAFE_INTEGER).tick(now),
        revoked: false,
    };
    Ok((record, format!("{KEY_PREFIX}{id}_{secret}")))
}

/// The key's revocation: stamped above the stored copy, so it also wins
/// as a plain register (it wins anyway, see [`crate::store::api_keys`]).
pub fn revoked(current: &ApiKey, now: Millis, node: u64) -> ApiKey {
    ApiKey {
        stamp: Hlc::zero(node & MAX_SAFE_INTEGER)
            .observe(current.stamp, now)
            .tick(now),
        revoked: true,
        ..current.clone()
    }
}

/// Runs an `apikey` subcommand.
pub fn run_from_cli(command: ApiKeyCommand) -> anyhow::Result<()> {
    crate::logging::init();
    match command {
        ApiKeyCommand::Add(args) => {
            let (record, key) = new_key(
                &args.site,
                &args.name,
                &args.scopes,
                crate::clock::now(),
                rand::random(),
                rand::random(),
            )?;
            let stored = store(&args.store, record)?;
            let scopes: Vec<&str> = stored.scopes.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "API key {} for site {} ({}) made; it is shown once, here:",
                stored.id,
                stored.site,
                scopes.join(",")
            );
            println!("{key}");
            Ok(())
        }
        ApiKeyCommand::Revoke(args) => {
            let current = Store::open_read_only(&args.store.location())?
                .read(|conn| reads::api_key(conn, &args.id))?
                .ok_or_else(|| ApiKeyError::Unknown(args.id.clone()))?;
            let stored = store(
                &args.store,
                revoked(&current, crate::clock::now(), rand::random()),
            )?;
            println!("API key {} of site {} revoked", stored.id, stored.site);
            Ok(())
        }
        ApiKeyCommand::List { store } => {
            // Reads only: nothing written, no epoch bump (it runs beside
            // a live relay).
            let keys = Store::open_read_only(&store.location())?.read(reads::api_keys)?;
            for key in keys {
                let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
                let state = if key.revoked { "revoked" } else { "active" };
                println!(
                    "{}\t{}\t{}\t{}\t{state}",
                    key.id,
                    key.site,
                    scopes.join(","),
                    key.name
                );
            }
            Ok(())
        }
    }
}

/// Stores `key` as the CLI (the deployment whose store it was given; the
/// running relay replicates it to the peer) and returns what the store kept.
fn store(store_args: &StoreArgs, key: ApiKey) -> anyhow::Result<ApiKey> {
    let location = store_args.location();
    let (store, writer) = Store::open_at(&location)?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let origin = format!("cli@{}", location.describe());
    let applied = runtime.block_on(store.apply(Record::ApiKey(key.clone()), &origin));
    drop(store);
    writer.join();
    let applied = applied?;
    if let Some(refusal) = applied.refused {
        anyhow::bail!("API key {}: not stored: {refusal}", key.id);
    }
    match applied.record {
        Record::ApiKey(stored) if stored == key => Ok(stored),
        _ => anyhow::bail!("API key {}: the store keeps another copy", key.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made() -> (ApiKey, String) {
        let mut random = [0u8; 40];
        for (i, byte) in random.iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(7);
        }
        new_key(
            " demo ",
            "crm",
            &[Scope::MessagesWrite, Scope::ChatsRead, Scope::ChatsRead],
            Millis(1_000),
            3,
            random,
        )
        .unwrap()
    }

    #[test]
    fn a_new_key_opens_its_record_and_only_its_hash_is_stored() {
        let (record, key) = made();
        assert!(key.starts_with("twl_"));
        assert_eq!(key.len(), 4 + ID_HEX + 1 + SECRET_HEX);
        let presented = parse(&key).unwrap();
        assert_eq!(presented.id, record.id);
        assert!(opens(&record, presented));
        assert!(!record.hash.contains(presented.secret));
        assert_eq!(record.hash, hash_secret(presented.secret));
        assert_eq!(record.hash.len(), 64);
        assert_eq!(record.site, "demo");
        assert_eq!(record.scopes, vec![Scope::ChatsRead, Scope::MessagesWrite]);
        assert!(record.allows(Scope::ChatsRead));
        assert!(!record.allows(Scope::SettingsManage));
    }

    #[test]
    fn a_wrong_secret_another_id_or_a_revoked_key_does_not_open() {
        let (record, key) = made();
        let presented = parse(&key).unwrap();
        let mut wrong = presented.secret.to_string();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(SECRET_HEX - 1.., last);
        assert!(!opens(
            &record,
            Presented {
                id: presented.id,
                secret: &wrong
            }
        ));
        assert!(!opens(
            &record,
            Presented {
                id: "0000000000000000",
                secret: presented.secret
            }
        ));
        let gone = revoked(&record, Millis(1), 9);
        assert!(gone.stamp > record.stamp, "above the stored stamp");
        assert!(!opens(&gone, presented));
    }

    #[test]
    fn only_the_keys_shape_parses() {
        let (_, key) = made();
        assert!(parse(&key).is_some());
        for bad in [
            "",
            "twl_",
            &key[4..],
            &key.to_uppercase(),
            &format!("{key}0"),
            &key.replacen('_', "-", 2),
            &format!("twl_{}_{}", "g".repeat(ID_HEX), "0".repeat(SECRET_HEX)),
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_key_needs_a_site_and_a_scope() {
        let random = [1u8; 40];
        assert!(matches!(
            new_key(" ", "", &[Scope::ChatsRead], Millis(1), 1, random),
            Err(ApiKeyError::Invalid { field: "site", .. })
        ));
        assert!(matches!(
            new_key("demo", "", &[], Millis(1), 1, random),
            Err(ApiKeyError::Invalid { field: "scope", .. })
        ));
    }
}
