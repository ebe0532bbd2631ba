//! Room messages: `sendMessage` (numbered, committed, then broadcast) and `history`.

use super::typing;
use super::user::{User, require_name};
use crate::app::App;
use crate::events::*;
use crate::store::{Appended, HistoryRange, NewMessage, StoreError};
use wsx_core::ErrorCode;
use wsx_core::server::{Conn, HandlerError, State};

/// `sendMessage`: the message is committed to the database, which gives it the room's
/// next `seq`, then recorded and pushed to every member (the sender too) in `seq` order —
/// so the answer's `messageId` is on disk and every member sees the room's messages in
/// order. The sender is the connection's user name, never a field of the request. With a
/// `clientId` the sender already used, nothing is stored or pushed: the answer is the
/// first one (see [`crate::store`]).
pub async fn send_message(
    conn: Conn<User>,
    State(app): State<App>,
    req: SendMessageRequest,
) -> Result<SendMessageResponse, HandlerError> {
    let _using = conn.state().using().await;
    let name = require_name(&conn)?;
    let room_name = conn.state().member_room(req.room.as_deref())?;
    if req.message.trim().is_empty() {
        return Err(HandlerError::new("the message is blank")
            .with_code(ErrorCode::InvalidPayload)
            .with_cause(
                serde_json::json!([{ "path": "/message", "message": "must not be blank" }]),
            ));
    }
    app.limits()
        .message(&name.key, conn.handshake().peer_addr.map(|a| a.ip()))?;
    let room = app
        .existing_room(&room_name)
        .ok_or_else(|| HandlerError::new("the room is gone"))?;
    let kind = req.kind.unwrap_or(MessageKind::Message);
    // Queued under the room's queueing lock (so a room's messages reach the database in
    // the order their requests took the lock), then committed in a group with whatever
    // else was queued; the database gives the message its `seq` in that transaction. The
    // commit's completion, on the store's writer and in queue order, records the message
    // and broadcasts it under the log lock, then answers here. Once queued, the message
    // is recorded and broadcast even if this connection drops meanwhile. A repeat of a
    // `clientId` is answered with the first answer and neither recorded nor broadcast.
    let (answer, answered) = tokio::sync::oneshot::channel();
    {
        let _queueing = room.numbering.lock().await;
        let message = NewMessage {
            room: room.name.clone(),
            message_id: uuid::Uuid::now_v7().to_string(),
            user_key: name.key.clone(),
            username: name.display,
            body: req.message,
            timestamp: crate::now_ms(),
            kind,
            client_id: req.client_id,
        };
        let (c_room, c_app, c_conn) = (room.clone(), app.clone(), conn.clone());
        let on_commit = Box::new(move |result: Result<Appended, StoreError>| {
            let appended = match result {
                Ok(appended) => appended,
                Err(e) => {
                    let _ = answer.send(Err(e));
                    return;
                }
            };
            if appended.repeat {
                let _ = answer.send(Ok(appended));
                return;
            }
            let message = appended.message.clone();
            if let Some(cluster) = c_app.cluster() {
                // Several nodes: every node (this one too) delivers the room's messages
                // to its own members in `seq` order (see `crate::cluster`).
                c_app.count_message();
                let _ = answer.send(Ok(appended));
                cluster.publish(&message);
                crate::cluster::offer(&c_app, &c_room, message);
                return;
            }
            let mut log = c_room.log();
            log.record(message.clone());
            c_room.set_last_seq(message.seq);
            c_app.count_message();
            // The sender is answered before the members are pushed to: its task is then
            // woken ahead of theirs, and its next message is not held behind a fan-out
            // to the whole room (with 1,000 members, that wait alone outlasted the 2 ms
            // between messages at 500 messages/s).
            let _ = answer.send(Ok(appended));
            let _ = c_conn.to(&c_room.name).push::<ChatMessage>(message);
            drop(log);
        });
        app.store()
            .append_then(message, on_commit)
            .await
            .map_err(|e| {
                tracing::error!(room = %room_name, error = %e, "message not queued");
                HandlerError::new("the message could not be stored").with_code(ErrorCode::Internal)
            })?;
    }
    let message = match answered.await {
        Ok(Ok(appended)) => {
            if appended.repeat {
                metrics::counter!("chat_message_repeats_total").increment(1);
            }
            appended.message
        }
        Ok(Err(e)) => {
            tracing::error!(room = %room_name, error = %e, "message not stored");
            return Err(
                HandlerError::new("the message could not be stored").with_code(ErrorCode::Internal)
            );
        }
        Err(_) => {
            tracing::error!(room = %room_name, "the database thread stopped");
            return Err(HandlerError::new("internal error").with_code(ErrorCode::Internal));
        }
    };
    typing::stop(&conn, &room_name);
    Ok(SendMessageResponse {
        message_id: message.message_id,
        timestamp: message.timestamp,
        room: message.room,
        seq: message.seq,
    })
}

/// `history`: a page of a room's stored history (the whole history, not only the
/// in-memory window).
pub async fn history(
    conn: Conn<User>,
    State(app): State<App>,
    req: HistoryRequest,
) -> Result<HistoryResponse, HandlerError> {
    let _using = conn.state().using().await;
    let room = conn.state().resolve_room(req.room.as_deref())?;
    let range = HistoryRange {
        before: req.before,
        after: req.after,
        limit: req.limit.clamp(1, 100),
    };
    let page = app.store().history(&room, range).await.map_err(|e| {
        tracing::error!(room = %room, error = %e, "history read failed");
        HandlerError::new("the history could not be read").with_code(ErrorCode::Internal)
    })?;
    let page = page.ok_or_else(|| HandlerError::new(format!("no room named `{room}`")))?;
    Ok(HistoryResponse {
        room,
        epoch: page.epoch,
        messages: page.messages,
        has_more: page.has_more,
    })
}
