//! [`FromJson`] against the serde derive, on the stored and HTTP types the
//! browser reads: a full sample of each, and the sample altered at every
//! path in it, read both ways ([`reference`]). Frames have their own, on
//! the documented examples (decode_tests).

use super::*;
use crate::model::{ChatState, Message, Role};
use crate::protocol::reference::{self, odd_values};
use crate::protocol::{DeploymentRole, ErrorCode, samples};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;

/// `sample` and every alteration of it judged alike both ways.
fn holds<T>(sample: T)
where
    T: FromJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    let cases = reference::holds(sample).unwrap_or_else(|error| panic!("{error}"));
    assert!(cases > 20, "only {cases} alterations");
}

/// `value` read both ways, which must agree.
fn agree<T>(value: &Value) -> Option<T>
where
    T: FromJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    reference::judged_alike(value).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn a_session_snapshot_reads_as_the_derive_reads_it() {
    holds(samples::snapshot());
}

#[test]
fn the_http_bodies_read_as_the_derive_reads_them() {
    holds(samples::health());
    holds(samples::active());
    holds(samples::token());
    holds(samples::login());
}

#[test]
fn the_parts_of_frames_read_as_the_derive_reads_them() {
    holds(samples::chat_sync());
    holds(samples::queue_entry());
    holds(samples::note());
}

/// Every variant of `T` is named as serde names it, and nothing else reads.
fn named_as_serde_names<T>()
where
    T: UnitVariants + FromJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    for (variant, name) in T::VARIANTS {
        assert_eq!(serde_json::to_value(variant).unwrap(), json!(name));
        assert_eq!(agree::<T>(&json!(name)), Some(*variant));
        assert_eq!(variant.wire_name(), *name);
    }
    for odd in odd_values() {
        agree::<T>(&odd);
    }
    agree::<T>(&json!("Visitor"));
}

#[test]
fn enums_are_read_by_serdes_names() {
    named_as_serde_names::<Role>();
    named_as_serde_names::<ChatState>();
    named_as_serde_names::<DeploymentRole>();
    named_as_serde_names::<ErrorCode>();
}

#[test]
fn errors_name_the_innermost_field() {
    let mut value = serde_json::to_value(samples::message()).unwrap();
    value["author"]["role"] = json!("robot");
    assert_eq!(
        Message::from_json(&&value).unwrap_err().to_string(),
        "invalid value in field `role`"
    );
    value.as_object_mut().unwrap().remove("author");
    assert_eq!(
        Message::from_json(&&value).unwrap_err().to_string(),
        "missing field `author`"
    );
    assert_eq!(
        Message::from_json(&&json!([])).unwrap_err().to_string(),
        "invalid value"
    );
}

#[test]
fn duplicate_keys_are_refused_like_the_derive_does() {
    assert!(strict_value(r#"{"a":1,"a":2}"#).is_err());
    assert!(strict_value(r#"{"a":{"b":1,"b":1}}"#).is_err());
    assert!(strict_value(r#"[{"a":1},{"a":2}]"#).is_ok());
    assert!(strict_value(r#"{"a":1} x"#).is_err());
    for text in [
        r#"{"a":[1,2.5,-3,"x",null,true,{"b":{}}]}"#,
        "18446744073709551615",
        "-9223372036854775808",
        r#""\u00e9\n""#,
    ] {
        assert_eq!(
            strict_value(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap(),
            "{text}"
        );
    }
}
