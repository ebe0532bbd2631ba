//! The connection's life: the `Origin` check at the upgrade, the `welcome` push, and
//! the goodbyes when it ends.

use super::rooms::leave_room;
use super::user::User;
use crate::app::App;
use crate::cluster::Released;
use crate::events::Welcome;
use serde_json::json;
use std::sync::Arc;
use wsx_core::server::{Conn, DisconnectReason, Handshake, Reject};

/// Before the upgrade: refuses browsers from origins not allowed (403).
pub async fn connect(handshake: Arc<Handshake>, app: App) -> Result<User, Reject> {
    let allowed = app.allowed_origins();
    match handshake.origin() {
        Some(origin) if !origin_allowed(&allowed, origin) => {
            tracing::info!(origin, "WebSocket refused: origin not allowed");
            metrics::counter!("chat_origin_refused_total").increment(1);
            Err(Reject::forbidden(format!(
                "origin `{origin}` is not allowed"
            )))
        }
        _ => Ok(User::default()),
    }
}

/// Whether a browser from `origin` may open a WebSocket: only when the origin is in the
/// allow-list (or the list holds `*`). The list is explicit (the configured origins and
/// the server's own, see [`own_origins`]); nothing is taken from the request itself, so
/// a page on another site whose name was made to resolve to this server (DNS rebinding:
/// its requests carry `Host: evil.example` and `Origin: http://evil.example`) is refused.
/// A client that sends no `Origin` (not a browser) never reaches this check.
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// The origins of the server's own page, from the address it listens on: for a loopback
/// or unspecified address, `http://127.0.0.1:PORT`, `http://localhost:PORT` and
/// `http://[::1]:PORT`; for any other address, `http://ADDR:PORT` as well. Any other name
/// the page is served under (a domain, a proxy, a dev server) goes in `--allow-origin`.
pub fn own_origins(addr: std::net::SocketAddr) -> Vec<String> {
    let port = addr.port();
    let with_port = |host: &str| {
        if port == 80 {
            vec![format!("http://{host}"), format!("http://{host}:80")]
        } else {
            vec![format!("http://{host}:{port}")]
        }
    };
    let mut origins: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .flat_map(|h| with_port(h))
        .collect();
    let ip = addr.ip();
    if !ip.is_loopback() && !ip.is_unspecified() {
        let host = match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        };
        origins.extend(with_port(&host));
    }
    origins
}

/// Once open: the `welcome` push, listing the rooms with members on any node (as
/// `listRooms` does; see [`App::welcome_rooms`]).
pub async fn open(conn: Conn<User>, app: App) {
    app.count_connection(true);
    let rooms = app.welcome_rooms().await;
    let welcome = Welcome {
        message: "Welcome to wsx chat! Join a room to start.".into(),
        server_time: crate::now_ms(),
        rooms,
        idle_timeout_secs: app
            .config()
            .idle_timeout()
            .map_or(0, |d| d.as_secs().max(1)),
    };
    let _ = conn.push::<Welcome>(welcome);
}

/// When it ends: `userLeft` to each of its rooms, and its name freed. Not when a
/// graceful shutdown closed it: the user comes back (see [`crate::serve`]), and on a
/// cluster node the name and the rooms stay held for the grace window
/// ([`crate::cluster::Cluster::park`]). Nor when the user already took the name back on
/// another node.
pub async fn disconnect(conn: Conn<User>, app: App, reason: DisconnectReason) {
    app.count_connection(false);
    // After the requests still running (a message being stored, a join), so none of
    // them puts the connection back into a room after it left.
    let _changing = conn.state().changing().await;
    let Some(name) = conn.state().name() else {
        return;
    };
    if app.is_shutting_down() {
        tracing::debug!(user = %name.display, "disconnected by the shutdown; no leave announced");
        return;
    }
    // Freed here first, so a renewal running now drops what it writes for this
    // connection again (see `crate::cluster`'s keeper).
    app.release_name(&name.key, conn.id());
    let mut announce = true;
    if let Some(cluster) = app.cluster() {
        announce = cluster.release_name(&name.key, conn.id(), true).await == Released::Freed;
    }
    for room in conn.state().all_rooms() {
        conn.state().exit(&room);
        leave_room(&app, &conn, &room, &name.display, announce).await;
    }
    if announce {
        app.events().publish(
            "userDisconnected",
            json!({ "username": name.display, "reason": describe_reason(&reason) }),
        );
    }
    tracing::debug!(user = %name.display, ?reason, "disconnected");
}

/// Why a connection ended, in people's words (the SSE `userDisconnected` reason).
pub fn describe_reason(reason: &DisconnectReason) -> String {
    match reason {
        DisconnectReason::ClientClosed(_) => "left".to_owned(),
        DisconnectReason::TransportError(_) => "the connection was lost".to_owned(),
        DisconnectReason::PongTimeout => "the connection stopped answering".to_owned(),
        DisconnectReason::IdleTimeout => "inactive for too long".to_owned(),
        DisconnectReason::SlowConsumer => "too slow to read the messages".to_owned(),
        DisconnectReason::RateLimited => "sent too fast".to_owned(),
        DisconnectReason::TooManyBadFrames => "sent too many unreadable messages".to_owned(),
        DisconnectReason::MessageTooLarge => "sent a message that was too large".to_owned(),
        DisconnectReason::ServerShutdown => "the server is restarting".to_owned(),
        DisconnectReason::Closed(_, why) if !why.is_empty() => why.clone(),
        DisconnectReason::Closed(code, _) => format!("closed by the server (code {code})"),
        #[allow(unreachable_patterns)]
        _ => "disconnected".to_owned(),
    }
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

    #[test]
    fn origins() {
        let mut allowed = own_origins("127.0.0.1:3001".parse().unwrap_or_else(|_| unreachable!()));
        allowed.push("https://friend.example".to_owned());
        for ok in [
            "http://127.0.0.1:3001",
            "http://localhost:3001",
            "http://LOCALHOST:3001",
            "http://[::1]:3001",
            "https://friend.example",
        ] {
            assert!(origin_allowed(&allowed, ok), "{ok}");
        }
        for refused in [
            // Another port of the same machine is another site.
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            "https://localhost:3001",
            // Whatever name the request used for the server (DNS rebinding).
            "http://chat.example:3001",
            "https://evil.example",
            "null",
            "http://localhost.evil.example:3001",
            "https://friend.example.evil",
        ] {
            assert!(!origin_allowed(&allowed, refused), "{refused}");
        }
        assert!(origin_allowed(&["*".to_owned()], "https://any.example"));
        assert!(!origin_allowed(&[], "http://127.0.0.1:3001"));
    }

    #[test]
    fn reasons_are_in_words() {
        assert_eq!(
            describe_reason(&DisconnectReason::ClientClosed(Some(1000))),
            "left"
        );
        assert_eq!(
            describe_reason(&DisconnectReason::TransportError("Os { code: 104 }".into())),
            "the connection was lost"
        );
        assert_eq!(
            describe_reason(&DisconnectReason::Closed(4001, String::new())),
            "closed by the server (code 4001)"
        );
        for r in [
            DisconnectReason::PongTimeout,
            DisconnectReason::IdleTimeout,
            DisconnectReason::ServerShutdown,
        ] {
            let text = describe_reason(&r);
            assert!(
                !text.contains("Timeout") && !text.contains("Server"),
                "{text}"
            );
        }
    }

    #[test]
    fn own_origins_follow_the_listen_address() {
        let parse = |s: &str| s.parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(
            own_origins(parse("[::1]:4000")),
            [
                "http://127.0.0.1:4000",
                "http://localhost:4000",
                "http://[::1]:4000"
            ]
        );
        let lan = own_origins(parse("192.168.1.20:3001"));
        assert!(lan.contains(&"http://192.168.1.20:3001".to_owned()));
        assert!(
            !own_origins(parse("0.0.0.0:3001"))
                .iter()
                .any(|o| o.contains("0.0.0.0"))
        );
        assert!(own_origins(parse("127.0.0.1:80")).contains(&"http://localhost".to_owned()));
    }
}
