//! Signed tokens that both deployments accept.
//!
//! A token is `<payload>.<mac>`, both base64url: the payload is a small JSON
//! claim, the mac is HMAC-SHA256 over the payload with the secret the two
//! deployments share through configuration. Nothing is stored: the redundant
//! deployment accepts a visitor or an operator it has never seen, which is
//! what keeps people connected through a failover. The claim binds a visitor
//! to exactly one site and chat, so no visitor can read or write another's.
//! An operator's claim carries its account's version: the signature says
//! who it is, the replicated account says whether the session still holds
//! (logout, password change and removal end it on both deployments).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use twinline_core::{ChatId, Millis, VisitorId};

type HmacSha256 = Hmac<Sha256>;

/// How long a visitor token lasts: a returning visitor keeps their chat.
pub const VISITOR_TOKEN_LIFETIME: Millis = Millis(30 * 24 * 3600 * 1000);
/// How long an operator's login lasts.
pub const OPERATOR_TOKEN_LIFETIME: Millis = Millis(12 * 3600 * 1000);

/// What a token says about its holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Claim {
    /// A visitor of `site`, allowed into exactly one chat.
    Visitor {
        /// Site id.
        site: String,
        /// The visitor.
        visitor: VisitorId,
        /// Their chat.
        chat: ChatId,
        /// Expiry, ms since the epoch.
        exp: Millis,
    },
    /// A logged-in operator.
    Operator {
        /// Account name.
        username: String,
        /// Display name.
        name: String,
        /// Expiry, ms since the epoch.
        exp: Millis,
        /// The account's version when the session began: a relay accepts
        /// the token only while the account still has it (see
        /// [`crate::store::records::Account::version`]).
        #[serde(default)]
        ver: u64,
    },
}

impl Claim {
    /// When the claim stops being valid.
    pub fn expires(&self) -> Millis {
        match self {
            Claim::Visitor { exp, .. } | Claim::Operator { exp, .. } => *exp,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not two base64url parts, or the payload is not a claim.
    #[error("the token is malformed")]
    Malformed,
    /// The mac does not match: forged, or signed with another secret.
    #[error("the token's signature does not match")]
    BadSignature,
    /// Past its expiry.
    #[error("the token has expired")]
    Expired,
}

/// Signs and checks tokens with the shared secret.
#[derive(Clone)]
pub struct TokenSigner {
    /// The HMAC keyed once: keying hashes the padded key twice, as much
    /// as the whole check of a visitor's token, and every hello checks one.
    keyed: HmacSha256,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    /// A signer for `secret`. Tokens are domain-separated from replication.
    pub fn new(secret: &str) -> TokenSigner {
        let key = format!("twinline-token-v1:{secret}");
        TokenSigner {
            // HMAC accepts keys of any length.
            keyed: HmacSha256::new_from_slice(key.as_bytes()).unwrap_or_else(|_| unreachable!()),
        }
    }

    fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }

    /// Signs a claim.
    pub fn sign(&self, claim: &Claim) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claim).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// Checks a token's signature and expiry and returns its claim.
    pub fn verify(&self, token: &str, now: Millis) -> Result<Claim, TokenError> {
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let body = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claim: Claim = serde_json::from_slice(&body).map_err(|_| TokenError::Malformed)?;
        if claim.expires() <= now {
            return Err(TokenError::Expired);
        }
        Ok(claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::Ulid;

    fn visitor(exp: u64) -> Claim {
        Claim::Visitor {
            site: "demo".into(),
            visitor: VisitorId(Ulid(7)),
            chat: ChatId(Ulid(9)),
            exp: Millis(exp),
        }
    }

    #[test]
    fn a_signed_claim_verifies_on_another_signer_with_the_same_secret() {
        let primary = TokenSigner::new("shared-secret-0123");
        let redundant = TokenSigner::new("shared-secret-0123");
        let token = primary.sign(&visitor(1_000));
        assert_eq!(redundant.verify(&token, Millis(10)), Ok(visitor(1_000)));
    }

    #[test]
    fn another_secret_or_a_changed_payload_is_refused() {
        let token = TokenSigner::new("shared-secret-0123").sign(&visitor(1_000));
        let other = TokenSigner::new("another-secret-456");
        assert_eq!(
            other.verify(&token, Millis(10)),
            Err(TokenError::BadSignature)
        );
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&visitor(9_999)).unwrap());
        let tag = token.split_once('.').unwrap().1;
        let forged = format!("{forged_payload}.{tag}");
        assert_eq!(
            TokenSigner::new("shared-secret-0123").verify(&forged, Millis(10)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn one_signer_checks_token_after_token_alike() {
        // The keyed HMAC is cloned for each token: nothing of one check
        // may leak into the next.
        let signer = TokenSigner::new("shared-secret-0123");
        let first = signer.sign(&visitor(1_000));
        assert_eq!(first, signer.sign(&visitor(1_000)));
        let other_tag = signer
            .sign(&visitor(2_000))
            .split_once('.')
            .unwrap()
            .1
            .to_string();
        let swapped = format!("{}.{other_tag}", first.split_once('.').unwrap().0);
        for _ in 0..3 {
            assert_eq!(signer.verify(&first, Millis(10)), Ok(visitor(1_000)));
            assert_eq!(
                signer.verify(&swapped, Millis(10)),
                Err(TokenError::BadSignature)
            );
        }
    }

    #[test]
    fn expired_and_malformed_tokens_are_refused() {
        let signer = TokenSigner::new("shared-secret-0123");
        let token = signer.sign(&visitor(1_000));
        assert_eq!(
            signer.verify(&token, Millis(1_000)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            signer.verify("nonsense", Millis(0)),
            Err(TokenError::Malformed)
        );
        assert_eq!(signer.verify("a.b!", Millis(0)), Err(TokenError::Malformed));
    }
}
