//! Writing cbor-x records straight from serde into the output, with no
//! [`ciborium::Value`] tree: byte for byte what the tree writer of
//! [`records`](super::records) writes.
//!
//! A record's header (its id, and the first time its key list) comes before its values,
//! but a `Serialize` impl reveals an object's keys one at a time, between its values. So
//! the value is walked twice:
//!
//! 1. [`records_plan`](super::records_plan) notes every object's keys, objects in
//!    pre-order (the order they start in: parents before children), and numbers their
//!    shapes as the tree writer does;
//! 2. a [`Writer`] (here) writes the bytes, taking each object's header from the plan as
//!    the object starts and checking that its keys come as pass 1 saw them.
//!
//! What it does not write the way the tree writer does, it refuses: a map key that is
//! not text, a tag (ciborium's `@@TAG@@` types), an integer beyond CBOR's 64 bits (a
//! bignum), a sequence of unknown length or whose length is not what it said, objects
//! or keys that differ between the passes, and any error a `Serialize` impl raises.
//! [`records::encode`](super::records::encode) then starts over with the tree writer, so
//! the output, and the error if there is one, are always the tree writer's.
//!
//! The plan's buffers are kept per thread between messages (and trimmed after a large
//! one), so a reply costs no allocation beyond its output.

use super::cbor_items::{
    FALSE, NULL, TRUE, float, head, head_len, major, signed, text, unsigned, wide,
};
use super::records::{RECORD_BASE, RECORD_DEFINITION};
use super::records_plan::{Key, Plan, array_like, struct_like};
use crate::protocol::FrameType;
use serde::Serialize;
use serde::ser::{self, Impossible};
use std::cell::RefCell;
use std::fmt::Display;

/// Writes `value` with records at the end of `out`, or refuses (leaving `out` with part
/// of the value written: the caller truncates it).
pub(super) fn write<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Refused> {
    with_plan(|plan| write_with(plan, value, out))
}

/// Runs `write` with this thread's plan, trimmed after.
fn with_plan<R>(write: impl FnOnce(&mut Plan) -> R) -> R {
    PLAN.with(|plan| match plan.try_borrow_mut() {
        Ok(mut plan) => {
            let written = write(&mut plan);
            plan.trim();
            written
        }
        // Only if a `Serialize` impl itself encodes a message: a plan of its own.
        Err(_) => write(&mut Plan::new()),
    })
}

/// The `response_ok` `OutFrame::ok(x, id, w, p)` with records at the end of `out`: byte
/// for byte what [`write()`] writes for it, the envelope's record header and strings
/// written as they are instead of walked twice through serde (only `w` and `p` are).
/// Refuses as [`write()`] does.
pub(super) fn write_ok<T: Serialize + ?Sized>(
    x: &str,
    id: Option<&str>,
    w: Option<&serde_json::Number>,
    p: &T,
    out: &mut Vec<u8>,
) -> Result<(), Refused> {
    // The envelope's keys: `OutFrame`'s fields in their order, the absent skipped.
    let keys: &[&'static str] = match (id.is_some(), w.is_some()) {
        (true, true) => &["v", "t", "x", "id", "w", "p"],
        (true, false) => &["v", "t", "x", "id", "p"],
        (false, true) => &["v", "t", "x", "w", "p"],
        (false, false) => &["v", "t", "x", "p"],
    };
    let envelope = OkEnvelope { keys, x, id, w };
    with_plan(|plan| envelope.write_with(plan, p, out))
}

/// The envelope of a `response_ok`, but its payload.
struct OkEnvelope<'a> {
    keys: &'a [&'static str],
    x: &'a str,
    id: Option<&'a str>,
    w: Option<&'a serde_json::Number>,
}

impl OkEnvelope<'_> {
    /// Both passes over the payload `p`, the envelope planned and written around it.
    fn write_with<T: Serialize + ?Sized>(
        &self,
        plan: &mut Plan,
        p: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), Refused> {
        plan.collect_in(self.keys, p)?;
        let mut writer = Writer { out, plan, next: 0 };
        writer.open()?;
        text(writer.out, crate::protocol::VERSION.as_bytes());
        text(writer.out, FrameType::ResponseOk.as_str().as_bytes());
        text(writer.out, self.x.as_bytes());
        if let Some(id) = self.id {
            text(writer.out, id.as_bytes());
        }
        if let Some(w) = self.w {
            w.serialize(&mut writer)?;
        }
        p.serialize(&mut writer)?;
        if writer.next != plan.objects() {
            return Err(Refused);
        }
        Ok(())
    }
}

/// Both passes over `value`, with `plan`.
fn write_with<T: Serialize + ?Sized>(
    plan: &mut Plan,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), Refused> {
    plan.collect(value)?;
    let mut writer = Writer { out, plan, next: 0 };
    value.serialize(&mut writer)?;
    if writer.next != plan.objects() {
        return Err(Refused);
    }
    Ok(())
}

thread_local! {
    /// This thread's plan, reused from message to message.
    static PLAN: RefCell<Plan> = const { RefCell::new(Plan::new()) };
}

/// How many bytes this thread's plan holds on to between messages.
#[cfg(test)]
pub(super) fn kept_bytes() -> usize {
    PLAN.with_borrow(Plan::kept_bytes)
}

/// Why the direct writer gave up; [`records::encode`](super::records::encode) hands the
/// value to the tree writer.
#[derive(Debug)]
pub(super) struct Refused;

impl Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("left to the records tree writer")
    }
}

impl std::error::Error for Refused {}

impl ser::Error for Refused {
    fn custom<T: Display>(_: T) -> Self {
        Refused
    }
}

/// The name ciborium's tag types (`Captured`, `Required`, `Accepted`) serialize under.
pub(super) const CIBORIUM_TAG: &str = "@@TAG@@";

/// Pass 2: writes the bytes, with the plan's record headers.
struct Writer<'w> {
    out: &'w mut Vec<u8>,
    plan: &'w Plan,
    /// The next object's index in `Plan::objects`.
    next: usize,
}

impl<'w> Writer<'w> {
    /// An object starts: its record header, from the plan; returns the keys it must have.
    fn open(&mut self) -> Result<&'w [Key], Refused> {
        let plan = self.plan;
        let object = plan.object(self.next).ok_or(Refused)?;
        self.next += 1;
        let keys = plan.keys_of(object);
        match (u8::try_from(object.id), u8::try_from(keys.len())) {
            // Fewer than 22 keys: every header but the keys' is one constant-size copy.
            (Ok(id), Ok(n)) if n < 22 => {
                if object.define {
                    // tag 0xDFFF, array(n + 2), 0xE000 + id, array(n)
                    let array = 0x80 | (n + 2);
                    let header = [0xd9, 0xdf, 0xff, array, 0x19, 0xe0, id, 0x80 | n];
                    self.out.extend_from_slice(&header);
                } else {
                    // tag 0xE000 + id, array(n)
                    self.out.extend_from_slice(&[0xd9, 0xe0, id, 0x80 | n]);
                }
            }
            _ => {
                let id = RECORD_BASE + object.id as u64;
                if object.define {
                    head(self.out, major::TAG, RECORD_DEFINITION);
                    head_len(self.out, major::ARRAY, 2 + keys.len());
                    head(self.out, major::POSITIVE, id);
                    head_len(self.out, major::ARRAY, keys.len());
                } else {
                    head(self.out, major::TAG, id);
                    head_len(self.out, major::ARRAY, keys.len());
                }
            }
        }
        if object.define {
            for &key in keys {
                text(self.out, plan.key(key));
            }
        }
        Ok(keys)
    }

    /// The object `{variant: …}` an enum variant with content becomes.
    fn variant(&mut self, name: &str, variant: &str) -> Result<(), Refused> {
        if name == CIBORIUM_TAG {
            return Err(Refused);
        }
        match self.open()? {
            [key] if self.plan.key(*key) == variant.as_bytes() => Ok(()),
            _ => Err(Refused),
        }
    }

    fn array(&mut self, len: Option<usize>) -> Result<Writing<'_, 'w>, Refused> {
        // The tree writer collects the items first and writes their number.
        let len = len.ok_or(Refused)?;
        head_len(self.out, major::ARRAY, len);
        Ok(Writing {
            writer: self,
            keys: &[],
            count: len,
            seen: 0,
            key_pending: false,
        })
    }

    fn object(&mut self) -> Result<Writing<'_, 'w>, Refused> {
        let keys = self.open()?;
        Ok(Writing {
            writer: self,
            keys,
            count: keys.len(),
            seen: 0,
            key_pending: false,
        })
    }
}

/// An array or object being written in pass 2.
struct Writing<'a, 'w> {
    writer: &'a mut Writer<'w>,
    /// An object's keys, as pass 1 saw them; empty for an array.
    keys: &'w [Key],
    /// How many elements or fields the header promised.
    count: usize,
    /// How many came so far.
    seen: usize,
    /// A map key came; its value is next.
    key_pending: bool,
}

impl<'w> Writing<'_, 'w> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.seen += 1;
        if self.seen > self.count {
            return Err(Refused);
        }
        value.serialize(&mut *self.writer)
    }

    /// The key the object's next field must have.
    fn next_key(&mut self) -> Result<Key, Refused> {
        let key = *self.keys.get(self.seen).ok_or(Refused)?;
        self.seen += 1;
        Ok(key)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Refused> {
        let same = match self.next_key()? {
            // The same `&'static str` both passes, as a rule: no need to compare bytes.
            Key::Static(name) => std::ptr::eq(name, key) || name == key,
            copied => self.writer.plan.key(copied) == key.as_bytes(),
        };
        if !same {
            return Err(Refused);
        }
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result<(), Refused> {
        if self.seen != self.count || self.key_pending {
            return Err(Refused);
        }
        Ok(())
    }
}

array_like!(Writing:
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);
struct_like!(Writing: SerializeStruct, SerializeStructVariant);

impl<'w> ser::SerializeMap for Writing<'_, 'w> {
    type Ok = ();
    type Error = Refused;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Refused> {
        if self.key_pending {
            return Err(Refused);
        }
        self.key_pending = true;
        let plan: &'w Plan = self.writer.plan;
        let expected = plan.key(self.next_key()?);
        // The key's text, written past the end of the output to be compared, then removed.
        let out = &mut *self.writer.out;
        let mark = out.len();
        key.serialize(KeyText { out: &mut *out })?;
        let same = out.get(mark..) == Some(expected);
        out.truncate(mark);
        if same { Ok(()) } else { Err(Refused) }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        if !self.key_pending {
            return Err(Refused);
        }
        self.key_pending = false;
        value.serialize(&mut *self.writer)
    }
    fn end(self) -> Result<(), Refused> {
        Writing::end(self)
    }
}

impl<'a, 'w> ser::Serializer for &'a mut Writer<'w> {
    type Ok = ();
    type Error = Refused;
    type SerializeSeq = Writing<'a, 'w>;
    type SerializeTuple = Writing<'a, 'w>;
    type SerializeTupleStruct = Writing<'a, 'w>;
    type SerializeTupleVariant = Writing<'a, 'w>;
    type SerializeMap = Writing<'a, 'w>;
    type SerializeStruct = Writing<'a, 'w>;
    type SerializeStructVariant = Writing<'a, 'w>;

    fn serialize_bool(self, v: bool) -> Result<(), Refused> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Refused> {
        signed(self.out, v.into());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Refused> {
        signed(self.out, v.into());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Refused> {
        signed(self.out, v.into());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Refused> {
        signed(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Refused> {
        wide(self.out, v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Refused> {
        unsigned(self.out, v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Refused> {
        unsigned(self.out, v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Refused> {
        unsigned(self.out, v.into());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Refused> {
        unsigned(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Refused> {
        unsigned(self.out, u64::try_from(v).map_err(|_| Refused)?);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Refused> {
        float(self.out, v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Refused> {
        float(self.out, v)
    }
    fn serialize_char(self, v: char) -> Result<(), Refused> {
        text(self.out, v.encode_utf8(&mut [0u8; 4]).as_bytes());
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Refused> {
        text(self.out, v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Refused> {
        head_len(self.out, major::BYTES, v.len());
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Refused> {
        self.out.push(NULL);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Refused> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Refused> {
        self.out.push(NULL);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Refused> {
        self.out.push(NULL);
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
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Refused> {
        self.variant(name, variant)?;
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, Refused> {
        self.array(len)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, Refused> {
        self.array(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, Refused> {
        self.array(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Refused> {
        self.variant(name, variant)?;
        self.array(Some(len))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Refused> {
        self.object()
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Refused> {
        self.object()
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Refused> {
        self.variant(name, variant)?;
        self.object()
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// A map key's text, appended to `out` without a header: the keys ciborium's value
/// serializer makes text (strings, characters, unit variants, and those inside a newtype
/// or `Some`). Any other key is refused.
pub(super) struct KeyText<'a> {
    pub(super) out: &'a mut Vec<u8>,
}

impl ser::Serializer for KeyText<'_> {
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
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Refused> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
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
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Refused> {
        value.serialize(self)
    }
    refuse_keys!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128,
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_bytes: &[u8],
        serialize_unit_struct: &'static str
    );
    refuse_compound_keys!();
    fn is_human_readable(&self) -> bool {
        false
    }
}
