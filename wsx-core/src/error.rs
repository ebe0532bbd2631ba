//! Errors: the wire error (what a peer reads) and the codes of `PROTOCOL.md`.

use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// An error with a code and a message, no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WireError {
            message: message.into(),
            code: Some(code),
            cause: None,
        }
    }

    /// The `invalid_payload` error listing every failing field.
    pub fn invalid_payload(fields: &[FieldError]) -> Self {
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
            cause: serde_json::to_value(fields).ok(),
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
