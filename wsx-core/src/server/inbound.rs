//! A decoded frame as the dispatcher hands it to the handler of its event.
//!
//! A JSON frame is read without copying: its strings are borrowed from the message and
//! its payload stays raw JSON until the handler decodes it straight into the event's
//! type. CBOR frames (and JSON frames that need the owned path, e.g. an event name with
//! escapes) arrive with their payload already a [`Value`].

use crate::codec::JsonFrameRef;
use crate::event::Payload;
use crate::protocol::{Frame, FrameType};
use crate::validate::{self, PayloadError, Validator};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

/// An incoming payload, as its handler gets it.
#[derive(Debug)]
pub(crate) enum InPayload<'a> {
    /// The frame had none (or `null`): read as `{}`, so defaults apply.
    Absent,
    /// Raw JSON borrowed from the message.
    Raw(&'a RawValue),
    /// The end of the message, taken to be the payload by the direct scan but not yet
    /// known to be one JSON value (`JsonFrameRef::p_tail`).
    Unchecked(&'a str),
    /// Already a value.
    Value(Value),
}

/// A checked request or one-way frame, borrowed from its message where it can be.
#[derive(Debug)]
pub(crate) struct Inbound<'a> {
    pub(crate) t: FrameType,
    pub(crate) x: &'a str,
    pub(crate) id: Option<&'a str>,
    pub(crate) w: Option<Number>,
    pub(crate) p: InPayload<'a>,
}

impl<'a> Inbound<'a> {
    /// A borrowed JSON envelope, if it passes the envelope checks (`None` sends it down
    /// the owned path, which names what is wrong).
    pub(crate) fn from_json(frame: JsonFrameRef<'a>) -> Option<Self> {
        let (t, x) = frame.parts().check().ok()?;
        Some(Inbound {
            t,
            x,
            id: frame.id,
            w: frame.w,
            p: match (frame.p_tail, frame.p) {
                (Some(tail), _) => InPayload::Unchecked(tail),
                (None, Some(raw)) => InPayload::Raw(raw),
                (None, None) => InPayload::Absent,
            },
        })
    }

    /// An owned frame; its payload is moved out.
    pub(crate) fn from_frame(frame: &'a mut Frame) -> Self {
        Inbound {
            t: frame.t,
            x: &frame.x,
            id: frame.id.as_deref(),
            w: frame.w.take(),
            p: frame.p.take().map_or(InPayload::Absent, InPayload::Value),
        }
    }
}

impl InPayload<'_> {
    /// Whether the payload is one JSON value (only an [`InPayload::Unchecked`] one may
    /// not be). For frames whose payload no handler decodes.
    pub(crate) fn is_json(&self) -> bool {
        match self {
            InPayload::Unchecked(text) => serde_json::from_str::<&RawValue>(text).is_ok(),
            InPayload::Absent | InPayload::Raw(_) | InPayload::Value(_) => true,
        }
    }

    /// Validates the payload against its schema and decodes it into its type, applying
    /// the declared defaults.
    ///
    /// With a `known_valid` check (see [`Event::known_valid`](crate::event::Event)), raw
    /// JSON is first decoded straight into `T` (by [`typed::from_str`](crate::typed::from_str),
    /// which refuses what the schema refuses before its constraints); when that succeeds and
    /// the check vouches for the value, the JSON Schema validator is not run. Anything else — a decode
    /// error, a failed or unknown check — goes through the validator, so a refusal
    /// always lists every failing field, exactly as before.
    ///
    /// That first decode also proves an unchecked payload to be one JSON value (serde_json
    /// reads a whole text or fails); so does the parse into a `Value` after it. `None`
    /// for an [`InPayload::Unchecked`] end of a message that is not one JSON value: the
    /// frame is not what the direct scan took it for, and must be decoded the owned way,
    /// which names what is wrong with it.
    pub(crate) fn decode<T: Payload>(
        self,
        validator: &Validator,
        known_valid: Option<fn(&T) -> bool>,
    ) -> Option<Result<T, PayloadError>> {
        let (text, checked) = match self {
            InPayload::Raw(raw) => (raw.get(), true),
            InPayload::Unchecked(text) => (text, false),
            InPayload::Absent => {
                return Some(validate::decode_with(
                    validator,
                    Value::Object(Default::default()),
                ));
            }
            InPayload::Value(value) => return Some(validate::decode_with(validator, value)),
        };
        if let Some(known_valid) = known_valid {
            if let Ok(typed) = crate::typed::from_str::<T>(text) {
                if known_valid(&typed) {
                    return Some(Ok(typed));
                }
            }
        }
        let value = match serde_json::from_str::<Value>(text) {
            Ok(value) => value,
            Err(_) if !checked => return None,
            Err(e) => {
                return Some(Err(PayloadError::Invalid(vec![crate::error::FieldError {
                    path: String::new(),
                    message: e.to_string(),
                }])));
            }
        };
        Some(validate::decode_with(validator, value))
    }
}
