//! Writing cbor-x records: every object becomes a record, as the TypeScript client's
//! default encoder does, so that client decodes our replies into plain objects.
//!
//! Two writers write the same bytes:
//!
//! - [`records_write`] writes straight from serde into the output,
//!   in two passes (key lists first, then bytes); every message tries it first;
//! - the tree writer here, the reference, first serializes the value into a
//!   [`ciborium::Value`] (field order kept), then writes it through ciborium with
//!   [`Node`]. It writes what the direct writer refuses (non-text map keys, tags,
//!   bignums, `Serialize` errors: see there), so both the output and any error are its.
//!
//! Each map becomes
//!
//! - tag [`RECORD_DEFINITION`] around `[0xE000 + n, [keys…], values…]` the first time its
//!   key list (in order) appears in the message, and
//! - tag `0xE000 + n` around `[values…]` for every later object with the same key list.
//!
//! Shapes are numbered in the order their first object is written (parents before
//! children), like cbor-x. Past [`RECORD_SLOTS`] shapes, ids are reused cyclically and the
//! evicted shape is forgotten (also like cbor-x, whose decoder takes the newest
//! definition), so a reply never falls back to a map the TypeScript client cannot read.
//! Maps with a non-text key stay maps.
//!
//! Numbers follow JavaScript too: cbor-x reads every 8-byte CBOR integer as a `BigInt`,
//! so an integer that needs 8 bytes but is exact in a double (|n| ≤ 2^53, e.g. a
//! millisecond clock like `w`) is written as float64, as cbor-x itself writes it; our
//! decoder reads it back as an integer. Larger integers stay integers (a `BigInt` is the
//! only exact reading). Floats are written in the shortest exact width.

use super::EncodeError;
use super::records_write;
use ciborium::Value;
use ciborium::tag::Captured;
use serde::Serialize;
use serde::ser::{Error as _, SerializeMap, SerializeSeq, Serializer};
use std::cell::RefCell;

/// The cbor-x "inline record" tag: a record definition and its first object.
pub(super) const RECORD_DEFINITION: u64 = 0xDFFF;

/// Record `n` is used with tag `RECORD_BASE + n`.
pub(super) const RECORD_BASE: u64 = 0xE000;

/// How many record ids a message may have live at once (0xE000..=0xE0FF).
pub(super) const RECORD_SLOTS: usize = 256;

/// Writes `value` with records at the end of `out`.
pub(super) fn encode<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    if records_write::write(value, out).is_ok() {
        return Ok(());
    }
    out.truncate(start);
    encode_tree(value, out)
}

/// The tree writer: `value` as a [`ciborium::Value`], written through [`Node`].
pub(super) fn encode_tree<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let tree = Value::serialized(value).map_err(|e| EncodeError(e.to_string()))?;
    let shapes = RefCell::new(Shapes {
        slots: Vec::new(),
        next: 0,
    });
    ciborium::into_writer(
        &Node {
            value: &tree,
            shapes: &shapes,
        },
        out,
    )
    .map_err(|e| EncodeError(e.to_string()))
}

type Entries = [(Value, Value)];

/// 2^53: integers up to this magnitude are exact in a JavaScript number.
pub(super) const MAX_SAFE_INTEGER: u128 = 1 << 53;

/// Whether CBOR's shortest form of `n` is 8 bytes long (major type 0 or 1, argument 27).
fn needs_8_bytes(n: i128) -> bool {
    !(-(1i128 << 32)..(1i128 << 32)).contains(&n)
}

/// The key lists seen so far in the message, by record id; each is the entries of the
/// first object that had it.
struct Shapes<'v> {
    slots: Vec<&'v Entries>,
    /// The id to reuse next once every slot is taken.
    next: usize,
}

impl<'v> Shapes<'v> {
    /// The record id for this object's shape, and whether it is new (to be defined).
    fn assign(&mut self, entries: &'v Entries) -> (usize, bool) {
        let same = |shape: &&Entries| {
            shape.len() == entries.len() && shape.iter().zip(entries).all(|((a, _), (b, _))| a == b)
        };
        if let Some(id) = self.slots.iter().position(same) {
            return (id, false);
        }
        if self.slots.len() < RECORD_SLOTS {
            self.slots.push(entries);
            return (self.slots.len() - 1, true);
        }
        let id = self.next;
        self.next = (self.next + 1) % RECORD_SLOTS;
        if let Some(slot) = self.slots.get_mut(id) {
            *slot = entries;
        }
        (id, true)
    }
}

/// A value written with records.
struct Node<'a, 'v> {
    value: &'v Value,
    shapes: &'a RefCell<Shapes<'v>>,
}

impl<'a, 'v> Node<'a, 'v> {
    fn child(&self, value: &'v Value) -> Node<'a, 'v> {
        Node {
            value,
            shapes: self.shapes,
        }
    }
}

impl Serialize for Node<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Map(entries) if entries.iter().all(|(k, _)| k.is_text()) => {
                let (id, new) = self
                    .shapes
                    .try_borrow_mut()
                    .map_err(|_| S::Error::custom("record shapes are busy"))?
                    .assign(entries);
                let record = Record {
                    node: self,
                    entries,
                    id: RECORD_BASE + id as u64,
                    define: new,
                };
                let tag = if new { RECORD_DEFINITION } else { record.id };
                Captured(Some(tag), record).serialize(s)
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(&self.child(k), &self.child(v))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&self.child(item))?;
                }
                seq.end()
            }
            Value::Tag(tag, inner) => Captured(Some(*tag), self.child(inner)).serialize(s),
            Value::Integer(n) => {
                let n = i128::from(*n);
                if needs_8_bytes(n) && n.unsigned_abs() <= MAX_SAFE_INTEGER {
                    // Exact: |n| <= 2^53.
                    s.serialize_f64(n as f64)
                } else {
                    self.value.serialize(s)
                }
            }
            scalar => scalar.serialize(s),
        }
    }
}

/// The array inside a record tag.
struct Record<'n, 'a, 'v> {
    node: &'n Node<'a, 'v>,
    entries: &'v Entries,
    id: u64,
    /// Write `id` and the key list first (tag 57343) rather than the values alone.
    define: bool,
}

impl Serialize for Record<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let header = if self.define { 2 } else { 0 };
        let mut seq = s.serialize_seq(Some(header + self.entries.len()))?;
        if self.define {
            seq.serialize_element(&self.id)?;
            seq.serialize_element(&Keys(self.entries))?;
        }
        for (_, v) in self.entries {
            seq.serialize_element(&self.node.child(v))?;
        }
        seq.end()
    }
}

/// A record definition's key list.
struct Keys<'v>(&'v Entries);

impl Serialize for Keys<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(k, _)| k))
    }
}
