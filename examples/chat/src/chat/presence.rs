//! The connection's life: the `Origin` check at the upgrade, the `welcome` push, and
//! the goodbyes when it ends.

use super::rooms::leave_room;
use super::session::Session;
use crate::app::App;
use crate::events::Welcome;
use serde_json::json;
use std::sync::Arc;
use wsx_core::server::{Conn, DisconnectReason, Handshake, Reject};

/// Before the upgrade: refuses browsers from origins not allowed (403).
pub async fn connect(handshake: Arc<Handshake>, app: App) -> Result<Session, Reject> {
    if origin_allowed(&app.config().allowed_origins, &handshake) {
        Ok(Session::default())
    } else {
        let origin = handshake.origin().unwrap_or_default();
        tracing::info!(origin, "WebSocket refused: origin not allowed");
        metrics::counter!("chat_origin_refused_total").increment(1);
        Err(Reject::forbidden(format!(
            "origin `{origin}` is not allowed"
        )))
    }
}

/// Whether a WebSocket upgrade may proceed: no `Origin` (not a browser), an origin in
/// the allow-list (`*` for any), localhost on any port, or the server's own origin
/// (`Origin` authority = `Host`).
pub fn origin_allowed(allowed: &[String], handshake: &Handshake) -> bool {
    let Some(origin) = handshake.origin() else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https") {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1" {
        return true;
    }
    handshake
        .header("host")
        .is_some_and(|h| h.eq_ignore_ascii_case(authority))
}

/// Once open: the `welcome` push.
pub async fn open(conn: Conn<Session>, app: App) {
    app.count_connection(true);
    let welcome = Welcome {
        message: "Welcome to wsx chat! Join a room to start.".into(),
        server_time: crate::now_ms(),
        rooms: app.room_summaries(),
        idle_timeout_secs: app
            .config()
            .idle_timeout()
            .map_or(0, |d| d.as_secs().max(1)),
    };
    let _ = conn.push::<Welcome>(welcome);
}

/// When it ends: `userLeft` to each of its rooms, and its name freed.
pub async fn disconnect(conn: Conn<Session>, app: App, reason: DisconnectReason) {
    app.count_connection(false);
    let Some(name) = conn.state().name() else {
        return;
    };
    for room in conn.state().rooms() {
        conn.state().exit(&room);
        leave_room(&app, &conn, &room, &name.display).await;
    }
    app.release_name(&name.key, conn.id());
    app.events().publish(
        "userDisconnected",
        json!({ "username": name.display, "reason": format!("{reason:?}") }),
    );
    tracing::debug!(user = %name.display, ?reason, "disconnected");
}

/// At graceful shutdown, after the connections closed: end the SSE streams, close the
/// database.
pub async fn shutdown(app: App) {
    app.events().close();
    app.store().close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(origin: Option<&str>, host: &str) -> Handshake {
        let mut h = Handshake::default();
        if let Some(origin) = origin {
            h.headers.insert(
                "origin",
                origin
                    .parse()
                    .unwrap_or_else(|_| http::HeaderValue::from_static("x")),
            );
        }
        h.headers.insert(
            "host",
            host.parse()
                .unwrap_or_else(|_| http::HeaderValue::from_static("x")),
        );
        h
    }

    #[test]
    fn origins() {
        let none: Vec<String> = vec![];
        assert!(origin_allowed(&none, &with(None, "chat.example:80")));
        assert!(origin_allowed(
            &none,
            &with(Some("http://localhost:5173"), "chat.example")
        ));
        assert!(origin_allowed(
            &none,
            &with(Some("http://127.0.0.1:3001"), "chat.example")
        ));
        assert!(origin_allowed(
            &none,
            &with(Some("http://[::1]:3001"), "chat.example")
        ));
        assert!(origin_allowed(
            &none,
            &with(Some("https://chat.example"), "chat.example")
        ));
        assert!(!origin_allowed(
            &none,
            &with(Some("https://evil.example"), "chat.example")
        ));
        assert!(!origin_allowed(&none, &with(Some("null"), "chat.example")));
        assert!(!origin_allowed(
            &none,
            &with(Some("http://localhost.evil.example"), "chat.example")
        ));
        let list = vec!["https://friend.example".to_owned()];
        assert!(origin_allowed(
            &list,
            &with(Some("https://friend.example"), "chat.example")
        ));
        assert!(origin_allowed(
            &["*".to_owned()],
            &with(Some("https://any.example"), "chat.example")
        ));
    }
}
