//! Errors: the wire error (what a peer reads) and the codes of `PROTOCOL.md`.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// The longest `message` an error carries on the wire, in bytes. Longer text (a handler's,
/// a decoder's) is cut at a character boundary and ends with `…`: an error reply never
/// grows with the input that caused it.
pub const MAX_ERROR_MESSAGE: usize = 512;

/// The most failing fields an `invalid_payload` error lists in `cause`.
pub const MAX_FIELD_ERRORS: usize = 16;

/// The longest field path or field message in an `invalid_payload` cause, in bytes.
pub const MAX_FIELD_TEXT: usize = 160;

/// `text` cut to at most `max` bytes at a character boundary, with `…` when cut: how
/// anything a peer sent (a key, an event name, a value) appears in an error.
pub fn excerpt(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + ellipsis.len_utf8());
    cut.push_str(&text[..end]);
    cut.push(ellipsis);
    Cow::Owned(cut)
}

/// [`excerpt`] in place.
fn truncate(text: &mut String, max: usize) {
    if let Cow::Owned(cut) = excerpt(text, max) {
        *text = cut;
    }
}

/// The error codes of the protocol (`e.code` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The payload failed validation; `cause` lists every failing field.
    InvalidPayload,
    /// No handler for this event name.
    UnknownEvent,
    /// The handler returned an error.
    HandlerError,
    /// The frame could not be decoded as an envelope.
    BadFrame,
    /// The message is larger than the server accepts.
    PayloadTooLarge,
    /// The connection sends faster than its rate limit.
    RateLimited,
    /// The connection is not allowed to do this.
    Unauthorized,
    /// The envelope's `v` has a major version other than 1.
    UnsupportedVersion,
    /// The server failed (e.g. a handler panicked).
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of `PROTOCOL.md`.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::InvalidPayload,
        ErrorCode::UnknownEvent,
        ErrorCode::HandlerError,
        ErrorCode::BadFrame,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unauthorized,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Internal,
    ];

    /// The code as written on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidPayload => "invalid_payload",
            ErrorCode::UnknownEvent => "unknown_event",
            ErrorCode::HandlerError => "handler_error",
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Internal => "internal",
        }
    }

    /// Parses a wire code; `None` for a code this version does not know.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failing field of an invalid payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON pointer of the field inside the payload (`""` for the payload itself).
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

/// The `e` object of a `response_error` frame, and the payload of a `$error` push.
///
/// The TypeScript wsx client reads only `message`; `code` and `cause` are our compatible
/// extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// Human-readable message.
    pub message: String,
    /// The protocol error code, if the peer sent one we know.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "code_opt")]
    pub code: Option<ErrorCode>,
    /// Details: for `invalid_payload`, the list of [`FieldError`]s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<serde_json::Value>,
}

/// Unknown codes from a newer peer are read as `None` instead of failing the frame.
mod code_opt {
    use super::ErrorCode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(c: &Option<ErrorCode>, s: S) -> Result<S::Ok, S::Error> {
        match c {
            Some(c) => s.serialize_str(c.as_str()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ErrorCode>, D::Error> {
        let raw = Option::<serde_json::Value>::deserialize(d)?;
        Ok(raw
            .as_ref()
            .and_then(|v| v.as_str())
            .and_then(ErrorCode::parse))
    }
}

impl WireError {
    /// An error with a code and a message, no details. The message is cut to
    /// [`MAX_ERROR_MESSAGE`] bytes.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        truncate(&mut message, MAX_ERROR_MESSAGE);
        WireError {
            message,
            code: Some(code),
            cause: None,
        }
    }

    /// The `invalid_payload` error listing the failing fields: at most
    /// [`MAX_FIELD_ERRORS`] of them, each path and message cut to [`MAX_FIELD_TEXT`]
    /// bytes, so the reply stays small whatever the payload was.
    pub fn invalid_payload(fields: &[FieldError]) -> Self {
        let fields: Vec<FieldError> = fields
            .iter()
            .take(MAX_FIELD_ERRORS)
            .map(|f| FieldError {
                path: excerpt(&f.path, MAX_FIELD_TEXT).into_owned(),
                message: excerpt(&f.message, MAX_FIELD_TEXT).into_owned(),
            })
            .collect();
        let first = fields
            .first()
            .map(|f| {
                if f.path.is_empty() {
                    format!("payload is invalid: {}", f.message)
                } else {
                    format!("payload is invalid: {}: {}", f.path, f.message)
                }
            })
            .unwrap_or_else(|| "payload is invalid".to_owned());
        WireError {
            message: first,
            code: Some(ErrorCode::InvalidPayload),
            cause: serde_json::to_value(&fields).ok(),
        }
    }

    /// The failing fields, when this is an `invalid_payload` error with details.
    pub fn fields(&self) -> Vec<FieldError> {
        self.cause
            .as_ref()
            .and_then(|c| serde_json::from_value::<Vec<FieldError>>(c.clone()).ok())
            .unwrap_or_default()
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for WireError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_pinned() {
        let all: Vec<_> = ErrorCode::ALL
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        assert_eq!(
            all.join(","),
            r#""invalid_payload","unknown_event","handler_error","bad_frame","payload_too_large","rate_limited","unauthorized","unsupported_version","internal""#
        );
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn invalid_payload_wire_form() {
        let e = WireError::invalid_payload(&[FieldError {
            path: "/username".into(),
            message: "must be at least 1 character".into(),
        }]);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"message":"payload is invalid: /username: must be at least 1 character","code":"invalid_payload","cause":[{"message":"must be at least 1 character","path":"/username"}]}"#
        );
        assert_eq!(e.fields().len(), 1);
    }

    #[test]
    fn excerpts_cut_at_a_character_boundary() {
        assert_eq!(excerpt("short", 10), "short");
        let cut = excerpt("ааааа", 6);
        assert_eq!(
            cut, "а…",
            "2-byte letters: one fits before the 3-byte ellipsis"
        );
        assert!(cut.len() <= 6);
        assert_eq!(excerpt(&"x".repeat(100), 10).len(), 10);
    }

    #[test]
    fn error_text_is_bounded_whatever_the_input() {
        let e = WireError::new(ErrorCode::BadFrame, "y".repeat(100_000));
        assert_eq!(e.message.len(), MAX_ERROR_MESSAGE);
        let fields: Vec<FieldError> = (0..1000)
            .map(|i| FieldError {
                path: format!("/{}{i}", "k".repeat(8000)),
                message: "m".repeat(8000),
            })
            .collect();
        let e = WireError::invalid_payload(&fields);
        let listed = e.fields();
        assert_eq!(listed.len(), MAX_FIELD_ERRORS);
        assert!(listed.iter().all(|f| f.path.len() <= MAX_FIELD_TEXT));
        assert!(listed.iter().all(|f| f.message.len() <= MAX_FIELD_TEXT));
        let wire = serde_json::to_string(&e).unwrap();
        assert!(wire.len() < 8 * 1024, "{} bytes", wire.len());
    }

    #[test]
    fn unknown_code_from_newer_peer_is_tolerated() {
        let e: WireError = serde_json::from_str(r#"{"message":"x","code":"brand_new"}"#).unwrap();
        assert_eq!(e.code, None);
        let e: WireError = serde_json::from_str(r#"{"message":"only a message"}"#).unwrap();
        assert_eq!(
            e,
            WireError {
                message: "only a message".into(),
                code: None,
                cause: None
            }
        );
    }
}
