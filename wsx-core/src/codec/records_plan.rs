//! Pass 1 of the direct records writer ([`records_write`](super::records_write)): the
//! plan of a message, which every object's record header comes from.
//!
//! A [`Collector`] walks the value and notes each object's keys, objects in pre-order
//! (the order they start in: parents before children; an object's keys come between
//! its children's, so they wait in `Plan::open` until it closes). Then [`Plan::assign`]
//! numbers the shapes as the tree writer's `Shapes::assign` does.

use super::records::RECORD_SLOTS;
use super::records_write::{CIBORIUM_TAG, KeyText, Refused};
use serde::Serialize;
use serde::ser;
use std::fmt::Display;

/// An object's key: a field's or variant's name as it is, or a map key's text, copied
/// into `Plan::text[start..start + len]` (a map's keys do not outlive the message).
#[derive(Debug, Clone, Copy)]
pub(super) enum Key {
    Static(&'static str),
    Copied { start: usize, len: usize },
}

/// One object of the message.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Object {
    /// Its keys are `Plan::keys[first..first + len]`.
    first: usize,
    len: usize,
    /// Its record id (0..[`RECORD_SLOTS`]).
    pub(super) id: usize,
    /// Whether it defines its record (tag 0xDFFF with the keys) rather than uses it.
    pub(super) define: bool,
}

/// What pass 1 learns of a message: every object's key list and record header.
#[derive(Debug)]
pub(super) struct Plan {
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
    pub(super) const fn new() -> Self {
        Plan {
            text: Vec::new(),
            keys: Vec::new(),
            open: Vec::new(),
            objects: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// Pass 1: notes every object of `value` and numbers its shape.
    pub(super) fn collect<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.collect_in(&[], value)
    }

    /// Pass 1 of a message that is an object of the keys `outer` (given here), whose last
    /// field is `value` and whose other fields hold no object: the outer object first,
    /// then `value`'s, as [`Plan::collect`] notes the whole message. An empty `outer`
    /// is no outer object: `value` is the message.
    pub(super) fn collect_in<T: Serialize + ?Sized>(
        &mut self,
        outer: &[&'static str],
        value: &T,
    ) -> Result<(), Refused> {
        self.text.clear();
        self.keys.clear();
        self.open.clear();
        self.objects.clear();
        if !outer.is_empty() {
            self.keys.extend(outer.iter().map(|&key| Key::Static(key)));
            self.objects.push(Object {
                first: 0,
                len: outer.len(),
                ..Object::default()
            });
        }
        value.serialize(&mut Collector { plan: self })?;
        self.assign();
        Ok(())
    }

    /// The `index`th object, in pre-order.
    pub(super) fn object(&self, index: usize) -> Option<&Object> {
        self.objects.get(index)
    }

    /// How many objects the message has.
    pub(super) fn objects(&self) -> usize {
        self.objects.len()
    }

    /// How many bytes the plan holds on to.
    #[cfg(test)]
    pub(super) fn kept_bytes(&self) -> usize {
        fn bytes<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        bytes(&self.text)
            + bytes(&self.keys)
            + bytes(&self.open)
            + bytes(&self.objects)
            + bytes(&self.slots)
    }

    /// Gives back what a large message made the buffers grow to.
    pub(super) fn trim(&mut self) {
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

    pub(super) fn key(&self, key: Key) -> &[u8] {
        match key {
            Key::Static(name) => name.as_bytes(),
            Key::Copied { start, len } => self.text.get(start..start + len).unwrap_or_default(),
        }
    }

    pub(super) fn keys_of(&self, object: &Object) -> &[Key] {
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

/// The four array-like compounds of serde, for a compound type with `element` (both
/// passes' compounds).
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

pub(super) use {array_like, struct_like};
