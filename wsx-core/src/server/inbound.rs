//! [`Inbound`]: a checked request or one-way frame, as the dispatcher hands it to the
//! handler of its event — the one inbound frame type of both codec paths.
//!
//! A JSON frame is borrowed from its message where it can be: its strings unless they
//! hold escapes (`Cow`), and its payload stays raw JSON until the handler decodes it
//! straight into the event's type. A CBOR frame is transcoded to JSON text first
//! ([`cbor_json`]) and read the same way, borrowed from that text; a CBOR message that
//! read gives up on is decoded owned, its payload already a [`Value`].

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
    /// One JSON value, raw, borrowed from the message (checked by the read to be one a
    /// `Value` holds).
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

    /// A CBOR message of `codec`: transcoded into `json` and read from it as a JSON
    /// frame when it can be; otherwise (and on any refusal, so that the error is the
    /// one the CBOR decoder gives) decoded owned by `codec`.
    pub(crate) fn from_cbor(
        codec: Codec,
        bytes: &[u8],
        json: &'a mut String,
    ) -> Result<Self, FrameError> {
        if cbor_json::transcode(bytes, json) {
            let text: &'a str = json;
            if let Ok(inbound) = json_read::decode_str(text)
                .map_err(DecodeError::into_frame_error)
                .and_then(Inbound::from_json)
            {
                return Ok(inbound);
            }
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

impl InPayload<'_> {
    /// Validates the payload against its schema and decodes it into its type, applying
    /// the declared defaults.
    ///
    /// With a `known_valid` check (see [`Event::known_valid`](crate::event::Event)), raw
    /// JSON is first decoded straight into `T` (by [`typed::from_str`](crate::typed::from_str),
    /// which refuses what the schema refuses before its constraints); when that succeeds
    /// and the check vouches for the value, the JSON Schema validator is not run. Anything
    /// else — a decode error, a failed or unknown check — goes through the validator, so a
    /// refusal always lists every failing field.
    pub(crate) fn decode<T: Payload>(
        self,
        validator: &Validator,
        known_valid: Option<fn(&T) -> bool>,
    ) -> Result<T, PayloadError> {
        let raw = match self {
            InPayload::Raw(raw) => raw,
            InPayload::Absent => {
                return validate::decode_with(validator, Value::Object(Default::default()));
            }
            InPayload::Value(value) => return validate::decode_with(validator, value),
        };
        if let Some(known_valid) = known_valid {
            if let Ok(typed) = crate::typed::from_str::<T>(raw) {
                if known_valid(&typed) {
                    return Ok(typed);
                }
            }
        }
        match serde_json::from_str::<Value>(raw) {
            Ok(value) => validate::decode_with(validator, value),
            Err(e) => Err(PayloadError::Invalid(vec![crate::error::FieldError {
                path: String::new(),
                message: e.to_string(),
            }])),
        }
    }
}
