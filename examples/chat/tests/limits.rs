//! Each safety limit crossed: idle timeout, `Origin` allow-list, message size, rate
//! limit — answered with the protocol's codes, nobody else disturbed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RawClient, TestServer};
use serde_json::json;
use std::time::Duration;
use wsx_chat::Config;

#[tokio::test]
async fn idle_connections_are_closed_with_a_reason() {
    let server = TestServer::with(Config {
        idle_timeout: Duration::from_millis(400),
        ..Config::default()
    })
    .await;
    let mut idle = server.client().await;
    assert_eq!(idle.push("welcome").await["idleTimeoutSecs"], 1);
    idle.request("join", json!({ "username": "sleepy", "room": "general" }))
        .await
        .unwrap();
    let (mut busy, _) = server.joined("busy", "general").await;
    let started = std::time::Instant::now();
    let closed = loop {
        // The busy one keeps talking and stays.
        busy.request("listRooms", json!({})).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_millis(700) {
            break idle.closed().await;
        }
    };
    assert_eq!(closed.code, Some(4000));
    assert!(closed.reason.contains("idle"), "{closed:?}");
    assert_eq!(
        busy.push("userLeft").await,
        json!({ "username": "sleepy", "room": "general" })
    );
    busy.request("sendMessage", json!({ "message": "still here" }))
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn only_allowed_origins_may_connect() {
    let config = Config {
        allowed_origins: vec!["https://friend.example".into()],
        ..Config::default()
    };
    let server = TestServer::with(config).await;
    let url = server.ws_url();
    let refused = RawClient::connect_with(&url, &[("Origin", "https://evil.example")]).await;
    assert_eq!(refused.err(), Some(403));
    let refused = RawClient::connect_with(&url, &[("Origin", "null")]).await;
    assert_eq!(refused.err(), Some(403));
    // Another port of this machine is another site, unless listed.
    for origin in ["http://localhost:5173", "http://127.0.0.1:8080"] {
        let refused = RawClient::connect_with(&url, &[("Origin", origin)]).await;
        assert_eq!(refused.err(), Some(403), "{origin}");
    }
    let port = server.addr.port();
    for origin in [
        "https://friend.example".to_owned(),
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ] {
        let mut ok = RawClient::connect_with(&url, &[("Origin", &origin)])
            .await
            .unwrap_or_else(|s| panic!("{origin}: {s}"));
        ok.push("welcome").await;
    }
    // An Origin equal to the request's Host is not enough (DNS rebinding: a page of
    // evil.example whose name now resolves to this server).
    let host = format!("evil.example:{port}");
    let forged = RawClient::connect_with(
        &url,
        &[("Origin", &format!("http://{host}")), ("Host", &host)],
    )
    .await;
    assert_eq!(forged.err(), Some(403));
    // No Origin at all: not a browser, allowed.
    server.client().await.push("welcome").await;
    server.stop().await;
}

#[tokio::test]
async fn oversized_and_overlong_messages_are_refused() {
    let server = TestServer::with(Config {
        max_message_bytes: 2048,
        ..Config::default()
    })
    .await;
    let (mut alice, _) = server.joined("alice", "general").await;
    let (mut big, _) = server.joined("big", "general").await;
    // Over the 500-character limit of a chat message: invalid_payload, the connection stays.
    let err = big
        .request("sendMessage", json!({ "message": "x".repeat(501) }))
        .await
        .unwrap_err();
    assert_eq!(
        (err["code"].as_str(), err["cause"][0]["path"].as_str()),
        (Some("invalid_payload"), Some("/message"))
    );
    // Over the frame limit: closed with 1009.
    big.send(
        "typing",
        json!({ "active": true, "room": "x".repeat(4000) }),
    )
    .await;
    let closed = big.closed().await;
    assert_eq!(closed.code, Some(1009), "{closed:?}");
    // Alice is not disturbed.
    assert_eq!(alice.push("userLeft").await["username"], "big");
    alice
        .request("sendMessage", json!({ "message": "fine" }))
        .await
        .unwrap();
    assert_eq!(alice.push("message").await["message"], "fine");
    server.stop().await;
}

#[tokio::test]
async fn a_flooding_connection_is_rate_limited_alone() {
    let server = TestServer::with(Config {
        rate_limit: 5,
        ..Config::default()
    })
    .await;
    let (mut calm, _) = server.joined("calm", "general").await;
    let (mut flood, _) = server.joined("flood", "general").await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            flood
                .start_request("sendMessage", json!({ "message": format!("spam {i}") }))
                .await,
        );
    }
    let mut limited = 0;
    let mut accepted = 0;
    for id in &ids {
        match flood.answer(id).await {
            Ok(_) => accepted += 1,
            Err(e) => {
                assert_eq!(e["code"], "rate_limited");
                limited += 1;
            }
        }
    }
    assert!(
        limited >= 15 && accepted >= 5,
        "limited {limited}, accepted {accepted}"
    );
    // The calm user sends and receives as usual, and sees only the accepted messages.
    let sent = calm
        .request("sendMessage", json!({ "message": "hello" }))
        .await
        .unwrap();
    let mut seen = 0;
    loop {
        let m = calm.push("message").await;
        if m["messageId"] == sent["messageId"] {
            break;
        }
        seen += 1;
    }
    assert_eq!(seen, accepted);
    // After a pause the flooder may talk again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    flood
        .request("sendMessage", json!({ "message": "sorry" }))
        .await
        .unwrap();
    server.stop().await;
}
