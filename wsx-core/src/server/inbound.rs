//! [`Inbound`]: a checked request or one-way frame, as the dispatcher hands it to the
//! handler of its event — the one inbound frame type of both codec paths.
//!
//! A JSON frame is borrowed from its message where it can be: its strings unless they
//! hold escapes (`Cow`), and its payload stays raw JSON until the handler decodes it
//! straight into the event's type. A CBOR frame is transcoded to JSON text first
//! ([`cbor_json`]) and read the same way, borrowed from that text; a CBOR message that
//! read gives up on is decoded owned, its payload already a [`Value`].
//!
//! The read delimits a raw payload but does not check its content: the handler's decode
//! does, in the one pass it makes anyway. A payload that no `serde_json::Value` holds (a
//! number out of range, a lone surrogate) makes the whole frame malformed, whatever would
//! have become of it: its decode says so ([`Undecoded::Malformed`]), and every path that
//! acts on a frame without decoding its payload (an unknown event, a refusal of its
//! envelope, the rate limit, an ignored response) checks it first ([`InPayload::check`]).

use crate::codec::json_read::{self, JsonFrame};
use crate::codec::{Codec, DecodeError, cbor_json};
use crate::event::Payload;
use crate::protocol::{Frame, FrameError, FrameType};
use crate::validate::{self, PayloadError, Validator};
use serde_json::{Number, Value};
use std::borrow::Cow;

/// A checked frame, borrowed from its message where it can be.
#[derive(Debug)]
pub(crate) struct Inbound<'a> {
    /// The frame type (`t`).
    pub(crate) kind: FrameType,
    /// The event name (`x`).
    pub(crate) event: Cow<'a, str>,
    /// The request id (`id`), on requests.
    pub(crate) id: Option<Cow<'a, str>>,
    /// The sender's clock (`w`), echoed in the reply.
    pub(crate) sender_clock: Option<Number>,
    /// The payload (`p`).
    pub(crate) payload: InPayload<'a>,
}

/// An incoming payload, as its handler gets it.
#[derive(Debug)]
pub(crate) enum InPayload<'a> {
    /// The frame had none (or `null`): read as `{}`, so defaults apply.
    Absent,
    /// One JSON value, raw, borrowed from the message; its content is not checked yet
    /// (see the module docs).
    Raw(&'a str),
    /// Already a value (CBOR).
    Value(Value),
}

impl<'a> Inbound<'a> {
    /// A JSON envelope, once it passes the envelope checks.
    pub(crate) fn from_json(frame: JsonFrame<'a>) -> Result<Self, FrameError> {
        let kind = match frame.parts().check() {
            Ok((kind, _)) => kind,
            Err((code, message)) => {
                // A malformed payload makes the frame malformed before its envelope is
                // judged.
                if let Some(raw) = frame.p {
                    InPayload::Raw(raw).check()?;
                }
                return Err(FrameError {
                    code,
                    message,
                    id: frame.id.map(Cow::into_owned),
                    x: frame.x.map(Cow::into_owned),
                    w: frame.w,
                });
            }
        };
        Ok(Inbound {
            kind,
            // Present: the check requires it.
            event: frame.x.unwrap_or_default(),
            id: frame.id,
            sender_clock: frame.w,
            payload: frame.p.map_or(InPayload::Absent, InPayload::Raw),
        })
    }

    /// A CBOR message of `codec`: its envelope read straight from the bytes and its
    /// payload transcoded into `json` when it can be, else the whole message transcoded
    /// into `json` and read from it as a JSON frame; otherwise (and on any refusal, so
    /// that the error is the one the CBOR decoder gives) decoded owned by `codec`.
    pub(crate) fn from_cbor(
        codec: Codec,
        bytes: &'a [u8],
        json: &'a mut String,
    ) -> Result<Self, FrameError> {
        let read = match cbor_json::transcode_envelope(bytes, json) {
            Some(envelope) => Inbound::from_json(envelope.into_frame(json)).ok(),
            None if cbor_json::transcode(bytes, json) => {
                let text: &'a str = json;
                json_read::decode_str(text)
                    .map_err(DecodeError::into_frame_error)
                    .and_then(Inbound::from_json)
                    .ok()
            }
            None => None,
        };
        if let Some(inbound) = read {
            return Ok(inbound);
        }
        codec
            .decode(bytes)
            .map(Inbound::from_frame)
            .map_err(DecodeError::into_frame_error)
    }

    /// An owned (CBOR) frame.
    pub(crate) fn from_frame(frame: Frame) -> Self {
        Inbound {
            kind: frame.t,
            event: Cow::Owned(frame.x),
            id: frame.id.map(Cow::Owned),
            sender_clock: frame.w,
            payload: frame.p.map_or(InPayload::Absent, InPayload::Value),
        }
    }
}

/// Why a payload was not decoded into its type.
#[derive(Debug)]
pub(crate) enum Undecoded {
    /// No `serde_json::Value` holds it: the frame is malformed (a `bad_frame`, as if the
    /// read had refused it).
    Malformed(FrameError),
    /// It breaks its schema.
    Invalid(PayloadError),
}

/// The refusal of a frame whose payload no `serde_json::Value` holds: serde_json's error
/// for the payload, as the read of the message gives it.
fn malformed(e: serde_json::Error) -> FrameError {
    DecodeError::Malformed {
        codec: "json",
        detail: e.to_string(),
    }
    .into_frame_error()
}

impl InPayload<'_> {
    /// `Err` if the payload is raw JSON that no `serde_json::Value` holds: for the paths
    /// that act on a frame without decoding its payload.
    pub(crate) fn check(&self) -> Result<(), FrameError> {
        match self {
            InPayload::Raw(raw) => json_read::check_payload(raw).map(drop).map_err(malformed),
            InPayload::Absent | InPayload::Value(_) => Ok(()),
        }
    }

    /// Validates the payload against its schema and decodes it into its type, applying
    /// the declared defaults.
    ///
    /// With a `known_valid` check (see [`Event::known_valid`](crate::event::Event)), raw
    /// JSON is first decoded straight into `T` (by [`typed::from_str`](crate::typed::from_str),
    /// which refuses what the schema refuses before its constraints, and anything a
    /// `Value` does not hold); when that succeeds and the check vouches for the value, the
    /// JSON Schema validator is not run. Anything else — a decode error, a failed or
    /// unknown check — is parsed into a `Value` (which is where a malformed payload is
    /// found) and goes through the validator, so a refusal always lists every failing
    /// field.
    pub(crate) fn decode<T: Payload>(
        self,
        validator: &Validator,
        known_valid: Option<fn(&T) -> bool>,
    ) -> Result<T, Undecoded> {
        let raw = match self {
            InPayload::Raw(raw) => raw,
            InPayload::Absent => {
                return validate::decode_with(validator, Value::Object(Default::default()))
                    .map_err(Undecoded::Invalid);
            }
            InPayload::Value(value) => {
                return validate::decode_with(validator, value).map_err(Undecoded::Invalid);
            }
        };
        if let Some(known_valid) = known_valid {
            if let Ok(typed) = crate::typed::from_str::<T>(raw) {
                if known_valid(&typed) {
                    return Ok(typed);
                }
            }
        }
        let value =
            serde_json::from_str::<Value>(raw).map_err(|e| Undecoded::Malformed(malformed(e)))?;
        validate::decode_with(validator, value).map_err(Undecoded::Invalid)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! [`Inbound::from_cbor`] held to the owned decode it replaces, over random envelopes
    //! (fields of every type, unknown keys) in records and maps, and mutations of them.

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// What a frame means to its handler, or the refusal's code and request id.
    fn meaning(r: Result<Inbound<'_>, FrameError>) -> Result<Value, (String, Option<String>)> {
        match r {
            Ok(f) => Ok(json!({
                "t": f.kind.as_str(),
                "x": &*f.event,
                "id": f.id.as_deref(),
                "w": f.sender_clock,
                "p": match f.payload {
                    InPayload::Absent => Value::Null,
                    InPayload::Raw(raw) => serde_json::from_str::<Value>(raw).unwrap(),
                    InPayload::Value(v) => v,
                },
            })),
            Err(e) => Err((e.code.to_string(), e.id)),
        }
    }

    fn field() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            Just(json!("request")),
            Just(json!("send")),
            Just(json!("1.0")),
            Just(json!("2.0")),
            "[a-z]{0,6}".prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (0u64..1 << 54).prop_map(|n| json!(n as f64)),
            Just(json!({"text": "hi", "n": [1, 2.5, null]})),
            Just(json!([1, {"a": true}])),
        ]
    }

    fn envelope() -> impl Strategy<Value = Value> {
        prop::collection::vec(
            (
                prop::sample::select(vec!["v", "t", "x", "id", "w", "p", "e", "z"]),
                field(),
            ),
            0..8,
        )
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    }

    #[test]
    fn a_client_request_is_read_borrowed_from_its_transcoding() {
        let env = json!({"v": "1.0", "t": "request", "x": "echo", "id": "7", "w": 1737100000000u64, "p": {"text": "hi"}});
        for codec in [Codec::CborRecords, Codec::CborMaps] {
            let bytes = codec.encode_value(&env).unwrap().bytes.to_vec();
            let mut json = String::new();
            let f = Inbound::from_cbor(codec, &bytes, &mut json).unwrap();
            assert!(matches!(f.event, Cow::Borrowed("echo")));
            assert!(matches!(f.payload, InPayload::Raw(r) if r == r#"{"text":"hi"}"#));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn cbor_frames_mean_what_the_owned_decode_means(
            env in envelope(),
            at in any::<usize>(),
            byte in any::<u8>(),
            mutated in any::<bool>(),
        ) {
            for codec in [Codec::CborRecords, Codec::CborMaps] {
                let mut bytes = codec.encode_value(&env).unwrap().bytes.to_vec();
                if mutated && !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = byte;
                }
                let sniffed = Codec::sniff(false, &bytes);
                let owned = sniffed
                    .decode(&bytes)
                    .map(Inbound::from_frame)
                    .map_err(DecodeError::into_frame_error);
                let mut json = String::new();
                let read = Inbound::from_cbor(sniffed, &bytes, &mut json);
                prop_assert_eq!(meaning(read), meaning(owned));
            }
        }
    }
}
