//! Signing secrets and signatures, as Standard Webhooks defines them
//! (<https://www.standardwebhooks.com/>): the secret is `whsec_` and the
//! base64 of 32 random bytes, those bytes are the HMAC-SHA256 key, and each
//! delivery carries
//!
//! ```text
//! webhook-id: evt_...
//! webhook-timestamp: <seconds since the epoch>
//! webhook-signature: v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
//! ```
//!
//! so a receiver checks the body and the time together (a replay of an old
//! delivery fails its tolerance on the timestamp), and dedupes by the id.
//! Verification examples in JavaScript and Python are in docs/API.md; a
//! test runs both against [`signature`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of every secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key a secret stands for (`None`: not one of ours).
pub fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX)?)
        .ok()
        .filter(|key| !key.is_empty())
}

/// The `webhook-signature` header's value for one attempt.
pub fn signature(key: &[u8], id: &str, timestamp: u64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_32_random_bytes_behind_its_prefix() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_"));
        assert_eq!(key_of(&a).unwrap().len(), 32);
        assert_eq!(key_of("whsec_!!"), None);
        assert_eq!(key_of("sk_abc"), None);
    }

    /// The example of the Standard Webhooks specification's test vectors.
    #[test]
    fn the_signature_matches_the_standard_webhooks_test_vector() {
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signed = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
