//! Private messages: `sendPrivate` to a user by name.

use super::user::{User, require_name};
use crate::app::App;
use crate::events::{PrivateMessage, SendPrivateRequest, SendPrivateResponse};
use crate::names::UserName;
use crate::store::PrivateReceipt;
use wsx_core::ErrorCode;
use wsx_core::server::{Conn, HandlerError, State};

/// `sendPrivate`: pushes a `privateMessage` to the recipient and echoes it to the
/// sender (so every tab of a conversation looks the same). Private messages are not
/// stored; with a `clientId`, the answer is (for a day), and a repeat of that id gets
/// the same answer without a second delivery.
pub async fn send_private(
    conn: Conn<User>,
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
    // A repeat of a client id is answered as the first time, and not delivered again.
    if let Some(client_id) = &req.client_id {
        let earlier = app
            .store()
            .private_receipt(&from.key, client_id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "private receipt read failed");
                HandlerError::new("the message could not be sent").with_code(ErrorCode::Internal)
            })?;
        if let Some(receipt) = earlier {
            metrics::counter!("chat_private_repeats_total").increment(1);
            return Ok(SendPrivateResponse {
                message_id: receipt.message_id,
                timestamp: receipt.timestamp,
            });
        }
    }
    let (target, to_display, remote) = match app.find_user(&to.key) {
        Some((target, display)) => (target, display, false),
        // Several nodes: the name may be held on another node; the push goes there.
        None => match app.cluster() {
            Some(cluster) => {
                let (target, display) =
                    cluster.find_user(&to.key).await.ok_or_else(no_such_user)?;
                (target, display, true)
            }
            None => return Err(no_such_user()),
        },
    };
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
    // A push to another node's connection is published: this node cannot count it.
    if delivered == 0 && !remote {
        return Err(no_such_user());
    }
    let _ = conn.push::<PrivateMessage>(message.clone());
    metrics::counter!("chat_private_messages_total").increment(1);
    let mut receipt = PrivateReceipt {
        message_id: message.message_id,
        timestamp: message.timestamp,
    };
    if let Some(client_id) = &req.client_id {
        // Kept after the delivery: a crash between the two can deliver a repeat twice,
        // but a message answered as sent was delivered.
        match app
            .store()
            .record_private(&from.key, client_id, receipt.clone())
            .await
        {
            Ok(kept) => receipt = kept,
            Err(e) => tracing::error!(error = %e, "private receipt not kept"),
        }
    }
    Ok(SendPrivateResponse {
        message_id: receipt.message_id,
        timestamp: receipt.timestamp,
    })
}
