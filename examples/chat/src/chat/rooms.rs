//! Rooms and presence: `join` (with replay), `leave`, `listRooms`, `listUsers`.

use super::typing;
use super::user::User;
use crate::app::{App, Claim, Retired};
use crate::cluster::Claimed;
use crate::events::*;
use crate::names::UserName;
use serde_json::json;
use wsx_core::ErrorCode;
use wsx_core::server::{Conn, HandlerError, State};

/// `join`: names the connection's user (first join), enters the room, tells the others, and
/// answers with the members and the history — or, with `since`, exactly the missed
/// messages (see [`crate::history`]).
pub async fn join(
    conn: Conn<User>,
    State(app): State<App>,
    req: JoinRequest,
) -> Result<JoinResponse, HandlerError> {
    let _changing = conn.state().changing().await;
    let wanted = UserName::parse(&req.username).map_err(|e| {
        HandlerError::new(e.to_string())
            .with_code(ErrorCode::InvalidPayload)
            .with_cause(json!([{ "path": "/username", "message": e.to_string() }]))
    })?;
    let name = match conn.state().name() {
        Some(current) if current.key != wanted.key => {
            return Err(HandlerError::new(format!(
                "this connection is `{}`: join with that name, or change it with setNick",
                current.display
            )));
        }
        Some(current) => current,
        None => {
            let taken = || HandlerError::new(format!("the name `{}` is taken", wanted.display));
            // Several nodes: the name is claimed in Redis first, unless this node holds it
            // (then the claim below decides, and a resume stays on this node). A name
            // taken back from another node brings the rooms the user was shown in there.
            let claimed_in_cluster = match app.cluster() {
                Some(cluster) if app.find_user(&wanted.key).is_none() => {
                    match cluster
                        .claim_name(&wanted.key, conn.id(), req.resume_token.as_deref())
                        .await
                    {
                        Ok(Claimed::Free) => Some(Vec::new()),
                        Ok(Claimed::TakenBack { rooms }) => Some(rooms),
                        Ok(Claimed::Taken) => return Err(taken()),
                        Err(e) => {
                            tracing::warn!(error = %e, "cluster: name not checked");
                            return Err(HandlerError::new(
                                "the name could not be checked across the cluster: try again",
                            )
                            .with_code(ErrorCode::Internal));
                        }
                    }
                }
                _ => None,
            };
            let Some(claim) = app.claim_name(&wanted, &conn, req.resume_token.as_deref()) else {
                if let (Some(_), Some(cluster)) = (&claimed_in_cluster, app.cluster()) {
                    cluster.release_name(&wanted.key, conn.id(), true).await;
                }
                return Err(taken());
            };
            match claim {
                Claim::Free { resume_token } => {
                    if let Some(cluster) = app.cluster() {
                        cluster
                            .set_holder(&wanted.key, conn.id(), &resume_token)
                            .await;
                    }
                    conn.state().set_identity(wanted.clone(), resume_token);
                    match claimed_in_cluster {
                        // Back from another node: shown in its rooms all along.
                        Some(rooms) if !rooms.is_empty() => conn.state().hold(rooms),
                        _ => app
                            .events()
                            .publish("userConnected", json!({ "username": wanted.display })),
                    }
                }
                Claim::Resumed {
                    resume_token,
                    stale,
                } => {
                    if let Some(cluster) = app.cluster() {
                        cluster
                            .set_holder(&wanted.key, conn.id(), &resume_token)
                            .await;
                    }
                    conn.state().set_identity(wanted.clone(), resume_token);
                    take_over(&app, &conn, &stale, &wanted).await;
                }
            }
            wanted
        }
    };
    let address = conn.handshake().peer_addr.map(|a| a.ip());
    // A room leaving memory as we enter is loaded again (see `App::rooms`).
    let mut attempts = 0;
    let (room, answer) = loop {
        let room = app.room(&req.room, address).await?;
        if app.cluster().is_some() {
            // The log up to the database before the backlog is read from it.
            crate::cluster::fill(&app, &room).await;
        }
        let log = room.log();
        // Under the log lock: no message is between numbering and broadcast, so the
        // backlog read below and the live pushes the connection gets from now on split
        // exactly.
        let newly = conn.join(&room.name)?;
        let was_empty = match room.add_member(conn.id(), &name.display) {
            Ok(was_empty) => was_empty,
            Err(Retired) => {
                if newly {
                    conn.leave(&room.name);
                }
                drop(log);
                attempts += 1;
                if attempts >= 3 {
                    return Err(HandlerError::new("the room is busy: try again"));
                }
                continue;
            }
        };
        // A room taken over from the user's stale connection: they never left.
        let resumed = conn.state().unhold(&room.name);
        if newly && !resumed {
            let _ = conn.others_in(&room.name).push::<UserJoined>(UserJoined {
                username: name.display.clone(),
                room: room.name.clone(),
            });
            if was_empty {
                app.events()
                    .publish("roomCreated", json!({ "room": room.name }));
            }
        }
        let replay = log.replay(req.since.as_ref());
        let answer = JoinResponse {
            success: true,
            message: format!("Welcome to {}!", room.name),
            users: room.member_names(),
            room: room.name.clone(),
            epoch: log.epoch().to_owned(),
            seq: log.last_seq(),
            history: replay.history,
            recovered: replay.recovered,
            resume_token: conn.state().resume_token(),
        };
        drop(log);
        break (room, answer);
    };
    let mut answer = answer;
    if let Some(cluster) = app.cluster()
        && let Some(users) = cluster.room_users(&room.name, answer.users.clone()).await
    {
        answer.users = users;
    }
    conn.state().enter(&room.name);
    if let Some(cluster) = app.cluster() {
        cluster.note_user(&conn).await;
    }
    tracing::debug!(user = %name.display, room = %room.name, recovered = ?answer.recovered, "joined");
    Ok(answer)
}

/// A resume: `conn` takes the name and the rooms of `stale`, a connection of the same
/// user that never closed (its network died). The others see no `userLeft` or
/// `userJoined`: the user's place in each room passes to the new connection, which gets
/// the room's pushes again once it re-joins (with `since`). The stale connection loses
/// its identity, then is closed with [`CLOSE_REPLACED`].
async fn take_over(app: &App, conn: &Conn<User>, stale: &Conn<User>, name: &UserName) {
    // After the stale connection's running requests (a join of its own would otherwise
    // put it back into a room after it was evicted). They finish without its peer: pushes
    // and answers are queued, never awaited.
    let _stale_changing = stale.state().changing().await;
    for room in stale.state().all_rooms() {
        typing::stop(stale, &room);
    }
    let rooms = stale.state().evict();
    for room_name in &rooms {
        match app.existing_room(room_name) {
            Some(room) => {
                let _log = room.log();
                room.replace_member(stale.id(), conn.id(), &name.display);
                stale.leave(room_name);
            }
            None => {
                stale.leave(room_name);
            }
        }
    }
    conn.state().hold(rooms);
    if let Some(cluster) = app.cluster() {
        // The stale connection's records go; the new one's follow at the end of the join.
        cluster.note_user(stale).await;
    }
    stale.close(
        CLOSE_REPLACED,
        "your name was taken back by a newer connection",
    );
    metrics::counter!("chat_sessions_resumed_total").increment(1);
    tracing::info!(user = %name.display, stale = ?stale.id(), "user resumed on a new connection");
}

/// The close code of a connection whose name a newer connection took back with its
/// resume token. Final: a client that gets it must not reconnect by itself (the user is
/// already back elsewhere).
pub const CLOSE_REPLACED: u16 = 4001;

/// `leave`: leaves a room (by default the most recently joined one).
pub async fn leave(
    conn: Conn<User>,
    State(app): State<App>,
    req: LeaveRequest,
) -> Result<LeaveResponse, HandlerError> {
    let _changing = conn.state().changing().await;
    let room = conn.state().resolve_room(req.room.as_deref())?;
    let Some(name) = conn.state().name() else {
        return Ok(LeaveResponse {
            success: false,
            room,
        });
    };
    let success = conn.state().exit(&room);
    if success {
        leave_room(&app, &conn, &room, &name.display, true).await;
        if let Some(cluster) = app.cluster() {
            cluster.note_user(&conn).await;
        }
    }
    Ok(LeaveResponse { success, room })
}

/// Takes a connection out of a room and, with `announce`, tells the others (`leave`
/// and disconnects; not when the user is already back on another node).
pub async fn leave_room(
    app: &App,
    conn: &Conn<User>,
    room_name: &str,
    display: &str,
    announce: bool,
) {
    typing::stop(conn, room_name);
    let Some(room) = app.existing_room(room_name) else {
        return;
    };
    let log = room.log();
    if let Some(now_empty) = room.remove_member(conn.id()) {
        if announce {
            let _ = conn.others_in(room_name).push::<UserLeft>(UserLeft {
                username: display.to_owned(),
                room: room_name.to_owned(),
            });
        }
        if now_empty {
            app.events()
                .publish("roomEmptied", json!({ "room": room_name }));
        }
    }
    conn.leave(room_name);
    drop(log);
    app.room_emptied(room_name);
}

/// `listRooms`: the rooms that have members (on any node).
pub async fn list_rooms(
    State(app): State<App>,
    _req: ListRoomsRequest,
) -> Result<ListRoomsResponse, HandlerError> {
    Ok(ListRoomsResponse {
        rooms: app.room_summaries_everywhere().await,
    })
}

/// `listUsers`: who is in a room (by default the most recently joined one).
pub async fn list_users(
    conn: Conn<User>,
    State(app): State<App>,
    req: ListUsersRequest,
) -> Result<ListUsersResponse, HandlerError> {
    let _using = conn.state().using().await;
    let room = conn.state().resolve_room(req.room.as_deref())?;
    let mut users = app
        .existing_room(&room)
        .map(|r| r.member_names())
        .unwrap_or_default();
    if let Some(cluster) = app.cluster()
        && let Some(all) = cluster.room_users(&room, users.clone()).await
    {
        users = all;
    }
    Ok(ListUsersResponse { room, users })
}
