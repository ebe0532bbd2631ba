//! What travels on a channel: one push, serialized once by the node that sends it.
//!
//! ```text
//! byte 0      version (1)
//! byte 1      flags: bit 0 = droppable
//! bytes 2..10  origin node (u64, big endian): the origin delivered locally already
//! bytes 10..18 connection left out (u64, 0 = none)
//! bytes 18..26 target connection (u64, 0 = the channel's room or everyone)
//! byte 26     event name length n, then n bytes of event name
//! the rest    the frame as the JSON codecs send it (the whole envelope)
//! ```
//!
//! A receiving node builds one [`SharedFrame`] from it: JSON connections get these bytes
//! as they are, CBOR connections a transcoding made once per codec on that node.

use bytes::{BufMut, Bytes};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use wsx_core::Codec;
use wsx_core::codec::{EncodeError, Encoded};
use wsx_core::server::{ConnId, SharedFrame};

const VERSION: u8 = 1;
const HEADER: usize = 27;
const DROPPABLE: u8 = 1;

/// A push as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Publication {
    /// The node that sent it.
    pub(crate) origin: u64,
    /// A connection left out.
    pub(crate) except: Option<ConnId>,
    /// The one connection it goes to (on the node channel).
    pub(crate) conn: Option<ConnId>,
    /// Whether a slow consumer may lose it.
    pub(crate) droppable: bool,
    /// The event name.
    pub(crate) event: String,
    /// The envelope, JSON.
    pub(crate) json: Bytes,
}

/// Why bytes from a channel are not a publication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("publication too short ({0} bytes)")]
    Short(usize),
    #[error("unknown publication version {0}")]
    Version(u8),
    #[error("event name is not UTF-8")]
    Name,
}

impl Publication {
    /// The bytes to publish.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let name = self.event.as_bytes();
        let name = &name[..name.len().min(255)];
        let mut out = Vec::with_capacity(HEADER + name.len() + self.json.len());
        out.put_u8(VERSION);
        out.put_u8(if self.droppable { DROPPABLE } else { 0 });
        out.put_u64(self.origin);
        out.put_u64(self.except.unwrap_or(0));
        out.put_u64(self.conn.unwrap_or(0));
        out.put_u8(name.len() as u8);
        out.put_slice(name);
        out.put_slice(&self.json);
        out
    }

    /// Reads published bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Publication, WireError> {
        if bytes.len() < HEADER {
            return Err(WireError::Short(bytes.len()));
        }
        if bytes[0] != VERSION {
            return Err(WireError::Version(bytes[0]));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let name_len = usize::from(bytes[26]);
        let name = bytes
            .get(HEADER..HEADER + name_len)
            .ok_or(WireError::Short(bytes.len()))?;
        let event = std::str::from_utf8(name)
            .map_err(|_| WireError::Name)?
            .to_owned();
        let nonzero = |v: u64| (v != 0).then_some(v);
        Ok(Publication {
            origin: u64_at(2),
            droppable: bytes[1] & DROPPABLE != 0,
            except: nonzero(u64_at(10)),
            conn: nonzero(u64_at(18)),
            event,
            json: Bytes::copy_from_slice(&bytes[HEADER + name_len..]),
        })
    }

    /// The frame this node's connections get: the published JSON for the JSON codecs,
    /// transcoded once per CBOR codec in use.
    pub(crate) fn into_frame(self) -> Arc<SharedFrame> {
        let json = self.json;
        let frame = SharedFrame::from_fn(intern(&self.event), move |codec| match codec {
            Codec::JsonText | Codec::JsonBinary => Ok(Encoded {
                text: codec.is_text(),
                bytes: json.clone(),
            }),
            Codec::CborMaps | Codec::CborRecords => {
                let value = Codec::JsonText
                    .decode_value(&json)
                    .map_err(|e| EncodeError(e.to_string()))?;
                codec.encode_value(&value)
            }
        });
        if self.droppable {
            frame.droppable()
        } else {
            frame
        }
    }
}

/// Most distinct event names kept; a frame's name is only used in logs and metrics, so
/// names past it (which a well-formed cluster never sends) share one.
const MAX_NAMES: usize = 4096;

/// The `'static` name of a remote event: each distinct name is kept once for the life
/// of the process, up to [`MAX_NAMES`].
fn intern(name: &str) -> &'static str {
    static NAMES: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Default::default);
    let mut names = NAMES.lock();
    if let Some(known) = names.get(name) {
        return known;
    }
    if names.len() >= MAX_NAMES {
        return "(remote)";
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Publication {
        Publication {
            origin: 3,
            except: Some((3 << 32) + 1),
            conn: None,
            droppable: true,
            event: "message".into(),
            json: Bytes::from_static(
                "{\"t\":\"send\",\"x\":\"message\",\"p\":{\"text\":\"h\u{e9}\"}}".as_bytes(),
            ),
        }
    }

    #[test]
    fn round_trip() {
        let p = sample();
        assert_eq!(Publication::decode(&p.encode()), Ok(p));
    }

    #[test]
    fn short_and_foreign_bytes_are_refused() {
        assert_eq!(Publication::decode(b"abc"), Err(WireError::Short(3)));
        let mut bytes = sample().encode();
        bytes[0] = 9;
        assert_eq!(Publication::decode(&bytes), Err(WireError::Version(9)));
        let mut bytes = sample().encode();
        bytes[26] = 200;
        assert!(matches!(
            Publication::decode(&bytes),
            Err(WireError::Short(_))
        ));
    }

    #[test]
    fn json_peers_get_the_bytes_and_cbor_peers_the_same_value() {
        let p = sample();
        let json = p.json.clone();
        let frame = p.into_frame();
        assert!(frame.is_droppable());
        assert_eq!(frame.event(), "message");
        let text = frame.encoded(Codec::JsonText).unwrap();
        assert!(text.text);
        assert_eq!(text.bytes, json);
        assert!(!frame.encoded(Codec::JsonBinary).unwrap().text);
        let cbor = frame.encoded(Codec::CborMaps).unwrap();
        assert_eq!(
            Codec::CborMaps.decode_value(&cbor.bytes).unwrap(),
            Codec::JsonText.decode_value(&json).unwrap()
        );
    }
}
