//! API keys as replicated records: what the store keeps of a key (never the
//! key itself) and how two copies of one merge.
//!
//! A key is made once, by the `apikey add` CLI, and afterwards only its
//! revocation changes it. The record is a last-writer-wins register by its
//! hybrid-logical-clock stamp, like an account, with one exception: a
//! revocation wins over any copy that is not revoked, whatever the stamps
//! say, so a key revoked on one deployment can never come back to life
//! because the other deployment's clock ran ahead. A copy under a taken id
//! with another site or another hash is refused (ids are random, 64 bits: a
//! collision is a bug or an attack, never a change).

use super::backend::Table;
use super::kinds::{Kind, Outcome};
use super::records::{Record, Refusal};
use serde::{Deserialize, Serialize};
use twinline_core::model::{RecordError, check_field, check_number};
use twinline_core::{Hlc, Millis};

/// What a key may do. Each endpoint of `/v1/api/` names the one it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Read chats, their messages and offline notes.
    #[serde(rename = "chats:read")]
    ChatsRead,
    /// Post messages into chats, close and transfer chats.
    #[serde(rename = "messages:write")]
    MessagesWrite,
    /// The site's operators (`GET /v1/api/operators`; managing them is
    /// still the CLI's).
    #[serde(rename = "operators:manage")]
    OperatorsManage,
    /// Manage the site's settings: its webhooks.
    #[serde(rename = "settings:manage")]
    SettingsManage,
    /// Export and erase visitors' data (GDPR requests): everything of a
    /// visitor, and an erasure cannot be undone, so no other scope implies
    /// it.
    #[serde(rename = "data:manage")]
    DataManage,
}

impl Scope {
    /// Every scope, in the order `--help` and the docs list them.
    pub const ALL: [Scope; 5] = [
        Scope::ChatsRead,
        Scope::MessagesWrite,
        Scope::OperatorsManage,
        Scope::SettingsManage,
        Scope::DataManage,
    ];

    /// The scope's name on the command line, in errors and in the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ChatsRead => "chats:read",
            Scope::MessagesWrite => "messages:write",
            Scope::OperatorsManage => "operators:manage",
            Scope::SettingsManage => "settings:manage",
            Scope::DataManage => "data:manage",
        }
    }

    /// The scope named `text`.
    pub fn parse(text: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope {text:?}; one of {}", names.join(", "))
            })
    }
}

/// One API key as stored: its public id, its site and scopes, and the
/// SHA-256 of its secret (see [`crate::apikeys`] for why SHA-256).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The public part of the key (16 hex digits), its primary key.
    pub id: String,
    /// The one site the key acts for.
    pub site: String,
    /// A label for people (`--name`), shown by `apikey list`.
    #[serde(default)]
    pub name: String,
    /// What it may do, sorted, without repeats.
    pub scopes: Vec<Scope>,
    /// Lowercase hex SHA-256 of the secret part.
    pub hash: String,
    /// When it was made (wall clock of the deployment that made it).
    pub created: Millis,
    /// Last-writer-wins stamp.
    pub stamp: Hlc,
    /// Revoked: refused from then on, on both deployments.
    #[serde(default)]
    pub revoked: bool,
}

impl ApiKey {
    /// Whether the key grants `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// API keys: `api_keys (id, site, body)`.
pub static API_KEYS: Table = Table {
    name: "api_keys",
    key: "id",
    columns: &[("site", super::backend::ColumnType::Text)],
};

impl Kind for ApiKey {
    const TABLE: &'static Table = &API_KEYS;

    fn key(&self) -> String {
        self.id.clone()
    }

    fn cells(&self) -> Vec<super::backend::Cell> {
        vec![super::backend::Cell::Text(Some(self.site.clone()))]
    }

    /// Fields a peer could send out of shape: bounded text, numbers no
    /// reader loses.
    fn admit(&self, _chats: &dyn super::kinds::ChatClock) -> Result<(), RecordError> {
        for (field, text) in [
            ("id", &self.id),
            ("site", &self.site),
            ("name", &self.name),
            ("hash", &self.hash),
        ] {
            check_field(text).map_err(|error| RecordError::Text(field, error))?;
        }
        check_number("created", self.created.0)
    }

    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        let Some(stored) = stored else {
            return Outcome::Changed(incoming);
        };
        if stored.site != incoming.site || stored.hash != incoming.hash {
            return Outcome::Refused(incoming, Refusal::IdTaken("api key"));
        }
        // A revocation wins, whatever the stamps.
        super::kinds::register_with_tombstone(stored, incoming, |k| k.revoked, |k| k.stamp)
    }

    fn into_record(self) -> Record {
        Record::ApiKey(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(wall: u64) -> Hlc {
        Hlc {
            wall: Millis(wall),
            counter: 0,
            node: 1,
        }
    }

    fn key(wall: u64, revoked: bool) -> ApiKey {
        ApiKey {
            id: "00112233aabbccdd".into(),
            site: "demo".into(),
            name: "crm".into(),
            scopes: vec![Scope::ChatsRead],
            hash: "ab".repeat(32),
            created: Millis(1),
            stamp: stamp(wall),
            revoked,
        }
    }

    #[test]
    fn a_revocation_wins_over_a_later_unrevoked_copy_both_ways() {
        let revoked = key(10, true);
        let renamed_later = ApiKey {
            name: "later".into(),
            ..key(99, false)
        };
        assert_eq!(
            ApiKey::merge(Some(&revoked), renamed_later.clone()),
            Outcome::Unchanged(revoked.clone())
        );
        assert_eq!(
            ApiKey::merge(Some(&renamed_later), revoked.clone()),
            Outcome::Changed(revoked)
        );
    }

    #[test]
    fn otherwise_the_later_stamp_wins_and_the_same_copy_is_unchanged() {
        let older = key(10, false);
        let newer = ApiKey {
            name: "renamed".into(),
            ..key(11, false)
        };
        assert_eq!(
            ApiKey::merge(Some(&older), newer.clone()),
            Outcome::Changed(newer.clone())
        );
        assert_eq!(
            ApiKey::merge(Some(&newer), older),
            Outcome::Unchanged(newer.clone())
        );
        assert_eq!(
            ApiKey::merge(Some(&newer), newer.clone()),
            Outcome::Unchanged(newer)
        );
    }

    #[test]
    fn another_site_or_secret_under_a_taken_id_is_refused() {
        let stored = key(10, false);
        for other in [
            ApiKey {
                site: "other".into(),
                ..key(11, false)
            },
            ApiKey {
                hash: "cd".repeat(32),
                ..key(11, true)
            },
        ] {
            assert_eq!(
                ApiKey::merge(Some(&stored), other.clone()),
                Outcome::Refused(other, Refusal::IdTaken("api key"))
            );
        }
    }

    #[test]
    fn scopes_read_back_from_their_names_and_nothing_else_parses() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Ok(scope));
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
        }
        assert!(Scope::parse("chats:write").is_err());
        assert!(Scope::parse("").is_err());
    }
}
