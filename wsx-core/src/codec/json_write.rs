//! Compact JSON for serde, written straight into a `String`: byte for byte what
//! `serde_json::to_writer` writes, with a string escape that skips plain text eight bytes
//! at a time where serde_json looks up every byte: escaping is the largest single cost of
//! an echoed reply. Being a `String`, a reply becomes a text message without its UTF-8
//! being checked again.
//!
//! What it does not write the way serde_json does, it refuses: serde_json's private
//! types (`RawValue`, arbitrary-precision numbers), map keys that are not strings or
//! characters, and any error a `Serialize` impl raises. [`write`] then starts over with
//! serde_json, so the output, and the error if there is one, are always serde_json's.

use serde::Serialize;
use serde::ser::{self, Impossible};
use std::fmt::Display;

/// Writes `value` as compact JSON at the end of `out`.
pub(crate) fn write<T: Serialize + ?Sized>(
    out: &mut String,
    value: &T,
) -> Result<(), serde_json::Error> {
    let start = out.len();
    if value.serialize(Writer { out: &mut *out }).is_ok() {
        return Ok(());
    }
    out.truncate(start);
    out.push_str(&serde_json::to_string(value)?);
    Ok(())
}

/// Why the fast writer gave up; [`write`] hands the value to serde_json.
#[derive(Debug)]
pub(crate) struct Refused;

impl Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("left to serde_json")
    }
}

impl std::error::Error for Refused {}

impl ser::Error for Refused {
    fn custom<T: Display>(_: T) -> Self {
        Refused
    }
}

/// serde_json's private types (`RawValue`, arbitrary-precision `Number`) are structs
/// whose names start with this.
const SERDE_JSON_PRIVATE: &str = "$serde_json::private::";

/// serde_json's escape of each byte: 0 for none, `u` for `\u00XX`, else the letter
/// after the backslash.
pub(super) const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Whether any of the eight bytes of `word` needs an escape: a control byte (< 0x20), a
/// quote or a backslash. Exact as a yes/no (the classic "has byte less than" and "has
/// zero byte" tests; bytes ≥ 0x80 never match).
#[inline]
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
    control
        || has_zero(word ^ (ONES * u64::from(b'"')))
        || has_zero(word ^ (ONES * u64::from(b'\\')))
}

/// Up to how many bytes [`first_escape`] scans a string byte by byte.
const SHORT: usize = 16;

/// How many bytes a block of [`first_escape`] tests at once.
const BLOCK: usize = 32;

/// Whether any byte of `block` needs an escape. Written without an early exit, so that
/// the compiler tests the whole block with vector compares (16 bytes at a time on any
/// x86-64).
#[inline]
fn block_needs_escape(block: &[u8]) -> bool {
    block.iter().fold(0u8, |hit, &b| {
        hit | u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\')
    }) != 0
}

/// Where the first byte that needs an escape is (a quote, a backslash or a control
/// byte): plain text is skipped a block and then eight bytes at a time, the word that
/// has one (and the last few bytes) one byte at a time.
#[inline]
fn first_escape(bytes: &[u8]) -> Option<usize> {
    // Keys, ids and event names are short: the block and word loops cost more to set up
    // than such a string takes to scan byte by byte.
    if bytes.len() <= SHORT {
        return bytes.iter().position(|&b| ESCAPE[usize::from(b)] != 0);
    }
    let mut plain = 0;
    for block in bytes.chunks_exact(BLOCK) {
        if block_needs_escape(block) {
            break;
        }
        plain += BLOCK;
    }
    for chunk in bytes.get(plain..)?.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        if needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        plain += 8;
    }
    bytes
        .get(plain..)?
        .iter()
        .position(|&b| ESCAPE[usize::from(b)] != 0)
        .map(|at| plain + at)
}

/// `s` as a JSON string, quotes included.
pub(crate) fn write_str(out: &mut String, s: &str) {
    let mut rest = s;
    out.reserve(rest.len() + 2);
    out.push('"');
    while let Some(at) = first_escape(rest.as_bytes()) {
        // `at` is an ASCII byte's index: a character boundary, as is the index after it.
        let (Some(plain), Some(after), Some(&byte)) =
            (rest.get(..at), rest.get(at + 1..), rest.as_bytes().get(at))
        else {
            break;
        };
        out.push_str(plain);
        match ESCAPE[usize::from(byte)] {
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xF)]));
            }
            letter => {
                out.push('\\');
                out.push(char::from(letter));
            }
        }
        rest = after;
    }
    out.push_str(rest);
    out.push('"');
}

struct Writer<'a> {
    out: &'a mut String,
}

impl Writer<'_> {
    fn integer(self, n: impl itoa::Integer) -> Result<(), Refused> {
        self.out.push_str(itoa::Buffer::new().format(n));
        Ok(())
    }

    /// Floats are formatted by serde_json itself: its float formatter is its own choice
    /// (it has changed between versions), and a float has no escape to speed up.
    fn float(self, v: impl Serialize) -> Result<(), Refused> {
        let mut buf = [0u8; 32];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        serde_json::to_writer(&mut cursor, &v).map_err(|_| Refused)?;
        let len = usize::try_from(cursor.position()).map_err(|_| Refused)?;
        let text = buf.get(..len).ok_or(Refused)?;
        self.out
            .push_str(std::str::from_utf8(text).map_err(|_| Refused)?);
        Ok(())
    }
}

/// An array or object being written: whether a comma comes before the next element.
struct Compound<'a> {
    out: &'a mut String,
    first: bool,
    /// What closes it: `]`, `}`, or `}}` for a variant wrapped in an object.
    close: &'static str,
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut String, open: char, close: &'static str) -> Self {
        out.push(open);
        Compound {
            out,
            first: true,
            close,
        }
    }

    fn comma(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.comma();
        value.serialize(Writer {
            out: &mut *self.out,
        })
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Refused> {
        self.comma();
        write_str(self.out, key);
        self.out.push(':');
        value.serialize(Writer {
            out: &mut *self.out,
        })
    }

    fn close(self) -> Result<(), Refused> {
        self.out.push_str(self.close);
        Ok(())
    }
}

/// `{"variant":` before a variant's content.
fn variant_open(out: &mut String, variant: &str) {
    out.push('{');
    write_str(out, variant);
    out.push(':');
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Refused;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Refused> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Refused> {
        self.integer(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Refused> {
        self.float(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Refused> {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Refused> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Refused> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Refused> {
        let mut seq = Compound::open(self.out, '[', "]");
        for byte in v {
            seq.element(byte)?;
        }
        seq.close()
    }
    fn serialize_none(self) -> Result<(), Refused> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Refused> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Refused> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Refused> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Refused> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Refused> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Refused> {
        variant_open(self.out, variant);
        value.serialize(Writer {
            out: &mut *self.out,
        })?;
        self.out.push('}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Refused> {
        Ok(Compound::open(self.out, '[', "]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Refused> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Refused> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Refused> {
        variant_open(self.out, variant);
        Ok(Compound::open(self.out, '[', "]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Refused> {
        Ok(Compound::open(self.out, '{', "}"))
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a>, Refused> {
        if name.starts_with(SERDE_JSON_PRIVATE) {
            return Err(Refused);
        }
        Ok(Compound::open(self.out, '{', "}"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Refused> {
        variant_open(self.out, variant);
        Ok(Compound::open(self.out, '{', "}}"))
    }
}

/// The four array-like compounds of serde: each element after a comma.
macro_rules! array_like {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Refused;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
                self.element(value)
            }
            fn end(self) -> Result<(), Refused> {
                self.close()
            }
        }
    )*};
}

array_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Refused;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Refused> {
        self.comma();
        key.serialize(KeyWriter {
            out: &mut *self.out,
        })?;
        self.out.push(':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        value.serialize(Writer {
            out: &mut *self.out,
        })
    }
    fn end(self) -> Result<(), Refused> {
        self.close()
    }
}

/// The two struct-like compounds of serde: `"key":value` after a comma.
macro_rules! struct_like {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Refused;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Refused> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Refused> {
                self.close()
            }
        }
    )*};
}

struct_like!(SerializeStruct, SerializeStructVariant);

/// A map key: strings and characters (and unit variants, which are strings) are written;
/// every other key is left to serde_json, which quotes numbers and refuses the rest.
struct KeyWriter<'a> {
    out: &'a mut String,
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = Refused;
    type SerializeSeq = Impossible<(), Refused>;
    type SerializeTuple = Impossible<(), Refused>;
    type SerializeTupleStruct = Impossible<(), Refused>;
    type SerializeTupleVariant = Impossible<(), Refused>;
    type SerializeMap = Impossible<(), Refused>;
    type SerializeStruct = Impossible<(), Refused>;
    type SerializeStructVariant = Impossible<(), Refused>;

    fn serialize_str(self, v: &str) -> Result<(), Refused> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Refused> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Refused> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Refused> {
        value.serialize(self)
    }
    refuse_keys!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_bytes: &[u8],
        serialize_unit_struct: &'static str
    );
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Refused> {
        Err(Refused)
    }
    refuse_compound_keys!();
}

#[cfg(feature = "server")]
/// The bytes every JSON `response_ok` of event `x` starts with: what
/// [`OutFrame::ok`](crate::protocol::OutFrame::ok) writes before the `id`. A server builds it once per event.
pub(crate) fn json_ok_prefix(x: &str) -> Result<String, serde_json::Error> {
    Ok(format!(
        r#"{{"v":"{}","t":"response_ok","x":{}"#,
        crate::protocol::VERSION,
        serde_json::to_string(x)?
    ))
}

/// Writes a JSON `response_ok` exactly as
/// [`OutFrame::ok`](crate::protocol::OutFrame::ok) serializes, from its prefix
/// ([`json_ok_prefix`]): the event name and the constant keys are not serialized again.
#[cfg(feature = "server")]
pub(crate) fn write_json_ok<P: Serialize + ?Sized>(
    out: &mut String,
    prefix: &str,
    id: Option<&str>,
    w: Option<&serde_json::Number>,
    p: &P,
) -> Result<(), serde_json::Error> {
    out.push_str(prefix);
    if let Some(id) = id {
        out.push_str(r#","id":"#);
        write_str(out, id);
    }
    if let Some(w) = w {
        out.push_str(r#","w":"#);
        // A client's clock in ms, as serde_json writes a `u64`.
        match w.as_u64() {
            Some(ms) => out.push_str(itoa::Buffer::new().format(ms)),
            None => write(out, w)?,
        }
    }
    out.push_str(r#","p":"#);
    write(out, p)?;
    out.push('}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use std::collections::{BTreeMap, HashMap};

    fn ours<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = "prefix ".to_owned();
        write(&mut out, value).unwrap();
        out
    }

    fn theirs<T: Serialize + ?Sized>(value: &T) -> String {
        format!("prefix {}", serde_json::to_string(value).unwrap())
    }

    /// Written by the fast path (not by the fallback).
    fn fast<T: Serialize + ?Sized>(value: &T) -> bool {
        value
            .serialize(Writer {
                out: &mut String::new(),
            })
            .is_ok()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_byte = String::new();
        for c in (0u8..=0x7F).map(char::from) {
            every_byte.push(c);
        }
        for s in [
            "",
            "plain text, longer than one eight-byte word",
            "quote \" backslash \\ slash / del \u{7f}",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} ",
            "é ü 漢字 🎉 and \"quotes\" after multi-byte text",
            "1234567\"",
            "12345678\\",
            &every_byte,
        ] {
            assert_eq!(ours(s), theirs(s), "{s:?}");
            assert!(fast(s));
        }
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Message<'a> {
        message_id: &'a str,
        seq: u64,
        at: Option<f64>,
        kind: Kind,
        tags: Vec<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        absent: Option<u8>,
        #[serde(flatten)]
        extra: BTreeMap<String, i32>,
        unit: (),
        pair: (i8, char),
        bytes: &'a [u8],
        shapes: [Shape; 4],
    }

    #[derive(Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Action,
    }

    #[derive(Serialize)]
    enum Shape {
        Dot,
        Circle(f32),
        Line(i32, i32),
        Rect { w: u32, h: u32 },
    }

    #[test]
    fn typed_values_are_written_as_serde_json_writes_them() {
        let message = Message {
            message_id: "0193a0b1-\"id\"",
            seq: u64::MAX,
            at: Some(-1.5e-7),
            kind: Kind::Action,
            tags: vec!["a", "b\n"],
            absent: None,
            extra: BTreeMap::from([("x".to_owned(), -3)]),
            unit: (),
            pair: (-128, '\u{1}'),
            bytes: &[0, 255],
            shapes: [
                Shape::Dot,
                Shape::Circle(0.1),
                Shape::Line(1, -1),
                Shape::Rect { w: 2, h: 3 },
            ],
        };
        assert_eq!(ours(&message), theirs(&message));
        assert!(fast(&message));
        for f in [f64::NAN, f64::INFINITY, 0.0, -0.0, 1e300, 0.1 + 0.2] {
            assert_eq!(ours(&f), theirs(&f));
        }
        assert_eq!(
            ours(&(u128::MAX, i128::MIN)),
            theirs(&(u128::MAX, i128::MIN))
        );
    }

    #[test]
    fn what_it_does_not_write_is_left_to_serde_json() {
        let numeric_keys = HashMap::from([(1u8, "one")]);
        assert!(!fast(&numeric_keys));
        assert_eq!(
            ours(&numeric_keys),
            theirs(&numeric_keys),
            "quoted by serde_json"
        );
        let raw = serde_json::value::RawValue::from_string("[1, 2]".to_owned()).unwrap();
        assert!(!fast(&raw));
        assert_eq!(ours(&raw), theirs(&raw), "raw JSON as it came");
        let bad_keys = BTreeMap::from([(vec![1], 2)]);
        let mut out = "kept".to_owned();
        assert!(write(&mut out, &bad_keys).is_err(), "serde_json's error");
        assert_eq!(out, "kept", "nothing half-written");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x7f]{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_json_value_is_written_byte_for_byte_as_serde_json_writes_it(value in json_value()) {
            prop_assert!(fast(&value));
            prop_assert_eq!(ours(&value), theirs(&value));
        }

        #[test]
        fn any_string_is_escaped_as_serde_json_escapes_it(s in any::<String>(), ascii in "[\\x00-\\x7f]{0,64}") {
            prop_assert_eq!(ours(&s), theirs(&s));
            prop_assert_eq!(ours(&ascii), theirs(&ascii));
        }

        /// Long plain text with one byte to escape anywhere: in a block, in a word, in
        /// the tail, or none at all.
        #[test]
        fn one_escape_anywhere_in_long_text_is_found(
            text in "[a-zA-Z0-9 é~]{0,120}",
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(vec!['"', '\\', '\n', '\u{0}', '\u{1f}', 'a']),
        ) {
            let mut s = text;
            let mut i = at.index(s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            s.insert(i, byte);
            prop_assert_eq!(ours(&s), theirs(&s));
        }
    }

    #[cfg(feature = "server")]
    #[test]
    fn the_prebuilt_response_is_byte_for_byte_the_serialized_one() {
        use serde_json::Number;
        let payload = serde_json::json!({ "text": "h\"i é\n", "n": [1, 2.5] });
        let ws = [
            None,
            Some(Number::from(0)),
            Some(Number::from(1737100000000u64)),
            Number::from_f64(-1.5),
        ];
        for x in ["echo", "sendMessage", "we\"ird"] {
            let prefix = json_ok_prefix(x).unwrap();
            for id in [None, Some("1"), Some("a\"b\\c\u{1}")] {
                for w in &ws {
                    let mut fast = String::new();
                    write_json_ok(&mut fast, &prefix, id, w.as_ref(), &payload).unwrap();
                    let slow = serde_json::to_string(&crate::protocol::OutFrame::ok(
                        x,
                        id,
                        w.as_ref(),
                        &payload,
                    ))
                    .unwrap();
                    assert_eq!(fast, slow);
                }
            }
        }
    }
}
