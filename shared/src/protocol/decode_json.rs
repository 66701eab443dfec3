//! Reading the wire and stored types out of a parsed JSON value without
//! serde: [`FromJson`] over any [`JsonView`].
//!
//! The browser bundles parse JSON with the browser's `JSON.parse` and read
//! the result into Rust types. Through serde, each type read costs its
//! derived `Deserialize` (a visitor for maps, one for sequences, a field
//! identifier visitor, monomorphised against the JS value deserializer):
//! most of the chat bundle. Here a type is read by a few lines that name
//! its fields, over a handful of accessors, and a value is read once, by
//! one path.
//!
//! What is read is what the serde derive reads from JSON objects: the same
//! field names, defaults and `Option`s (absent or `null` is `None`),
//! unknown fields ignored, enums as their snake_case names, integers exact
//! and in range (no floats where an integer belongs), ids in their text
//! form. The derive is the reference: the tests read every documented
//! frame, and every one of them and the stored types with each field
//! dropped, retyped or set to odd values, both ways and compare. The
//! derive also reads structs written as JSON arrays; nothing writes them,
//! and here they are refused.
//!
//! The browser implements [`JsonView`] over JS values; [`JsonView`] for
//! `&serde_json::Value` is the native one (the tests, and
//! [`crate::protocol::ServerFrame::decode`]), with [`strict_value`] to
//! refuse duplicate keys as the derive does.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON value as a parser left it, read one accessor at a time.
pub trait JsonView: Sized {
    /// The member `key` of an object: `None` when the value is not an
    /// object or has no such member.
    fn member(&self, key: &str) -> Option<Self>;
    /// True for an object (not an array, not null).
    fn is_object(&self) -> bool;
    /// True for `null`.
    fn is_null(&self) -> bool;
    /// The text of a string.
    fn text(&self) -> Option<String>;
    /// A boolean.
    fn boolean(&self) -> Option<bool>;
    /// A number that is an integer from 0 to `u64::MAX`, held exactly.
    fn unsigned(&self) -> Option<u64>;
    /// Any number.
    fn number(&self) -> Option<f64>;
    /// The elements of an array.
    fn elements(&self) -> Option<Vec<Self>>;
}

/// Why a value did not read as the type asked for: the innermost field
/// that was missing or held something else (a few bytes of message, as
/// the browser logs and drops what it cannot read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// The field (empty until the enclosing struct names it).
    pub field: &'static str,
    /// Absent, rather than present with the wrong type or value.
    pub missing: bool,
}

impl JsonError {
    /// A value of the wrong type or out of range.
    pub const INVALID: JsonError = JsonError {
        field: "",
        missing: false,
    };

    /// A required field that is absent.
    pub fn missing(field: &'static str) -> JsonError {
        JsonError {
            field,
            missing: true,
        }
    }

    /// `self`, named after `field` unless an inner field already is.
    fn within(self, field: &'static str) -> JsonError {
        if self.field.is_empty() {
            JsonError { field, ..self }
        } else {
            self
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.missing, self.field) {
            (true, field) => write!(f, "missing field `{field}`"),
            (false, "") => f.write_str("invalid value"),
            (false, field) => write!(f, "invalid value in field `{field}`"),
        }
    }
}

impl std::error::Error for JsonError {}

/// A type read out of a [`JsonView`], as its serde derive reads it.
pub trait FromJson: Sized {
    /// Reads `value`.
    fn from_json<V: JsonView>(value: &V) -> Result<Self, JsonError>;

    /// The value of an absent field of this type: missing, except for
    /// `Option` (`None`), as the derive has it.
    fn absent(field: &'static str) -> Result<Self, JsonError> {
        Err(JsonError::missing(field))
    }
}

/// The members of an object, read field by field.
pub struct Fields<'a, V>(&'a V);

impl<'a, V: JsonView> Fields<'a, V> {
    /// `value`'s fields; an error unless it is an object.
    pub fn of(value: &'a V) -> Result<Fields<'a, V>, JsonError> {
        if value.is_object() {
            Ok(Fields(value))
        } else {
            Err(JsonError::INVALID)
        }
    }

    /// The field `key` (absent: [`FromJson::absent`]).
    pub fn get<T: FromJson>(&self, key: &'static str) -> Result<T, JsonError> {
        match self.0.member(key) {
            Some(value) => T::from_json(&value).map_err(|e| e.within(key)),
            None => T::absent(key),
        }
    }

    /// The field `key`, or the default when it is absent
    /// (`#[serde(default)]`; `null` is still an error unless `T` is an
    /// `Option`).
    pub fn or_default<T: FromJson + Default>(&self, key: &'static str) -> Result<T, JsonError> {
        match self.0.member(key) {
            Some(value) => T::from_json(&value).map_err(|e| e.within(key)),
            None => Ok(T::default()),
        }
    }

    /// The tag of an internally tagged enum, and which of `names` it is.
    pub fn tag(&self, key: &'static str, names: &[&str]) -> Result<(usize, String), JsonError> {
        let tag: String = self.get(key)?;
        let index = names.iter().position(|name| *name == tag);
        index
            .map(|index| (index, tag.clone()))
            .ok_or(JsonError::INVALID.within(key))
    }
}

/// An enum of unit variants, each written as its name (for the macro
/// `unit_variants_from_json!`, which implements both this and [`FromJson`]).
pub trait UnitVariants: Copy + 'static {
    /// Every variant, with its name on the wire.
    const VARIANTS: &'static [(Self, &'static str)];

    /// The variant `value` names.
    fn read<V: JsonView>(value: &V) -> Result<Self, JsonError> {
        let text = value.text().ok_or(JsonError::INVALID)?;
        Self::VARIANTS
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(variant, _)| *variant)
            .ok_or(JsonError::INVALID)
    }

    /// This variant's name on the wire (what logs show: `{:?}` would link
    /// the variants' Debug names too, a second table of the same words).
    fn wire_name(self) -> &'static str
    where
        Self: PartialEq,
    {
        Self::VARIANTS
            .iter()
            .find(|(variant, _)| *variant == self)
            .map_or("", |(_, name)| name)
    }
}

impl FromJson for String {
    fn from_json<V: JsonView>(value: &V) -> Result<String, JsonError> {
        value.text().ok_or(JsonError::INVALID)
    }
}

impl FromJson for bool {
    fn from_json<V: JsonView>(value: &V) -> Result<bool, JsonError> {
        value.boolean().ok_or(JsonError::INVALID)
    }
}

impl FromJson for u64 {
    fn from_json<V: JsonView>(value: &V) -> Result<u64, JsonError> {
        value.unsigned().ok_or(JsonError::INVALID)
    }
}

impl FromJson for u32 {
    fn from_json<V: JsonView>(value: &V) -> Result<u32, JsonError> {
        value
            .unsigned()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(JsonError::INVALID)
    }
}

impl FromJson for f64 {
    fn from_json<V: JsonView>(value: &V) -> Result<f64, JsonError> {
        value.number().ok_or(JsonError::INVALID)
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json<V: JsonView>(value: &V) -> Result<Option<T>, JsonError> {
        if value.is_null() {
            Ok(None)
        } else {
            T::from_json(value).map(Some)
        }
    }

    fn absent(_: &'static str) -> Result<Option<T>, JsonError> {
        Ok(None)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json<V: JsonView>(value: &V) -> Result<Vec<T>, JsonError> {
        let elements = value.elements().ok_or(JsonError::INVALID)?;
        // A loop, not `collect::<Result<_, _>>()`: its adapter cost the
        // browser bundle a kilobyte or two per element type.
        let mut out = Vec::with_capacity(elements.len());
        for element in &elements {
            out.push(T::from_json(element)?);
        }
        Ok(out)
    }
}

impl<A: FromJson, B: FromJson> FromJson for (A, B) {
    fn from_json<V: JsonView>(value: &V) -> Result<(A, B), JsonError> {
        match value.elements().ok_or(JsonError::INVALID)?.as_slice() {
            [a, b] => Ok((A::from_json(a)?, B::from_json(b)?)),
            _ => Err(JsonError::INVALID),
        }
    }
}

impl<'a> JsonView for &'a Value {
    fn member(&self, key: &str) -> Option<&'a Value> {
        self.as_object()?.get(key)
    }

    fn is_object(&self) -> bool {
        Value::is_object(self)
    }

    fn is_null(&self) -> bool {
        Value::is_null(self)
    }

    fn text(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }

    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }

    fn unsigned(&self) -> Option<u64> {
        self.as_u64()
    }

    fn number(&self) -> Option<f64> {
        self.as_f64()
    }

    fn elements(&self) -> Option<Vec<&'a Value>> {
        self.as_array().map(|items| items.iter().collect())
    }
}

/// `text` parsed as serde_json parses it into a [`Value`], except that an
/// object with a key twice is an error (a `Value` keeps the last, where the
/// derive refuses a duplicate field).
pub fn strict_value(text: &str) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = deserializer.deserialize_any(Strict)?;
    deserializer.end()?;
    Ok(value)
}

/// Builds a [`Value`] as serde_json's own visitor does, refusing duplicate keys.
struct Strict;

impl<'de> de::DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(Strict)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::from(x))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::from(s))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Strict)?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
#[path = "decode_json_tests.rs"]
mod tests;
