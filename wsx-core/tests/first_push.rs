//! Pushes made when a connection opens (a `welcome`) reach each kind of client in the
//! codec it speaks, pinned with literal frames: a client that offers no subprotocol (as
//! the TypeScript `@mdrv/wsx` client) gets them in the codec of its first frame; one that
//! negotiated gets them at once; one that never speaks gets them in the default codec
//! once the codec wait is over.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::SinkExt;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use wsx_core::server::{Conn, ServerConfig};

async fn start_welcoming(config: ServerConfig) -> Running {
    let server = builder()
        .config(config)
        .on_open(|conn: Conn<Session>, _app: App| async move {
            conn.push::<Noted>(Note {
                text: "welcome".into(),
            })
            .unwrap();
        })
        .build()
        .unwrap();
    serve(server).await
}

/// The cbor-x record frame `@mdrv/wsx` sends for `echo {text: "hi"}` (keys v, t, x, id, p).
fn cbor_records_echo() -> Vec<u8> {
    let mut f = vec![0xd9, 0xdf, 0xff, 0x87, 0x19, 0xe0, 0x00, 0x85];
    for k in ["v", "t", "x", "id", "p"] {
        f.push(0x60 | k.len() as u8);
        f.extend_from_slice(k.as_bytes());
    }
    for v in ["1.0", "request", "echo", "r1"] {
        f.push(0x60 | v.len() as u8);
        f.extend_from_slice(v.as_bytes());
    }
    // p: a record of its own shape {text}.
    f.extend_from_slice(&[0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x01, 0x81, 0x64]);
    f.extend_from_slice(b"text");
    f.extend_from_slice(&[0x62, b'h', b'i']);
    f
}

#[tokio::test]
async fn a_cbor_client_without_subprotocol_reads_the_welcome_in_cbor_records() {
    let srv = start_welcoming(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    let sent = Instant::now();
    ws.send(Message::Binary(cbor_records_echo().into()))
        .await
        .unwrap();
    let first = next_message(&mut ws).await;
    let Message::Binary(bytes) = first else {
        panic!("the welcome came as {first:?}, which a CBOR client cannot read");
    };
    assert!(
        bytes.starts_with(&[0xd9, 0xdf, 0xff]),
        "a cbor-x record: {bytes:02x?}"
    );
    let welcome = wsx_core::Codec::CborRecords.decode_value(&bytes).unwrap();
    assert_eq!(
        welcome,
        json!({"v": "1.0", "t": "send", "x": "noted", "p": {"text": "welcome"}})
    );
    let Message::Binary(bytes) = next_message(&mut ws).await else {
        panic!("the answer is not binary");
    };
    let answer = wsx_core::Codec::CborRecords.decode_value(&bytes).unwrap();
    assert_eq!(answer["id"], "r1");
    assert_eq!(answer["p"]["text"], "hi");
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "the first frame released the held push"
    );
}

#[tokio::test]
async fn a_binary_json_client_without_subprotocol_reads_the_welcome_in_binary_json() {
    let srv = start_welcoming(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    let request = request("echo", "r1", json!({"text": "hi"}));
    ws.send(Message::Binary(request.into_bytes().into()))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut ws).await,
        Message::Binary(
            br#"{"v":"1.0","t":"send","x":"noted","p":{"text":"welcome"}}"#
                .to_vec()
                .into()
        )
    );
    let Message::Binary(answer) = next_message(&mut ws).await else {
        panic!("the answer is not binary");
    };
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["id"], "r1");
}

#[tokio::test]
async fn a_negotiated_client_gets_the_welcome_at_once() {
    let srv = start_welcoming(ServerConfig {
        codec_wait: Duration::from_secs(3600),
        ..ServerConfig::default()
    })
    .await;
    let (mut ws, chosen) = connect_with_protocol(&srv.url(""), "wsx.v1.json").await;
    assert_eq!(chosen.as_deref(), Some("wsx.v1.json"));
    assert_eq!(
        next_message(&mut ws).await,
        Message::Text(r#"{"v":"1.0","t":"send","x":"noted","p":{"text":"welcome"}}"#.into())
    );
    let mut ws = connect(&srv.url("?codec=cbor")).await;
    let Message::Binary(bytes) = next_message(&mut ws).await else {
        panic!("?codec=cbor gets binary frames");
    };
    assert_eq!(
        wsx_core::Codec::CborRecords.decode_value(&bytes).unwrap()["p"]["text"],
        "welcome"
    );
}

#[tokio::test]
async fn a_silent_client_gets_the_welcome_in_the_default_codec_after_the_wait() {
    let srv = start_welcoming(ServerConfig {
        codec_wait: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    let opened = Instant::now();
    let mut ws = connect(&srv.url("")).await;
    assert_eq!(
        next_message(&mut ws).await,
        Message::Text(r#"{"v":"1.0","t":"send","x":"noted","p":{"text":"welcome"}}"#.into())
    );
    assert!(
        opened.elapsed() >= Duration::from_millis(300),
        "held for the codec wait"
    );
}
