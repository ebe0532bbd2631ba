//! Codecs: how an envelope becomes the bytes of one WebSocket message, and back.
//!
//! | codec | frame | what speaks it |
//! | --- | --- | --- |
//! | [`Codec::JsonText`] | text | browsers, the Rust client (default) |
//! | [`Codec::JsonBinary`] | binary | the TypeScript wsx client's JSON serializer |
//! | [`Codec::CborMaps`] | binary | CBOR peers using standard maps (RFC 8949) |
//! | [`Codec::CborRecords`] | binary | the TypeScript wsx client's default (cbor-x records) |
//!
//! Every decoder is bounded: input size is capped by the WebSocket layer, nesting depth by
//! [`MAX_DEPTH`], and no decoder panics on untrusted bytes.

// The key serializers of `json_write` and `records_write` share these two macros (defined
// before the modules, which see them in textual order).

/// Map-key serializer methods that refuse keys of these types (`method: type`), with
/// the calling module's `Refused` as the error.
macro_rules! refuse_keys {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, _: $ty) -> Result<(), Refused> {
            Err(Refused)
        }
    )*};
}

/// Map-key serializer methods that refuse `()`, `None`, newtype variants and every
/// compound key (the serializer's compound types are `Impossible`), with the calling
/// module's `Refused` as the error.
macro_rules! refuse_compound_keys {
    () => {
        fn serialize_none(self) -> Result<(), Refused> {
            Err(Refused)
        }
        fn serialize_unit(self) -> Result<(), Refused> {
            Err(Refused)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), Refused> {
            Err(Refused)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Refused> {
            Err(Refused)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Refused> {
            Err(Refused)
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Refused> {
            Err(Refused)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Refused> {
            Err(Refused)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Refused> {
            Err(Refused)
        }
        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, Refused> {
            Err(Refused)
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Refused> {
            Err(Refused)
        }
    };
}

mod cbor;
mod cbor_items;
#[cfg(feature = "server")]
pub(crate) mod cbor_json;
mod json;
#[cfg(feature = "server")]
pub(crate) mod json_read;
pub(crate) mod json_write;
mod records;
mod records_plan;
#[cfg(test)]
mod records_props;
mod records_write;

use crate::protocol::{Frame, FrameError, OutFrame, WireFrame};
use bytes::Bytes;
use serde::Serialize;
use std::cell::RefCell;
use std::thread::LocalKey;

/// The deepest nesting of arrays and objects a decoder accepts.
pub const MAX_DEPTH: usize = 64;

/// The encoding of a connection's messages. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// UTF-8 JSON in text frames.
    JsonText,
    /// UTF-8 JSON in binary frames.
    JsonBinary,
    /// CBOR with standard maps, binary frames.
    CborMaps,
    /// CBOR with cbor-x record tags (57343 and 0xE000 + n), binary frames.
    CborRecords,
}

/// The codec family a connection negotiated (subprotocol or `codec=` query); the exact
/// form (text or binary, maps or records) follows the peer's first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecFamily {
    /// JSON, text or binary frames.
    Json,
    /// CBOR, maps or records.
    Cbor,
}

/// Why bytes could not be decoded into an envelope.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not valid in this codec.
    #[error("malformed {codec} message: {detail}")]
    Malformed {
        /// The codec name (`json` or `cbor`).
        codec: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("message nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Decoded, but not a valid envelope.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl DecodeError {
    /// The envelope error for this failure (a `bad_frame`, unless the frame itself said
    /// more).
    pub fn into_frame_error(self) -> FrameError {
        match self {
            DecodeError::Frame(f) => f,
            other => FrameError::bad_frame(other.to_string()),
        }
    }
}

/// Why a value could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("could not encode message: {0}")]
pub struct EncodeError(pub String);

/// The bytes of one outgoing message and whether they go in a text frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Send as a text frame (valid UTF-8) rather than a binary one.
    pub text: bool,
    /// The message.
    pub bytes: Bytes,
}

impl Codec {
    /// Every codec.
    pub const ALL: [Codec; 4] = [
        Codec::JsonText,
        Codec::JsonBinary,
        Codec::CborMaps,
        Codec::CborRecords,
    ];

    /// Guesses the codec from a peer's message: text is JSON; binary starting with `{`
    /// (after whitespace) is JSON; binary starting with the record tag 57343 is cbor-x
    /// records; other binary is CBOR.
    pub fn sniff(text: bool, bytes: &[u8]) -> Codec {
        if text {
            return Codec::JsonText;
        }
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Codec::JsonBinary,
            _ if bytes.starts_with(&[0xd9, 0xdf, 0xff]) => Codec::CborRecords,
            _ => Codec::CborMaps,
        }
    }

    /// The family this codec belongs to.
    pub const fn family(self) -> CodecFamily {
        match self {
            Codec::JsonText | Codec::JsonBinary => CodecFamily::Json,
            Codec::CborMaps | Codec::CborRecords => CodecFamily::Cbor,
        }
    }

    /// Whether this codec's messages travel in text frames.
    pub const fn is_text(self) -> bool {
        matches!(self, Codec::JsonText)
    }

    /// A short name for logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Codec::JsonText => "json_text",
            Codec::JsonBinary => "json_binary",
            Codec::CborMaps => "cbor_maps",
            Codec::CborRecords => "cbor_records",
        }
    }

    /// Index in [`Codec::ALL`], for per-codec caches.
    pub const fn index(self) -> usize {
        match self {
            Codec::JsonText => 0,
            Codec::JsonBinary => 1,
            Codec::CborMaps => 2,
            Codec::CborRecords => 3,
        }
    }

    /// Decodes one message into a checked envelope.
    pub fn decode(self, bytes: &[u8]) -> Result<Frame, DecodeError> {
        Ok(Frame::from_wire(self.decode_wire(bytes)?)?)
    }

    /// Decodes one message into a raw envelope, unchecked.
    pub fn decode_wire(self, bytes: &[u8]) -> Result<WireFrame, DecodeError> {
        match self {
            Codec::JsonText | Codec::JsonBinary => json::decode(bytes),
            Codec::CborMaps | Codec::CborRecords => {
                let value = cbor::decode(bytes)?;
                serde_json::from_value(value).map_err(|e| DecodeError::Malformed {
                    codec: "cbor",
                    detail: e.to_string(),
                })
            }
        }
    }

    /// Decodes any message of this codec into a JSON value (a CBOR map becomes an object,
    /// records are expanded).
    pub fn decode_value(self, bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
        match self {
            Codec::JsonText | Codec::JsonBinary => json::decode_value(bytes),
            Codec::CborMaps | Codec::CborRecords => cbor::decode(bytes),
        }
    }

    /// Encodes one envelope.
    pub fn encode<P: Serialize + ?Sized>(
        self,
        frame: &OutFrame<'_, P>,
    ) -> Result<Encoded, EncodeError> {
        self.encode_value(frame)
    }

    /// Encodes any serializable value in this codec (the envelope is one such value).
    pub fn encode_value<T: Serialize + ?Sized>(self, value: &T) -> Result<Encoded, EncodeError> {
        let bytes = match self {
            Codec::JsonText | Codec::JsonBinary => json::encode(value)?,
            Codec::CborMaps => cbor::encode(value, false)?,
            Codec::CborRecords => cbor::encode(value, true)?,
        };
        Ok(Encoded {
            text: self.is_text(),
            bytes: Bytes::from(bytes),
        })
    }
}

/// The `response_ok` `OutFrame::ok(x, id, w, p)` in cbor-x records, its envelope written
/// as it is and only its payload walked by serde: the bytes
/// `Codec::CborRecords.encode_value` writes for that frame. `None` where the direct
/// records writer would leave the frame to the tree writer: encode it whole then.
#[cfg(feature = "server")]
pub(crate) fn encode_records_ok<T: Serialize + ?Sized>(
    x: &str,
    id: Option<&str>,
    w: Option<&serde_json::Number>,
    p: &T,
) -> Option<Encoded> {
    let bytes = with_byte_scratch(|out| records_write::write_ok(x, id, w, p, out)).ok()?;
    Some(Encoded {
        text: false,
        bytes: Bytes::from(bytes),
    })
}

/// Runs `write` on this thread's scratch buffer and returns what it wrote, copied into
/// a string of exactly that size (JSON is written as text: see `json_write`).
///
/// A reply written straight into its own buffer needs room to grow (it would be
/// reallocated as it grows), and a `Bytes` made of a vector with spare capacity
/// allocates a shared header: two allocations per reply. Copying a reply of a few
/// hundred bytes costs less than either.
pub(crate) fn with_scratch<E>(
    write: impl FnOnce(&mut String) -> Result<(), E>,
) -> Result<String, E> {
    thread_local! {
        static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
    }
    with_buffer(&SCRATCH, write)
}

/// [`with_scratch`] for binary messages (CBOR).
pub(crate) fn with_byte_scratch<E>(
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    with_buffer(&SCRATCH, write)
}

/// An output buffer [`with_buffer`] reuses: a `String` or a `Vec<u8>` (the methods are
/// theirs).
trait Scratch: Default + 'static {
    /// Empties the buffer, keeping its capacity.
    fn clear(&mut self);
    /// How many bytes it holds room for.
    fn capacity(&self) -> usize;
    /// Gives back room beyond `capacity` bytes.
    fn shrink_to(&mut self, capacity: usize);
    /// A copy with no spare capacity.
    fn exact_copy(&self) -> Self;
}

impl Scratch for String {
    fn clear(&mut self) {
        String::clear(self);
    }
    fn capacity(&self) -> usize {
        String::capacity(self)
    }
    fn shrink_to(&mut self, capacity: usize) {
        String::shrink_to(self, capacity);
    }
    fn exact_copy(&self) -> Self {
        self.as_str().to_owned()
    }
}

impl Scratch for Vec<u8> {
    fn clear(&mut self) {
        Vec::clear(self);
    }
    fn capacity(&self) -> usize {
        Vec::capacity(self)
    }
    fn shrink_to(&mut self, capacity: usize) {
        Vec::shrink_to(self, capacity);
    }
    fn exact_copy(&self) -> Self {
        self.as_slice().to_vec()
    }
}

/// Runs `write` on the thread's buffer `scratch` and returns a copy of what it wrote.
fn with_buffer<B: Scratch, E>(
    scratch: &'static LocalKey<RefCell<B>>,
    write: impl FnOnce(&mut B) -> Result<(), E>,
) -> Result<B, E> {
    /// What the scratch buffer may keep between uses (a larger reply shrinks it back).
    const KEEP: usize = 16 * 1024;
    scratch.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let written = write(&mut buf).map(|()| buf.exact_copy());
            if buf.capacity() > KEEP {
                buf.clear();
                buf.shrink_to(KEEP);
            }
            written
        }
        // Only if `write` itself encoded a reply: no scratch, a buffer of its own.
        Err(_) => {
            let mut buf = B::default();
            write(&mut buf).map(|()| buf)
        }
    })
}
