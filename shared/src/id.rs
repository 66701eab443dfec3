//! Client-made, globally unique identifiers.
//!
//! Every message, chat and offline note carries a 128-bit id chosen by whoever
//! created it, laid out like a ULID: 48 bits of milliseconds, then 80 random
//! bits, written as 26 Crockford base32 characters. Because the id is fixed at
//! creation, any store can merge by id: a replay after a failover is a no-op
//! instead of a duplicate. The caller supplies both the time and the
//! randomness (the core has neither a clock nor an RNG).

use crate::time::Millis;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ENCODED_LEN: usize = 26;

/// A 128-bit ULID-shaped identifier.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ulid(pub u128);

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Ids are exactly 26 characters.
    #[error("an id has 26 characters, this one has {0}")]
    Length(usize),
    /// Only Crockford base32 characters are allowed.
    #[error("'{0}' is not a Crockford base32 character")]
    Character(char),
    /// The first character may only encode 3 bits.
    #[error("the id overflows 128 bits")]
    Overflow,
}

impl Ulid {
    /// An id made at `now` from 80 bits of caller-supplied randomness.
    pub fn new(now: Millis, random: u128) -> Ulid {
        let time = (now.0 as u128 & ((1 << 48) - 1)) << 80;
        Ulid(time | (random & ((1 << 80) - 1)))
    }

    /// The creation time encoded in the id.
    pub fn millis(self) -> Millis {
        Millis((self.0 >> 80) as u64)
    }
}

impl fmt::Display for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; ENCODED_LEN];
        let mut value = self.0;
        for slot in out.iter_mut().rev() {
            *slot = ALPHABET[(value & 31) as usize];
            value >>= 5;
        }
        // Every byte comes from ALPHABET, which is ASCII.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Ulid {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Ulid, IdError> {
        if s.len() != ENCODED_LEN {
            return Err(IdError::Length(s.chars().count()));
        }
        let mut value: u128 = 0;
        for (index, c) in s.chars().enumerate() {
            let digit = decode_char(c).ok_or(IdError::Character(c))?;
            if index == 0 && digit > 7 {
                return Err(IdError::Overflow);
            }
            value = (value << 5) | digit as u128;
        }
        Ok(Ulid(value))
    }
}

fn decode_char(c: char) -> Option<u8> {
    let upper = c.to_ascii_uppercase();
    // Crockford: I and L read as 1, O as 0.
    let upper = match upper {
        'I' | 'L' => '1',
        'O' => '0',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == upper)
        .map(|p| p as u8)
}

impl Serialize for Ulid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ulid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Ulid, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Ulid);

        impl $name {
            /// A new id made at `now` from caller-supplied randomness.
            pub fn new(now: Millis, random: u128) -> Self {
                Self(Ulid::new(now, random))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                s.parse().map($name)
            }
        }
    };
}

id_type!(
    /// Identifies one chat message, everywhere and forever.
    MessageId
);
id_type!(
    /// Identifies one chat (a conversation between a visitor and operators).
    ChatId
);
id_type!(
    /// Identifies one visitor (a browser), chosen by the relay when it signs the visitor's token.
    VisitorId
);
id_type!(
    /// Identifies one offline message left while no operator was online.
    OfflineId
);
id_type!(
    /// Identifies one rating a visitor gave a chat (a changed rating is a
    /// new id).
    RatingId
);
id_type!(
    /// Identifies one attached file (chosen by the uploading client, so a
    /// retry or the other deployment meets the same file).
    FileId
);
id_type!(
    /// Identifies one request for a chat's transcript by email.
    TranscriptId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for value in [
            0u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
        ] {
            let id = Ulid(value);
            let text = id.to_string();
            assert_eq!(text.len(), 26);
            assert_eq!(text.parse::<Ulid>().unwrap(), id);
        }
    }

    #[test]
    fn time_prefix_orders_ids_by_creation() {
        let early = Ulid::new(Millis(1_000), u128::MAX);
        let late = Ulid::new(Millis(1_001), 0);
        assert!(early < late);
        assert_eq!(late.millis(), Millis(1_001));
        assert!(early.to_string() < late.to_string());
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!("abc".parse::<Ulid>(), Err(IdError::Length(3)));
        assert_eq!(
            "0000000000000000000000000U".parse::<Ulid>(),
            Err(IdError::Character('U'))
        );
        assert_eq!(
            "80000000000000000000000000".parse::<Ulid>(),
            Err(IdError::Overflow)
        );
    }

    #[test]
    fn serde_uses_the_text_form() {
        let id = MessageId(Ulid(42));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"0000000000000000000000001A\"");
        assert_eq!(serde_json::from_str::<MessageId>(&json).unwrap(), id);
    }
}
