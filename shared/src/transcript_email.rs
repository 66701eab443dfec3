//! A visitor's request for the chat's transcript by email.
//!
//! The visitor makes the request's id; the relay that stores it adds its
//! own name (`received_by`: the deployment that sends the email, until the
//! other takes it over) and its receive time. Requests live in the chat's
//! header as a set merged by id, like a transcript's messages: the same
//! request again (a replay after a failover, the peer's copy) changes
//! nothing, and two deployments' copies of one header end with the union of
//! their requests whichever meets which first. So a request is erased with
//! its chat, and replicated, on both store engines, as the header is.
//!
//! The limits are the relay's to enforce (docs/PROTOCOL.md, "Limits"): an
//! address of at most [`MAX_ADDRESS_BYTES`] bytes with an `@` between a
//! local part and a domain (the relay parses it fully with its mail
//! library), and at most [`MAX_PER_CHAT`] requests per chat stored by one
//! deployment (so a chat's header holds at most twice that, should both
//! deployments take requests while cut off from each other).

use crate::id::TranscriptId;
use crate::model::{RecordError, TextError, check_field, check_number};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// The longest address accepted, in bytes (RFC 5321's path limit, less
/// the angle brackets).
pub const MAX_ADDRESS_BYTES: usize = 254;

/// The most requests one deployment stores for one chat.
pub const MAX_PER_CHAT: usize = 3;

/// The most requests a chat's header may hold (both deployments' limit).
pub const MAX_STORED: usize = 2 * MAX_PER_CHAT;

/// One request, as stored in its chat's header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptRequest {
    /// Client-made id: the same request again is a duplicate; the email's
    /// `Message-ID` is made from it.
    pub id: TranscriptId,
    /// Where the transcript goes.
    pub to: String,
    /// The deployment that stored it from the visitor: it sends the email.
    pub received_by: String,
    /// When that deployment stored it.
    pub at: Millis,
}

/// Why an address is refused (before the relay's full parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Longer than [`MAX_ADDRESS_BYTES`].
    #[error("the address has {0} bytes, the limit is {MAX_ADDRESS_BYTES}")]
    TooLong(usize),
    /// Not `local@domain`, or with spaces or control characters.
    #[error("not an email address (local@domain)")]
    Malformed,
}

/// The shape every client and relay checks: bounded, one `@` with text on
/// both sides, no whitespace or control characters.
pub fn check_address(address: &str) -> Result<(), AddressError> {
    if address.len() > MAX_ADDRESS_BYTES {
        return Err(AddressError::TooLong(address.len()));
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(AddressError::Malformed);
    };
    if local.is_empty()
        || domain.is_empty()
        || address.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AddressError::Malformed);
    }
    Ok(())
}

impl TranscriptRequest {
    /// What no store holds: an address out of shape, a deployment name
    /// over the field limit, a time no reader holds.
    pub fn check(&self) -> Result<(), RecordError> {
        check_address(&self.to).map_err(|error| {
            let text = match error {
                AddressError::TooLong(bytes) => TextError::TooLong {
                    chars: bytes,
                    limit: MAX_ADDRESS_BYTES,
                },
                AddressError::Malformed => TextError::Empty,
            };
            RecordError::Text("transcript address", text)
        })?;
        check_field(&self.received_by)
            .map_err(|error| RecordError::Text("transcript received_by", error))?;
        check_number("transcript at", self.at.0)
    }
}

/// Merges `incoming` into `stored`, a set by id kept in id order; whether
/// `stored` changed. Two requests under one id (no honest client makes
/// them) settle on the one earlier in (to, received_by, at) order, so the
/// merge is commutative, associative and idempotent.
pub fn merge_requests(stored: &mut Vec<TranscriptRequest>, incoming: &[TranscriptRequest]) -> bool {
    let mut changed = false;
    for request in incoming {
        match stored.binary_search_by(|r| r.id.cmp(&request.id)) {
            Ok(at) => {
                let key = |r: &TranscriptRequest| (r.to.clone(), r.received_by.clone(), r.at);
                if key(request) < key(&stored[at]) {
                    stored[at] = request.clone();
                    changed = true;
                }
            }
            Err(at) => {
                stored.insert(at, request.clone());
                changed = true;
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Ulid;

    fn request(id: u128, to: &str, by: &str) -> TranscriptRequest {
        TranscriptRequest {
            id: TranscriptId(Ulid(id)),
            to: to.into(),
            received_by: by.into(),
            at: Millis(id as u64),
        }
    }

    #[test]
    fn addresses_are_bounded_and_shaped() {
        assert_eq!(check_address("ada@example.com"), Ok(()));
        assert_eq!(check_address("ada"), Err(AddressError::Malformed));
        assert_eq!(check_address("@example.com"), Err(AddressError::Malformed));
        assert_eq!(check_address("ada@"), Err(AddressError::Malformed));
        assert_eq!(
            check_address("a da@example.com"),
            Err(AddressError::Malformed)
        );
        assert_eq!(
            check_address("ada@example.com\r\nBcc: x@y"),
            Err(AddressError::Malformed)
        );
        let long = format!("{}@example.com", "a".repeat(MAX_ADDRESS_BYTES));
        assert_eq!(check_address(&long), Err(AddressError::TooLong(long.len())));
    }

    #[test]
    fn requests_merge_as_a_set_in_any_order() {
        let a = request(1, "a@x.y", "primary");
        let b = request(2, "b@x.y", "redundant");
        let rival = request(1, "z@x.y", "redundant");
        let copies = [a.clone(), b.clone(), rival.clone(), a.clone()];
        let mut forward = Vec::new();
        for copy in &copies {
            merge_requests(&mut forward, std::slice::from_ref(copy));
        }
        let mut backward = Vec::new();
        for copy in copies.iter().rev() {
            merge_requests(&mut backward, std::slice::from_ref(copy));
        }
        assert_eq!(forward, backward);
        assert_eq!(forward, vec![a.clone(), b.clone()]);
        assert!(
            !merge_requests(&mut forward, &[a, b]),
            "a replay changes nothing"
        );
    }
}
