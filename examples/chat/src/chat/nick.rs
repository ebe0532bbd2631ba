//! Nickname changes: `setNick`.

use super::user::{User, require_name};
use crate::app::App;
use crate::cluster::Claimed;
use crate::events::{NickChanged, SetNickRequest, SetNickResponse};
use crate::names::UserName;
use serde_json::json;
use wsx_core::ErrorCode;
use wsx_core::server::{Conn, HandlerError, State};

/// `setNick`: renames the user if the new name is free (a change of case alone is
/// always allowed) and tells every room the user is in with `nickChanged`.
pub async fn set_nick(
    conn: Conn<User>,
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
    let taken = || HandlerError::new(format!("the name `{}` is taken", new.display));
    // Several nodes: a new name (not a change of case) is claimed in Redis first.
    let cluster = app.cluster().filter(|_| new.key != old.key);
    if let Some(cluster) = cluster {
        match cluster.claim_name(&new.key, conn.id(), None).await {
            Ok(Claimed::Taken) => return Err(taken()),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cluster: name not checked");
                return Err(HandlerError::new(
                    "the name could not be checked across the cluster: try again",
                )
                .with_code(ErrorCode::Internal));
            }
        }
    }
    if !app.rename(&old.key, &new, &conn) {
        if let Some(cluster) = cluster {
            cluster.release_name(&new.key, conn.id(), false).await;
        }
        return Err(taken());
    }
    if let Some(cluster) = app.cluster() {
        if new.key != old.key {
            cluster.release_name(&old.key, conn.id(), false).await;
        }
        let token = conn.state().resume_token().unwrap_or_default();
        cluster.set_holder(&new.key, conn.id(), &token).await;
    }
    conn.state().set_name(new.clone());
    if let Some(cluster) = app.cluster() {
        cluster.note_user(&conn).await;
    }
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
