//! The little CBOR the load generator needs: writing a wsx request as a `@mdrv/wsx`
//! client does (cbor-x records, or standard maps), and reading two top-level text fields
//! and one field of `p` out of a reply without building a tree.
//!
//! The reader walks the bytes once and skips what it does not need; it understands
//! definite lengths (what cbor-x and ciborium write), cbor-x record definitions (tag
//! 57343 around `[0xE000 + n, [keys…], values…]`) and later records of a defined shape
//! (tag `0xE000 + n` around `[values…]`). Anything else it cannot name gives `None`,
//! which the scenarios count as an unreadable answer.

/// The cbor-x "inline record" tag: a record definition and its first object.
const RECORD_DEFINITION: u64 = 0xDFFF;
/// Record `n` is used with tag `RECORD_BASE + n`.
const RECORD_BASE: u64 = 0xE000;
/// How deep the reader follows arrays, maps and tags before giving up.
const MAX_DEPTH: u8 = 32;
/// Shapes remembered per message, and keys per shape (the envelopes and payloads the
/// benchmarks read have at most 8 keys).
const SHAPES: usize = 8;
const KEYS: usize = 16;

/// Writes CBOR.
#[derive(Debug, Default)]
pub struct Writer {
    /// The bytes so far.
    pub out: Vec<u8>,
}

impl Writer {
    /// An empty message with room for a small request.
    pub fn new() -> Writer {
        Writer {
            out: Vec::with_capacity(128),
        }
    }

    /// A head: major type and argument, in the shortest form.
    pub fn head(&mut self, major: u8, n: u64) {
        let m = major << 5;
        match n {
            0..=23 => self.out.push(m | n as u8),
            24..=0xFF => self.out.extend_from_slice(&[m | 24, n as u8]),
            0x100..=0xFFFF => {
                self.out.push(m | 25);
                self.out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            0x1_0000..=0xFFFF_FFFF => {
                self.out.push(m | 26);
                self.out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                self.out.push(m | 27);
                self.out.extend_from_slice(&n.to_be_bytes());
            }
        }
    }

    /// A text string.
    pub fn text(&mut self, s: &str) {
        self.head(3, s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }

    /// An unsigned integer.
    pub fn uint(&mut self, n: u64) {
        self.head(0, n);
    }

    /// The start of an object with `keys`: a map header, or (records) the definition of
    /// record `record` with its key list; the values follow, in the keys' order.
    pub fn object(&mut self, records: bool, record: u64, keys: &[&str]) {
        if records {
            self.head(6, RECORD_DEFINITION);
            self.head(4, 2 + keys.len() as u64);
            self.uint(RECORD_BASE + record);
            self.head(4, keys.len() as u64);
            for key in keys {
                self.text(key);
            }
        } else {
            self.head(5, keys.len() as u64);
        }
    }

    /// A key of a map object (records name their keys up front: nothing to write).
    pub fn key(&mut self, records: bool, key: &str) {
        if !records {
            self.text(key);
        }
    }
}

/// A wsx request `{v, t: "request", x, id, w: 0, p}` whose payload `p` is an object of
/// text fields, as a `@mdrv/wsx` client writes it (records) or as standard maps.
pub fn request(records: bool, event: &str, id: &str, payload: &[(&str, &str)]) -> Vec<u8> {
    let mut w = Writer::new();
    let top = ["v", "t", "x", "id", "w", "p"];
    w.object(records, 0, &top);
    w.key(records, "v");
    w.text("1.0");
    w.key(records, "t");
    w.text("request");
    w.key(records, "x");
    w.text(event);
    w.key(records, "id");
    w.text(id);
    w.key(records, "w");
    w.uint(0);
    w.key(records, "p");
    let mut keys = [""; KEYS];
    for (slot, (key, _)) in keys.iter_mut().zip(payload) {
        *slot = key;
    }
    w.object(records, 1, &keys[..payload.len().min(KEYS)]);
    for (key, value) in payload.iter().take(KEYS) {
        w.key(records, key);
        w.text(value);
    }
    w.out
}

/// What [`read`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fields<'a> {
    /// The top-level `t`.
    pub t: Option<&'a str>,
    /// The top-level `id`.
    pub id: Option<&'a str>,
    /// The text field of `p` that was asked for.
    pub inner: Option<&'a str>,
}

/// Reads `t`, `id` and `p.<inner>` (when `inner` is given) from a CBOR message, maps or
/// records; `None` when the message is not a readable object.
pub fn read<'a>(bytes: &'a [u8], inner: Option<&str>) -> Option<Fields<'a>> {
    let mut cursor = Cursor {
        bytes,
        at: 0,
        shapes: Shapes::default(),
    };
    let mut fields = Fields::default();
    cursor.object(|cursor, key| match key {
        "t" => {
            fields.t = cursor.text_or_skip(0)?;
            Some(())
        }
        "id" => {
            fields.id = cursor.text_or_skip(0)?;
            Some(())
        }
        "p" if inner.is_some() => {
            if cursor.peek_major()? == 7 {
                return cursor.skip(0);
            }
            cursor.object(|cursor, key| {
                if Some(key) == inner {
                    fields.inner = cursor.text_or_skip(1)?;
                    Some(())
                } else {
                    cursor.skip(1)
                }
            })
        }
        _ => cursor.skip(0),
    })?;
    Some(fields)
}

/// The key lists of the records defined so far in one message.
#[derive(Default)]
struct Shapes<'a> {
    keys: [[&'a str; KEYS]; SHAPES],
    lens: [Option<usize>; SHAPES],
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    shapes: Shapes<'a>,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn peek_major(&self) -> Option<u8> {
        Some(self.bytes.get(self.at)? >> 5)
    }

    /// A head: (major type, argument). Indefinite lengths are not supported.
    fn head(&mut self) -> Option<(u8, u64)> {
        let b = self.byte()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let n = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            27 => u64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        };
        Some((major, n))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    fn text(&mut self) -> Option<&'a str> {
        match self.head()? {
            (3, n) => std::str::from_utf8(self.take(usize::try_from(n).ok()?)?).ok(),
            _ => None,
        }
    }

    /// A text value, or `None` inside `Some` for a value of another type (skipped).
    fn text_or_skip(&mut self, depth: u8) -> Option<Option<&'a str>> {
        if self.peek_major()? == 3 {
            return Some(Some(self.text()?));
        }
        self.skip(depth)?;
        Some(None)
    }

    /// Skips one value of any type.
    fn skip(&mut self, depth: u8) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (major, n) = self.head()?;
        match major {
            0 | 1 | 7 => Some(()),
            2 | 3 => self.take(usize::try_from(n).ok()?).map(|_| ()),
            4 => (0..n).try_for_each(|_| self.skip(depth + 1)),
            5 => (0..n).try_for_each(|_| {
                self.skip(depth + 1)?;
                self.skip(depth + 1)
            }),
            // A tag: its content. A record definition is remembered for later records.
            _ if n == RECORD_DEFINITION => self.definition(|c, _| c.skip(depth + 1)),
            _ => self.skip(depth + 1),
        }
    }

    /// An object (map or record): `visit` is called with each key and must consume its
    /// value.
    fn object(&mut self, mut visit: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        let (major, n) = self.head()?;
        match major {
            5 => (0..n).try_for_each(|_| {
                let key = self.text()?;
                visit(self, key)
            }),
            6 if n == RECORD_DEFINITION => self.definition(visit),
            6 if (RECORD_BASE..RECORD_BASE + SHAPES as u64).contains(&n) => {
                let slot = usize::try_from(n - RECORD_BASE).ok()?;
                let len = self.shapes.lens.get(slot).copied().flatten()?;
                let keys = *self.shapes.keys.get(slot)?;
                match self.head()? {
                    (4, count) if count == len as u64 => {
                        keys.iter().take(len).try_for_each(|key| visit(self, key))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The rest of a record definition, after its tag: `[0xE000 + n, [keys…], values…]`.
    fn definition(&mut self, mut visit: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        let (4, count) = self.head()? else {
            return None;
        };
        let (0, id) = self.head()? else {
            return None;
        };
        let (4, len) = self.head()? else {
            return None;
        };
        let len = usize::try_from(len).ok()?;
        if len > KEYS || count != 2 + len as u64 {
            return None;
        }
        let mut keys = [""; KEYS];
        for key in keys.iter_mut().take(len) {
            *key = self.text()?;
        }
        if let Some(slot) = id
            .checked_sub(RECORD_BASE)
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| s < SHAPES)
        {
            self.shapes.keys[slot] = keys;
            self.shapes.lens[slot] = Some(len);
        }
        keys.iter().take(len).try_for_each(|key| visit(self, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsx_core::codec::Codec;

    #[test]
    fn requests_decode_as_wsx_decodes_them() {
        for (records, codec) in [(true, Codec::CborRecords), (false, Codec::CborMaps)] {
            let bytes = request(records, "echo", "42", &[("text", "abc")]);
            assert_eq!(Codec::sniff(false, &bytes), codec);
            let value = codec.decode_value(&bytes).unwrap();
            assert_eq!(
                value,
                serde_json::json!({"v":"1.0","t":"request","x":"echo","id":"42","w":0,"p":{"text":"abc"}})
            );
        }
        let bytes = request(true, "join", "j1", &[("username", "u"), ("room", "r")]);
        assert!(bytes.starts_with(&[0xd9, 0xdf, 0xff, 0x88, 0x19, 0xe0, 0x00, 0x86]));
    }

    #[test]
    fn reads_what_wsx_writes() {
        let reply = serde_json::json!({"v":"1.0","t":"response_ok","x":"echo","id":"7","w":1_700_000_000_000u64,
            "p":{"list":[{"a":1},{"a":2}],"message":"bench 3 99","n":null}});
        for codec in [Codec::CborRecords, Codec::CborMaps] {
            let bytes = codec.encode_value(&reply).unwrap().bytes;
            let fields = read(&bytes, Some("message")).unwrap();
            assert_eq!(fields.t, Some("response_ok"));
            assert_eq!(fields.id, Some("7"));
            assert_eq!(fields.inner, Some("bench 3 99"));
            assert_eq!(read(&bytes, None).unwrap().inner, None);
        }
        // A later record of a shape defined earlier in the message.
        let same = serde_json::json!({"t":"push","id":"1","p":{"t":"x","id":"y"}});
        let bytes = Codec::CborRecords.encode_value(&same).unwrap().bytes;
        let fields = read(&bytes, Some("id")).unwrap();
        assert_eq!((fields.t, fields.inner), (Some("push"), Some("y")));
    }

    #[test]
    fn reads_its_own_requests_and_refuses_junk() {
        for records in [true, false] {
            let bytes = request(records, "sendMessage", "s1", &[("message", "bench 1 2")]);
            let fields = read(&bytes, Some("message")).unwrap();
            assert_eq!(fields.t, Some("request"));
            assert_eq!(fields.id, Some("s1"));
            assert_eq!(fields.inner, Some("bench 1 2"));
            for cut in 0..bytes.len() {
                assert_eq!(read(&bytes[..cut], Some("message")), None, "cut at {cut}");
            }
        }
        assert_eq!(read(&[0x1f], None), None);
        assert_eq!(read(b"{\"t\":1}", None), None);
    }
}
