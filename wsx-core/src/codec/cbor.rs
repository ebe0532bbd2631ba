//! CBOR, standard maps (RFC 8949) and cbor-x records, decoded straight into a JSON value.
//!
//! ciborium parses the grammar; a stateful serde visitor builds the [`serde_json::Value`]
//! and expands cbor-x records on the way, in one pass. The mapping:
//!
//! | CBOR | JSON |
//! | --- | --- |
//! | map with text keys | object (duplicate keys: the last wins) |
//! | map with any other key | error: envelopes and payloads are JSON-shaped |
//! | integer (bignums included) | integer, if it fits `i64` or `u64`; else error |
//! | float, finite and integral, \|x\| ≤ 2^53 | integer (cbor-x writes `w` and most numbers as float64; Rust reads `u64`) |
//! | other finite float | float |
//! | NaN, ±infinity | error |
//! | `null` | `null` |
//! | `undefined` | absent: its key is dropped from a map, `null` in an array |
//! | byte string | error: the protocol has none, and JSON could not carry one back |
//! | tag 57343 `[0xE000 + n, [keys…], values…]` | object; defines record `n` |
//! | tag 0xE000 + n `[values…]` | object with record `n`'s keys; unknown `n` is an error |
//! | tags 0xDFF9–0xDFFE (other cbor-x extensions) | error |
//! | any other tag | its content |
//!
//! A record id may be defined again later in the message (cbor-x reuses ids cyclically
//! past 256 shapes); the newest definition wins. Depth counts arrays and objects only, as
//! in JSON, and is bounded by [`MAX_DEPTH`]; ciborium's own recursion limit is a backstop
//! for the extra levels records and tags add.
//!
//! Encoding: with maps, ciborium writes the value directly (field order kept, shortest
//! integers and floats); with records, see [`records`], which also
//! writes 8-byte integers within ±2^53 as floats because cbor-x reads those as `BigInt`.

use super::records::{self, RECORD_BASE, RECORD_DEFINITION, RECORD_SLOTS};
use super::{DecodeError, EncodeError, MAX_DEPTH};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

const CODEC: &str = "cbor";

/// ciborium counts every array, map and tag; a record costs two (tag and array) plus one
/// for its key list, so the logical [`MAX_DEPTH`] needs about twice as many.
const CIBORIUM_RECURSION_LIMIT: usize = 2 * MAX_DEPTH + 8;

/// Tags cbor-x reserves for extensions other than records (bundled strings, shared
/// record definitions); never emitted by the TypeScript client's encoder.
const CBOR_X_EXTENSIONS: std::ops::RangeInclusive<u64> = 0xDFF9..=0xDFFE;

/// The largest capacity preallocated from a length the peer claims.
const MAX_PREALLOC: usize = 64;

/// How many bytes of keys the records of one message may copy out, per byte of the
/// message. A record names its keys once and every later object of its shape reuses
/// them, so a short frame could otherwise decode to a value thousands of times its size
/// (one 8 KiB key used 1,600 times). Ordinary records copy a few bytes of key per byte
/// of value; past this factor the message is refused.
pub(super) const RECORD_EXPANSION_FACTOR: usize = 8;

/// The key bytes records may copy out of any message, however short.
pub(super) const RECORD_EXPANSION_FLOOR: usize = 4 * 1024;

fn malformed(detail: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        codec: CODEC,
        detail: detail.into(),
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    EXPANSION_BUDGET.set(
        bytes
            .len()
            .saturating_mul(RECORD_EXPANSION_FACTOR)
            .max(RECORD_EXPANSION_FLOOR),
    );
    let mut input = Input { rest: bytes };
    let root: Root =
        ciborium::de::from_reader_with_recursion_limit(&mut input, CIBORIUM_RECURSION_LIMIT)
            .map_err(|e| match e {
                ciborium::de::Error::Io(_) => malformed("unexpected end of input"),
                ciborium::de::Error::Syntax(at) => malformed(format!("invalid CBOR at byte {at}")),
                ciborium::de::Error::Semantic(_, detail) => malformed(detail),
                ciborium::de::Error::RecursionLimitExceeded => DecodeError::TooDeep,
            })?;
    let value = root.0?;
    if !input.rest.is_empty() {
        return Err(malformed(format!(
            "{} trailing bytes after the message",
            input.rest.len()
        )));
    }
    Ok(value.unwrap_or(Value::Null))
}

pub(super) fn encode<T: Serialize + ?Sized>(
    value: &T,
    records: bool,
) -> Result<Vec<u8>, EncodeError> {
    // Written in this thread's scratch buffer, then copied into a vector of its exact
    // size: a `Bytes` made of a vector with spare capacity allocates a header of its own.
    super::with_byte_scratch(|out| {
        if records {
            records::encode(value, out)
        } else {
            ciborium::into_writer(value, out).map_err(|e| EncodeError(e.to_string()))
        }
    })
}

thread_local! {
    /// The last byte [`Input`] handed to ciborium. Its serde interface reports `null` and
    /// `undefined` alike (`visit_none`), right after reading the item's header byte(s), so
    /// this byte tells them apart: `f7` (or `f8 17`) is `undefined`.
    static LAST_BYTE: Cell<u8> = const { Cell::new(0) };

    /// The key bytes the message being decoded may still copy out of its records, set by
    /// [`decode`] from the message's length (ciborium's entry points take no state).
    static EXPANSION_BUDGET: Cell<usize> = const { Cell::new(RECORD_EXPANSION_FLOOR) };
}

/// The message being read; remembers its last byte for [`LAST_BYTE`].
struct Input<'a> {
    rest: &'a [u8],
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rest.read(buf)?;
        if let Some(&last) = buf.get(..n).and_then(<[u8]>::last) {
            LAST_BYTE.set(last);
        }
        Ok(n)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.rest.read_exact(buf)?;
        if let Some(&last) = buf.last() {
            LAST_BYTE.set(last);
        }
        Ok(())
    }
}

/// What one message's decoding knows: depth, record definitions, and the error to
/// report when a visitor fails for a reason richer than a string.
struct State {
    depth: usize,
    records: Vec<Option<Rc<[String]>>>,
    /// Key bytes records may still copy (see [`RECORD_EXPANSION_FACTOR`]).
    expansion_left: usize,
    error: Option<DecodeError>,
}

impl State {
    fn fail<E: de::Error>(&mut self, error: DecodeError) -> E {
        let e = E::custom(&error);
        self.error = Some(error);
        e
    }

    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail(DecodeError::TooDeep));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

/// The whole message: `Ok(None)` if it is just `undefined`.
struct Root(Result<Option<Value>, DecodeError>);

impl<'de> Deserialize<'de> for Root {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut st = State {
            depth: 0,
            records: Vec::new(),
            expansion_left: EXPANSION_BUDGET.get(),
            error: None,
        };
        match (ValueSeed { st: &mut st }).deserialize(d) {
            Ok(v) => Ok(Root(Ok(v))),
            Err(e) => match st.error.take() {
                Some(error) => Ok(Root(Err(error))),
                None => Err(e),
            },
        }
    }
}

/// Any item; `None` stands for `undefined`.
struct ValueSeed<'s> {
    st: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

fn number<E: de::Error>(n: Option<Number>) -> Result<Option<Value>, E> {
    n.map(|n| Some(Value::Number(n)))
        .ok_or_else(|| E::custom("integer out of the 64-bit range"))
}

/// Integral floats within ±2^53 are integers: exact in both f64 and i64/u64.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-like CBOR item")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::Number(v.into())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::Number(v.into())))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        number(
            i64::try_from(v)
                .ok()
                .map(Number::from)
                .or_else(|| u64::try_from(v).ok().map(Number::from)),
        )
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        number(u64::try_from(v).ok().map(Number::from))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if !v.is_finite() {
            return Err(E::custom(format!("{v} has no JSON representation")));
        }
        let n = if v.fract() == 0.0 && v.abs() <= MAX_SAFE_INTEGER {
            // Exact: integral and within ±2^53.
            if v >= 0.0 {
                Number::from(v as u64)
            } else {
                Number::from(v as i64)
            }
        } else {
            Number::from_f64(v).ok_or_else(|| E::custom("float has no JSON representation"))?
        };
        Ok(Some(Value::Number(n)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v)))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Err(E::custom("byte strings are not supported"))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(match LAST_BYTE.get() {
            0xf7 | 0x17 => None,
            _ => Some(Value::Null),
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        self.st.enter()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PREALLOC));
        while let Some(item) = seq.next_element_seed(ValueSeed { st: &mut *self.st })? {
            items.push(item.unwrap_or(Value::Null));
        }
        self.st.leave();
        Ok(Some(Value::Array(items)))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.st.enter()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(TextSeed)? {
            if let Some(value) = map.next_value_seed(ValueSeed { st: &mut *self.st })? {
                object.insert(key, value);
            }
        }
        self.st.leave();
        Ok(Some(Value::Object(object)))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        // ciborium presents a tag as an enum whose variant is a (tag, content) tuple.
        let (_, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::tuple_variant(variant, 2, TagVisitor { st: self.st })
    }
}

/// A map key or a record key: text only.
struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a text map key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

/// A tag's number and content.
struct TagVisitor<'s> {
    st: &'s mut State,
}

impl<'de> Visitor<'de> for TagVisitor<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tagged CBOR item")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Some(tag) = seq.next_element::<u64>()? else {
            return Err(de::Error::custom("tag without a number"));
        };
        let st = self.st;
        let content = if tag == RECORD_DEFINITION {
            seq.next_element_seed(RecordSeed { st, id: None })?
                .map(Some)
        } else if let Some(slot) = record_slot(tag) {
            seq.next_element_seed(RecordSeed { st, id: Some(slot) })?
                .map(Some)
        } else if CBOR_X_EXTENSIONS.contains(&tag) {
            return Err(st.fail(malformed(format!(
                "unsupported cbor-x extension tag {tag:#x}"
            ))));
        } else {
            seq.next_element_seed(ValueSeed { st })?
        };
        content.ok_or_else(|| de::Error::custom("tag without content"))
    }
}

fn record_slot(tag: u64) -> Option<usize> {
    tag.checked_sub(RECORD_BASE)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n < RECORD_SLOTS)
}

/// The array inside a record tag: `[id, [keys…], values…]` for a definition (`id: None`),
/// `[values…]` for a use of record `id`.
struct RecordSeed<'s> {
    st: &'s mut State,
    id: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cbor-x record array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let st = self.st;
        let keys = match self.id {
            None => {
                let id = seq.next_element::<u64>()?.unwrap_or(0);
                let Some(slot) = record_slot(id) else {
                    return Err(st.fail(malformed(format!(
                        "record id {id:#x} is outside 0xe000..=0xe0ff"
                    ))));
                };
                let Some(keys) = seq.next_element_seed(KeysSeed)? else {
                    return Err(st.fail(malformed("record definition without keys")));
                };
                if st.records.len() <= slot {
                    st.records.resize(slot + 1, None);
                }
                if let Some(entry) = st.records.get_mut(slot) {
                    *entry = Some(Rc::clone(&keys));
                }
                keys
            }
            Some(slot) => match st.records.get(slot).and_then(Option::as_ref) {
                Some(keys) => Rc::clone(keys),
                None => {
                    let tag = RECORD_BASE + slot as u64;
                    return Err(st.fail(malformed(format!(
                        "record {tag:#x} is used before its definition"
                    ))));
                }
            },
        };
        let copied: usize = keys.iter().map(String::len).sum();
        match st.expansion_left.checked_sub(copied) {
            Some(left) => st.expansion_left = left,
            None => {
                return Err(st.fail(malformed(format!(
                    "records expand to more than {RECORD_EXPANSION_FACTOR} times the message's size"
                ))));
            }
        }
        st.enter()?;
        let mut object = Map::new();
        for key in keys.iter() {
            match seq.next_element_seed(ValueSeed { st: &mut *st })? {
                Some(Some(value)) => {
                    object.insert(key.clone(), value);
                }
                Some(None) => {}
                None => {
                    return Err(st.fail(malformed(format!(
                        "record has {} keys but fewer values",
                        keys.len()
                    ))));
                }
            }
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(st.fail(malformed(format!(
                "record has {} keys but more values",
                keys.len()
            ))));
        }
        st.leave();
        Ok(Value::Object(object))
    }
}

/// A record's key list.
struct KeysSeed;

impl<'de> DeserializeSeed<'de> for KeysSeed {
    type Value = Rc<[String]>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeysSeed {
    type Value = Rc<[String]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of text keys")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut keys = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PREALLOC));
        while let Some(key) = seq.next_element_seed(TextSeed)? {
            keys.push(key);
        }
        Ok(keys.into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn scalars_and_maps() {
        assert_eq!(
            decode(&hex("a2 61 61 01 61 62 82 f6 f5")).unwrap(),
            json!({"a": 1, "b": [null, true]})
        );
        assert_eq!(
            decode(&hex("3b 7fffffffffffffff")).unwrap(),
            json!(i64::MIN)
        );
        assert_eq!(
            decode(&hex("1b ffffffffffffffff")).unwrap(),
            json!(u64::MAX)
        );
        assert!(decode(&hex("3b ffffffffffffffff")).is_err());
        assert_eq!(
            decode(&hex("fb 42794733a7b00000")).unwrap(),
            json!(1737100000000u64)
        );
        assert_eq!(decode(&hex("fb c000000000000000")).unwrap(), json!(-2));
        assert_eq!(decode(&hex("f9 3800")).unwrap(), json!(0.5));
        assert_eq!(
            decode(&hex("fb 4340000000000001")).unwrap(),
            json!(9007199254740994.0)
        );
        assert!(decode(&hex("f9 7e00")).is_err());
        assert!(decode(&hex("f9 7c00")).is_err());
        assert!(decode(&hex("43 010203")).is_err());
        assert!(decode(&hex("a1 01 02")).is_err());
        assert_eq!(decode(&hex("c1 1a 514b67b0")).unwrap(), json!(1363896240));
    }

    #[test]
    fn undefined_is_absent() {
        assert_eq!(
            decode(&hex("a2 61 61 f7 61 62 f6")).unwrap(),
            json!({"b": null})
        );
        assert_eq!(decode(&hex("a1 61 61 f8 17")).unwrap(), json!({}));
        assert_eq!(
            decode(&hex("83 f7 f6 f8 16")).unwrap(),
            json!([null, null, null])
        );
    }

    #[test]
    fn records_expand_and_may_nest_their_own_shape() {
        // cbor-x for {a:1,c:{a:2,c:null}}: the child uses the parent's id inside its definition.
        let bytes = hex("d9dfff 84 19e000 82 6161 6163 01 d9e000 82 02 f6");
        assert_eq!(
            decode(&bytes).unwrap(),
            json!({"a": 1, "c": {"a": 2, "c": null}})
        );
        assert!(decode(&hex("d9e000 80")).is_err());
        assert!(decode(&hex("d9dfff 83 19e000 81 6161")).is_err());
        assert!(decode(&hex("d9dfff 84 19e000 81 6161 01 02")).is_err());
        assert!(decode(&hex("d9dfff 83 19e100 81 6161 01")).is_err());
    }

    /// A message whose one record names an 8 KiB key and uses it `uses` times.
    fn record_bomb(uses: usize) -> Vec<u8> {
        let key = "k".repeat(8150);
        let mut out = Vec::new();
        // [ definition {key: 0}, then `uses` records of that shape ]
        let items = 1 + uses;
        out.push(0x9a);
        out.extend_from_slice(&(items as u32).to_be_bytes());
        out.extend_from_slice(&[0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x79]);
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.push(0x00);
        for _ in 0..uses {
            out.extend_from_slice(&[0xd9, 0xe0, 0x00, 0x81, 0x00]);
        }
        out
    }

    #[test]
    fn records_may_not_expand_far_beyond_their_message() {
        // Legitimate reuse within the budget decodes.
        let small = record_bomb(3);
        let value = decode(&small).unwrap();
        assert_eq!(value.as_array().map(Vec::len), Some(4));
        // The attack of issue 19: 1,631 uses of an 8,150-byte key in ~16 KB.
        let bomb = record_bomb(1631);
        assert!(bomb.len() < 17_000, "{}", bomb.len());
        match decode(&bomb) {
            Err(DecodeError::Malformed { detail, .. }) => {
                assert!(detail.contains("expand"), "{detail}")
            }
            other => panic!("expected a refusal, got {:?}", other.map(|_| "a value")),
        }
        // Many uses of a short key are ordinary records: fine.
        let mut many = vec![0x99, 0x03, 0xe9];
        many.extend_from_slice(&hex("d9dfff 83 19e000 81 6161 01"));
        for _ in 0..1000 {
            many.extend_from_slice(&hex("d9e000 81 01"));
        }
        assert_eq!(decode(&many).unwrap().as_array().map(Vec::len), Some(1001));
    }

    #[test]
    fn depth_counts_objects_not_tags() {
        let nest =
            |n: usize, open: &str, close: &str| hex(&(open.repeat(n) + "00" + &close.repeat(n)));
        assert!(decode(&nest(MAX_DEPTH, "81", "")).is_ok());
        assert_eq!(
            decode(&nest(MAX_DEPTH + 1, "81", "")),
            Err(DecodeError::TooDeep)
        );
        // Records: each level is tag + array; the deepest definition adds its key list.
        let record = |n: usize| {
            let mut s = String::new();
            for _ in 0..n {
                s += "d9dfff 83 19e000 81 6161 ";
            }
            hex(&(s + "00"))
        };
        assert!(decode(&record(MAX_DEPTH)).is_ok());
        assert_eq!(decode(&record(MAX_DEPTH + 1)), Err(DecodeError::TooDeep));
        assert_eq!(decode(&hex(&"c1".repeat(500))), Err(DecodeError::TooDeep));
    }
}
