//! `Idempotency-Key` to the id of what a POST creates.
//!
//! Every record has a client-made id and every store merges by it, so
//! idempotency needs no table of keys: the id of a message posted with a
//! key is a keyed digest of (site, chat, key), the same on both
//! deployments. A retry, here or at the peer after a failover, names the
//! same message: found already stored (here, or replicated from where the
//! first attempt landed), it is answered as it is, `200` with
//! `Idempotent-Replayed: true`, and nothing new is written; with other
//! content under the same key it is a `409 idempotency_conflict`. The one
//! case this cannot settle is two attempts at once on both deployments
//! before either has replicated: each stores the message once, and the
//! merge by id keeps whichever copy each store had first (the other's
//! replication is refused and logged, never stored twice).

use crate::http::ApiError;
use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use twinline_core::{ChatId, MessageId};

/// The header.
pub const HEADER: &str = "idempotency-key";
/// Longest key accepted, in bytes (visible ASCII only).
pub const MAX_KEY_BYTES: usize = 255;

/// The request's key, if it has one, or a `bad_idempotency_key`.
pub fn key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_BYTES} visible ASCII characters"),
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let visible = text.bytes().all(|b| b.is_ascii_graphic());
    if text.is_empty() || text.len() > MAX_KEY_BYTES || !visible {
        return Err(bad());
    }
    Ok(Some(text))
}

/// The id of the message a POST with `key` creates in `chat` of `site`:
/// the chat id's time (so it sorts with the chat's other ids) and 80 bits
/// of SHA-256 over the three, each length-prefixed so no two triples
/// collide by concatenation.
pub fn message_id(site: &str, chat: ChatId, key: &str) -> MessageId {
    let mut digest = Sha256::new();
    digest.update(b"twinline idempotency v1\0message\0");
    let chat_text = chat.to_string();
    for part in [site, chat_text.as_str(), key] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    let bytes = digest.finalize();
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&bytes[..10]);
    MessageId::new(chat.0.millis(), u128::from_be_bytes(random))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use twinline_core::Ulid;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn the_same_key_names_the_same_message_and_any_other_part_another() {
        let chat = ChatId(Ulid::new(twinline_core::Millis(1_700_000_000_000), 5));
        let id = message_id("demo", chat, "k-1");
        assert_eq!(id, message_id("demo", chat, "k-1"));
        assert_eq!(id.0.millis(), chat.0.millis(), "sorts with the chat's ids");
        assert_ne!(id, message_id("demo", chat, "k-2"));
        assert_ne!(id, message_id("other", chat, "k-1"));
        assert_ne!(id, message_id("demo", ChatId(Ulid(6)), "k-1"));
        // Length prefixes: moving a character between parts changes the id.
        assert_ne!(message_id("ab", chat, "c"), message_id("a", chat, "bc"));
    }

    #[test]
    fn a_key_is_visible_ascii_within_its_length() {
        assert_eq!(key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(key(&headers(b"order-42")).unwrap(), Some("order-42"));
        let longest = "k".repeat(MAX_KEY_BYTES);
        assert!(key(&headers(longest.as_bytes())).is_ok());
        for bad in [
            "".as_bytes(),
            "has space".as_bytes(),
            "k".repeat(MAX_KEY_BYTES + 1).as_bytes(),
            "caf\u{e9}".as_bytes(),
        ] {
            let Ok(value) = HeaderValue::from_bytes(bad) else {
                continue;
            };
            let mut map = HeaderMap::new();
            map.insert(HEADER, value);
            assert!(key(&map).is_err(), "{bad:?}");
        }
    }
}
