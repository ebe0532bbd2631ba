//! Writing cbor-x records straight from serde into the output, with no
//! [`ciborium::Value`] tree: byte for byte what the tree writer of
//! [`records`](super::records) writes.
//!
//! A record's header (its id, and the first time its key list) comes before its values,
//! but a `Serialize` impl reveals an object's keys one at a time, between its values. So
//! the value is walked twice:
//!
//! 1. a [`Collector`] notes every object's keys, objects in pre-order (the order they
//!    start in: parents before children), then [`Plan::assign`] numbers their shapes as
//!    the tree writer does;
//! 2. a [`Writer`] writes the bytes, taking each object's header from the plan as the
//!    object starts and checking that its keys come as pass 1 saw them.
//!
//! What it does not write the way the tree writer does, it refuses: a map key that is
//! not text, a tag (ciborium's `@@TAG@@` types), an integer beyond CBOR's 64 bits (a
//! bignum), a sequence of unknown length or whose length is not what it said, objects
//! or keys that differ between the passes, and any error a `Serialize` impl raises.
//! [`records::encode`](super::records::encode) then starts over with the tree writer, so
//! the output, and the error if there is one, are always the tree writer's.
//!
//! The plan's buffers are kept per thread between messages (see [`Plan::trim`]), so a
//! reply costs no allocation beyond its output.

use super::records::{MAX_SAFE_INTEGER, RECORD_BASE, RECORD_DEFINITION, RECORD_SLOTS};
use serde::Serialize;
use serde::ser::{self, Impossible};
use std::cell::RefCell;
use std::fmt::Display;

/// Writes `value` with records at the end of `out`, or refuses (leaving `out` with part
/// of the value written: the caller truncates it).
pub(super) fn write<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Refused> {
    PLAN.with(|plan| match plan.try_borrow_mut() {
        Ok(mut plan) => {
            let written = plan.write(value, out);
            plan.trim();
            written
        }
        // Only if a `Serialize` impl itself encodes a message: a plan of its own.
        Err(_) => Plan::new().write(value, out),
    })
}

thread_local! {
    /// This thread's plan, reused from message to message.
    static PLAN: RefCell<Plan> = const { RefCell::new(Plan::new()) };
}

/// How many bytes this thread's plan holds on to between messages.
#[cfg(test)]
pub(super) fn kept_bytes() -> usize {
    fn bytes<T>(v: &Vec<T>) -> usize {
        v.capacity() * std::mem::size_of::<T>()
    }
    PLAN.with_borrow(|plan| {
        bytes(&plan.text)
            + bytes(&plan.keys)
            + bytes(&plan.open)
            + bytes(&plan.objects)
            + bytes(&plan.slots)
    })
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
const CIBORIUM_TAG: &str = "@@TAG@@";

/// CBOR major types, as the top three bits of an item's first byte.
mod major {
    pub(super) const POSITIVE: u8 = 0;
    pub(super) const NEGATIVE: u8 = 1;
    pub(super) const BYTES: u8 = 2;
    pub(super) const TEXT: u8 = 3;
    pub(super) const ARRAY: u8 = 4;
    pub(super) const TAG: u8 = 6;
}

/// CBOR's `false`.
const FALSE: u8 = 0xf4;
/// CBOR's `true`.
const TRUE: u8 = 0xf5;
/// CBOR's `null` (what ciborium writes for `None` and `()`).
const NULL: u8 = 0xf6;

/// An item's header in its shortest form, as ciborium writes every header.
#[inline(always)]
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[m | 24, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(m | 25);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(m | 26);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A length as a header's argument.
#[inline]
fn head_len(out: &mut Vec<u8>, major: u8, len: usize) {
    head(out, major, len as u64);
}

/// A text item.
#[inline]
fn text(out: &mut Vec<u8>, s: &[u8]) {
    head_len(out, major::TEXT, s.len());
    out.extend_from_slice(s);
}

/// A float in the shortest width that holds it exactly: ciborium's own encoding
/// (through its half-precision conversion), so NaN payloads and all are the same.
fn float(out: &mut Vec<u8>, v: f64) -> Result<(), Refused> {
    ciborium::into_writer(&v, out).map_err(|_| Refused)
}

/// An integer of 2^32 < |n| <= 2^53 as a float: what [`float`] writes for it, without
/// ciborium's half-precision attempt (such an `n` is beyond a half's range, 65504):
/// float32 if its 24 significant bits hold it, else float64. Every clock in
/// milliseconds (`w`) takes this path.
#[inline]
fn integral_float(out: &mut Vec<u8>, n: f64) {
    let single = n as f32;
    if f64::from(single).to_bits() == n.to_bits() {
        out.push(0xfa);
        out.extend_from_slice(&single.to_be_bytes());
    } else {
        out.push(0xfb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A non-negative integer: as a float if it needs 8 bytes but is exact in a double
/// (see [`records`](super::records)).
#[inline]
fn unsigned(out: &mut Vec<u8>, n: u64) {
    if n > u64::from(u32::MAX) && u128::from(n) <= MAX_SAFE_INTEGER {
        // Exact: n <= 2^53.
        integral_float(out, n as f64);
    } else {
        head(out, major::POSITIVE, n);
    }
}

/// A signed integer: see [`unsigned`].
#[inline]
fn signed(out: &mut Vec<u8>, n: i64) {
    match u64::try_from(n) {
        Ok(n) => unsigned(out, n),
        Err(_) => negative(out, n),
    }
}

/// A negative integer: see [`unsigned`].
#[inline]
fn negative(out: &mut Vec<u8>, n: i64) {
    // CBOR's argument for a negative n is -1 - n.
    let arg = !(n as u64);
    if arg > u64::from(u32::MAX) && u128::from(arg) < MAX_SAFE_INTEGER {
        // Exact: |n| = arg + 1 <= 2^53.
        integral_float(out, n as f64);
    } else {
        head(out, major::NEGATIVE, arg);
    }
}

/// A 128-bit integer within CBOR's 64-bit range is an ordinary integer; beyond it the
/// tree writer writes a bignum (a tag), which is refused.
fn wide(out: &mut Vec<u8>, n: i128) -> Result<(), Refused> {
    if let Ok(n) = i64::try_from(n) {
        signed(out, n);
        return Ok(());
    }
    if let Ok(n) = u64::try_from(n) {
        unsigned(out, n);
        return Ok(());
    }
    // Below i64::MIN: |n| > 2^53, an integer either way.
    let arg = u64::try_from(-1 - n).map_err(|_| Refused)?;
    head(out, major::NEGATIVE, arg);
    Ok(())
}

/// An object's key: a field's or variant's name as it is, or a map key's text, copied
/// into `Plan::text[start..start + len]` (a map's keys do not outlive the message).
#[derive(Debug, Clone, Copy)]
enum Key {
    Static(&'static str),
    Copied { start: usize, len: usize },
}

/// One object of the message.
#[derive(Debug, Clone, Copy, Default)]
struct Object {
    /// Its keys are `Plan::keys[first..first + len]`.
    first: usize,
    len: usize,
    /// Its record id (0..[`RECORD_SLOTS`]).
    id: usize,
    /// Whether it defines its record (tag 0xDFFF with the keys) rather than uses it.
    define: bool,
}

/// What pass 1 learns of a message: every object's key list and record header.
#[derive(Debug)]
struct Plan {
    /// The text of every map key, one after the other.
    text: Vec<u8>,
    /// Every closed object's keys, each object's together.
    keys: Vec<Key>,
    /// The keys of objects still open, innermost last: an object's keys come between its
    /// children's, so they wait here until it closes.
    open: Vec<Key>,
    /// Every object, in pre-order.
    objects: Vec<Object>,
    /// By record id: the object whose key list the id stands for.
    slots: Vec<usize>,
}

/// Up to how many bytes of keys a thread's plan keeps between messages; a larger
/// message's buffer is given back.
const KEEP_BYTES: usize = 16 * 1024;
/// Up to how many keys or objects a thread's plan keeps room for between messages.
const KEEP_ITEMS: usize = 1024;

impl Plan {
    const fn new() -> Self {
        Plan {
            text: Vec::new(),
            keys: Vec::new(),
            open: Vec::new(),
            objects: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// Both passes over `value`.
    fn write<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), Refused> {
        self.text.clear();
        self.keys.clear();
        self.open.clear();
        self.objects.clear();
        value.serialize(&mut Collector { plan: self })?;
        self.assign();
        let mut writer = Writer {
            out,
            plan: self,
            next: 0,
        };
        value.serialize(&mut writer)?;
        if writer.next != self.objects.len() {
            return Err(Refused);
        }
        Ok(())
    }

    /// Gives back what a large message made the buffers grow to.
    fn trim(&mut self) {
        fn trim<T>(v: &mut Vec<T>, keep: usize) {
            if v.capacity() > keep {
                v.clear();
                v.shrink_to(keep);
            }
        }
        trim(&mut self.text, KEEP_BYTES);
        trim(&mut self.keys, KEEP_ITEMS);
        trim(&mut self.open, KEEP_ITEMS);
        trim(&mut self.objects, KEEP_ITEMS);
    }

    fn key(&self, key: Key) -> &[u8] {
        match key {
            Key::Static(name) => name.as_bytes(),
            Key::Copied { start, len } => self.text.get(start..start + len).unwrap_or_default(),
        }
    }

    fn keys_of(&self, object: &Object) -> &[Key] {
        self.keys
            .get(object.first..object.first + object.len)
            .unwrap_or_default()
    }

    fn same_keys(&self, a: &Object, b: &Object) -> bool {
        a.len == b.len
            && self
                .keys_of(a)
                .iter()
                .zip(self.keys_of(b))
                .all(|(&x, &y)| self.key(x) == self.key(y))
    }

    /// Numbers the objects' shapes in pre-order as the tree writer's `Shapes::assign`
    /// does: an id per new key list, reused cyclically past [`RECORD_SLOTS`] (the evicted
    /// list forgotten).
    fn assign(&mut self) {
        self.slots.clear();
        let mut next = 0;
        for index in 0..self.objects.len() {
            let Some(&object) = self.objects.get(index) else {
                break;
            };
            let known = self.slots.iter().position(|&slot| {
                self.objects
                    .get(slot)
                    .is_some_and(|shape| self.same_keys(shape, &object))
            });
            let (id, define) = match known {
                Some(id) => (id, false),
                None if self.slots.len() < RECORD_SLOTS => {
                    self.slots.push(index);
                    (self.slots.len() - 1, true)
                }
                None => {
                    let id = next;
                    next = (next + 1) % RECORD_SLOTS;
                    if let Some(slot) = self.slots.get_mut(id) {
                        *slot = index;
                    }
                    (id, true)
                }
            };
            if let Some(object) = self.objects.get_mut(index) {
                object.id = id;
                object.define = define;
            }
        }
    }
}

/// Pass 1: collects every object's keys into the plan; writes nothing.
struct Collector<'p> {
    plan: &'p mut Plan,
}

/// An object open in pass 1.
#[derive(Clone, Copy)]
struct Opened {
    /// Its index in `Plan::objects`.
    index: usize,
    /// Where its keys start in `Plan::open`.
    base: usize,
}

impl Collector<'_> {
    /// An object starts: its place in pre-order is taken now, its keys come later.
    fn open(&mut self) -> Opened {
        let index = self.plan.objects.len();
        self.plan.objects.push(Object::default());
        Opened {
            index,
            base: self.plan.open.len(),
        }
    }

    /// The key just written at the end of `Plan::text` belongs to the innermost open
    /// object.
    fn key_from(&mut self, start: usize) {
        let len = self.plan.text.len() - start;
        self.plan.open.push(Key::Copied { start, len });
    }

    /// An object ends: its keys move from `open` to `keys`, together.
    fn close(&mut self, opened: Opened) {
        let plan = &mut *self.plan;
        let first = plan.keys.len();
        if let Some(keys) = plan.open.get(opened.base..) {
            plan.keys.extend_from_slice(keys);
        }
        plan.open.truncate(opened.base);
        if let Some(object) = plan.objects.get_mut(opened.index) {
            object.first = first;
            object.len = plan.keys.len() - first;
        }
    }

    /// The object `{variant: …}` an enum variant with content becomes: its one key is
    /// known as it starts.
    fn variant(&mut self, name: &str, variant: &'static str) -> Result<(), Refused> {
        if name == CIBORIUM_TAG {
            return Err(Refused);
        }
        let plan = &mut *self.plan;
        let first = plan.keys.len();
        plan.keys.push(Key::Static(variant));
        plan.objects.push(Object {
            first,
            len: 1,
            ..Object::default()
        });
        Ok(())
    }
}

/// An array or object being walked in pass 1.
struct Collecting<'a, 'p> {
    collector: &'a mut Collector<'p>,
    /// The object, if it is one.
    object: Option<Opened>,
}

impl Collecting<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        value.serialize(&mut *self.collector)
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Refused> {
        self.collector.plan.open.push(Key::Static(key));
        value.serialize(&mut *self.collector)
    }

    fn end(self) -> Result<(), Refused> {
        if let Some(opened) = self.object {
            self.collector.close(opened);
        }
        Ok(())
    }
}

/// Serializer methods of pass 1 for items that hold no object.
macro_rules! skip_scalars {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, _: $ty) -> Result<(), Refused> {
            Ok(())
        }
    )*};
}

impl<'a, 'p> ser::Serializer for &'a mut Collector<'p> {
    type Ok = ();
    type Error = Refused;
    type SerializeSeq = Collecting<'a, 'p>;
    type SerializeTuple = Collecting<'a, 'p>;
    type SerializeTupleStruct = Collecting<'a, 'p>;
    type SerializeTupleVariant = Collecting<'a, 'p>;
    type SerializeMap = Collecting<'a, 'p>;
    type SerializeStruct = Collecting<'a, 'p>;
    type SerializeStructVariant = Collecting<'a, 'p>;

    skip_scalars!(
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
        serialize_char: char,
        serialize_str: &str,
        serialize_bytes: &[u8],
        serialize_unit_struct: &'static str
    );
    fn collect_str<T: Display + ?Sized>(self, _: &T) -> Result<(), Refused> {
        // Text holds no object: not formatted twice.
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Refused> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Refused> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Refused> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
    ) -> Result<(), Refused> {
        Ok(())
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
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Refused> {
        Ok(Collecting {
            collector: self,
            object: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, Refused> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, Refused> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Refused> {
        self.variant(name, variant)?;
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Refused> {
        let object = Some(self.open());
        Ok(Collecting {
            collector: self,
            object,
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, Refused> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, Refused> {
        self.variant(name, variant)?;
        self.serialize_map(Some(len))
    }
    fn is_human_readable(&self) -> bool {
        // As ciborium's serializers say: some types (uuid, for one) serialize otherwise.
        false
    }
}

/// The four array-like compounds of serde, for a compound type with `element`.
macro_rules! array_like {
    ($type:ident: $($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for $type<'_, '_> {
            type Ok = ();
            type Error = Refused;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
                self.element(value)
            }
            fn end(self) -> Result<(), Refused> {
                $type::end(self)
            }
        }
    )*};
}

/// The two struct-like compounds of serde, for a compound type with `field`.
macro_rules! struct_like {
    ($type:ident: $($trait:ident),*) => {$(
        impl ser::$trait for $type<'_, '_> {
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
                $type::end(self)
            }
        }
    )*};
}

array_like!(Collecting:
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);
struct_like!(Collecting: SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Collecting<'_, '_> {
    type Ok = ();
    type Error = Refused;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Refused> {
        let start = self.collector.plan.text.len();
        key.serialize(KeyText {
            out: &mut self.collector.plan.text,
        })?;
        self.collector.key_from(start);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.element(value)
    }
    fn end(self) -> Result<(), Refused> {
        Collecting::end(self)
    }
}

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
        let object = plan.objects.get(self.next).ok_or(Refused)?;
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
struct KeyText<'a> {
    out: &'a mut Vec<u8>,
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
