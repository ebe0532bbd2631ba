//! Nickname changes: `setNick`.

use super::session::{Session, require_name};
use crate::app::App;
use crate::events::{NickChanged, SetNickRequest, SetNickResponse};
use crate::names::UserName;
use serde_json::json;
use wsx_core::ErrorCode;
use wsx_core::server::{Conn, HandlerError, State};

/// `setNick`: renames the session if the new name is free (a change of case alone is
/// always allowed) and tells every room the user is in with `nickChanged`.
pub async fn set_nick(
    conn: Conn<Session>,
    State(app): State<App>,
    req: SetNickRequest,
) -> Result<SetNickResponse, HandlerError> {
    let _changing = conn.state().changing().await;
    let old = require_name(&conn)?;
    let new = UserName::parse(&req.username).map_err(|e| {
        HandlerError::new(e.to_string())
            .with_code(ErrorCode::InvalidPayload)
            .with_cause(json!([{ "path": "/username", "message": e.to_string() }]))
    })?;
    if new.display == old.display {
        return Ok(SetNickResponse {
            old_name: old.display,
            username: new.display,
        });
    }
    if !app.rename(&old.key, &new, &conn) {
        return Err(HandlerError::new(format!(
            "the name `{}` is taken",
            new.display
        )));
    }
    conn.state().set_name(new.clone());
    for room_name in conn.state().all_rooms() {
        if let Some(room) = app.existing_room(&room_name) {
            room.rename_member(conn.id(), &new.display);
        }
        let _ = conn.to(&room_name).push::<NickChanged>(NickChanged {
            room: room_name.clone(),
            old_name: old.display.clone(),
            new_name: new.display.clone(),
        });
    }
    app.events().publish(
        "userRenamed",
        json!({ "oldName": old.display, "username": new.display }),
    );
    Ok(SetNickResponse {
        old_name: old.display,
        username: new.display,
    })
}
