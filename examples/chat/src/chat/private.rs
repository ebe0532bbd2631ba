//! Private messages: `sendPrivate` to a user by name.

use super::session::{Session, require_name};
use crate::app::App;
use crate::events::{PrivateMessage, SendPrivateRequest, SendPrivateResponse};
use crate::names::UserName;
use wsx_core::server::{Conn, HandlerError, State};

/// `sendPrivate`: pushes a `privateMessage` to the recipient and echoes it to the
/// sender (so every tab of a conversation looks the same). Private messages are not
/// stored.
pub async fn send_private(
    conn: Conn<Session>,
    State(app): State<App>,
    req: SendPrivateRequest,
) -> Result<SendPrivateResponse, HandlerError> {
    let _using = conn.state().using().await;
    let from = require_name(&conn)?;
    let no_such_user = || HandlerError::new(format!("no user named `{}` is online", req.to.trim()));
    let to = UserName::parse(&req.to).map_err(|_| no_such_user())?;
    if to.key == from.key {
        return Err(HandlerError::new(
            "you cannot send a private message to yourself",
        ));
    }
    if req.message.trim().is_empty() {
        return Err(HandlerError::new("the message is blank"));
    }
    app.limits()
        .message(&from.key, conn.handshake().peer_addr.map(|a| a.ip()))?;
    let (target, to_display) = app.find_user(&to.key).ok_or_else(no_such_user)?;
    let message = PrivateMessage {
        message_id: uuid::Uuid::now_v7().to_string(),
        from: from.display,
        to: to_display,
        message: req.message,
        timestamp: crate::now_ms(),
    };
    let delivered = conn
        .to_conn(target)
        .push::<PrivateMessage>(message.clone())
        .unwrap_or(0);
    if delivered == 0 {
        return Err(no_such_user());
    }
    let _ = conn.push::<PrivateMessage>(message.clone());
    metrics::counter!("chat_private_messages_total").increment(1);
    Ok(SendPrivateResponse {
        message_id: message.message_id,
        timestamp: message.timestamp,
    })
}
