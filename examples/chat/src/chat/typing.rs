//! Typing indicators: `typing` in, `userTyping` out to the others in the room, stopped
//! by the server itself when no new `typing` comes within the typing timeout.

use super::user::User;
use crate::app::App;
use crate::events::{TypingRequest, UserTyping};
use wsx_core::server::{Conn, State};

/// `typing`: starts (or keeps up) or stops the indicator. Only changes are pushed, as
/// droppable frames: a slow reader loses indicators, not messages.
pub async fn typing(conn: Conn<User>, State(app): State<App>, req: TypingRequest) {
    let using = conn.state().using().await;
    let Some(name) = conn.state().name() else {
        return;
    };
    let Ok(room) = conn.state().member_room(req.room.as_deref()) else {
        return;
    };
    if !req.active {
        stop(&conn, &room);
        return;
    }
    let (generation, already) = conn.state().start_typing(&room);
    if !already {
        push(&conn, &room, &name.display, true);
    }
    let timeout = app.config().typing_timeout;
    drop(using);
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        if conn.state().stop_typing(&room, Some(generation))
            && let Some(name) = conn.state().name()
        {
            push(&conn, &room, &name.display, false);
        }
    });
}

/// Stops the indicator in a room, if it is on (a message sent, the room left).
pub fn stop(conn: &Conn<User>, room: &str) {
    if conn.state().stop_typing(room, None)
        && let Some(name) = conn.state().name()
    {
        push(conn, room, &name.display, false);
    }
}

fn push(conn: &Conn<User>, room: &str, username: &str, active: bool) {
    let typing = UserTyping {
        room: room.to_owned(),
        username: username.to_owned(),
        active,
    };
    let _ = conn.others_in(room).push_droppable::<UserTyping>(typing);
}
