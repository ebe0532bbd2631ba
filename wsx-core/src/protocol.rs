//! The envelope of `PROTOCOL.md`: one object per WebSocket message, single-letter keys.
//!
//! Decoding is lenient in what it reads (a frame missing `t` is reported, not a panic) and
//! strict in what it accepts: [`Frame::from_wire`] turns a raw envelope into a checked
//! [`Frame`] or a [`FrameError`] that still knows the request `id`, so the peer can be
//! answered precisely.

use crate::error::{ErrorCode, WireError};
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// The protocol version this crate speaks and writes in `v`.
pub const VERSION: &str = "1.0";

/// The event name of the push that answers an undecodable frame.
pub const ERROR_EVENT: &str = "$error";

/// The `t` of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameType {
    /// One-way, either direction (server pushes are `send`).
    Send,
    /// Expects exactly one `response_ok` or `response_error`.
    Request,
    /// Successful answer to a request.
    ResponseOk,
    /// Failed answer to a request; carries `e`.
    ResponseError,
}

impl FrameType {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            FrameType::Send => "send",
            FrameType::Request => "request",
            FrameType::ResponseOk => "response_ok",
            FrameType::ResponseError => "response_error",
        }
    }

    fn parse(s: &str) -> Option<FrameType> {
        Some(match s {
            "send" => FrameType::Send,
            "request" => FrameType::Request,
            "response_ok" => FrameType::ResponseOk,
            "response_error" => FrameType::ResponseError,
            _ => return None,
        })
    }
}

/// An envelope exactly as read from the wire, every field optional.
///
/// Codecs decode into this; [`Frame::from_wire`] checks it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WireFrame {
    /// Protocol version.
    #[serde(default)]
    pub v: Option<String>,
    /// Frame type.
    #[serde(default)]
    pub t: Option<String>,
    /// Event name.
    #[serde(default)]
    pub x: Option<String>,
    /// Request id.
    #[serde(default)]
    pub id: Option<String>,
    /// Sender clock, echoed in responses.
    #[serde(default)]
    pub w: Option<Number>,
    /// Payload.
    #[serde(default)]
    pub p: Option<Value>,
    /// Error, on `response_error`.
    #[serde(default)]
    pub e: Option<WireError>,
}

/// A checked, decoded envelope. The payload stays a JSON value until the event's
/// validator has seen it.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Frame type.
    pub t: FrameType,
    /// Event name.
    pub x: String,
    /// Request id (always present on `request` and responses).
    pub id: Option<String>,
    /// Sender clock, echoed in responses.
    pub w: Option<Number>,
    /// Payload; absent when the peer sent none.
    pub p: Option<Value>,
    /// Error, on `response_error`.
    pub e: Option<WireError>,
}

/// Why a decoded envelope was refused, with what is known of it so the peer can be
/// answered on its request id when there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct FrameError {
    /// `bad_frame` or `unsupported_version`.
    pub code: ErrorCode,
    /// What is wrong.
    pub message: String,
    /// The request id, when the frame was a readable request.
    pub id: Option<String>,
    /// The event name, when readable.
    pub x: Option<String>,
    /// The sender clock, when readable.
    pub w: Option<Number>,
}

impl FrameError {
    /// A `bad_frame` error with nothing known of the frame.
    pub fn bad_frame(message: impl Into<String>) -> Self {
        FrameError {
            code: ErrorCode::BadFrame,
            message: message.into(),
            id: None,
            x: None,
            w: None,
        }
    }

    /// The wire error for this failure.
    pub fn to_wire(&self) -> WireError {
        WireError::new(self.code, self.message.clone())
    }
}

impl Frame {
    /// Checks a raw envelope: a known `t`, an `x`, an `id` on requests and responses,
    /// an `e` on errors, and a version whose major number is 1 (a missing `v` is taken
    /// as 1.0, as the TypeScript client always sends it).
    pub fn from_wire(raw: WireFrame) -> Result<Frame, FrameError> {
        let parts = EnvelopeParts {
            v: raw.v.as_deref(),
            t: raw.t.as_deref(),
            x: raw.x.as_deref(),
            id: raw.id.as_deref(),
            has_e: raw.e.is_some(),
        };
        let t = match parts.check() {
            Ok((t, _)) => t,
            Err((code, message)) => {
                return Err(FrameError {
                    code,
                    message,
                    id: raw.id,
                    x: raw.x,
                    w: raw.w,
                });
            }
        };
        Ok(Frame {
            t,
            x: raw.x.unwrap_or_default(),
            id: raw.id,
            w: raw.w,
            p: raw.p,
            e: raw.e,
        })
    }
}

/// The parts of an envelope the checks of [`Frame::from_wire`] look at, borrowed from
/// whichever form the envelope was decoded into.
pub(crate) struct EnvelopeParts<'a> {
    pub(crate) v: Option<&'a str>,
    pub(crate) t: Option<&'a str>,
    pub(crate) x: Option<&'a str>,
    pub(crate) id: Option<&'a str>,
    pub(crate) has_e: bool,
}

impl<'a> EnvelopeParts<'a> {
    /// The frame type and event name, or why the envelope is refused.
    pub(crate) fn check(&self) -> Result<(FrameType, &'a str), (ErrorCode, String)> {
        // What every client sends passes without splitting it.
        if let Some(v) = self.v.filter(|v| *v != VERSION) {
            let major = v.split('.').next().unwrap_or_default();
            if major != "1" {
                return Err((
                    ErrorCode::UnsupportedVersion,
                    format!(
                        "protocol version `{v}` is not supported; this server speaks {VERSION}"
                    ),
                ));
            }
        }
        let Some(t) = self.t else {
            return Err((ErrorCode::BadFrame, "frame has no `t` (frame type)".into()));
        };
        let Some(t) = FrameType::parse(t) else {
            return Err((
                ErrorCode::BadFrame,
                format!(
                    "unknown frame type `{t}`; expected send, request, response_ok or response_error"
                ),
            ));
        };
        let Some(x) = self.x else {
            return Err((ErrorCode::BadFrame, "frame has no `x` (event name)".into()));
        };
        if t != FrameType::Send && self.id.is_none() {
            return Err((
                ErrorCode::BadFrame,
                format!("a `{}` frame needs an `id`", t.as_str()),
            ));
        }
        if t == FrameType::ResponseError && !self.has_e {
            return Err((
                ErrorCode::BadFrame,
                "a `response_error` frame needs an `e`".into(),
            ));
        }
        Ok((t, x))
    }
}

/// A JSON envelope borrowed from the text of its message: no string is copied and the
/// payload stays raw JSON until the handler of its event decodes it into its type.
///
/// Strings with escapes cannot be borrowed; such a frame fails here and is decoded
/// again as a [`WireFrame`], which also gives the precise error of a malformed one.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct JsonFrameRef<'a> {
    #[serde(default, borrow)]
    pub(crate) v: Option<&'a str>,
    #[serde(default, borrow)]
    pub(crate) t: Option<&'a str>,
    #[serde(default, borrow)]
    pub(crate) x: Option<&'a str>,
    #[serde(default, borrow)]
    pub(crate) id: Option<&'a str>,
    #[serde(default)]
    pub(crate) w: Option<Number>,
    #[serde(default, borrow)]
    pub(crate) p: Option<&'a serde_json::value::RawValue>,
    /// Boxed: only a client's `response_error` has one, and the envelope is moved
    /// through the decode of every frame.
    #[serde(default)]
    pub(crate) e: Option<Box<WireError>>,
    /// Set by the direct scan instead of `p` when the payload is the last member: the
    /// rest of the text up to the closing brace, not yet known to be one JSON value.
    /// Whoever decodes it checks that, and sends the frame down the owned path if not.
    #[serde(skip)]
    pub(crate) p_tail: Option<&'a str>,
}

impl<'a> JsonFrameRef<'a> {
    /// The parts the envelope checks look at.
    pub(crate) fn parts(&self) -> EnvelopeParts<'a> {
        EnvelopeParts {
            v: self.v,
            t: self.t,
            x: self.x,
            id: self.id,
            has_e: self.e.is_some(),
        }
    }
}

/// A frame to encode, borrowing its parts. Field order is the wire order:
/// `v, t, x, id, w, p, e`.
#[derive(Debug, Serialize)]
pub struct OutFrame<'a, P: ?Sized> {
    /// Always [`VERSION`].
    pub v: &'static str,
    /// Frame type.
    pub t: FrameType,
    /// Event name.
    pub x: &'a str,
    /// Request id, on responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// Sender clock, echoed on responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w: Option<&'a Number>,
    /// Payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<&'a P>,
    /// Error, on `response_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<&'a WireError>,
}

impl<'a, P: ?Sized> OutFrame<'a, P> {
    /// A one-way frame (a server push, or a client `send`).
    pub fn send(x: &'a str, p: &'a P) -> Self {
        OutFrame {
            v: VERSION,
            t: FrameType::Send,
            x,
            id: None,
            w: None,
            p: Some(p),
            e: None,
        }
    }

    /// A request with its id and the sender's clock.
    pub fn request(x: &'a str, id: &'a str, w: &'a Number, p: &'a P) -> Self {
        OutFrame {
            v: VERSION,
            t: FrameType::Request,
            x,
            id: Some(id),
            w: Some(w),
            p: Some(p),
            e: None,
        }
    }

    /// A successful response echoing the request's `x`, `id` and `w`.
    pub fn ok(x: &'a str, id: Option<&'a str>, w: Option<&'a Number>, p: &'a P) -> Self {
        OutFrame {
            v: VERSION,
            t: FrameType::ResponseOk,
            x,
            id,
            w,
            p: Some(p),
            e: None,
        }
    }
}

impl<'a> OutFrame<'a, ()> {
    /// A failed response echoing the request's `x`, `id` and `w`.
    pub fn error(x: &'a str, id: Option<&'a str>, w: Option<&'a Number>, e: &'a WireError) -> Self {
        OutFrame {
            v: VERSION,
            t: FrameType::ResponseError,
            x,
            id,
            w,
            p: None,
            e: Some(e),
        }
    }
}

impl<'a> OutFrame<'a, WireError> {
    /// The `$error` push answering a frame that had no id to answer.
    pub fn error_push(e: &'a WireError) -> Self {
        OutFrame::send(ERROR_EVENT, e)
    }
}

/// The bytes every JSON `response_ok` of event `x` starts with: what
/// [`OutFrame::ok`] writes before the `id`. A server builds it once per event.
pub(crate) fn json_ok_prefix(x: &str) -> Result<String, serde_json::Error> {
    Ok(format!(
        r#"{{"v":"{VERSION}","t":"response_ok","x":{}"#,
        serde_json::to_string(x)?
    ))
}

/// Writes a JSON `response_ok` exactly as [`OutFrame::ok`] serializes, from its prefix
/// ([`json_ok_prefix`]): the event name and the constant keys are not serialized again.
pub(crate) fn write_json_ok<P: Serialize + ?Sized>(
    out: &mut String,
    prefix: &str,
    id: Option<&str>,
    w: Option<&Number>,
    p: &P,
) -> Result<(), serde_json::Error> {
    use crate::codec::json_write;
    out.push_str(prefix);
    if let Some(id) = id {
        out.push_str(r#","id":"#);
        json_write::write_str(out, id);
    }
    if let Some(w) = w {
        out.push_str(r#","w":"#);
        // A client's clock in ms, as serde_json writes a `u64`.
        match w.as_u64() {
            Some(ms) => out.push_str(itoa::Buffer::new().format(ms)),
            None => json_write::write(out, w)?,
        }
    }
    out.push_str(r#","p":"#);
    json_write::write(out, p)?;
    out.push('}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prebuilt_response_is_byte_for_byte_the_serialized_one() {
        let payload = serde_json::json!({ "text": "h\"i é\n", "n": [1, 2.5] });
        let ws = [
            None,
            Some(Number::from(0)),
            Some(Number::from(1737100000000u64)),
            Number::from_f64(-1.5),
        ];
        for x in ["echo", "sendMessage", "we\"ird"] {
            let prefix = json_ok_prefix(x).unwrap();
            for id in [None, Some("1"), Some("a\"b\\c\u{1}")] {
                for w in &ws {
                    let mut fast = String::new();
                    write_json_ok(&mut fast, &prefix, id, w.as_ref(), &payload).unwrap();
                    let slow =
                        serde_json::to_string(&OutFrame::ok(x, id, w.as_ref(), &payload)).unwrap();
                    assert_eq!(fast, slow);
                }
            }
        }
    }

    fn parse(s: &str) -> Result<Frame, FrameError> {
        Frame::from_wire(serde_json::from_str(s).unwrap())
    }

    #[test]
    fn request_from_ts_client() {
        let f = parse(r#"{"v":"1.0","t":"request","x":"join","id":"1737100000000-k3j9x2m1q","w":1737100000000,"p":{"username":"alice","room":"general"}}"#).unwrap();
        assert_eq!(f.t, FrameType::Request);
        assert_eq!(f.x, "join");
        assert_eq!(f.id.as_deref(), Some("1737100000000-k3j9x2m1q"));
        assert_eq!(f.w, Some(Number::from(1737100000000u64)));
        assert_eq!(f.p.unwrap()["username"], "alice");
    }

    #[test]
    fn refusals_keep_the_id() {
        let e = parse(r#"{"v":"2.0","t":"request","x":"join","id":"7","w":1}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedVersion);
        assert_eq!(e.id.as_deref(), Some("7"));
        let e = parse(r#"{"v":"1.0","t":"bogus","x":"join","id":"8"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadFrame);
        assert!(e.message.contains("bogus"), "{}", e.message);
        assert_eq!(e.id.as_deref(), Some("8"));
        assert!(
            parse(r#"{"v":"1.0","t":"request","x":"join"}"#)
                .unwrap_err()
                .message
                .contains("`id`")
        );
        assert!(
            parse(r#"{"v":"1.0","x":"join"}"#)
                .unwrap_err()
                .message
                .contains("`t`")
        );
        assert!(
            parse(r#"{"v":"1.0","t":"send"}"#)
                .unwrap_err()
                .message
                .contains("`x`")
        );
        assert!(
            parse(r#"{"v":"1.0","t":"response_error","x":"a","id":"1"}"#)
                .unwrap_err()
                .message
                .contains("`e`")
        );
    }

    #[test]
    fn out_frames_are_pinned() {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Resp {
            success: bool,
            message: &'static str,
            users: Vec<&'static str>,
        }
        let w = Number::from(1737100000000u64);
        let r = Resp {
            success: true,
            message: "Welcome to general!",
            users: vec!["alice"],
        };
        assert_eq!(
            serde_json::to_string(&OutFrame::ok(
                "join",
                Some("1737100000000-k3j9x2m1q"),
                Some(&w),
                &r
            ))
            .unwrap(),
            r#"{"v":"1.0","t":"response_ok","x":"join","id":"1737100000000-k3j9x2m1q","w":1737100000000,"p":{"success":true,"message":"Welcome to general!","users":["alice"]}}"#
        );
        let e = WireError::new(ErrorCode::BadFrame, "not json");
        assert_eq!(
            serde_json::to_string(&OutFrame::error_push(&e)).unwrap(),
            r#"{"v":"1.0","t":"send","x":"$error","p":{"message":"not json","code":"bad_frame"}}"#
        );
        assert_eq!(
            serde_json::to_string(&OutFrame::error("join", Some("1"), None, &e)).unwrap(),
            r#"{"v":"1.0","t":"response_error","x":"join","id":"1","e":{"message":"not json","code":"bad_frame"}}"#
        );
    }
}
