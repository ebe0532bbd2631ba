//! Hostile and unlucky peers over real sockets: amplification, peers that stop reading,
//! pipelined floods, and WebSocket protocol violations. Each case checks the server's
//! reaction and that everyone else keeps being served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use wsx_core::server::{DisconnectReason, ServerConfig};

/// A CBOR item header.
fn head(major: u8, len: usize) -> Vec<u8> {
    let m = major << 5;
    match len {
        0..=23 => vec![m | len as u8],
        24..=0xff => vec![m | 24, len as u8],
        0x100..=0xffff => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&(len as u16).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![m | 26];
            v.extend_from_slice(&(len as u32).to_be_bytes());
            v
        }
    }
}

fn text(s: &str) -> Vec<u8> {
    let mut v = head(3, s.len());
    v.extend_from_slice(s.as_bytes());
    v
}

/// The frame of issue 19: a CBOR `echo` request whose payload holds one cbor-x record
/// with an 8,150-byte key, used 1,631 times (about 16 KB on the wire; 13 MB expanded).
fn record_bomb() -> Vec<u8> {
    let key = "k".repeat(8150);
    let uses = 1631;
    let mut bomb = head(4, 1 + uses);
    bomb.extend_from_slice(&[0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x00, 0x81]);
    bomb.extend_from_slice(&text(&key));
    bomb.push(0x00);
    for _ in 0..uses {
        bomb.extend_from_slice(&[0xd9, 0xe0, 0x00, 0x81, 0x00]);
    }
    let mut frame = head(5, 5);
    for (k, v) in [
        ("v", "1.0"),
        ("t", "request"),
        ("x", "echo"),
        ("id", "bomb"),
    ] {
        frame.extend_from_slice(&text(k));
        frame.extend_from_slice(&text(v));
    }
    frame.extend_from_slice(&text("p"));
    frame.extend_from_slice(&head(5, 1));
    frame.extend_from_slice(&text("text"));
    frame.extend_from_slice(&bomb);
    frame
}

#[tokio::test]
async fn a_cbor_record_bomb_is_refused_with_a_short_error() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    let bomb = record_bomb();
    assert!(bomb.len() < 17_000, "{} bytes", bomb.len());
    ws.send(Message::Binary(bomb.into())).await.unwrap();
    let reply = match next_message(&mut ws).await {
        Message::Binary(b) => b,
        other => panic!("expected a CBOR answer, got {other:?}"),
    };
    assert!(
        reply.len() < 1024,
        "a 16 KB frame was answered with {} bytes",
        reply.len()
    );
    // The frame is refused whole (its id is not read): a `$error` push.
    let answer: serde_json::Value = ciborium::from_reader(&reply[..]).unwrap();
    assert_eq!(answer["x"], "$error", "{answer}");
    assert_eq!(answer["p"]["code"], "bad_frame", "{answer}");
    let message = answer["p"]["message"].as_str().unwrap();
    assert!(message.contains("expand"), "{message}");
    // The connection still works, in its codec.
    let mut echo = Vec::new();
    let request = json!({"v": "1.0", "t": "request", "x": "echo", "id": "after", "p": {"text": "still here"}});
    ciborium::into_writer(&request, &mut echo).unwrap();
    ws.send(Message::Binary(echo.into())).await.unwrap();
    let reply = match next_message(&mut ws).await {
        Message::Binary(b) => b,
        other => panic!("expected a CBOR answer, got {other:?}"),
    };
    let answer: serde_json::Value = ciborium::from_reader(&reply[..]).unwrap();
    assert_eq!(answer["p"]["text"], "still here", "{answer}");
}

#[tokio::test]
async fn an_invalid_payload_answer_does_not_grow_with_the_input() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    let mut p = serde_json::Map::new();
    p.insert("username".into(), json!("u".repeat(20_000)));
    p.insert("age".into(), json!("a".repeat(20_000)));
    for i in 0..100 {
        p.insert(format!("{}{i}", "z".repeat(150)), json!([1, 2, 3]));
    }
    let request = request("signup", "s1", serde_json::Value::Object(p));
    assert!(request.len() > 50_000);
    send_text(&mut ws, request).await;
    let reply = match next_message(&mut ws).await {
        Message::Text(t) => t,
        other => panic!("expected a text answer, got {other:?}"),
    };
    assert!(
        reply.len() < 4 * 1024,
        "a {} KB request was answered with {} bytes",
        50,
        reply.len()
    );
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["e"]["code"], "invalid_payload", "{v}");
    let fields = v["e"]["cause"].as_array().unwrap();
    let paths: Vec<&str> = fields.iter().filter_map(|f| f["path"].as_str()).collect();
    assert!(paths.contains(&"/username"), "{paths:?}");
    assert!(paths.contains(&"/age"), "{paths:?}");
    assert!(
        !reply.contains(&"u".repeat(100)),
        "the value is echoed: {reply}"
    );
}

/// A room member that never reads, and pushes of 32 KiB to its room until the server
/// lets it go (or `most` pushes were sent). Returns the sender and the stalled socket.
async fn push_until_dropped(srv: &Running, most: usize) -> (Ws, Ws) {
    let mut sender = connect(&srv.url("")).await;
    let mut stalled = connect(&srv.url("")).await;
    call(&mut stalled, "join", "j", json!({"room": "flow"})).await;
    for i in 0..most {
        let (v, _) = call(
            &mut sender,
            "say",
            &format!("s{i}"),
            json!({"room": "flow", "text": "", "size": 32768}),
        )
        .await;
        assert_eq!(v["t"], "response_ok", "{v}");
        if v["p"]["delivered"] == 0 {
            return (sender, stalled);
        }
    }
    panic!("the stalled member was never let go after {most} pushes");
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_closed_after_the_write_timeout() {
    let srv = start(ServerConfig {
        write_timeout: Duration::from_millis(300),
        max_queued_bytes: 512 * 1024 * 1024,
        outbound_queue: 1_000_000,
        rate_limit_per_second: None,
        ping_interval: None,
        ..ServerConfig::default()
    })
    .await;
    let (mut sender, _stalled) = push_until_dropped(&srv, 5_000).await;
    eventually(|| srv.reasons().contains(&DisconnectReason::WriteTimeout)).await;
    eventually(|| srv.server.members("flow").is_empty()).await;
    let (v, _) = call(&mut sender, "echo", "e", json!({"text": "served"})).await;
    assert_eq!(v["p"]["text"], "served");
}

#[tokio::test]
async fn the_bytes_queued_for_a_peer_are_bounded_and_it_reads_its_1008() {
    let srv = start(ServerConfig {
        max_queued_bytes: 256 * 1024,
        outbound_queue: 1_000_000,
        write_timeout: Duration::from_secs(30),
        rate_limit_per_second: None,
        ping_interval: None,
        ..ServerConfig::default()
    })
    .await;
    let (mut sender, mut stalled) = push_until_dropped(&srv, 5_000).await;
    // It reads now: everything the socket held, then the close frame.
    let close = expect_close(&mut stalled, Duration::from_secs(20)).await;
    assert_eq!(close.map(|c| c.0), Some(1008));
    eventually(|| srv.reasons().contains(&DisconnectReason::SlowConsumer)).await;
    let (v, _) = call(&mut sender, "echo", "e", json!({"text": "served"})).await;
    assert_eq!(v["p"]["text"], "served");
}

#[tokio::test]
async fn a_pipelining_flooder_receives_its_close_frame() {
    let srv = start(ServerConfig {
        rate_limit_per_second: Some(5),
        rate_limit_burst: 5,
        rate_limit_strikes: 3,
        ..ServerConfig::default()
    })
    .await;
    let (mut sink, mut stream) = connect(&srv.url("")).await.split();
    let flood = tokio::spawn(async move {
        for i in 0..5_000 {
            let frame = request("echo", &format!("f{i}"), json!({"text": "x".repeat(200)}));
            if sink.feed(Message::Text(frame.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.flush().await;
    });
    let mut close = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, stream.next()).await {
        match msg {
            Ok(Message::Close(frame)) => {
                close = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("the connection failed before its close frame: {e}"),
        }
    }
    flood.abort();
    assert_eq!(close, Some(1008));
    eventually(|| srv.reasons().contains(&DisconnectReason::RateLimited)).await;
}

/// A raw TCP connection upgraded by hand, to send frames no WebSocket library would.
async fn raw_upgrade(srv: &Running) -> TcpStream {
    let mut tcp = TcpStream::connect(srv.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        srv.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// A masked client frame with this first byte (FIN, RSV bits, opcode) and payload.
fn raw_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads server frames until a close frame; returns its code and reason.
async fn read_close(tcp: &mut TcpStream) -> (Option<u16>, String) {
    let read = async {
        loop {
            let mut h = [0u8; 2];
            tcp.read_exact(&mut h).await.unwrap();
            let len = match h[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    tcp.read_exact(&mut l).await.unwrap();
                    u16::from_be_bytes(l) as usize
                }
                127 => {
                    let mut l = [0u8; 8];
                    tcp.read_exact(&mut l).await.unwrap();
                    u64::from_be_bytes(l) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0u8; len];
            tcp.read_exact(&mut payload).await.unwrap();
            if h[0] & 0x0f == 0x8 {
                let code =
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                let reason =
                    String::from_utf8_lossy(payload.get(2..).unwrap_or_default()).into_owned();
                return (code, reason);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("no close frame within 5 s")
}

#[tokio::test]
async fn protocol_violations_close_with_1002_and_bad_utf8_with_1007() {
    let srv = start(ServerConfig::default()).await;
    let cases: [(&str, Vec<u8>, u16); 5] = [
        (
            "reserved bit set",
            raw_frame(0x80 | 0x40 | 0x1, b"{}"),
            1002,
        ),
        ("reserved data opcode", raw_frame(0x80 | 0x3, b"{}"), 1002),
        ("reserved control opcode", raw_frame(0x80 | 0xb, b""), 1002),
        ("fragmented ping", raw_frame(0x9, b"p"), 1002),
        (
            "invalid UTF-8 text",
            raw_frame(0x80 | 0x1, &[0x7b, 0xff, 0xfe, 0x7d]),
            1007,
        ),
    ];
    for (case, frame, expected) in cases {
        let mut tcp = raw_upgrade(&srv).await;
        tcp.write_all(&frame).await.unwrap();
        let (code, reason) = read_close(&mut tcp).await;
        assert_eq!(code, Some(expected), "{case}: reason {reason:?}");
        assert!(!reason.is_empty(), "{case}: the close frame says why");
    }
    eventually(|| {
        let seen = srv.reasons();
        seen.iter()
            .filter(|r| matches!(r, DisconnectReason::ProtocolError(_)))
            .count()
            == 4
            && seen
                .iter()
                .any(|r| matches!(r, DisconnectReason::InvalidData(_)))
    })
    .await;
    // Everyone else is still served.
    let mut ws = connect(&srv.url("")).await;
    let (v, _) = call(&mut ws, "echo", "e", json!({"text": "fine"})).await;
    assert_eq!(v["p"]["text"], "fine");
}
