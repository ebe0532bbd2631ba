//! The REST API beside the WebSocket, on the same port: JSON in, JSON out.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /api/rooms` | `{ rooms: [{ name, members, messages }] }`: rooms with members |
//! | `GET /api/room/{name}/history?limit=&before=&after=` | `{ room, epoch, messages, hasMore }`: the latest `limit` (default 50, at most 100) messages with `after < seq < before`, oldest first |
//! | `GET /api/room/{name}/users` | `{ room, users }` |
//! | `GET /api/stats` | `{ connections, users, rooms, messages, uptimeSecs }` |
//!
//! On a cluster node every answer is the whole cluster's: the rooms and members of every
//! node, the history from the shared database, the cluster's counts.
//!
//! An unknown room is `404 { "error": "not_found", "message": … }`; a bad query is
//! `400 { "error": "bad_request", … }`.

use crate::app::App;
use crate::store::HistoryRange;
use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

/// The `/api` routes.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/rooms", get(rooms))
        .route("/api/room/{name}/history", get(history))
        .route("/api/room/{name}/users", get(users))
        .route("/api/stats", get(stats))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// An error answer with a JSON body.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

fn unknown_room(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no room named `{name}`"),
    )
}

async fn rooms(State(app): State<App>) -> Json<serde_json::Value> {
    Json(json!({ "rooms": app.room_summaries_everywhere().await }))
}

/// The query of `GET /api/room/{name}/history`.
#[derive(Debug, Deserialize)]
struct HistoryQuery {
    limit: Option<u32>,
    before: Option<u64>,
    after: Option<u64>,
}

async fn history(
    State(app): State<App>,
    Path(name): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "limit must be between 1 and 100",
        );
    }
    let range = HistoryRange {
        before: query.before,
        after: query.after,
        limit,
    };
    match app.store().history(&name, range).await {
        Ok(Some(page)) => Json(json!({
            "room": name,
            "epoch": page.epoch,
            "messages": page.messages,
            "hasMore": page.has_more,
        }))
        .into_response(),
        Ok(None) => unknown_room(&name),
        Err(e) => {
            tracing::error!(room = %name, error = %e, "history read failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the history could not be read",
            )
        }
    }
}

async fn users(State(app): State<App>, Path(name): Path<String>) -> Response {
    let mut users = match app.existing_room(&name) {
        Some(room) => room.member_names(),
        None => match app.store().room_exists(&name).await {
            Ok(true) => Vec::new(),
            Ok(false) => return unknown_room(&name),
            Err(e) => {
                tracing::error!(room = %name, error = %e, "room lookup failed");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the room could not be read",
                );
            }
        },
    };
    if let Some(cluster) = app.cluster()
        && let Some(all) = cluster.room_users(&name, users.clone()).await
    {
        users = all;
    }
    Json(json!({ "room": name, "users": users })).into_response()
}

async fn stats(State(app): State<App>) -> Json<serde_json::Value> {
    Json(app.stats_now().await)
}
