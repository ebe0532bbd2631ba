//! The dispatcher over real sockets: requests, errors, codecs, hooks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::SinkExt;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use wsx_core::codec::Codec;
use wsx_core::server::{BuildError, DisconnectReason, HandlerError, ServerBuilder, ServerConfig};

#[tokio::test]
async fn request_answered_with_id_and_clock_echoed() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    send_text(
        &mut ws,
        request("echo", "1737100000000-k3j9x2m1q", json!({"text": "hi"})),
    )
    .await;
    match next_message(&mut ws).await {
        Message::Text(t) => assert_eq!(
            t.as_str(),
            r#"{"v":"1.0","t":"response_ok","x":"echo","id":"1737100000000-k3j9x2m1q","w":1737100000000,"p":{"text":"hi"}}"#
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn json_in_binary_frames_is_answered_in_binary() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    ws.send(Message::Binary(
        request("echo", "b1", json!({"text": "bin"}))
            .into_bytes()
            .into(),
    ))
    .await
    .unwrap();
    match next_message(&mut ws).await {
        Message::Binary(b) => {
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(v["p"]["text"], "bin");
            assert_eq!(v["t"], "response_ok");
        }
        other => panic!("expected binary, got {other:?}"),
    }
}

async fn cbor_round_trip(codec: Codec, protocol: Option<&str>) {
    let srv = start(ServerConfig::default()).await;
    let mut ws = match protocol {
        Some(p) => {
            let (ws, chosen) = connect_with_protocol(&srv.url(""), p).await;
            assert_eq!(chosen.as_deref(), Some(p));
            ws
        }
        None => connect(&srv.url("")).await,
    };
    let w = serde_json::Number::from(1737100000000u64);
    let payload = json!({"text": "cbor ✓"});
    let frame = wsx_core::protocol::OutFrame::request("echo", "c1", &w, &payload);
    let bytes = codec.encode(&frame).unwrap().bytes;
    ws.send(Message::Binary(bytes)).await.unwrap();
    let reply = match next_message(&mut ws).await {
        Message::Binary(b) => b,
        other => panic!("expected binary, got {other:?}"),
    };
    assert_eq!(
        Codec::sniff(false, &reply),
        codec,
        "answered in the form the client used"
    );
    let decoded = codec.decode(&reply).unwrap();
    assert_eq!(decoded.id.as_deref(), Some("c1"));
    assert_eq!(decoded.w, Some(w));
    assert_eq!(decoded.p.unwrap()["text"], "cbor ✓");
}

#[tokio::test]
async fn cbor_maps_round_trip() {
    cbor_round_trip(Codec::CborMaps, None).await;
}

#[tokio::test]
async fn cbor_records_round_trip_with_subprotocol() {
    cbor_round_trip(Codec::CborRecords, Some("wsx.v1.cbor")).await;
}

#[tokio::test]
async fn invalid_payload_lists_every_field() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    let (v, _) = call(
        &mut ws,
        "signup",
        "s1",
        json!({"username": "far too long", "age": 7}),
    )
    .await;
    assert_eq!(v["t"], "response_error");
    assert_eq!(v["e"]["code"], "invalid_payload");
    let mut cause: Vec<(String, String)> = v["e"]["cause"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_owned(),
                c["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    cause.sort();
    assert_eq!(
        cause,
        vec![
            ("/age".to_owned(), "must be at least 13".to_owned()),
            (
                "/username".to_owned(),
                "must be at most 5 characters".to_owned()
            ),
        ]
    );
    let (v, _) = call(&mut ws, "signup", "s2", json!({"age": 20})).await;
    assert_eq!(
        v["e"]["cause"],
        json!([{"path": "/username", "message": "is required"}])
    );
}

#[tokio::test]
async fn unknown_event_and_wrong_kind() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    let (v, _) = call(&mut ws, "nope", "u1", json!({})).await;
    assert_eq!(v["e"]["code"], "unknown_event");
    assert_eq!(v["e"]["message"], "no handler for event `nope`");
    let (v, _) = call(&mut ws, "jot", "u2", json!({"text": "x"})).await;
    assert_eq!(v["e"]["code"], "unknown_event");
    assert!(
        v["e"]["message"].as_str().unwrap().contains("one-way"),
        "{v}"
    );
    // an unknown one-way event has no id: it is answered with a `$error` push
    send_text(
        &mut ws,
        json!({"v": "1.0", "t": "send", "x": "nope", "p": {}}).to_string(),
    )
    .await;
    let v = next_json(&mut ws).await;
    assert_eq!(
        (v["x"].as_str(), v["p"]["code"].as_str()),
        (Some("$error"), Some("unknown_event"))
    );
}

#[tokio::test]
async fn handler_error_and_unsupported_version() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    let (v, _) = call(&mut ws, "fail", "f1", json!({})).await;
    assert_eq!(
        v["e"],
        json!({"message": "the room is full", "code": "handler_error"})
    );
    send_text(
        &mut ws,
        json!({"v": "2.0", "t": "request", "x": "echo", "id": "v2", "p": {"text": "a"}})
            .to_string(),
    )
    .await;
    let v = next_json(&mut ws).await;
    assert_eq!(
        (v["id"].as_str(), v["e"]["code"].as_str()),
        (Some("v2"), Some("unsupported_version"))
    );
}

#[tokio::test]
async fn malformed_frames_get_error_push_then_policy_close() {
    let config = ServerConfig {
        max_bad_frames: 3,
        ..ServerConfig::default()
    };
    let srv = start(config).await;
    let mut ws = connect(&srv.url("")).await;
    send_text(&mut ws, "{not json".into()).await;
    let v = next_json(&mut ws).await;
    assert_eq!(v["t"], "send");
    assert_eq!(v["x"], "$error");
    assert_eq!(v["p"]["code"], "bad_frame");
    assert!(
        v["p"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed json"),
        "{v}"
    );
    // still serving
    let (v, _) = call(&mut ws, "echo", "ok", json!({"text": "still here"})).await;
    assert_eq!(v["p"]["text"], "still here");
    for _ in 0..3 {
        send_text(&mut ws, "[]".into()).await;
    }
    let close = expect_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(close.map(|c| c.0), Some(1008));
}

#[tokio::test]
async fn panicking_handler_answers_internal_and_everyone_keeps_going() {
    let srv = start(ServerConfig::default()).await;
    let mut a = connect(&srv.url("")).await;
    let mut b = connect(&srv.url("")).await;
    let (v, _) = call(&mut a, "boom", "p1", json!({})).await;
    assert_eq!(v["e"]["code"], "internal");
    let (v, _) = call(&mut a, "echo", "p2", json!({"text": "a alive"})).await;
    assert_eq!(v["p"]["text"], "a alive");
    // Twice in a row: the connection's kept handler box (`spare.rs`) held the future
    // that panicked, and is used again.
    for id in ["p4", "p5"] {
        let (v, _) = call(&mut a, "boom", id, json!({})).await;
        assert_eq!(v["e"]["code"], "internal");
    }
    let (v, _) = call(&mut a, "echo", "p6", json!({"text": "a still alive"})).await;
    assert_eq!(v["p"]["text"], "a still alive");
    let (v, _) = call(&mut b, "echo", "p3", json!({"text": "b alive"})).await;
    assert_eq!(v["p"]["text"], "b alive");
}

#[tokio::test]
async fn one_way_events_run_and_invalid_ones_are_reported() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    send_text(
        &mut ws,
        json!({"v": "1.0", "t": "send", "x": "jot", "p": {"text": "note"}}).to_string(),
    )
    .await;
    let v = next_json(&mut ws).await;
    assert_eq!(
        (v["x"].as_str(), v["p"]["text"].as_str()),
        (Some("noted"), Some("note"))
    );
    send_text(
        &mut ws,
        json!({"v": "1.0", "t": "send", "x": "jot", "p": {"text": 5}}).to_string(),
    )
    .await;
    let v = next_json(&mut ws).await;
    assert_eq!(v["x"], "$error");
    assert_eq!(v["p"]["code"], "invalid_payload");
    assert_eq!(v["p"]["cause"][0]["path"], "/text");
}

#[tokio::test]
async fn connect_hook_rejects_and_handshake_reaches_handlers() {
    let srv = start(ServerConfig::default()).await;
    let err = tokio_tungstenite::connect_async(srv.url("?token=bad"))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 401),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
    let mut ws = connect(&srv.url("?token=s3cret")).await;
    let (v, _) = call(&mut ws, "join", "j", json!({"room": "lobby"})).await;
    assert_eq!(v["t"], "response_ok");
    let (v, _) = call(&mut ws, "who", "w", json!({})).await;
    assert_eq!(v["p"]["token"], "s3cret");
    assert_eq!(v["p"]["rooms"], json!(["lobby"]));
}

#[tokio::test]
async fn duplicate_handler_is_a_build_error() {
    let result = ServerBuilder::<(), ()>::new(())
        .on_request::<Echo, _, _>(|r: EchoReq| async move {
            Ok::<_, HandlerError>(EchoResp { text: r.text })
        })
        .on_request::<Echo, _, _>(|r: EchoReq| async move {
            Ok::<_, HandlerError>(EchoResp { text: r.text })
        })
        .build();
    assert_eq!(result.unwrap_err(), BuildError::DuplicateHandler("echo"));
}

/// An event whose payload schema the validator cannot compile. Written by hand:
/// `define_events!` refuses such a `.pattern` at compile time.
mod broken {
    use wsx_core::event::{Event, EventKind, RequestEvent};

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    pub(crate) struct LookupReq {
        #[schemars(extend("pattern" = "([unclosed"))]
        pub(crate) code: String,
    }

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    pub(crate) struct LookupResp {
        pub(crate) ok: bool,
    }

    pub(crate) struct Lookup;

    impl Event for Lookup {
        const NAME: &'static str = "lookup";
        const KIND: EventKind = EventKind::Request;
        type Payload = LookupReq;
    }

    impl RequestEvent for Lookup {
        type Response = LookupResp;
    }
}

#[test]
fn a_schema_that_does_not_compile_is_a_build_error() {
    let result = ServerBuilder::<(), ()>::new(())
        .on_request::<broken::Lookup, _, _>(|_: broken::LookupReq| async move {
            Ok::<_, HandlerError>(broken::LookupResp { ok: true })
        })
        .build();
    match result {
        Err(BuildError::Schema { event, message }) => {
            assert_eq!(event, "lookup");
            assert!(message.contains("does not compile"), "{message}");
        }
        other => panic!("expected a schema error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn disconnect_hook_sees_reason_and_rooms_then_rooms_are_left() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    call(&mut ws, "join", "j1", json!({"room": "a"})).await;
    call(&mut ws, "join", "j2", json!({"room": "b"})).await;
    assert_eq!(srv.server.rooms().len(), 2);
    ws.close(None).await.unwrap();
    eventually(|| srv.server.connection_count() == 0).await;
    let seen = srv.observed().disconnects.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(
        matches!(seen[0].1, DisconnectReason::ClientClosed(_)),
        "{:?}",
        seen[0].1
    );
    assert_eq!(seen[0].2, vec!["a".to_string(), "b".to_string()]);
    assert!(
        srv.server.rooms().is_empty(),
        "rooms are left on disconnect"
    );
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    for i in 0..200 {
        ws.feed(Message::Text(
            request("echo", &format!("r{i}"), json!({"text": i.to_string()})).into(),
        ))
        .await
        .unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..200 {
        let v = next_json(&mut ws).await;
        assert_eq!(v["id"], format!("r{i}"));
        assert_eq!(v["p"]["text"], i.to_string());
    }
}

#[tokio::test]
async fn test_client_drives_the_dispatcher_without_a_socket() {
    let server = builder().build().unwrap();
    let mut a = server.test_client().await.unwrap();
    let mut b = server.test_client().await.unwrap();
    a.request::<Join>(JoinReq { room: "r".into() })
        .await
        .unwrap();
    b.request::<Join>(JoinReq { room: "r".into() })
        .await
        .unwrap();
    let resp = a
        .request::<Say>(SayReq {
            room: "r".into(),
            text: "hello".into(),
            size: None,
        })
        .await
        .unwrap();
    assert_eq!(resp.delivered, 2);
    assert_eq!(b.next_push_of::<SaidPush>().await.unwrap().text, "hello");
    let err = a
        .request::<Signup>(SignupReq {
            username: String::new(),
            age: 200,
        })
        .await
        .unwrap_err();
    assert_eq!(err.fields().len(), 2);
}

#[tokio::test]
async fn one_broadcast_reaches_each_member_in_its_own_codec() {
    let srv = start(ServerConfig::default()).await;
    let w = serde_json::Number::from(1u64);
    let mut members = Vec::new();
    for (i, codec) in [
        Codec::JsonText,
        Codec::JsonBinary,
        Codec::CborMaps,
        Codec::CborRecords,
    ]
    .into_iter()
    .enumerate()
    {
        let mut ws = connect(&srv.url("")).await;
        let id = format!("j{i}");
        let payload = json!({"room": "mixed"});
        let bytes = codec
            .encode(&wsx_core::protocol::OutFrame::request(
                "join", &id, &w, &payload,
            ))
            .unwrap();
        let msg = if bytes.text {
            Message::Text(String::from_utf8(bytes.bytes.to_vec()).unwrap().into())
        } else {
            Message::Binary(bytes.bytes)
        };
        ws.send(msg).await.unwrap();
        next_message(&mut ws).await; // the join answer
        members.push((codec, ws));
    }
    let delivered = srv
        .server
        .to("mixed")
        .push::<SaidPush>(Said {
            room: "mixed".into(),
            text: "to all".into(),
        })
        .unwrap();
    assert_eq!(delivered, 4);
    for (codec, ws) in &mut members {
        let (text, bytes) = match next_message(ws).await {
            Message::Text(t) => (true, bytes::Bytes::from(t.as_str().to_owned())),
            Message::Binary(b) => (false, b),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            Codec::sniff(text, &bytes),
            *codec,
            "each member gets its own form"
        );
        let frame = codec.decode(&bytes).unwrap();
        assert_eq!(frame.x, "said");
        assert_eq!(frame.p.unwrap()["text"], "to all");
    }
}

/// The direct scan takes a payload that ends the frame as it is; a frame where it does
/// not (a member after it, or no JSON at all) must still be read the owned way.
#[tokio::test]
async fn payloads_before_other_members_or_not_json_are_read_the_owned_way() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    send_text(
        &mut ws,
        r#"{"v":"1.0","t":"request","x":"echo","p":{"text":"first"},"id":"p1","w":5}"#.into(),
    )
    .await;
    let v = next_json(&mut ws).await;
    assert_eq!(
        (&v["t"], &v["id"], &v["w"], &v["p"]["text"]),
        (
            &json!("response_ok"),
            &json!("p1"),
            &json!(5),
            &json!("first")
        ),
        "{v}"
    );
    let tail_not_json = r#"{"v":"1.0","t":"request","x":"echo","id":"p2","p":{"text":"x"} , }"#;
    assert_eq!(refusal_code(&mut ws, tail_not_json).await, "bad_frame");
    send_text(
        &mut ws,
        r#"{"v":"1.0","t":"request","x":"echo","id":"p3","p":{"text":"y"}}"#.into(),
    )
    .await;
    let v = next_json(&mut ws).await;
    assert_eq!(
        (&v["id"], &v["p"]["text"]),
        (&json!("p3"), &json!("y")),
        "{v}"
    );
    // No handler decodes an unknown event's payload: a frame that is not JSON is still
    // refused as such, and one that is gets `unknown_event` on its id.
    let unknown_not_json = r#"{"v":"1.0","t":"request","x":"nosuch","id":"p4","p":{"a":}}"#;
    assert_eq!(refusal_code(&mut ws, unknown_not_json).await, "bad_frame");
    send_text(
        &mut ws,
        r#"{"v":"1.0","t":"request","x":"nosuch","p":{"a":1},"id":"p5"}"#.into(),
    )
    .await;
    let v = next_json(&mut ws).await;
    assert_eq!(
        (&v["id"], &v["e"]["code"]),
        (&json!("p5"), &json!("unknown_event")),
        "{v}"
    );
}

/// Sends `text` and returns the code of the refusal that answers it: a `response_error`
/// on its id, or a `$error` push when the server could not read one.
async fn refusal_code(ws: &mut Ws, text: &str) -> String {
    send_text(ws, text.to_owned()).await;
    let v = next_json(ws).await;
    let code = if v["t"] == "response_error" {
        &v["e"]["code"]
    } else {
        &v["p"]["code"]
    };
    code.as_str()
        .unwrap_or_else(|| panic!("no error code in {v}"))
        .to_owned()
}

/// A payload no `serde_json::Value` holds makes the frame malformed whatever would have
/// become of it: a handler's event, an unknown event, the wrong kind, a response, a bad
/// envelope. The read leaves the payload to the handler's decode, so each of these paths
/// must check it before acting.
#[tokio::test]
async fn a_payload_no_value_holds_is_a_malformed_frame_on_every_path() {
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    let cases = [
        (
            r#"{"v":"1.0","t":"request","x":"echo","id":"m1","p":{"text":"a","zz":1e999}}"#,
            "number out of range",
        ),
        (
            r#"{"v":"1.0","t":"request","x":"nosuch","id":"m2","p":{"zz":1e999}}"#,
            "number out of range",
        ),
        (
            r#"{"v":"1.0","t":"request","x":"jot","id":"m3","p":{"zz":1e999}}"#,
            "number out of range",
        ),
        (
            r#"{"v":"1.0","t":"send","x":"jot","p":{"text":"\ud800"}}"#,
            "hex escape",
        ),
        (
            r#"{"v":"1.0","t":"response_ok","x":"echo","id":"m5","p":{"zz":1e999}}"#,
            "number out of range",
        ),
        (
            r#"{"v":"2.0","t":"request","x":"echo","id":"m6","p":{"zz":1e999}}"#,
            "number out of range",
        ),
        (
            r#"{"t":"request","v":"1.0","x":"echo","id":"m7","p":{"text":"a","zz":-1e999}}"#,
            "number out of range",
        ),
        // Delimited as one value by the clients' layout, but not JSON.
        (
            r#"{"v":"1.0","t":"request","x":"echo","id":"m8","p":{"text" "a"}}"#,
            "expected `:`",
        ),
        (
            r#"{"v":"1.0","t":"request","x":"nosuch","id":"m9","p":[1}"#,
            "malformed json message",
        ),
    ];
    for (text, why) in cases {
        send_text(&mut ws, text.to_owned()).await;
        let v = next_json(&mut ws).await;
        assert_eq!(
            (&v["x"], &v["p"]["code"]),
            (&json!("$error"), &json!("bad_frame")),
            "{text}: {v}"
        );
        let message = v["p"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{text}: {v}");
    }
    // Still served, in the clients' layout and in another.
    for (text, echoed) in [
        (
            r#"{"v":"1.0","t":"request","x":"echo","id":"ok1","p":{"text":"a","zz":1e300}}"#,
            "a",
        ),
        (
            r#"{"id":"ok2","t":"request","v":"1.0","x":"echo","p":{"text":"a"}}"#,
            "a",
        ),
        // The clients' layout up to the payload, then a member after it.
        (
            r#"{"v":"1.0","t":"request","x":"echo","id":"ok3","p":{"text":"a"},"zz":[1]}"#,
            "a",
        ),
        // Brackets and an escaped quote inside a string do not end the payload.
        (
            r#"{"v":"1.0","t":"request","x":"echo","id":"ok4","p":{"text":"a}\"]"}}"#,
            "a}\"]",
        ),
    ] {
        send_text(&mut ws, text.to_owned()).await;
        let v = next_json(&mut ws).await;
        assert_eq!(
            (&v["t"], &v["p"]["text"]),
            (&json!("response_ok"), &json!(echoed)),
            "{text}: {v}"
        );
    }
}
