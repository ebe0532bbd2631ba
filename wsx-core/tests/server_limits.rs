//! Every limit crossed over a real socket, with the documented reaction, while other
//! connections keep being served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use wsx_core::server::{DisconnectReason, ServerConfig};

#[tokio::test]
async fn oversized_message_closes_with_1009() {
    let srv = start(ServerConfig {
        max_message_size: 1024,
        ..ServerConfig::default()
    })
    .await;
    let mut big = connect(&srv.url("")).await;
    let mut other = connect(&srv.url("")).await;
    send_text(
        &mut big,
        request("echo", "big", json!({"text": "x".repeat(2000)})),
    )
    .await;
    let close = expect_close(&mut big, Duration::from_secs(5)).await;
    assert_eq!(close.map(|c| c.0), Some(1009));
    let (v, _) = call(&mut other, "echo", "o", json!({"text": "fine"})).await;
    assert_eq!(v["p"]["text"], "fine");
    eventually(|| srv.reasons().contains(&DisconnectReason::MessageTooLarge)).await;
}

#[tokio::test]
async fn max_connections_refuses_the_upgrade_with_503() {
    let srv = start(ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    })
    .await;
    let mut a = connect(&srv.url("")).await;
    let _b = connect(&srv.url("")).await;
    match tokio_tungstenite::connect_async(srv.url("")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
    let (v, _) = call(&mut a, "echo", "a", json!({"text": "served"})).await;
    assert_eq!(v["p"]["text"], "served");
    a.close(None).await.unwrap();
    eventually(|| srv.server.connection_count() == 1).await;
    let _c = connect(&srv.url("")).await;
}

#[tokio::test]
async fn rate_limit_answers_rate_limited_then_disconnects_repeat_offenders() {
    let config = ServerConfig {
        rate_limit_per_second: Some(5),
        rate_limit_burst: 5,
        rate_limit_strikes: 10,
        ..ServerConfig::default()
    };
    let srv = start(config).await;
    let mut flood = connect(&srv.url("")).await;
    let mut calm = connect(&srv.url("")).await;
    for i in 0..40 {
        flood
            .feed(Message::Text(
                request("echo", &format!("f{i}"), json!({"text": "x"})).into(),
            ))
            .await
            .unwrap();
    }
    flood.flush().await.unwrap();
    let mut ok = 0;
    let mut limited = 0;
    let mut close = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), flood.next()).await {
        match msg {
            Ok(Message::Text(t)) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                match v["t"].as_str() {
                    Some("response_ok") => ok += 1,
                    Some("response_error") => {
                        assert_eq!(v["e"]["code"], "rate_limited");
                        limited += 1;
                    }
                    _ => {}
                }
            }
            Ok(Message::Close(Some(f))) => {
                close = Some(u16::from(f.code));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 5, "the burst is served");
    assert_eq!(
        limited, 11,
        "over-limit requests are answered until the strikes run out"
    );
    assert_eq!(close, Some(1008));
    let (v, _) = call(&mut calm, "echo", "c", json!({"text": "calm"})).await;
    assert_eq!(v["p"]["text"], "calm");
    eventually(|| srv.reasons().contains(&DisconnectReason::RateLimited)).await;
}

#[tokio::test]
async fn max_rooms_per_connection() {
    let srv = start(ServerConfig {
        max_rooms_per_connection: 2,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&srv.url("")).await;
    for (i, room) in ["a", "b"].iter().enumerate() {
        let (v, _) = call(&mut ws, "join", &format!("j{i}"), json!({"room": room})).await;
        assert_eq!(v["t"], "response_ok");
    }
    let (v, _) = call(&mut ws, "join", "j3", json!({"room": "c"})).await;
    assert_eq!(v["e"]["code"], "handler_error");
    assert_eq!(v["e"]["message"], "a connection may be in at most 2 rooms");
}

#[tokio::test]
async fn idle_connections_are_closed_with_4000() {
    let config = ServerConfig {
        idle_timeout: Some(Duration::from_millis(400)),
        ..ServerConfig::default()
    };
    let srv = start(config).await;
    let mut idle = connect(&srv.url("")).await;
    let mut busy = connect(&srv.url("")).await;
    let started = Instant::now();
    for i in 0..6 {
        let (v, _) = call(&mut busy, "echo", &format!("b{i}"), json!({"text": "tick"})).await;
        assert_eq!(v["t"], "response_ok");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let close = expect_close(&mut idle, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(close.0, 4000);
    assert!(close.1.contains("idle"), "{close:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    // the busy one sent every 150 ms and is still open
    let (v, _) = call(&mut busy, "echo", "last", json!({"text": "alive"})).await;
    assert_eq!(v["p"]["text"], "alive");
}

#[tokio::test]
async fn a_peer_that_never_answers_pings_is_dropped() {
    let config = ServerConfig {
        ping_interval: Some(Duration::from_millis(200)),
        pong_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let srv = start(config).await;
    // A client that never reads never answers pings (tungstenite answers on read).
    let _deaf = connect(&srv.url("")).await;
    // A client that reads answers them and stays.
    let mut alive = connect(&srv.url("")).await;
    let reader = tokio::spawn(async move {
        let started = Instant::now();
        let mut pings = 0;
        while started.elapsed() < Duration::from_millis(1500) {
            if let Ok(Some(Ok(Message::Ping(_)))) =
                tokio::time::timeout(Duration::from_millis(100), alive.next()).await
            {
                pings += 1;
            }
        }
        (alive, pings)
    });
    eventually(|| srv.reasons().contains(&DisconnectReason::PongTimeout)).await;
    let (mut alive, pings) = reader.await.unwrap();
    assert!(pings >= 3, "server pings every 200 ms, saw {pings}");
    let (v, _) = call(&mut alive, "echo", "a", json!({"text": "still"})).await;
    assert_eq!(v["p"]["text"], "still");
    assert_eq!(srv.server.connection_count(), 1);
}

#[tokio::test]
async fn a_consumer_that_never_reads_is_disconnected_and_the_room_keeps_flowing() {
    let config = ServerConfig {
        outbound_queue: 64,
        rate_limit_per_second: None,
        ..ServerConfig::default()
    };
    let srv = start(config).await;
    let mut sender = connect(&srv.url("")).await;
    let mut reader = connect(&srv.url("")).await;
    let mut stalled = connect(&srv.url("")).await;
    // The sender is not a member: only `reader` and `stalled` receive the pushes.
    call(&mut reader, "join", "j1", json!({"room": "flow"})).await;
    call(&mut stalled, "join", "j2", json!({"room": "flow"})).await;
    let stalled_id = srv.server.members("flow")[1];
    // The reader drains in the background, counting pushes.
    let reading = tokio::spawn(async move {
        let mut got = 0usize;
        while got < 400 {
            match tokio::time::timeout(Duration::from_secs(10), reader.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.contains("\"x\":\"said\"") => got += 1,
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        (got, reader)
    });
    // 400 pushes of 32 KiB: ~13 MB, far more than socket buffers hold for `stalled`.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..400 {
        let t = Instant::now();
        let (v, _) = call(
            &mut sender,
            "say",
            &format!("s{i}"),
            json!({"room": "flow", "text": "", "size": 32768}),
        )
        .await;
        assert_eq!(v["t"], "response_ok", "{v}");
        slowest = slowest.max(t.elapsed());
    }
    let (got, _reader) = reading.await.unwrap();
    assert_eq!(got, 400, "the reading member got every push");
    eventually(|| srv.reasons() == vec![DisconnectReason::SlowConsumer]).await;
    eventually(|| !srv.server.members("flow").contains(&stalled_id)).await;
    assert_eq!(
        srv.server.members("flow").len(),
        1,
        "the reader is still in the room"
    );
    eprintln!(
        "400 pushes in {:?}, slowest round trip {:?}",
        started.elapsed(),
        slowest
    );
    drop(stalled);
}

#[tokio::test]
async fn droppable_pushes_are_dropped_for_a_slow_consumer_instead_of_disconnecting() {
    let config = ServerConfig {
        outbound_queue: 16,
        rate_limit_per_second: None,
        ..ServerConfig::default()
    };
    let srv = start(config).await;
    let mut sender = connect(&srv.url("")).await;
    let mut stalled = connect(&srv.url("")).await;
    call(&mut stalled, "join", "b", json!({"room": "typing"})).await;
    for i in 0..400 {
        call(
            &mut sender,
            "sayDroppable",
            &format!("d{i}"),
            json!({"room": "typing", "text": "", "size": 32768}),
        )
        .await;
    }
    let conns = srv.server.connections();
    let dropped: u64 = conns.iter().map(|c| c.dropped()).sum();
    assert!(dropped > 0, "frames were dropped");
    assert_eq!(srv.server.connection_count(), 2, "nobody was disconnected");
    assert!(srv.reasons().is_empty());
    // the stalled client can still catch up and be served
    let (v, _) = call(&mut stalled, "echo", "late", json!({"text": "caught up"})).await;
    assert_eq!(v["p"]["text"], "caught up");
}

#[tokio::test]
async fn graceful_shutdown_flushes_queued_pushes_then_closes_1001() {
    let srv = start(ServerConfig::default()).await;
    let mut a = connect(&srv.url("")).await;
    let mut b = connect(&srv.url("")).await;
    call(&mut a, "join", "a", json!({"room": "r"})).await;
    call(&mut b, "join", "b", json!({"room": "r"})).await;
    for i in 0..50 {
        srv.server
            .to("r")
            .push::<SaidPush>(Said {
                room: "r".into(),
                text: format!("m{i}"),
            })
            .unwrap();
    }
    let server = srv.server.clone();
    let shutdown = tokio::spawn(async move { server.shutdown().await });
    let mut got = Vec::new();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), b.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                got.push(v["p"]["text"].as_str().unwrap().to_owned());
            }
            Some(Ok(Message::Close(f))) => {
                break f.map(|f| (u16::from(f.code), f.reason.to_string()));
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        got,
        (0..50).map(|i| format!("m{i}")).collect::<Vec<_>>(),
        "every queued push arrived first"
    );
    assert_eq!(close, Some((1001, "server shutting down".to_string())));
    shutdown.await.unwrap();
    assert!(*srv.observed().shutdown_ran.lock().unwrap());
    assert!(
        srv.reasons()
            .iter()
            .all(|r| *r == DisconnectReason::ServerShutdown),
        "{:?}",
        srv.reasons()
    );
    match tokio_tungstenite::connect_async(srv.url("")).await {
        Err(_) => {}
        Ok(_) => panic!("no new connections after shutdown"),
    }
    drop(a);
}
