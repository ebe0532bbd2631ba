//! The typed check `define_events!` generates (`Event::known_valid`) lets the server skip
//! the JSON Schema validator. It must never vouch for a payload the validator refuses:
//! these tests decode arbitrary payloads both ways and compare.
#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use wsx_core::event::Event;
use wsx_core::{typed, validate};

/// A type defined outside the macro, with a constraint of its own.
mod external {
    use wsx_core::__private::{schemars, serde, ts_rs};

    #[derive(
        Debug,
        Clone,
        PartialEq,
        serde::Serialize,
        serde::Deserialize,
        schemars::JsonSchema,
        ts_rs::TS,
    )]
    #[serde(crate = "wsx_core::__private::serde")]
    #[schemars(crate = "wsx_core::__private::schemars")]
    #[ts(crate = "wsx_core::__private::ts_rs")]
    pub struct When {
        #[schemars(range(max = 10))]
        pub secs: u64,
    }
}

wsx_core::define_events! {
    pub events Checked;

    struct Point { x: i64.min(-5).max(5), y: Option<f64>.min(0.5).max(2.5) }

    enum Mood { Happy, Sad }

    request everything: EverythingRequest {
        name: String.min(2).max(4),
        room: String.default("lobby").pattern("^[a-z]+$"),
        color: Option<String>.one_of("red", "green"),
        count: u32.min(1).max(10).default(3),
        big: Option<i64>.max(9007199254740993),
        low: Option<i64>.min(-4294967296),
        ratio: Option<f64>.min(0.0).max(1.0),
        tags: Vec<String>.min(1).max(3),
        points: Vec<Point>.max(4),
        by_name: Option<HashMap<String, Point>>,
        mood: Option<Mood>,
        flag: Option<bool>,
    } -> EverythingResponse { ok: bool }

    send small: SmallSend { level: f32.min(0.0).max(1.0) }

    send plain: PlainSend { text: String, n: u8 }

    request outside: OutsideRequest { when: external::When } -> OutsideResponse { ok: bool }

    request wide: WideRequest {
        huge: Option<u128>,
        scale: Option<f64>.max(9007199254740992.0),
    } -> WideResponse { ok: bool }
}

/// The chat's requests and one-way events (examples/chat/src/events.rs), with their
/// constraints; the responses are cut down, as the server does not decode them.
mod chat {
    wsx_core::define_events! {
        pub events Chat;

        request join: JoinRequest {
            username: String.min(1).max(50),
            room: String.default("general").min(1).max(32).pattern("^[A-Za-z0-9][A-Za-z0-9_-]*$"),
            since: Option<RoomPosition>,
        } -> JoinResponse { success: bool }

        request sendMessage: SendMessageRequest {
            message: String.min(1).max(500),
            room: Option<String>,
            kind: Option<MessageKind>,
        } -> SendMessageResponse { seq: u64 }

        request leave: LeaveRequest { room: Option<String> } -> LeaveResponse { success: bool }

        request listRooms: ListRoomsRequest {} -> ListRoomsResponse { rooms: Vec<String> }

        request history: HistoryRequest {
            room: Option<String>,
            before: Option<u64>,
            after: Option<u64>,
            limit: u32.min(1).max(100).default(50),
        } -> HistoryResponse { has_more: bool }

        request setNick: SetNickRequest { username: String.min(1).max(50) } -> SetNickResponse { username: String }

        request sendPrivate: SendPrivateRequest {
            to: String.min(1).max(50),
            message: String.min(1).max(500),
        } -> SendPrivateResponse { timestamp: u64 }

        send typing: TypingRequest { room: Option<String>, active: bool }

        struct RoomPosition { epoch: String, seq: u64 }

        enum MessageKind { Message, Action }
    }
}

/// Decodes `payload` both ways; panics if the typed check vouches for a payload the
/// validator refuses, or if the two decodings differ. Returns whether it vouched.
fn agree<E: Event>(payload: &Value) -> bool
where
    E::Payload: PartialEq + std::fmt::Debug,
{
    agree_text::<E>(&payload.to_string())
}

/// [`agree`] for JSON text, read as the server reads it: the fast path
/// (`typed::decode_vouched`) or, when it does not vouch, the text parsed into a `Value`
/// and validated.
fn agree_text<E: Event>(text: &str) -> bool
where
    E::Payload: PartialEq + std::fmt::Debug,
{
    let Some(typed) = typed::decode_vouched::<E>(text) else {
        return false;
    };
    match full_path::<E>(text) {
        Ok(checked) => assert_eq!(checked, typed, "both ways decode {text} alike"),
        Err(e) => panic!("the typed check vouched for {text}, the validator refused: {e}"),
    }
    true
}

/// What the server answers without the fast path: the text as a `Value`, validated, then
/// decoded.
fn full_path<E: Event>(text: &str) -> Result<E::Payload, String> {
    let value = serde_json::from_str::<Value>(text).map_err(|e| e.to_string())?;
    validate::decode::<E::Payload>(value).map_err(|e| format!("{:?}", e.fields()))
}

/// The fast path and the validator give one answer: both accept (the same value) or both
/// refuse. For events whose every field the check decides.
fn one_answer<E: Event>(text: &str)
where
    E::Payload: PartialEq + std::fmt::Debug,
{
    match (typed::decode_vouched::<E>(text), full_path::<E>(text)) {
        (Some(typed), Ok(checked)) => assert_eq!(typed, checked, "{text}"),
        (None, Err(_)) => {}
        (Some(_), Err(e)) => panic!("the fast path took {text}, the validator refused: {e}"),
        (None, Ok(_)) => panic!("the fast path refused {text}, the validator took it"),
    }
}

fn valid() -> Value {
    json!({
        "name": "ann",
        "room": "abc",
        "color": "red",
        "count": 10,
        "big": 9007199254740991i64,
        "ratio": 1.0,
        "tags": ["a"],
        "points": [{ "x": -5, "y": 2.5 }, { "x": 5 }],
        "byName": { "p": { "x": 0, "y": null } },
        "mood": "happy",
        "flag": true
    })
}

#[test]
fn the_check_vouches_for_valid_payloads() {
    const { assert!(Everything::TYPED_CHECK && PlainSend::TYPED_CHECK) };
    assert!(agree::<Everything>(&valid()));
    assert!(agree::<Everything>(
        &json!({ "name": "ab", "tags": ["x", "y", "z"], "points": [] })
    ));
    assert!(agree::<PlainSend>(&json!({ "text": "", "n": 255 })));
}

#[test]
fn the_check_refuses_each_broken_constraint() {
    let broken = [
        ("/name", json!("a")),
        ("/name", json!("abcde")),
        ("/room", json!("Abc")),
        ("/color", json!("blue")),
        ("/count", json!(11)),
        ("/count", json!(0)),
        ("/ratio", json!(1.5)),
        ("/tags", json!([])),
        ("/tags", json!(["a", "b", "c", "d"])),
        ("/points", json!([{ "x": 6 }])),
        ("/points", json!([{ "x": 0, "y": 3.0 }])),
        ("/byName", json!({ "p": { "x": -6 } })),
    ];
    for (pointer, bad) in broken {
        let mut payload = valid();
        payload[&pointer[1..]] = bad.clone();
        assert!(
            !agree::<Everything>(&payload),
            "{pointer} = {bad} must not be vouched for"
        );
        let err = validate::decode::<<Everything as Event>::Payload>(payload).unwrap_err();
        assert!(
            err.fields().iter().any(|f| f.path.starts_with(pointer)),
            "the validator names {pointer}: {err:?}"
        );
    }
}

#[test]
fn characters_not_bytes_and_integers_beyond_f64_go_to_the_validator() {
    let mut payload = valid();
    payload["name"] = json!("éééé");
    assert!(
        agree::<Everything>(&payload),
        "four characters, eight bytes"
    );
    payload["name"] = json!("éé");
    assert!(agree::<Everything>(&payload), "two characters, four bytes");
    payload["name"] = json!("é");
    assert!(
        !agree::<Everything>(&payload),
        "one character in two bytes is below the minimum of two"
    );
    payload["name"] = json!("ééééé");
    assert!(!agree::<Everything>(&payload), "five characters, ten bytes");
    payload["name"] = json!("éééé");
    payload["big"] = json!(9007199254740993i64);
    assert!(
        !agree::<Everything>(&payload),
        "not exact in an f64: not vouched for"
    );
    assert!(validate::decode::<<Everything as Event>::Payload>(payload).is_ok());
}

#[test]
fn bounds_beyond_32_bits_reach_the_schema() {
    // An unsuffixed literal in schemars' `extend` was an i32: these wrapped to 1 and 0.
    let schema = wsx_core::__private::schemars::schema_for!(<Everything as Event>::Payload);
    let schema = schema.as_value();
    assert_eq!(
        schema["properties"]["big"]["maximum"],
        json!(9007199254740993u64)
    );
    assert_eq!(
        schema["properties"]["low"]["minimum"],
        json!(-4294967296i64)
    );
    let mut payload = valid();
    payload["low"] = json!(-4294967297i64);
    assert!(!agree::<Everything>(&payload));
    payload["low"] = json!(-4294967296i64);
    assert!(agree::<Everything>(&payload));
}

#[test]
fn what_cannot_be_decided_is_left_to_the_validator() {
    // An f32 with bounds: rounding to f32 could cross a bound.
    const { assert!(!SmallSend::TYPED_CHECK) };
    // A type defined elsewhere: its schema is not known to the macro.
    const { assert!(!Outside::TYPED_CHECK) };
    let late = json!({ "when": { "secs": 11 } });
    assert!(!Outside::known_valid(
        &serde_json::from_value(late.clone()).unwrap()
    ));
    assert!(validate::decode::<<Outside as Event>::Payload>(late).is_err());
}

fn small_string() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("")),
        Just(json!("a")),
        Just(json!("ab")),
        Just(json!("abcd")),
        Just(json!("abcde")),
        Just(json!("Ab")),
        Just(json!("red")),
        Just(json!("green")),
        Just(json!("éé")),
        "[a-zA-Z0-9é ]{0,6}".prop_map(Value::from),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-12i64..12).prop_map(Value::from),
        Just(json!(9007199254740992u64)),
        Just(json!(9007199254740993u64)),
        Just(json!(-9007199254740993i64)),
        Just(json!(u64::MAX)),
        (-3.0f64..3.0).prop_map(Value::from),
        Just(json!(0.5)),
        Just(json!(2.5)),
        Just(json!(1.0)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => small_string(),
        3 => number(),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(json!("happy")),
    ]
}

fn point() -> impl Strategy<Value = Value> {
    (number(), proptest::option::of(leaf())).prop_map(|(x, y)| match y {
        Some(y) => json!({ "x": x, "y": y }),
        None => json!({ "x": x }),
    })
}

fn everything() -> impl Strategy<Value = Value> {
    let fields = (
        proptest::option::of(small_string()),
        proptest::option::of(small_string()),
        proptest::option::of(leaf()),
        proptest::option::of(number()),
        proptest::option::of(number()),
        proptest::option::of(number()),
        proptest::option::of(proptest::collection::vec(small_string(), 0..5)),
        proptest::option::of(proptest::collection::vec(point(), 0..6)),
        proptest::option::of(proptest::collection::hash_map("[a-c]", point(), 0..3)),
        proptest::option::of(leaf()),
    );
    fields.prop_map(
        |(name, room, color, count, big, ratio, tags, points, by_name, mood)| {
            let mut map = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    map.insert(k.into(), v);
                }
            };
            put("name", name);
            put("room", room);
            put("color", color);
            put("count", count);
            put("big", big);
            put("ratio", ratio);
            put("tags", tags.map(Value::from));
            put("points", points.map(Value::from));
            put(
                "byName",
                by_name.map(|m| {
                    Value::Object(
                        m.into_iter()
                            .collect::<HashMap<_, _>>()
                            .into_iter()
                            .collect(),
                    )
                }),
            );
            put("mood", mood);
            Value::Object(map)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_check_never_vouches_for_what_the_validator_refuses(payload in everything()) {
        agree::<Everything>(&payload);
    }

    #[test]
    fn plain_payloads_agree(text in proptest::option::of(small_string()), n in proptest::option::of(number())) {
        let mut map = serde_json::Map::new();
        if let Some(t) = text { map.insert("text".into(), t); }
        if let Some(n) = n { map.insert("n".into(), n); }
        agree::<PlainSend>(&Value::Object(map));
    }
}

// ----- issue 19, item 6: what serde's derive reads and the schema does not -----

#[test]
fn an_array_is_not_a_struct() {
    // The fuzz finding: serde's derive reads a struct from an array, by position.
    let text = r#"["text", null, "action"]"#;
    assert!(serde_json::from_str::<chat::SendMessageRequest>(text).is_ok());
    assert!(typed::decode_vouched::<chat::SendMessage>(text).is_none());
    let refused = validate::decode::<chat::SendMessageRequest>(serde_json::from_str(text).unwrap())
        .unwrap_err();
    assert_eq!(refused.fields()[0].path, "");
    assert_eq!(refused.fields()[0].message, "must be an object");
    // Nested structs too, and a struct without fields.
    assert!(!agree_text::<chat::Join>(
        r#"{"username":"bob","since":["e",1]}"#
    ));
    assert!(full_path::<chat::Join>(r#"{"username":"bob","since":["e",1]}"#).is_err());
    assert!(!agree_text::<chat::ListRooms>("[]"));
    assert!(full_path::<chat::ListRooms>("[]").is_err());
}

#[test]
fn an_enum_is_a_string() {
    // serde reads a unit variant from `{"action": null}` too; the schema says string.
    let text = r#"{"message":"hi","kind":{"action":null}}"#;
    assert!(serde_json::from_str::<chat::SendMessageRequest>(text).is_ok());
    assert!(!agree_text::<chat::SendMessage>(text));
    assert!(full_path::<chat::SendMessage>(text).is_err());
    assert!(agree_text::<chat::SendMessage>(
        r#"{"message":"hi","kind":"action"}"#
    ));
}

#[test]
fn unknown_fields_are_allowed_but_read_like_the_validator_reads_them() {
    // The schema allows any other field (no `additionalProperties`), as serde does.
    let schema = wsx_core::__private::schemars::schema_for!(chat::JoinRequest);
    assert_eq!(schema.as_value().get("additionalProperties"), None);
    assert_eq!(schema.as_value()["type"], "object");
    assert!(agree_text::<chat::Join>(
        r#"{"username":"bob","zz":[1,{"a":null},-2.5e3,"\u00e9"]}"#
    ));
    // The fuzz finding: a number out of range in an unknown field passed serde's skip,
    // and the validator's input (a `Value`) refuses it. So do a lone surrogate and a
    // nesting deeper than serde_json's limit.
    let deep = format!(
        r#"{{"username":"bob","zz":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    for text in [
        r#"{"username":"bob","zz":1e999}"#,
        r#"{"username":"bob","zz":[-1e400]}"#,
        r#"{"username":"bob","zz":{"k":"\udc00"}}"#,
        deep.as_str(),
    ] {
        assert!(
            serde_json::from_str::<chat::JoinRequest>(text).is_ok(),
            "serde skips {text}"
        );
        assert!(!agree_text::<chat::Join>(text), "{text}");
        assert!(full_path::<chat::Join>(text).is_err(), "{text}");
    }
}

#[test]
fn wide_numbers_go_to_the_validator() {
    // Beyond 64 bits the validator's input holds an f64, which a `u128` refuses.
    let text = r#"{"huge":18446744073709551616}"#;
    assert!(serde_json::from_str::<WideRequest>(text).is_ok());
    assert!(!agree_text::<Wide>(text));
    assert!(full_path::<Wide>(text).is_err());
    assert!(agree_text::<Wide>(r#"{"huge":18446744073709551615}"#));
    // An integer literal beyond 2^53 is compared exactly by the validator: here it is
    // above the bound, though it rounds to the bound as an f64.
    let text = r#"{"scale":9007199254740993}"#;
    assert!(!agree_text::<Wide>(text));
    assert!(full_path::<Wide>(text).is_err());
    assert!(agree_text::<Wide>(r#"{"scale":4503599627370496.5}"#));
}

mod common;

type Stored = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A server with the chat's `join` and `sendMessage`, on 127.0.0.1:0; `sendMessage`
/// stores each message it accepts.
async fn chat_server(stored: Stored) -> std::net::SocketAddr {
    use wsx_core::server::{HandlerError, ServerBuilder, State};
    let server = ServerBuilder::<Stored, ()>::new(stored)
        .on_request::<chat::Join, _, _>(|req: chat::JoinRequest| async move {
            Ok::<_, HandlerError>(chat::JoinResponse {
                success: !req.username.is_empty(),
            })
        })
        .on_request::<chat::SendMessage, _, _>(
            |State(stored): State<Stored>, req: chat::SendMessageRequest| async move {
                stored.lock().unwrap().push(req.message);
                Ok::<_, HandlerError>(chat::SendMessageResponse { seq: 1 })
            },
        )
        .build()
        .unwrap();
    let app = axum::Router::new().route("/ws", server.route());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

#[tokio::test]
async fn over_a_socket_the_fast_path_takes_only_what_the_schema_takes() {
    let stored = Stored::default();
    let addr = chat_server(stored.clone()).await;
    let mut ws = common::connect(&format!("ws://{addr}/ws")).await;
    let frame = |x: &str, id: &str, p: &str| {
        format!(r#"{{"v":"1.0","t":"request","x":"{x}","id":"{id}","p":{p}}}"#)
    };
    // Both findings, as literal frames.
    common::send_text(
        &mut ws,
        frame("sendMessage", "a", r#"["text",null,"action"]"#),
    )
    .await;
    let v = common::next_json(&mut ws).await;
    assert_eq!(v["t"], "response_error", "{v}");
    assert_eq!(v["id"], "a");
    assert_eq!(v["e"]["code"], "invalid_payload");
    assert_eq!(
        v["e"]["cause"],
        json!([{ "path": "", "message": "must be an object" }])
    );
    // A number no `Value` holds makes the frame itself malformed (it was answered
    // `response_ok` when the fast path skipped it).
    common::send_text(
        &mut ws,
        frame("join", "b", r#"{"username":"bob","zz":1e999}"#),
    )
    .await;
    let v = common::next_json(&mut ws).await;
    assert_eq!(v["x"], "$error", "{v}");
    assert_eq!(v["p"]["code"], "bad_frame");
    assert!(
        v["p"]["message"]
            .as_str()
            .unwrap()
            .contains("number out of range"),
        "{v}"
    );
    // The connection keeps serving, and a valid message still takes the fast path.
    common::send_text(
        &mut ws,
        frame("sendMessage", "c", r#"{"message":"hi","zz":1e9}"#),
    )
    .await;
    let v = common::next_json(&mut ws).await;
    assert_eq!(v["t"], "response_ok", "{v}");
    assert_eq!(v["id"], "c");
    assert_eq!(*stored.lock().unwrap(), vec!["hi".to_owned()]);
}

// ----- the fast path against the validator, on arbitrary JSON -----

/// Field names of the chat's requests, and some unknown ones.
const KEYS: &[&str] = &[
    "username", "room", "since", "epoch", "seq", "message", "kind", "before", "after", "limit",
    "to", "active", "zz", "Room",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z]{1,3}",
    ]
}

fn any_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..120).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        proptest::sample::select(vec![
            json!(0),
            json!(1),
            json!(50),
            json!(100),
            json!(101),
            json!(-1),
            json!(1.0),
            json!(50.0),
            json!(0.5),
            json!(-0.0),
            json!(9007199254740993u64),
            json!(u64::MAX),
            json!(i64::MIN),
        ]),
    ]
}

fn any_string() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::sample::select(vec![
            "", "a", "bob", "general", "Room-1", "-room", "room!", "message", "action", "Action",
            "é", "\u{0}",
        ])
        .prop_map(Value::from),
        "[a-zA-Z0-9_ é!-]{0,8}".prop_map(Value::from),
        (1usize..3, 30usize..34).prop_map(|(c, n)| Value::from("é".repeat(n * c))),
        (499usize..502).prop_map(|n| Value::from("x".repeat(n))),
    ]
}

/// Any JSON value, with objects keyed mostly by the chat's field names.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        3 => any_number(),
        3 => any_string(),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A payload: mostly an object of the chat's fields, sometimes any value.
fn payload() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => any_json(),
        4 => proptest::collection::btree_map(key(), any_json(), 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

/// Where an arbitrary value is spliced into a payload's text, the way no `Value` writes
/// it: numbers out of range, integers wider than 64 bits, lone surrogates, duplicate keys,
/// deep nesting.
fn raw_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "1e999",
            "-1e400",
            "1e-400",
            "18446744073709551616",
            "-9223372036854775809",
            "9007199254740993",
            "1.0",
            "1E2",
            "-0",
            r#""\ud800""#,
            r#""\udc00\ud800""#,
            r#""\u00e9""#,
            "[]",
            "{}",
            "null",
        ])
        .prop_map(str::to_owned),
        (120usize..140).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        any_json().prop_map(|v| v.to_string()),
    ]
}

fn each_chat_request(text: &str) {
    one_answer::<chat::Join>(text);
    one_answer::<chat::SendMessage>(text);
    one_answer::<chat::Leave>(text);
    one_answer::<chat::ListRooms>(text);
    one_answer::<chat::History>(text);
    one_answer::<chat::SetNick>(text);
    one_answer::<chat::SendPrivate>(text);
    one_answer::<chat::TypingRequest>(text);
}

fn each_chat_request_agrees(text: &str) {
    agree_text::<chat::Join>(text);
    agree_text::<chat::SendMessage>(text);
    agree_text::<chat::Leave>(text);
    agree_text::<chat::ListRooms>(text);
    agree_text::<chat::History>(text);
    agree_text::<chat::SetNick>(text);
    agree_text::<chat::SendPrivate>(text);
    agree_text::<chat::TypingRequest>(text);
}

#[test]
fn every_chat_request_gets_a_typed_check() {
    const {
        assert!(
            chat::Join::TYPED_CHECK
                && chat::SendMessage::TYPED_CHECK
                && chat::Leave::TYPED_CHECK
                && chat::ListRooms::TYPED_CHECK
                && chat::History::TYPED_CHECK
                && chat::SetNick::TYPED_CHECK
                && chat::SendPrivate::TYPED_CHECK
                && chat::TypingRequest::TYPED_CHECK
        )
    };
    one_answer::<chat::Join>(r#"{"username":"bob","since":{"epoch":"e","seq":3}}"#);
    assert!(agree_text::<chat::Join>(
        r#"{"username":"bob","since":{"epoch":"e","seq":3}}"#
    ));
    assert!(agree_text::<chat::History>(r#"{"limit":100,"before":7}"#));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// For every chat request, on any JSON value: the fast path takes it exactly when the
    /// validator does, and both read the same value.
    #[test]
    fn the_fast_path_and_the_validator_give_one_answer(value in payload()) {
        each_chat_request(&value.to_string());
    }

    /// JSON text no `Value` writes: every such piece the validator refuses, the fast path
    /// refuses too (duplicate keys may only be refused by the fast path: serde's derive
    /// refuses a repeated field, the validator sees the last one).
    #[test]
    fn spliced_text_is_never_taken_when_the_validator_refuses_it(
        value in proptest::collection::btree_map(key(), any_json(), 0..5),
        at in key(),
        piece in raw_piece(),
        repeat in any::<bool>(),
    ) {
        let mut text = Value::Object(value.into_iter().filter(|(k, _)| *k != at).collect())
            .to_string();
        text.pop();
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(&format!("{}:{piece}", Value::from(at.clone())));
        if repeat {
            text.push_str(&format!(",{}:{piece}", Value::from(at)));
        }
        text.push('}');
        each_chat_request_agrees(&text);
        if !repeat {
            each_chat_request(&text);
        }
    }
}
