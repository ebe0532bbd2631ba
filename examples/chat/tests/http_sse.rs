//! The HTTP side, through a real HTTP client: every REST route, `/metrics`, and the SSE
//! stream with `Last-Event-ID`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestServer;
use common::sse::{SseEvent, SseReader};
use serde_json::{Value, json};
use std::time::Duration;
use wsx_chat::Config;

async fn get(url: &str) -> (u16, Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    assert!(
        resp.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{url} answers JSON"
    );
    (status, resp.json().await.unwrap())
}

fn seqs(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn rest_routes_answer_json() {
    let server = TestServer::start().await;
    assert_eq!(
        get(&server.http("/api/rooms")).await,
        (200, json!({ "rooms": [] }))
    );
    let (mut alice, _) = server.joined("alice", "general").await;
    for i in 1..=3 {
        alice
            .request("sendMessage", json!({ "message": format!("m{i}") }))
            .await
            .unwrap();
    }
    let (_bob, _) = server.joined("bob", "general").await;

    let (status, rooms) = get(&server.http("/api/rooms")).await;
    assert_eq!(status, 200);
    assert_eq!(
        rooms,
        json!({ "rooms": [{ "name": "general", "members": 2, "messages": 3 }] })
    );

    let (status, page) = get(&server.http("/api/room/general/history?limit=2")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (seqs(&page["messages"]), page["hasMore"].as_bool()),
        (vec![2, 3], Some(true))
    );
    assert_eq!(page["room"], "general");
    assert!(page["epoch"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(page["messages"][0]["username"], "alice");
    let (_, older) = get(&server.http("/api/room/general/history?before=2")).await;
    assert_eq!(
        (seqs(&older["messages"]), older["hasMore"].as_bool()),
        (vec![1], Some(false))
    );
    let (_, newer) = get(&server.http("/api/room/general/history?after=1")).await;
    assert_eq!(seqs(&newer["messages"]), [2, 3]);
    let (status, bad) = get(&server.http("/api/room/general/history?limit=0")).await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("bad_request")));
    let (status, bad) = get(&server.http("/api/room/general/history?limit=lots")).await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("bad_request")));

    let (status, users) = get(&server.http("/api/room/general/users")).await;
    assert_eq!(
        (status, users),
        (200, json!({ "room": "general", "users": ["alice", "bob"] }))
    );

    for path in ["/api/room/nowhere/history", "/api/room/nowhere/users"] {
        let (status, err) = get(&server.http(path)).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(err["error"], "not_found");
        assert!(err["message"].as_str().unwrap().contains("nowhere"));
    }

    let (status, stats) = get(&server.http("/api/stats")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            stats["connections"].as_u64(),
            stats["rooms"].as_u64(),
            stats["messages"].as_u64()
        ),
        (Some(2), Some(1), Some(3))
    );
    assert!(stats["uptimeSecs"].is_u64());

    let metrics = reqwest::get(server.http("/metrics")).await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(text.contains("chat_messages_total"), "{text}");
    assert!(text.contains("wsx_connections"), "{text}");
    // Every metric says what it is, the framework's too.
    for name in [
        "chat_messages_total",
        "wsx_connections",
        "wsx_frames_in_total",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
    }
    // The chat times its handlers (`ServerConfig::handler_timing`): the messages above
    // were timed (the recorder is the process's, shared with this file's other tests).
    assert!(
        text.contains("wsx_handler_seconds_count{event=\"sendMessage\"} "),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn sse_streams_system_events_and_replays_after_last_event_id() {
    let server = TestServer::with(Config {
        stats_interval: Duration::from_millis(200),
        ..Config::default()
    })
    .await;
    let url = server.http("/events");
    let mut sse = SseReader::open(&url, None).await;

    let (carol, _) = server.joined("carol", "sse").await;
    let e = sse.next_system().await;
    assert_eq!(
        (e.event.as_str(), &e.data),
        ("userConnected", &json!({ "username": "carol" }))
    );
    let e2 = sse.next_system().await;
    assert_eq!(
        (e2.event.as_str(), &e2.data),
        ("roomCreated", &json!({ "room": "sse" }))
    );
    assert!(e2.id > e.id);
    // Stats come by themselves.
    let stats = loop {
        let e = sse.next().await;
        if e.event == "stats" {
            break e;
        }
    };
    assert_eq!(stats.data["rooms"], 1);
    let last_seen = stats.id;
    drop(sse);

    // While the SSE client is away: carol leaves, dave comes.
    carol.close().await;
    let (_dave, _) = server.joined("dave", "other").await;
    // Back with Last-Event-ID: everything after it, in order, then live.
    let mut sse = SseReader::open(&url, Some(last_seen)).await;
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|e: &&SseEvent| e.event != "stats")
        .count()
        < 4
    {
        seen.push(sse.next().await);
    }
    let ids: Vec<u64> = seen.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (last_seen + 1..=last_seen + ids.len() as u64).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    let kinds: Vec<&str> = seen
        .iter()
        .filter(|e| e.event != "stats")
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "roomEmptied",
            "userDisconnected",
            "userConnected",
            "roomCreated"
        ]
    );
    // Live events continue after the replayed ones.
    let (_erin, _) = server.joined("erin", "other").await;
    let e = sse.next_system().await;
    assert_eq!(
        (e.event.as_str(), e.data["username"].as_str()),
        ("userConnected", Some("erin"))
    );
    assert!(e.id > *ids.last().unwrap());

    // The same through the query parameter, for clients that cannot set headers.
    let mut by_query = SseReader::open(&format!("{url}?lastEventId={}", last_seen), None).await;
    assert_eq!(by_query.next().await.id, last_seen + 1);
    server.stop().await;
}

/// Issue 18.4: `/events` said nothing for 5 s after connecting, and a disconnect's
/// reason was Rust debug text (`ClientClosed(Some(1000))`).
#[tokio::test]
async fn sse_sends_the_stats_at_once_and_reasons_in_words() {
    let server = TestServer::with(Config {
        stats_interval: Duration::from_secs(3600),
        ..Config::default()
    })
    .await;
    let (_alice, _) = server.joined("alice", "general").await;
    let mut sse = SseReader::open(&server.http("/events"), None).await;
    let (id, event, data) = sse.next_raw().await;
    assert_eq!((id, event.as_str()), (None, "stats"), "{data}");
    assert_eq!(
        (data["users"].as_u64(), data["rooms"].as_u64()),
        (Some(1), Some(1))
    );

    let (carol, _) = server.joined("carol", "general").await;
    carol.close().await;
    let gone = loop {
        let e = sse.next_system().await;
        if e.event == "userDisconnected" {
            break e;
        }
    };
    assert_eq!(gone.data, json!({ "username": "carol", "reason": "left" }));
    server.stop().await;
}
