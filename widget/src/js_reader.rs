//! Reads Rust values out of JS values: a serde `Deserializer` over what
//! `JSON.parse` gives (and over the plain object a page passes as
//! `window.TwinlineConfig`).
//!
//! It replaces serde-wasm-bindgen's deserializer, for size. Every type the
//! widget reads instantiates the deserializer once more, so what the
//! deserializer links matters; this one leaves out what JSON never holds
//! (JS Maps and other iterables, typed arrays, bytes, chars, 128-bit
//! integers), caches no field names, and, above all, formats error messages
//! without serde's `Unexpected` `Display`: that one formats floats with
//! Rust's float printing (`core::fmt::float`, about 16 KB of wasm), which
//! the bundle needed for nothing else. Floats in messages are printed by
//! the browser instead and written out the way Rust writes them.
//!
//! For the shapes JSON has, it reads what serde-wasm-bindgen 0.6 read, with
//! the same error messages (`Error: ` and serde's wording): null and
//! undefined are `None` and `()`, integers must be safe JS integers or
//! BigInts in range, a struct reads the fields it names from any object
//! (a field whose value is `undefined` but which the object has counts as
//! present), a sequence must be an array, an enum
//! is a string (unit variant) or an object with one key, and an ignored
//! value is not looked at. Where serde-wasm-bindgen failed with a JS
//! `TypeError` (a string, number or null where a sequence belongs: it asked
//! the value for its iterator), this fails with serde's invalid-type words.
//! The browser tests in `widget/tests/json.rs` compare the two.

use js_sys::{Array, Number, Object, Reflect};
use serde::de::{self, DeserializeSeed, Expected, Unexpected, Visitor};
use std::fmt;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

/// Why a JS value did not read as the type asked for.
#[derive(Debug)]
pub struct ReadError(String);

impl fmt::Display for ReadError {
    /// As serde-wasm-bindgen wrote its errors: `String()` of a JS `Error`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Error: ")?;
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadError {}

impl de::Error for ReadError {
    fn custom<T: fmt::Display>(message: T) -> ReadError {
        ReadError(message.to_string())
    }

    // serde's own versions of the next two format `Unexpected` with its
    // `Display`, which links Rust's float formatting; same words here.
    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> ReadError {
        ReadError(format!(
            "invalid type: {}, expected {expected}",
            Described(unexpected)
        ))
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> ReadError {
        ReadError(format!(
            "invalid value: {}, expected {expected}",
            Described(unexpected)
        ))
    }
}

/// serde's `Display` of `Unexpected`, word for word, with floats printed
/// by [`float_text`].
struct Described<'a>(Unexpected<'a>);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Unexpected::Bool(b) => write!(f, "boolean `{b}`"),
            Unexpected::Unsigned(i) => write!(f, "integer `{i}`"),
            Unexpected::Signed(i) => write!(f, "integer `{i}`"),
            Unexpected::Float(x) => write!(f, "floating point `{}`", float_text(x)),
            Unexpected::Char(c) => write!(f, "character `{c}`"),
            Unexpected::Str(s) => write!(f, "string {s:?}"),
            Unexpected::Bytes(_) => f.write_str("byte array"),
            Unexpected::Unit => f.write_str("unit value"),
            Unexpected::Option => f.write_str("Option value"),
            Unexpected::NewtypeStruct => f.write_str("newtype struct"),
            Unexpected::Seq => f.write_str("sequence"),
            Unexpected::Map => f.write_str("map"),
            Unexpected::Enum => f.write_str("enum"),
            Unexpected::UnitVariant => f.write_str("unit variant"),
            Unexpected::NewtypeVariant => f.write_str("newtype variant"),
            Unexpected::TupleVariant => f.write_str("tuple variant"),
            Unexpected::StructVariant => f.write_str("struct variant"),
            Unexpected::Other(other) => f.write_str(other),
        }
    }
}

#[wasm_bindgen]
extern "C" {
    /// JS `String(value)`.
    #[wasm_bindgen(js_name = String)]
    fn js_string(value: &JsValue) -> String;
}

/// `x` as serde writes a float in a message: Rust's `Display` (shortest
/// digits that read back the same, never an exponent), then `.0` if that
/// has no decimal point. The browser's `String(x)` has the same digits,
/// with an exponent from 1e21 up and below 1e-6, which is written out here.
pub fn float_text(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let js = js_string(&JsValue::from_f64(x));
    let (sign, unsigned) = match js.strip_prefix('-') {
        Some(rest) => ("-", rest),
        // `String(-0)` is "0"; Rust writes the sign.
        None if x == 0.0 && x.is_sign_negative() => ("-", js.as_str()),
        None => ("", js.as_str()),
    };
    let mut text = match unsigned.split_once('e') {
        None => unsigned.to_string(),
        Some((mantissa, exponent)) => {
            let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
            // JS writes one digit before the point: the point goes after
            // 1 + exponent digits.
            let point = 1 + exponent.parse::<i32>().unwrap_or(0);
            if point <= 0 {
                format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
            } else if point as usize >= digits.len() {
                format!("{digits}{}", "0".repeat(point as usize - digits.len()))
            } else {
                let (whole, fraction) = digits.split_at(point as usize);
                format!("{whole}.{fraction}")
            }
        }
    };
    if !text.contains('.') {
        text.push_str(".0");
    }
    format!("{sign}{text}")
}

/// A JS value to read a Rust value from.
pub struct JsReader(pub JsValue);

impl JsReader {
    fn is_nullish(&self) -> bool {
        self.0.is_null() || self.0.is_undefined()
    }

    /// What the value is, for an error message (serde-wasm-bindgen's
    /// choice of words).
    #[cold]
    fn invalid_type(&self, expected: &dyn Expected) -> ReadError {
        let text;
        let unexpected = if self.is_nullish() {
            Unexpected::Unit
        } else if let Some(b) = self.0.as_bool() {
            Unexpected::Bool(b)
        } else if let Some(x) = self.0.as_f64() {
            Unexpected::Float(x)
        } else if let Some(s) = self.0.as_string() {
            text = s;
            Unexpected::Str(&text)
        } else {
            text = format!("{:?}", self.0);
            Unexpected::Other(&text)
        };
        de::Error::invalid_type(unexpected, expected)
    }

    /// The value as an integer, if it is a safe JS integer or a BigInt that
    /// fits `i64` (`Ok(Some)`), or a BigInt that does not (`Err`).
    fn signed(&self) -> Result<Option<i64>, ReadError> {
        if self.0.is_bigint() {
            return i64::try_from(self.0.clone()).map(Some).map_err(|_| {
                de::Error::custom(
                    "Couldn't deserialize i64 from a BigInt outside i64::MIN..i64::MAX bounds",
                )
            });
        }
        Ok(self.safe_integer())
    }

    fn safe_integer(&self) -> Option<i64> {
        if Number::is_safe_integer(&self.0) {
            self.0.as_f64().map(|x| x as i64)
        } else {
            None
        }
    }

    /// The value as `u64` (see [`JsReader::signed`]).
    fn unsigned(&self) -> Result<Option<u64>, ReadError> {
        if self.0.is_bigint() {
            return u64::try_from(self.0.clone()).map(Some).map_err(|_| {
                de::Error::custom(
                    "Couldn't deserialize u64 from a BigInt outside u64::MIN..u64::MAX bounds",
                )
            });
        }
        Ok(self.safe_integer().and_then(|i| u64::try_from(i).ok()))
    }
}

impl<'de> de::Deserializer<'de> for JsReader {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        if self.is_nullish() {
            visitor.visit_unit()
        } else if let Some(b) = self.0.as_bool() {
            visitor.visit_bool(b)
        } else if self.0.is_bigint() {
            match i64::try_from(self.0.clone()) {
                Ok(i) => visitor.visit_i64(i),
                Err(_) => match u64::try_from(self.0) {
                    Ok(u) => visitor.visit_u64(u),
                    Err(_) => Err(de::Error::custom(
                        "Couldn't deserialize i64 or u64 from a BigInt outside i64::MIN..u64::MAX bounds",
                    )),
                },
            }
        } else if let Some(x) = self.0.as_f64() {
            match self.safe_integer() {
                Some(i) => visitor.visit_i64(i),
                None => visitor.visit_f64(x),
            }
        } else if let Some(s) = self.0.as_string() {
            visitor.visit_string(s)
        } else if Array::is_array(&self.0) {
            self.deserialize_seq(visitor)
        } else if self.0.is_object() {
            self.deserialize_map(visitor)
        } else {
            Err(self.invalid_type(&visitor))
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0.as_bool() {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.signed()? {
            Some(i) => visitor.visit_i64(i),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.unsigned()? {
            Some(u) => visitor.visit_u64(u),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    // Narrower integers: serde's visitors check the range, as they did
    // behind serde-wasm-bindgen (which took no BigInts for these).
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_i32(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_i32(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.safe_integer() {
            Some(i) => visitor.visit_i64(i),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_u32(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_u32(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.safe_integer().and_then(|i| u64::try_from(i).ok()) {
            Some(u) => visitor.visit_u64(u),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0.as_f64() {
            Some(x) => visitor.visit_f64(x),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0.as_string() {
            Some(s) => visitor.visit_string(s),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        if self.is_nullish() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        if self.is_nullish() {
            visitor.visit_unit()
        } else {
            Err(self.invalid_type(&visitor))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let Some(array) = self.0.dyn_ref::<Array>() else {
            return Err(self.invalid_type(&visitor));
        };
        visitor.visit_seq(Items {
            array: array.clone(),
            next: 0,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        if !self.0.is_object() {
            return Err(self.invalid_type(&visitor));
        }
        visitor.visit_map(Entries {
            entries: Object::entries(self.0.unchecked_ref()),
            next: 0,
            value: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        if !self.0.is_object() {
            return Err(self.invalid_type(&visitor));
        }
        visitor.visit_map(Fields {
            object: self.0,
            fields: fields.iter().enumerate(),
            value: None,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        let (tag, payload) = if self.0.is_string() {
            (self.0, JsValue::UNDEFINED)
        } else if self.0.is_object() {
            let entries = Object::entries(self.0.unchecked_ref());
            if entries.length() != 1 {
                return Err(de::Error::invalid_length(entries.length() as usize, &"1"));
            }
            let pair: Array = entries.get(0).unchecked_into();
            (pair.get(0), pair.get(1))
        } else {
            return Err(self.invalid_type(&visitor));
        };
        visitor.visit_enum(Variant {
            tag,
            payload,
            variants,
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        visitor.visit_unit()
    }

    // JSON has no chars, bytes or 128-bit integers; the widget reads none.
    serde::forward_to_deserialize_any! { i128 u128 char bytes byte_buf }
}

/// The elements of an array, in order. Elements the visitor does not ask
/// for are ignored (a tuple from a longer array), as serde-wasm-bindgen
/// ignored them.
struct Items {
    array: Array,
    next: u32,
}

impl<'de> de::SeqAccess<'de> for Items {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        if self.next >= self.array.length() {
            return Ok(None);
        }
        let item = self.array.get(self.next);
        self.next += 1;
        seed.deserialize(JsReader(item)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.array.length().saturating_sub(self.next) as usize)
    }
}

/// An object's own `[key, value]` pairs (`Object.entries`), for maps.
struct Entries {
    entries: Array,
    next: u32,
    value: Option<JsValue>,
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        if self.next >= self.entries.length() {
            return Ok(None);
        }
        let pair: Array = self.entries.get(self.next).unchecked_into();
        self.next += 1;
        self.value = Some(pair.get(1));
        seed.deserialize(JsReader(pair.get(0))).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ReadError> {
        seed.deserialize(JsReader(self.value.take().unwrap_or(JsValue::UNDEFINED)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.length().saturating_sub(self.next) as usize)
    }
}

/// The fields a struct names, read from an object one by one; fields the
/// object lacks are skipped (serde then uses the default or reports them
/// missing), other keys of the object are never looked at.
///
/// Each field goes to the struct's visitor as its position in `fields`,
/// not its name: the derive's field visitor then picks the field with a
/// jump table instead of comparing names, and its name-matching code is
/// never linked (a few hundred bytes per struct type). The derive numbers
/// fields in the order it lists them in `fields`, which holds as long as
/// no field has a `#[serde(alias)]` (aliases are listed there too); the
/// widget's types have none, and the browser tests read every one of them
/// both ways.
struct Fields {
    object: JsValue,
    fields: std::iter::Enumerate<std::slice::Iter<'static, &'static str>>,
    value: Option<JsValue>,
}

impl Fields {
    /// The position of the next named field the object has, with its value.
    fn next_present(&mut self) -> Option<u64> {
        for (index, field) in self.fields.by_ref() {
            let key = JsValue::from_str(field);
            let value = Reflect::get(&self.object, &key).unwrap_or(JsValue::UNDEFINED);
            // `undefined` may be a missing field or one set to undefined.
            if !value.is_undefined() || Reflect::has(&self.object, &key).unwrap_or(false) {
                self.value = Some(value);
                return Some(index as u64);
            }
        }
        None
    }
}

impl<'de> de::MapAccess<'de> for Fields {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        match self.next_present() {
            Some(index) => seed
                .deserialize(de::value::U64Deserializer::<ReadError>::new(index))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ReadError> {
        seed.deserialize(JsReader(self.value.take().unwrap_or(JsValue::UNDEFINED)))
    }
}

/// An enum's variant name and its content (`undefined` for a unit variant
/// written as a string).
///
/// The variant goes to the enum's visitor as its position in `variants`,
/// found here once for every enum type, so the derive's name matching is
/// not linked (the same trick as [`Fields`], with the same condition: no
/// `#[serde(alias)]` and no `#[serde(other)]` variant).
struct Variant {
    tag: JsValue,
    payload: JsValue,
    variants: &'static [&'static str],
}

/// The position of variant `tag` in `variants`, or serde's unknown-variant
/// error (what the derive said for a name it did not know). `tag` is a
/// string: the value itself, or a key of the object holding it.
fn variant_index(tag: &JsValue, variants: &'static [&'static str]) -> Result<u64, ReadError> {
    let name = tag.as_string().unwrap_or_default();
    variants
        .iter()
        .position(|variant| *variant == name)
        .map(|index| index as u64)
        .ok_or_else(|| de::Error::unknown_variant(&name, variants))
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = ReadError;
    type Variant = JsReader;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, JsReader), ReadError> {
        let index = variant_index(&self.tag, self.variants)?;
        let variant = seed.deserialize(de::value::U64Deserializer::<ReadError>::new(index))?;
        Ok((variant, JsReader(self.payload)))
    }
}

impl<'de> de::VariantAccess<'de> for JsReader {
    type Error = ReadError;

    fn unit_variant(self) -> Result<(), ReadError> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, ReadError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, ReadError> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}
