//! The serde derive as the reference for [`FromJson`]: reads a JSON value
//! both ways and says whether they agree, on a sample and on the sample
//! altered at every path in it. For the tests of every [`FromJson`] impl,
//! here and in the widget (which reads its own types the same way, and
//! runs these in the browser over `JSON.parse`).
//!
//! Agreeing is: the same value, or both refusing. The one allowed
//! difference: the derive reads a struct written as a JSON array (by
//! position), which [`FromJson`] refuses; nothing writes structs as arrays.

use super::decode_json::FromJson;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;

/// True when `input` holds an array where `canonical` (the derive's
/// reading written out again) holds an object: a struct the derive read
/// from an array, by position.
pub fn array_for_struct(input: &Value, canonical: &Value) -> bool {
    match (input, canonical) {
        (Value::Array(_), Value::Object(_)) => true,
        (Value::Array(a), Value::Array(b)) => a.iter().zip(b).any(|(a, b)| array_for_struct(a, b)),
        (Value::Object(a), Value::Object(b)) => a
            .iter()
            .any(|(key, a)| b.get(key).is_some_and(|b| array_for_struct(a, b))),
        _ => false,
    }
}

/// `value` read as `T` by the derive and by [`FromJson`]: what both read
/// (`None` when both refuse), or what differed.
pub fn judged_alike<T>(value: &Value) -> Result<Option<T>, String>
where
    T: FromJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    judged_alike_by(value, |value| {
        T::from_json(&value).map_err(|e| e.to_string())
    })
}

/// [`judged_alike`] with another reader in place of [`FromJson`] over a
/// `serde_json::Value` (the browser's tests read the value's text with
/// `JSON.parse`).
pub fn judged_alike_by<T>(
    value: &Value,
    read: impl Fn(&Value) -> Result<T, String>,
) -> Result<Option<T>, String>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let derived = serde_json::from_value::<T>(value.clone());
    match (derived, read(value)) {
        (Ok(a), Ok(b)) if a == b => Ok(Some(b)),
        (Err(_), Err(_)) => Ok(None),
        (Ok(a), Err(_))
            if serde_json::to_value(&a)
                .is_ok_and(|canonical| array_for_struct(value, &canonical)) =>
        {
            Ok(None)
        }
        (derived, read) => Err(format!(
            "the derive read {derived:?} but the reader {read:?} from {value}"
        )),
    }
}

/// The body of every ```json server block in docs/PROTOCOL.md: an
/// example of every frame a relay sends.
pub fn server_examples() -> Vec<String> {
    let doc = include_str!("../../../docs/PROTOCOL.md");
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "```json server" {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            out.push(body.join("\n"));
        }
    }
    out
}

/// Odd values to put in place of any value: each JSON type, integers at
/// the edges of `u32`, of what JavaScript holds exactly and of `u64`, a
/// float, a valid id, a few names of enum variants.
pub fn odd_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1.0e300),
        json!(4_294_967_296u64),
        json!((1u64 << 53) - 1),
        json!(1u64 << 53),
        json!(u64::MAX),
        json!(""),
        json!("x"),
        json!("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        json!("visitor"),
        json!("transfer"),
        json!([]),
        json!([1]),
        json!(["01ARZ3NDEKTSV4RRFFQ69G5FAV", {}]),
        json!({}),
    ]
}

/// `sample` altered at one path: each member or element dropped, each value
/// (at every depth) replaced by each of [`odd_values`], and an unknown
/// member added to each object.
pub fn alterations(sample: &Value) -> Vec<Value> {
    let mut out = odd_values();
    match sample {
        Value::Object(map) => {
            for (key, member) in map {
                let mut dropped = map.clone();
                dropped.remove(key);
                out.push(Value::Object(dropped));
                for altered in alterations(member) {
                    let mut changed = map.clone();
                    changed.insert(key.clone(), altered);
                    out.push(Value::Object(changed));
                }
            }
            let mut extra = map.clone();
            extra.insert("future".into(), json!([1, {"x": null}]));
            out.push(Value::Object(extra));
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let mut shorter = items.clone();
                shorter.remove(index);
                out.push(Value::Array(shorter));
                for altered in alterations(item) {
                    let mut changed = items.clone();
                    changed[index] = altered;
                    out.push(Value::Array(changed));
                }
            }
        }
        _ => {}
    }
    out
}

/// `sample` reads back as itself both ways, and every alteration of its
/// JSON is judged alike; returns how many alterations were read.
pub fn holds<T>(sample: T) -> Result<usize, String>
where
    T: FromJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    holds_by(sample, |value| {
        T::from_json(&value).map_err(|e| e.to_string())
    })
}

/// [`holds`] with another reader (see [`judged_alike_by`]).
pub fn holds_by<T>(sample: T, read: impl Fn(&Value) -> Result<T, String>) -> Result<usize, String>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let value = serde_json::to_value(&sample).map_err(|e| e.to_string())?;
    match judged_alike_by(&value, &read)? {
        Some(read) if read == sample => {}
        other => return Err(format!("{value} read back as {other:?}")),
    }
    let cases = alterations(&value);
    for case in &cases {
        judged_alike_by(case, &read)?;
    }
    Ok(cases.len())
}
