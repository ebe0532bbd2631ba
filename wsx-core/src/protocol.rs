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

/// The WebSocket subprotocol a JSON client offers.
pub const SUBPROTOCOL_JSON: &str = "wsx.v1.json";
/// The WebSocket subprotocol a CBOR client offers.
pub const SUBPROTOCOL_CBOR: &str = "wsx.v1.cbor";

/// The close codes a wsx server sends (RFC 6455 §7.4.1, and 4000 of its own).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the WebSocket protocol (RFC 6455 §7.4.1).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text message was not UTF-8 (RFC 6455 §7.4.1).
    pub const INVALID_DATA: u16 = 1007;
    /// Rate limit, bad frames, slow consumer or write timeout.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message was larger than the limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server failed.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The connection sent nothing for the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4000;
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
