//! The one error type of the client, and the server's error as the client reads it.

use crate::state::CloseReason;
use serde_json::Value;
use std::fmt;
use std::time::Duration;
use wsx_core::error::{ErrorCode, FieldError, WireError};

/// Everything a call on a [`Client`](crate::Client) can fail with.
///
/// Which failures are safe to retry is the caller's decision: the client never re-sends a
/// request on its own. As a rule of thumb, [`Error::InvalidPayload`] and most
/// [`Error::Server`] errors will fail again; [`Error::Timeout`] and
/// [`Error::ConnectionLost`] mean the request *may* have been handled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload breaks its own schema and was refused before it reached the wire.
    #[error("payload of `{event}` is invalid: {}", describe_fields(.fields))]
    InvalidPayload {
        /// The event's wire name.
        event: &'static str,
        /// Every failing field, with its JSON pointer.
        fields: Vec<FieldError>,
    },
    /// The server answered with a `response_error`.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// No answer within the request timeout. The request may still have been handled; a
    /// late answer is discarded.
    #[error("request `{event}` timed out after {after:?}")]
    Timeout {
        /// The event's wire name.
        event: &'static str,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection dropped while the request was in flight. It was not re-sent: the
    /// server may or may not have handled it.
    #[error("connection lost while request `{event}` was in flight")]
    ConnectionLost {
        /// The event's wire name.
        event: &'static str,
    },
    /// The client is closed for good (closed by the app, reconnection gave up, or the
    /// server refused it); every call fails at once with this error.
    #[error("client is closed: {reason}")]
    Closed {
        /// Why it closed.
        reason: CloseReason,
    },
    /// The queue of messages waiting for a connection is full.
    #[error("send queue is full ({capacity} messages wait for the connection)")]
    QueueFull {
        /// The configured capacity ([`ClientBuilder::send_queue`](crate::ClientBuilder::send_queue)).
        capacity: usize,
    },
    /// The server sent something the protocol or the event's schema does not allow (for
    /// instance a response that breaks its schema).
    #[error("protocol error: {message}")]
    Protocol {
        /// What was wrong.
        message: String,
    },
    /// The first connection could not be made (bad URL, refused, HTTP error).
    #[error("could not connect: {message}")]
    Connect {
        /// What failed.
        message: String,
    },
    /// The server accepted TCP but did not complete the WebSocket handshake in time.
    #[error("WebSocket handshake timed out after {after:?}")]
    HandshakeTimeout {
        /// The configured handshake timeout.
        after: Duration,
    },
}

impl Error {
    /// The server error, if this is one.
    pub fn server(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e) => Some(e),
            _ => None,
        }
    }

    /// The wire code of a server error.
    pub fn code(&self) -> Option<ErrorCode> {
        self.server().and_then(|e| e.code)
    }
}

fn describe_fields(fields: &[FieldError]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.path.is_empty() {
                f.message.clone()
            } else {
                format!("{}: {}", f.path, f.message)
            }
        })
        .collect();
    parts.join("; ")
}

/// A `response_error` from the server, or the payload of a `$error` push, with
/// everything the wire carried: code, message and, for `invalid_payload`, the failing
/// fields.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ServerError {
    /// The event the error answers (`$error` for an error push).
    pub event: String,
    /// The protocol code; `None` when the server sent none or one this version does not
    /// know.
    pub code: Option<ErrorCode>,
    /// The server's message.
    pub message: String,
    /// For `invalid_payload`: every failing field with its JSON pointer.
    pub fields: Vec<FieldError>,
    /// The raw `cause`, for other codes that carry details.
    pub cause: Option<Value>,
}

impl ServerError {
    pub(crate) fn from_wire(event: impl Into<String>, wire: WireError) -> Self {
        let fields = wire.fields();
        ServerError {
            event: event.into(),
            code: wire.code,
            message: wire.message,
            fields,
            cause: wire.cause,
        }
    }

    /// The field paths of an `invalid_payload` error (`"/username"`, …).
    pub fn paths(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.path.as_str()).collect()
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server refused `{}`: ", self.event)?;
        match self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn server_error_keeps_code_and_paths() {
        let wire = WireError::invalid_payload(&[FieldError {
            path: "/username".into(),
            message: "too short".into(),
        }]);
        let e = ServerError::from_wire("join", wire);
        assert_eq!(e.code, Some(ErrorCode::InvalidPayload));
        assert_eq!(e.paths(), vec!["/username"]);
        let err = Error::from(e);
        assert_eq!(err.code(), Some(ErrorCode::InvalidPayload));
        assert!(err.to_string().contains("invalid_payload"), "{err}");
    }

    #[test]
    fn local_refusal_lists_fields() {
        let e = Error::InvalidPayload {
            event: "join",
            fields: vec![
                FieldError {
                    path: "/a".into(),
                    message: "bad".into(),
                },
                FieldError {
                    path: String::new(),
                    message: "worse".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "payload of `join` is invalid: /a: bad; worse"
        );
    }
}
