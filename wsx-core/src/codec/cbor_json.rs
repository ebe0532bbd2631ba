//! The server's read of a CBOR message: transcoded straight to JSON text (with the
//! `server` feature), so the envelope is read by [`json_read`](super::json_read) and the
//! payload by the typed fast path, as a JSON frame is, with no tree built in between.
//!
//! [`transcode`] walks the bytes once and writes the JSON the message means under the
//! mapping of [`cbor`](super::cbor) (records expanded, `undefined` map entries dropped,
//! integral floats within ±2^53 written as integers). It reads only a plain subset of
//! CBOR — what wsx's and cbor-x's encoders write — and gives up (`false`) on anything
//! else or anything wrong: indefinite lengths, byte strings, tags other than records,
//! simple values other than `false`/`true`/`null`/`undefined`, integers below −2^63,
//! non-finite floats, floats that would not read back exactly, a duplicate key, more
//! than 64 entries in a map or record, 128 record keys or 32 definitions in all, text
//! longer than ciborium's scratch, nesting past a bound below both of [`cbor`]'s, records
//! past the expansion bound, trailing bytes. A message it gives up on is decoded by
//! [`cbor`](super::cbor) as before, which accepts or refuses it with its own error: so
//! this read accepts nothing that decoder refuses and means the same by what it accepts.

use super::MAX_DEPTH;
use super::cbor::{RECORD_EXPANSION_FACTOR, RECORD_EXPANSION_FLOOR};
use super::json_read::JsonFrame;
use super::json_write::write_str;
use super::records::{RECORD_BASE, RECORD_DEFINITION, RECORD_SLOTS};
use arrayvec::ArrayVec;
use std::borrow::Cow;
use std::fmt::Write as _;

/// The longest text string read here: ciborium reads longer ones through another path.
const MAX_TEXT: usize = 4096;

/// The deepest nesting read here, counting arrays and maps once and tags twice (above
/// anything ciborium counts for them), so that what is read stays within ciborium's
/// recursion limit and [`MAX_DEPTH`] both.
const MAX_NEST: usize = MAX_DEPTH;

/// The most entries a map or record may have here (duplicate keys are looked for
/// pairwise).
const MAX_MAP_ENTRIES: usize = 64;

/// The most record keys a message may define here, all definitions together.
const MAX_KEYS: usize = 128;

/// The most record definitions a message may have here.
const MAX_RECORDS: usize = 32;

/// Integral floats within ±2^53 are integers, as in [`cbor`](super::cbor).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Writes the JSON text `bytes` means into `out` (cleared first); `false` when this read
/// gives up (see the module docs), `out` then holding nothing of use.
pub(crate) fn transcode(bytes: &[u8], out: &mut String) -> bool {
    read_all(bytes, out, |reader, out| reader.value(out)).is_some()
}

/// Runs `read` on a reader of `bytes` writing into `out` (cleared first): what it gives
/// if it read every byte.
fn read_all<'a, T>(
    bytes: &'a [u8],
    out: &mut String,
    read: impl FnOnce(&mut Reader<'a, '_>, &mut String) -> Option<T>,
) -> Option<T> {
    out.clear();
    // JSON text is rarely more than twice the CBOR: grown once, not as it is written.
    out.reserve(bytes.len().saturating_mul(2).saturating_add(16));
    let mut defined = Definitions {
        keys: ArrayVec::new(),
        records: ArrayVec::new(),
    };
    let mut reader = Reader::new(bytes, &mut defined);
    let read = read(&mut reader, out)?;
    (reader.pos == bytes.len()).then_some(read)
}

/// The envelope of a CBOR message, read without writing it out as JSON: its strings
/// borrowed from the message, its payload transcoded alone (see [`transcode_envelope`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    pub(crate) v: Option<&'a str>,
    pub(crate) t: Option<&'a str>,
    pub(crate) x: Option<&'a str>,
    pub(crate) id: Option<&'a str>,
    pub(crate) w: Option<u64>,
    /// Where the payload's JSON text is in `out`; `None` when absent, `undefined` or `null`.
    pub(crate) p: Option<std::ops::Range<usize>>,
}

impl<'a> Envelope<'a> {
    /// The envelope as the JSON read gives it, its payload in `json` (the text
    /// [`transcode_envelope`] wrote).
    pub(crate) fn into_frame(self, json: &'a str) -> JsonFrame<'a> {
        JsonFrame {
            v: self.v.map(Cow::Borrowed),
            t: self.t.map(Cow::Borrowed),
            x: self.x.map(Cow::Borrowed),
            id: self.id.map(Cow::Borrowed),
            w: self.w.map(serde_json::Number::from),
            p: self.p.and_then(|at| json.get(at)),
            e: None,
        }
    }
}

/// The envelope `bytes` mean, when it is one a client writes: a map or record of the
/// keys `v`, `t`, `x`, `id` (text), `w` (an unsigned integer, or a float that is one) and
/// `p` (any value, its JSON written into `out`, cleared first). It is what [`transcode`]
/// followed by the JSON envelope read gives, without the envelope's JSON being written and read again:
/// `None` (give up, read the message the general way) for anything else — another key
/// (`e` included), another type for one of these, or anything [`transcode`] gives up on.
pub(crate) fn transcode_envelope<'a>(bytes: &'a [u8], out: &mut String) -> Option<Envelope<'a>> {
    read_all(bytes, out, envelope)
}

/// The envelope [`transcode_envelope`] reads, from the start of the message.
fn envelope<'a>(reader: &mut Reader<'a, '_>, out: &mut String) -> Option<Envelope<'a>> {
    let mut envelope = Envelope::default();
    let field = |r: &mut Reader<'a, '_>, key: &'a str, out: &mut String| {
        match key {
            "v" => envelope.v = Some(r.text()?),
            "t" => envelope.t = Some(r.text()?),
            "x" => envelope.x = Some(r.text()?),
            "id" => envelope.id = Some(r.text()?),
            "w" => envelope.w = Some(r.clock()?),
            "p" => {
                let start = out.len();
                r.value(out)?;
                // A `null` payload is an absent one, as the JSON read says.
                envelope.p = (out.get(start..)? != "null").then_some(start..out.len());
            }
            _ => return None,
        }
        Some(())
    };
    let h = reader.header()?;
    match h.major {
        5 => reader.map_entries(h.arg, out, field)?,
        6 if h.arg == RECORD_DEFINITION => reader.record_entries(None, out, field)?,
        _ => return None,
    }
    Some(envelope)
}

/// A string to transcode into: the thread's spare one while it is held, given back when
/// dropped (unless it grew past 16 KiB), so that a CBOR frame's JSON costs no allocation.
#[derive(Default)]
pub(crate) struct JsonBuffer(pub(crate) String);

thread_local! {
    static SPARE: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

impl JsonBuffer {
    /// The thread's spare string (empty, with its capacity), or a new one.
    pub(crate) fn take() -> Self {
        JsonBuffer(SPARE.try_with(std::cell::Cell::take).unwrap_or_default())
    }
}

impl Drop for JsonBuffer {
    fn drop(&mut self) {
        /// What the spare string may keep between frames.
        const KEEP: usize = 16 * 1024;
        if self.0.capacity() <= KEEP {
            let spare = std::mem::take(&mut self.0);
            // During the thread's teardown there is no spare to give back to.
            let _ = SPARE.try_with(|s| s.set(spare));
        }
    }
}

/// An item's header: major type and argument (definite lengths only).
struct Header {
    major: u8,
    arg: u64,
}

struct Reader<'a, 'd> {
    bytes: &'a [u8],
    pos: usize,
    /// Current nesting, counted as [`MAX_NEST`] says.
    nest: usize,
    /// The record definitions read so far.
    defined: &'d mut Definitions<'a>,
    /// Key bytes records may still copy (see `cbor::RECORD_EXPANSION_FACTOR`).
    expansion_left: usize,
}

/// A message's record definitions, as they are read: tables of a fixed capacity whose
/// storage is not initialized (filling 2.5 KiB per frame cost more than reading a small
/// frame), kept apart from the reader so that they are not moved.
struct Definitions<'a> {
    /// Every key list defined in the message, back to back.
    keys: ArrayVec<&'a str, MAX_KEYS>,
    /// Record definitions, newest last: (slot, start in `keys`, number of keys).
    records: ArrayVec<(usize, usize, usize), MAX_RECORDS>,
}

impl<'a, 'd> Reader<'a, 'd> {
    fn new(bytes: &'a [u8], defined: &'d mut Definitions<'a>) -> Self {
        Reader {
            bytes,
            pos: 0,
            nest: 0,
            defined,
            expansion_left: bytes
                .len()
                .saturating_mul(RECORD_EXPANSION_FACTOR)
                .max(RECORD_EXPANSION_FLOOR),
        }
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn uint(&mut self, n: usize) -> Option<u64> {
        let mut v = 0u64;
        for &b in self.take(n)? {
            v = (v << 8) | u64::from(b);
        }
        Some(v)
    }

    /// The header of the next item; `None` for indefinite lengths and reserved forms.
    /// Major type 7 is read by [`Reader::value`] itself.
    fn header(&mut self) -> Option<Header> {
        let initial = self.byte()?;
        let major = initial >> 5;
        let arg = match initial & 0x1f {
            n @ 0..=23 => u64::from(n),
            24 => self.uint(1)?,
            25 => self.uint(2)?,
            26 => self.uint(4)?,
            27 => self.uint(8)?,
            _ => return None,
        };
        Some(Header { major, arg })
    }

    fn enter(&mut self, by: usize) -> Option<()> {
        self.nest += by;
        (self.nest <= MAX_NEST).then_some(())
    }

    fn leave(&mut self, by: usize) {
        self.nest -= by;
    }

    /// A definite text string of at most [`MAX_TEXT`] bytes.
    fn text(&mut self) -> Option<&'a str> {
        let h = self.header()?;
        self.text_of(h)
    }

    /// The text string whose header is `h`.
    fn text_of(&mut self, h: Header) -> Option<&'a str> {
        if h.major != 3 {
            return None;
        }
        let len = usize::try_from(h.arg).ok().filter(|&n| n <= MAX_TEXT)?;
        let bytes = self.take(len)?;
        Some(match known_word(bytes) {
            Some(word) => word,
            None => std::str::from_utf8(bytes).ok()?,
        })
    }

    /// The float whose initial byte (`0xf9`, `0xfa` or `0xfb`: half, single or double
    /// precision) was just read.
    fn float_after(&mut self, initial: u8) -> Option<f64> {
        Some(match initial {
            0xf9 => f16_to_f64(u16::try_from(self.uint(2)?).ok()?),
            0xfa => f64::from(f32::from_bits(u32::try_from(self.uint(4)?).ok()?)),
            0xfb => f64::from_bits(self.uint(8)?),
            _ => return None,
        })
    }

    /// A sender clock as the JSON read has it, an unsigned integer: one, or a float the
    /// transcoding writes as one (integral, within 0..=2^53; `Date.now()` as cbor-x
    /// writes it). Anything else is `None`.
    fn clock(&mut self) -> Option<u64> {
        let initial = self.peek()?;
        if let 0xf9..=0xfb = initial {
            self.pos += 1;
            let v = self.float_after(initial)?;
            // Exact: integral and within 0..=2^53 (-0.0 is written as 0).
            return (v.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&v)).then_some(v as u64);
        }
        let h = self.header()?;
        (h.major == 0).then_some(h.arg)
    }

    /// Whether the next item is `undefined` (dropped from maps and records).
    fn undefined_next(&mut self) -> bool {
        if self.peek() == Some(0xf7) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn value(&mut self, out: &mut String) -> Option<()> {
        let initial = self.peek()?;
        if initial >> 5 == 7 {
            self.pos += 1;
            return match initial {
                0xf4 => push(out, "false"),
                0xf5 => push(out, "true"),
                // `undefined` where it stands alone (array item, tag content): `null`.
                0xf6 | 0xf7 => push(out, "null"),
                0xf9..=0xfb => float(out, self.float_after(initial)?),
                _ => None,
            };
        }
        let h = self.header()?;
        match h.major {
            0 => {
                out.push_str(itoa::Buffer::new().format(h.arg));
                Some(())
            }
            1 => {
                let n = i64::try_from(h.arg).ok()?;
                out.push_str(itoa::Buffer::new().format(-1 - n));
                Some(())
            }
            3 => {
                let s = self.text_of(h)?;
                write_str(out, s);
                Some(())
            }
            4 => {
                let len = usize::try_from(h.arg).ok()?;
                self.enter(1)?;
                out.push('[');
                for i in 0..len {
                    if i > 0 {
                        out.push(',');
                    }
                    self.value(out)?;
                }
                out.push(']');
                self.leave(1);
                Some(())
            }
            5 => self.map(h.arg, out),
            6 if h.arg == RECORD_DEFINITION => self.record(None, out),
            6 => {
                let slot = h
                    .arg
                    .checked_sub(RECORD_BASE)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|&n| n < RECORD_SLOTS)?;
                self.record(Some(slot), out)
            }
            _ => None,
        }
    }

    fn map(&mut self, len: u64, out: &mut String) -> Option<()> {
        out.push('{');
        let mut first = true;
        self.map_entries(len, out, |r, key, out| r.member(&mut first, key, out))?;
        out.push('}');
        Some(())
    }

    /// One member of an object being written: a comma unless `first`, the key, the value.
    fn member(&mut self, first: &mut bool, key: &str, out: &mut String) -> Option<()> {
        if !*first {
            out.push(',');
        }
        *first = false;
        write_str(out, key);
        out.push(':');
        self.value(out)
    }

    /// The `len` entries of a map: each one whose value is not `undefined` is handed to
    /// `visit` with its key, the reader at its value (which `visit` must read).
    fn map_entries(
        &mut self,
        len: u64,
        out: &mut String,
        mut visit: impl FnMut(&mut Self, &'a str, &mut String) -> Option<()>,
    ) -> Option<()> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= MAX_MAP_ENTRIES)?;
        self.enter(1)?;
        let mut seen = ArrayVec::<&str, MAX_MAP_ENTRIES>::new();
        for _ in 0..len {
            let key = self.text()?;
            if seen.iter().any(|&k| same(k, key)) {
                return None;
            }
            seen.try_push(key).ok()?;
            if self.undefined_next() {
                continue;
            }
            visit(self, key, out)?;
        }
        self.leave(1);
        Some(())
    }

    fn record(&mut self, slot: Option<usize>, out: &mut String) -> Option<()> {
        out.push('{');
        let mut first = true;
        self.record_entries(slot, out, |r, key, out| r.member(&mut first, key, out))?;
        out.push('}');
        Some(())
    }

    /// The array inside a record tag: `[0xE000 + n, [keys…], values…]` when `slot` is
    /// `None` (a definition), `[values…]` for a use of record `slot`. Each value that is
    /// not `undefined` is handed to `visit` with its key, as by [`Reader::map_entries`].
    fn record_entries(
        &mut self,
        slot: Option<usize>,
        out: &mut String,
        mut visit: impl FnMut(&mut Self, &'a str, &mut String) -> Option<()>,
    ) -> Option<()> {
        // The tag (two) and its array (one).
        self.enter(3)?;
        let h = self.header()?;
        if h.major != 4 {
            return None;
        }
        let len = usize::try_from(h.arg).ok()?;
        let (start, count) = match slot {
            Some(slot) => {
                let &(_, start, count) = self.defined.records.iter().rev().find(|r| r.0 == slot)?;
                (start, count)
            }
            None => {
                let id = self.header()?;
                if id.major != 0 {
                    return None;
                }
                let slot = id
                    .arg
                    .checked_sub(RECORD_BASE)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|&n| n < RECORD_SLOTS)?;
                let keys = self.header()?;
                if keys.major != 4 {
                    return None;
                }
                let count = usize::try_from(keys.arg)
                    .ok()
                    .filter(|&n| n <= MAX_MAP_ENTRIES)?;
                let start = self.defined.keys.len();
                // The key list's array.
                self.enter(1)?;
                for _ in 0..count {
                    let key = self.text()?;
                    if self
                        .defined
                        .keys
                        .get(start..)?
                        .iter()
                        .any(|&k| same(k, key))
                    {
                        return None;
                    }
                    self.defined.keys.try_push(key).ok()?;
                }
                self.leave(1);
                self.defined.records.try_push((slot, start, count)).ok()?;
                (start, count)
            }
        };
        let header = if slot.is_none() { 2 } else { 0 };
        if len != header + count {
            return None;
        }
        let copied: usize = self
            .defined
            .keys
            .get(start..start + count)?
            .iter()
            .map(|k| k.len())
            .sum();
        self.expansion_left = self.expansion_left.checked_sub(copied)?;
        for i in start..start + count {
            if self.undefined_next() {
                continue;
            }
            let key = *self.defined.keys.get(i)?;
            visit(self, key, out)?;
        }
        self.leave(3);
        Some(())
    }
}

/// Whether two keys are the same, compared inline: keys are short, and most have the
/// same length (one letter), where `==` would call `memcmp` for each pair.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The envelope's keys and the frame types, every frame's own words: matched as bytes
/// (they are ASCII) rather than checked for UTF-8 one by one.
fn known_word(bytes: &[u8]) -> Option<&'static str> {
    Some(match bytes {
        b"v" => "v",
        b"t" => "t",
        b"x" => "x",
        b"id" => "id",
        b"w" => "w",
        b"p" => "p",
        b"e" => "e",
        b"1.0" => "1.0",
        b"request" => "request",
        b"send" => "send",
        b"response_ok" => "response_ok",
        b"response_error" => "response_error",
        _ => return None,
    })
}

fn push(out: &mut String, s: &str) -> Option<()> {
    out.push_str(s);
    Some(())
}

/// A float as [`cbor`](super::cbor) reads it: an integer if integral within ±2^53,
/// else the shortest decimal that reads back as the same float (or give up).
fn float(out: &mut String, v: f64) -> Option<()> {
    if !v.is_finite() {
        return None;
    }
    if v.fract() == 0.0 && v.abs() <= MAX_SAFE_INTEGER {
        // Exact: integral and within ±2^53.
        if v >= 0.0 {
            out.push_str(itoa::Buffer::new().format(v as u64));
        } else {
            out.push_str(itoa::Buffer::new().format(v as i64));
        }
        return Some(());
    }
    let n = serde_json::Number::from_f64(v)?;
    let start = out.len();
    write!(out, "{n}").ok()?;
    // serde_json's parser (without `float_roundtrip`) may miss the last bit.
    let back: f64 = serde_json::from_str(out.get(start..)?).ok()?;
    (back.to_bits() == v.to_bits()).then_some(())
}

/// An IEEE half-precision float, exactly.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    let magnitude = match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1024.0 + frac) * 2f64.powi(exp - 25),
    };
    sign * magnitude
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! The read is held to [`cbor::decode`](super::super::cbor): whatever it accepts, that
    //! decoder accepts as the same value, over random CBOR items (every major type, long
    //! and short headers, records, tags, simple values, floats of each width), encodings
    //! of random values (records and maps), and mutations of both.

    use super::super::json_read::{self, JsonFrame};
    use super::super::{Codec, cbor};
    use super::{MAX_KEYS, MAX_RECORDS, transcode, transcode_envelope};
    use proptest::prelude::*;
    use serde_json::{Map, Number, Value, json};

    /// `Some(value)` when [`transcode`] reads `bytes`, checking it means what
    /// `cbor::decode` does.
    fn held(bytes: &[u8]) -> Option<Value> {
        let mut out = String::new();
        if !transcode(bytes, &mut out) {
            return None;
        }
        let value: Value = serde_json::from_str(&out).expect("transcoded JSON reads");
        assert_eq!(
            cbor::decode(bytes),
            Ok(value.clone()),
            "bytes {bytes:02x?} transcoded to {out}"
        );
        Some(value)
    }

    fn head(major: u8, arg: u64, wide: u8) -> Vec<u8> {
        let m = major << 5;
        match (wide % 4, arg) {
            (0, 0..=23) => vec![m | arg as u8],
            (0 | 1, 0..=0xff) => vec![m | 24, arg as u8],
            (0..=2, 0..=0xffff) => {
                let mut v = vec![m | 25];
                v.extend_from_slice(&(arg as u16).to_be_bytes());
                v
            }
            (_, 0..=0xffff_ffff) if wide % 4 != 3 || arg <= 0xffff_ffff => {
                let mut v = vec![m | 26];
                v.extend_from_slice(&(arg as u32).to_be_bytes());
                v
            }
            _ => {
                let mut v = vec![m | 27];
                v.extend_from_slice(&arg.to_be_bytes());
                v
            }
        }
    }

    fn text(s: &str, wide: u8) -> Vec<u8> {
        let mut v = head(3, s.len() as u64, wide);
        v.extend_from_slice(s.as_bytes());
        v
    }

    /// One random CBOR item, well formed or nearly.
    fn item() -> impl Strategy<Value = Vec<u8>> {
        let key = prop_oneof![4 => "[a-e]{1,2}", 1 => "\\PC{0,6}", 1 => "[\"\\\\\\n\\x01]{1,3}"];
        let leaf = prop_oneof![
            (any::<u64>(), any::<u8>()).prop_map(|(n, w)| head(0, n, w)),
            (0u64..40, any::<u8>()).prop_map(|(n, w)| head(0, n, w)),
            (any::<u64>(), any::<u8>()).prop_map(|(n, w)| head(1, n, w)),
            (key.clone(), any::<u8>()).prop_map(|(s, w)| text(&s, w)),
            prop::collection::vec(any::<u8>(), 0..3).prop_map(|b| {
                let mut v = head(2, b.len() as u64, 0);
                v.extend(b);
                v
            }),
            prop::sample::select(vec![
                vec![0xf4],
                vec![0xf5],
                vec![0xf6],
                vec![0xf7],
                vec![0xf7],
                vec![0xf8, 0x17],
                vec![0xf8, 0x14],
                vec![0xf0],
                vec![0xff],
                vec![0xf9, 0x7e, 0x00],
                vec![0xf9, 0x7c, 0x00],
                vec![0xf9, 0x00, 0x01],
                vec![0xfc],
            ]),
            any::<u16>().prop_map(|b| {
                let mut v = vec![0xf9];
                v.extend(b.to_be_bytes());
                v
            }),
            any::<f32>().prop_map(|f| {
                let mut v = vec![0xfa];
                v.extend(f.to_be_bytes());
                v
            }),
            prop_oneof![
                any::<f64>(),
                (-1e6f64..1e6),
                (-(1i64 << 54)..(1i64 << 54)).prop_map(|n| n as f64),
                Just(9007199254740992.0),
                Just(9007199254740994.0),
                Just(-0.0),
            ]
            .prop_map(|f| {
                let mut v = vec![0xfb];
                v.extend(f.to_be_bytes());
                v
            }),
        ];
        leaf.prop_recursive(6, 64, 6, move |inner| {
            let key = key.clone();
            prop_oneof![
                (
                    prop::collection::vec(inner.clone(), 0..5),
                    any::<u8>(),
                    any::<bool>()
                )
                    .prop_map(|(items, w, indefinite)| {
                        let mut v = if indefinite {
                            vec![0x9f]
                        } else {
                            head(4, items.len() as u64, w)
                        };
                        items.iter().for_each(|i| v.extend(i));
                        if indefinite {
                            v.push(0xff);
                        }
                        v
                    }),
                (
                    prop::collection::vec((key.clone(), inner.clone()), 0..5),
                    any::<u8>(),
                    any::<bool>()
                )
                    .prop_map(|(entries, w, int_key)| {
                        let mut v = head(5, entries.len() as u64, w);
                        for (i, (k, val)) in entries.iter().enumerate() {
                            if int_key && i == 0 {
                                v.push(0x01);
                            } else {
                                v.extend(text(k, w));
                            }
                            v.extend(val);
                        }
                        v
                    }),
                // A record definition: tag 57343 [id, [keys], values].
                (
                    0u64..4,
                    prop::collection::vec(key.clone(), 0..4),
                    prop::collection::vec(inner.clone(), 0..5),
                    any::<u8>()
                )
                    .prop_map(|(id, keys, values, w)| {
                        let mut v = vec![0xd9, 0xdf, 0xff];
                        v.extend(head(4, 2 + values.len() as u64, w));
                        v.extend(head(0, if w == 7 { 0x1234 } else { 0xe000 + id }, w));
                        v.extend(head(4, keys.len() as u64, 0));
                        keys.iter().for_each(|k| v.extend(text(k, w)));
                        values.iter().for_each(|i| v.extend(i));
                        v
                    }),
                // A record use: tag 0xE000 + id [values].
                (
                    0u64..4,
                    prop::collection::vec(inner.clone(), 0..5),
                    any::<u8>()
                )
                    .prop_map(|(id, values, w)| {
                        let mut v = head(6, 0xe000 + id, w);
                        v.extend(head(4, values.len() as u64, 0));
                        values.iter().for_each(|i| v.extend(i));
                        v
                    }),
                // Other tags: bignums, a date, cbor-x extensions.
                (
                    prop::sample::select(vec![1u64, 2, 3, 0xdffa, 0xe100]),
                    inner
                )
                    .prop_map(|(tag, content)| {
                        let mut v = head(6, tag, 0);
                        v.extend(content);
                        v
                    }),
            ]
        })
    }

    fn number() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<i64>().prop_map(Number::from),
            any::<u64>().prop_map(Number::from),
            (-(1i64 << 54)..(1i64 << 54)).prop_map(Number::from),
        ]
    }

    /// Random JSON values, integers only (a float may not read back exactly through
    /// serde_json's parser, and is then left to `cbor::decode`).
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number().prop_map(Value::Number),
            "\\PC{0,12}".prop_map(Value::String),
            "[\"\\\\\\n\\t\\x00-\\x1f]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-d]{1,2}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// Whether the records of `value` stay within what [`transcode`] reads: its distinct
    /// key lists (one definition each) and their keys.
    fn within_record_limits(value: &Value) -> bool {
        fn shapes(v: &Value, into: &mut Vec<Vec<String>>) {
            match v {
                Value::Object(m) => {
                    let keys: Vec<String> = m.keys().cloned().collect();
                    if !into.contains(&keys) {
                        into.push(keys);
                    }
                    m.values().for_each(|v| shapes(v, into));
                }
                Value::Array(a) => a.iter().for_each(|v| shapes(v, into)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        shapes(value, &mut all);
        all.len() <= MAX_RECORDS && all.iter().map(Vec::len).sum::<usize>() <= MAX_KEYS
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
        prop::collection::vec(
            prop_oneof![
                (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
                (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
                any::<usize>().prop_map(Mutation::Remove),
                any::<usize>().prop_map(Mutation::Truncate),
            ],
            1..4,
        )
    }

    fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
        for m in mutations {
            let len = bytes.len().max(1);
            match *m {
                Mutation::Set(i, b) => {
                    if let Some(x) = bytes.get_mut(i % len) {
                        *x = b;
                    }
                }
                Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
                Mutation::Remove(i) => {
                    if !bytes.is_empty() {
                        bytes.remove(i % len);
                    }
                }
                Mutation::Truncate(i) => bytes.truncate(i % len),
            }
        }
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        #[test]
        fn random_items_read_as_the_decoder_reads_them(bytes in item()) {
            held(&bytes);
        }

        #[test]
        fn mutated_items_read_as_the_decoder_reads_them(bytes in item(), m in mutations()) {
            held(&mutate(bytes, &m));
        }

        #[test]
        fn random_bytes_read_as_the_decoder_reads_them(
            bytes in prop::collection::vec(any::<u8>(), 0..40),
            records in any::<bool>(),
        ) {
            let mut b = if records { vec![0xd9, 0xdf, 0xff] } else { vec![] };
            b.extend(bytes);
            held(&b);
        }

        #[test]
        fn encoded_values_are_read_and_mean_the_same(value in json_value(), m in mutations()) {
            for codec in [Codec::CborRecords, Codec::CborMaps] {
                let bytes = codec.encode_value(&value).unwrap().bytes.to_vec();
                // What wsx writes is read here, not left to the slow decoder.
                let read = held(&bytes);
                if codec == Codec::CborMaps || within_record_limits(&value) {
                    prop_assert_eq!(read, Some(value.clone()), "{:?}", codec);
                }
                held(&mutate(bytes, &m));
            }
        }
    }

    /// The envelope of a frame as read the general way: the whole message transcoded,
    /// then the JSON envelope read; `None` where that read refuses it.
    fn general(bytes: &[u8]) -> Option<Fields> {
        let mut out = String::new();
        if !transcode(bytes, &mut out) {
            return None;
        }
        json_read::decode_str(&out).ok().map(|f| fields(&f))
    }

    /// A frame's envelope, comparable.
    type Fields = (
        [Option<String>; 4],
        Option<Number>,
        Option<String>,
        bool, // has `e`
    );

    fn fields(f: &JsonFrame<'_>) -> Fields {
        let s = |c: &Option<std::borrow::Cow<'_, str>>| c.as_deref().map(str::to_owned);
        (
            [s(&f.v), s(&f.t), s(&f.x), s(&f.id)],
            f.w.clone(),
            f.p.map(str::to_owned),
            f.e.is_some(),
        )
    }

    /// Checks the envelope read against the general way; whether it read `bytes`.
    fn envelope_held(bytes: &[u8]) -> bool {
        let mut out = String::new();
        let Some(envelope) = transcode_envelope(bytes, &mut out) else {
            return false;
        };
        let read = fields(&envelope.into_frame(&out));
        assert_eq!(Some(read), general(bytes), "bytes {bytes:02x?}");
        true
    }

    /// An envelope-like frame: a map or a record of keys a frame has (and some it does
    /// not), with values of the right type and of any other.
    fn envelope() -> impl Strategy<Value = Vec<u8>> {
        let key = prop::sample::select(vec!["v", "t", "x", "id", "w", "p", "p", "e", "zz"]);
        let value = prop_oneof![
            3 => prop::sample::select(vec!["1.0", "request", "send", "echo", "a\"b\n"])
                .prop_map(|s| text(s, 0)),
            1 => ("\\PC{0,8}", any::<u8>()).prop_map(|(s, w)| text(&s, w)),
            2 => (any::<u64>(), any::<u8>()).prop_map(|(n, w)| head(0, n, w)),
            1 => Just(vec![0xf6]),
            1 => Just(vec![0xf7]),
            3 => item(),
        ];
        (
            prop::collection::vec((key, value), 0..8),
            any::<bool>(),
            any::<u8>(),
        )
            .prop_map(|(entries, records, w)| {
                let len = entries.len() as u64;
                let mut v = if records {
                    let mut v = vec![0xd9, 0xdf, 0xff];
                    v.extend(head(4, 2 + len, w));
                    v.extend(head(0, 0xe000, w));
                    v.extend(head(4, len, 0));
                    entries.iter().for_each(|(k, _)| v.extend(text(k, w)));
                    v
                } else {
                    head(5, len, w)
                };
                for (k, val) in &entries {
                    if !records {
                        v.extend(text(k, w));
                    }
                    v.extend(val);
                }
                v
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        #[test]
        fn envelopes_read_as_the_general_way_reads_them(bytes in envelope(), m in mutations()) {
            envelope_held(&bytes);
            envelope_held(&mutate(bytes, &m));
        }

        #[test]
        fn random_items_read_as_envelopes_as_the_general_way(bytes in item()) {
            envelope_held(&bytes);
        }
    }

    #[test]
    fn what_clients_write_takes_the_envelope_read() {
        let frame = json!({"v": "1.0", "t": "request", "x": "echo", "id": "7", "w": 0,
            "p": {"text": "a \"quoted\" word", "n": [1, -2, null]}});
        for codec in [Codec::CborRecords, Codec::CborMaps] {
            let bytes = codec.encode_value(&frame).unwrap().bytes.to_vec();
            assert!(envelope_held(&bytes), "{codec:?}");
            let mut out = String::new();
            let read = transcode_envelope(&bytes, &mut out).unwrap();
            assert_eq!(read.x, Some("echo"));
            assert_eq!(read.w, Some(0));
            assert_eq!(
                read.p.map(|at| &out[at]),
                Some(r#"{"n":[1,-2,null],"text":"a \"quoted\" word"}"#)
            );
        }
        // As cbor-x writes a request: records, `w` as `Date.now()` in a float64 (read
        // as the integer the transcoding writes for it).
        let request = hex("d9dfff 88 19e000 86 6176 6174 6178 626964 6177 6170
             63 312e30 67 72657175657374 64 6563686f 61 31 fb 42794733a7b00000
             d9dfff 83 19e001 81 64 74657874 62 6869");
        assert!(envelope_held(&request));
        let mut out = String::new();
        let read = transcode_envelope(&request, &mut out).unwrap();
        assert_eq!((read.id, read.w), (Some("1"), Some(1_737_100_000_000)));
        assert_eq!(read.p.map(|at| &out[at]), Some(r#"{"text":"hi"}"#));
        // A clock that is not an integer, or below zero, goes the general way.
        for w in ["fb 3ff8000000000000", "f9 bc00", "fb 7ff8000000000000"] {
            let bytes = hex(&format!("a2 6178 6161 6177 {w}"));
            assert!(!envelope_held(&bytes), "{w}");
        }
        // A `null` payload is absent; an `e`, a negative `w` or a number as `x` go the
        // general way.
        let null = Codec::CborMaps
            .encode_value(&json!({"t": "send", "x": "a", "p": null}))
            .unwrap();
        assert!(envelope_held(&null.bytes));
        let mut out = String::new();
        assert_eq!(transcode_envelope(&null.bytes, &mut out).unwrap().p, None);
        for other in [
            json!({"t": "response_error", "x": "a", "id": "1", "e": {"message": "no"}}),
            json!({"t": "send", "x": "a", "w": -1}),
            json!({"t": "send", "x": 5}),
        ] {
            let bytes = Codec::CborRecords.encode_value(&other).unwrap().bytes;
            assert!(!envelope_held(&bytes), "{other}");
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn what_cbor_x_writes_is_read() {
        // {x: "echo", p: {n: 1.5, s: "a\"b"}, w: 1737100000000 (float64), u: undefined}
        let frame = hex("d9dfff 86 19e000 84 6178 6170 6177 6175 64 6563686f
             d9dfff 84 19e001 82 616e 6173 fb 3ff8000000000000 63 61 22 62
             fb 42794733a7b00000 f7");
        assert_eq!(
            held(&frame),
            Some(json!({"x": "echo", "p": {"n": 1.5, "s": "a\"b"}, "w": 1737100000000u64}))
        );
        // A record used again, and a half float.
        let two = hex("82 d9dfff 83 19e000 81 6161 f9 3800 d9e000 81 f9 3c00");
        assert_eq!(held(&two), Some(json!([{"a": 0.5}, {"a": 1}])));
    }

    #[test]
    fn what_the_decoder_refuses_is_left_to_it() {
        for bytes in [
            "a2 6161 01 6161 02",  // duplicate key (the decoder keeps the last)
            "f9 7e00",             // NaN
            "3b ffffffffffffffff", // below -2^63
            "d9e000 80",           // record used before its definition
            "a1 6161 01 00",       // trailing bytes
            "c1 1a 514b67b0",      // a tag other than records
            "a1 6161 f8 17",       // undefined in its two-byte form
            "9f 01 ff",            // indefinite length
        ] {
            let mut out = String::new();
            assert!(!transcode(&hex(bytes), &mut out), "{bytes}");
        }
        // Expansion past the bound: one 200-byte key used 300 times.
        let key = "k".repeat(200);
        let mut b = vec![
            0x99, 0x01, 0x2c, 0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x00, 0x81,
        ];
        b.extend(super::tests::text(&key, 0));
        b.push(0x01);
        for _ in 1..300 {
            b.extend([0xd9, 0xe0, 0x00, 0x81, 0x01]);
        }
        assert!(cbor::decode(&b).is_err());
        assert!(!transcode(&b, &mut String::new()));
    }
}
