//! The typed fast path: a JSON payload decoded straight into its type and vouched for by
//! the check `define_events!` generates ([`Event::known_valid`]), so the server can skip
//! the JSON Schema validator.
//!
//! The fast path may accept only what the validator accepts. serde's derive reads more
//! than a payload's schema allows, so the payload is not read by `serde_json::from_str`
//! but through [`from_str`], which reads JSON the way the schema does:
//!
//! - a struct is an object only: serde's derive also reads one from an array, by position,
//!   where the schema says `"type": "object"`;
//! - an enum is a string only: serde also reads a unit variant from `{"variant": null}`,
//!   where the schema of a `define_events!` enum is a string `enum`;
//! - an unknown field (the schema has no `additionalProperties`, so any field is allowed)
//!   is read as strictly as a known one: serde skips it without converting its numbers or
//!   counting its depth, so `1e999` or an array nested deeper than serde_json's limit
//!   passed, where the validator's input (`serde_json::Value`) refuses both.
//!
//! Anything [`from_str`] refuses goes to the validator, which decides and names each
//! failing field.

use crate::event::Event;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, Visitor,
};
use std::fmt;

/// Decodes JSON text into `T`, refusing what the JSON Schema of a `define_events!`
/// payload refuses before its constraints are checked (see the module docs).
pub fn from_str<'de, T: de::Deserialize<'de>>(text: &'de str) -> serde_json::Result<T> {
    let mut json = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(Strict(&mut json))?;
    json.end()?;
    Ok(value)
}

/// The payload of `E`, when the fast path vouches for `text`: decoded by [`from_str`] and
/// passed by [`Event::known_valid`]. `None` means "not known": the validator decides.
pub fn decode_vouched<E: Event>(text: &str) -> Option<E::Payload> {
    if !E::TYPED_CHECK {
        return None;
    }
    let payload = from_str::<E::Payload>(text).ok()?;
    E::known_valid(&payload).then_some(payload)
}

/// A deserializer that hands every nested value to a [`Strict`] deserializer too.
struct Strict<D>(D);

macro_rules! forward_deserialize {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Nested::new(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Nested::new(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_newtype_struct(name, Nested::new(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Nested::new(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_tuple_struct(name, len, Nested::new(visitor))
    }

    /// An object only: the array form of serde's derive is refused.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = Nested {
            visitor,
            array: false,
        };
        self.0.deserialize_struct(name, fields, visitor)
    }

    /// A string naming a unit variant only: the `{"variant": …}` form is refused.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_str(UnitVariant(visitor))
    }

    /// Read in full, as `serde_json::Value` would read it, and dropped.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Ignore)?;
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A visitor whose nested values are read by [`Strict`] deserializers.
struct Nested<V> {
    visitor: V,
    /// Whether an array is read (`false` for a struct).
    array: bool,
}

impl<V> Nested<V> {
    fn new(visitor: V) -> Self {
        Nested {
            visitor,
            array: true,
        }
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.visitor.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Nested<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Strict(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Strict(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        if self.array {
            self.visitor.visit_seq(StrictSeq(seq))
        } else {
            Err(de::Error::invalid_type(Unexpected::Seq, &self))
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(StrictMap(map))
    }

    // `visit_enum` keeps the default, a refusal: enums are read by `UnitVariant`.
}

/// The items of an array, each read by a [`Strict`] deserializer.
struct StrictSeq<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// The keys and values of an object, each read by a [`Strict`] deserializer.
struct StrictMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for StrictMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(StrictSeed(seed))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// A seed whose value is read by a [`Strict`] deserializer.
struct StrictSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrictSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(deserializer))
    }
}

/// Reads an enum from a string naming one of its unit variants.
struct UnitVariant<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for UnitVariant<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        let variant: de::value::StrDeserializer<'_, E> = v.into_deserializer();
        self.0.visit_enum(UnitOnly(variant))
    }
}

/// An [`EnumAccess`] for a variant named by a string: only a unit variant is read.
struct UnitOnly<A>(A);

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for UnitOnly<A> {
    type Error = A::Error;
    type Variant = A::Variant;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, A::Variant), A::Error> {
        self.0.variant_seed(seed)
    }
}

/// Reads any JSON value in full (numbers converted, strings unescaped, depth counted) and
/// keeps nothing.
struct Ignore;

impl<'de> de::Deserialize<'de> for Ignore {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Ignore).map(|()| Ignore)
    }
}

macro_rules! ignore_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, _: $ty) -> Result<(), E> {
            Ok(())
        }
    )*};
}

impl<'de> Visitor<'de> for Ignore {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    ignore_visit!(
        visit_bool(bool),
        visit_i64(i64),
        visit_i128(i128),
        visit_u64(u64),
        visit_u128(u128),
        visit_f64(f64),
        visit_str(&str),
    );

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Ignore)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Ignore>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<Ignore>()?.is_some() {
            map.next_value::<Ignore>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Message {
        text: String,
        kind: Option<Kind>,
        tags: Option<Vec<String>>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    enum Kind {
        Plain,
        Action,
    }

    #[test]
    fn objects_and_strings_read_as_serde_reads_them() {
        let m: Message =
            from_str(r#"{"text":"hi","kind":"action","tags":["a"],"extra":{"x":[1,2.5,null]}}"#)
                .unwrap();
        assert_eq!(
            m,
            Message {
                text: "hi".into(),
                kind: Some(Kind::Action),
                tags: Some(vec!["a".into()])
            }
        );
    }

    #[test]
    fn what_the_schema_refuses_is_refused() {
        // serde_json itself takes each of these; the schema refuses the first two (an
        // array is not an object, an object is not a string) and the validator never sees
        // the last two (`serde_json::Value` refuses them).
        let lenient = [
            r#"["hi", "action", null]"#,
            r#"{"text":"hi","kind":{"plain":null}}"#,
            r#"{"text":"hi","zz":1e999}"#,
            r#"{"text":"hi","zz":"\ud800"}"#,
        ];
        for text in lenient {
            assert!(serde_json::from_str::<Message>(text).is_ok(), "{text}");
            assert!(from_str::<Message>(text).is_err(), "{text}");
        }
        for text in &lenient[2..] {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "{text}"
            );
        }
        let deep = format!(
            r#"{{"text":"hi","zz":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(serde_json::from_str::<Message>(&deep).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&deep).is_err());
        assert!(from_str::<Message>(&deep).is_err());
    }
}
