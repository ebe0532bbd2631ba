//! Errors a handler returns, refusals of a connect hook, and why a connection ended.

use crate::error::{ErrorCode, WireError};
use crate::protocol::close_code;
use std::fmt;

/// What a request handler returns on failure. Becomes a `response_error` with code
/// `handler_error` (or the code given with [`HandlerError::with_code`]) and the message.
///
/// Errors meant for the user are made explicitly, with [`HandlerError::new`]. Any other
/// `std::error::Error` converts too, so `?` works in handlers, but as an **internal**
/// error: the peer reads only `internal error (id …)`, and the error's own text (a
/// database error, a file path) goes to the server log under that id. wsx's own
/// user-facing errors ([`RoomError`](super::RoomError), [`WireError`],
/// [`PayloadError`](crate::validate::PayloadError)) keep their message and code.
///
/// ```
/// use wsx_core::server::HandlerError;
/// use wsx_core::ErrorCode;
///
/// fn parse(s: &str) -> Result<u32, HandlerError> {
///     Ok(s.parse::<u32>()?)
/// }
/// let hidden = parse("x").unwrap_err();
/// assert_eq!(hidden.code(), ErrorCode::Internal);
/// assert!(hidden.message().starts_with("internal error (id "));
/// assert!(!hidden.message().contains("digit"));
///
/// let e = HandlerError::new("name taken").with_cause(serde_json::json!({ "field": "/username" }));
/// assert_eq!(e.to_wire().code, Some(ErrorCode::HandlerError));
/// assert_eq!(e.message(), "name taken");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerError {
    code: ErrorCode,
    message: String,
    cause: Option<serde_json::Value>,
}

impl HandlerError {
    /// A `handler_error` with a message.
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError {
            code: ErrorCode::HandlerError,
            message: message.into(),
            cause: None,
        }
    }

    /// Uses another protocol code, e.g. [`ErrorCode::Unauthorized`].
    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self
    }

    /// Attaches details (sent as `e.cause`).
    pub fn with_cause(mut self, cause: serde_json::Value) -> Self {
        self.cause = Some(cause);
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// An `internal` error whose detail is not for the peer: the detail is logged with
    /// a fresh id, and the peer reads only `internal error (id …)`.
    pub fn internal(detail: impl fmt::Display) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let id = id.get(..12).unwrap_or(&id);
        tracing::error!(error_id = id, error = %detail, "handler failed");
        HandlerError {
            code: ErrorCode::Internal,
            message: format!("internal error (id {id})"),
            cause: None,
        }
    }

    /// The wire form. The message is cut to
    /// [`MAX_ERROR_MESSAGE`](crate::error::MAX_ERROR_MESSAGE) bytes.
    pub fn to_wire(&self) -> WireError {
        let mut wire = WireError::new(self.code, self.message.as_str());
        wire.cause = self.cause.clone();
        wire
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(e: E) -> Self {
        let any: &dyn std::any::Any = &e;
        if let Some(room) = any.downcast_ref::<super::RoomError>() {
            return HandlerError::new(room.to_string());
        }
        if let Some(wire) = any.downcast_ref::<WireError>() {
            return HandlerError {
                code: wire.code.unwrap_or(ErrorCode::HandlerError),
                message: wire.message.clone(),
                cause: wire.cause.clone(),
            };
        }
        if let Some(crate::validate::PayloadError::Invalid(fields)) =
            any.downcast_ref::<crate::validate::PayloadError>()
        {
            let wire = WireError::invalid_payload(fields);
            return HandlerError {
                code: ErrorCode::InvalidPayload,
                message: wire.message,
                cause: wire.cause,
            };
        }
        HandlerError::internal(e)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A connect hook's refusal: the upgrade is answered with this HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// HTTP status (e.g. 401, 403).
    pub status: http::StatusCode,
    /// Body text.
    pub message: String,
}

impl Reject {
    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Reject {
            status: http::StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Reject {
            status: http::StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }
}

/// Why a connection ended, as given to the disconnect hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The peer closed it (with its close code, if any).
    ClientClosed(Option<u16>),
    /// The socket failed or the peer vanished.
    TransportError(String),
    /// No pong arrived in time after a ping.
    PongTimeout,
    /// Nothing was sent for the idle timeout.
    IdleTimeout,
    /// The outbound queue overflowed (in frames or bytes): the peer does not read.
    SlowConsumer,
    /// A write made no progress for the write timeout: the peer does not read.
    WriteTimeout,
    /// The peer broke the WebSocket protocol (reserved bits, an unknown opcode, a
    /// fragmented control frame, …); closed with 1002.
    ProtocolError(String),
    /// A text message was not UTF-8; closed with 1007.
    InvalidData(String),
    /// Too many messages over the rate limit.
    RateLimited,
    /// Too many undecodable frames.
    TooManyBadFrames,
    /// A message larger than the limit.
    MessageTooLarge,
    /// The server is shutting down.
    ServerShutdown,
    /// The app closed it (through [`Conn::close`](super::Conn::close)).
    Closed(u16, String),
}

impl DisconnectReason {
    /// The close code the server sends for this reason (1000-4999), if it sends one.
    pub fn close_code(&self) -> Option<u16> {
        Some(match self {
            DisconnectReason::ClientClosed(_) | DisconnectReason::TransportError(_) => return None,
            DisconnectReason::PongTimeout => return None,
            DisconnectReason::IdleTimeout => close_code::IDLE_TIMEOUT,
            DisconnectReason::SlowConsumer
            | DisconnectReason::WriteTimeout
            | DisconnectReason::RateLimited
            | DisconnectReason::TooManyBadFrames => close_code::POLICY_VIOLATION,
            DisconnectReason::MessageTooLarge => close_code::MESSAGE_TOO_BIG,
            DisconnectReason::ProtocolError(_) => close_code::PROTOCOL_ERROR,
            DisconnectReason::InvalidData(_) => close_code::INVALID_DATA,
            DisconnectReason::ServerShutdown => close_code::GOING_AWAY,
            DisconnectReason::Closed(code, _) => *code,
        })
    }
}
