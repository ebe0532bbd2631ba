//! The committed `bindings/` match the chat events, and the seed event types speak the
//! seed chat's wire format.
//!
//! Regenerate the bindings with `WSX_BLESS=1 cargo test -p wsx-chat --test bindings`.
#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::json;
use std::path::PathBuf;
use wsx_chat::{ChatEvents, ChatMessage, Join, JoinRequest, MessageKind, SendMessage, UserJoined};
use wsx_core::event::{Event, EventKind, EventSet, RequestEvent};
use wsx_core::export;
use wsx_core::validate;

/// `bindings/` at the repository root.
fn bindings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bindings")
}

#[test]
fn committed_bindings_are_up_to_date() {
    let dir = bindings_dir();
    if std::env::var_os("WSX_BLESS").is_some_and(|v| v != "0") {
        let written = export::write_bindings::<ChatEvents>(&dir).unwrap();
        eprintln!("wrote {} files into {}", written.len(), dir.display());
        return;
    }
    if let Err(e) = export::check_bindings::<ChatEvents>(&dir) {
        panic!(
            "{e}\n\nThe committed bindings/ differ from what the chat events generate.\n\
             Regenerate them with:\n\n    WSX_BLESS=1 cargo test -p wsx-chat --test bindings\n\n\
             then check them with `scripts/check-bindings.sh` and commit bindings/."
        );
    }
}

#[test]
fn join_request_serializes_like_the_seed_chat() {
    let join = JoinRequest {
        username: "alice".into(),
        room: "general".into(),
        since: None,
        resume_token: None,
    };
    assert_eq!(
        serde_json::to_string(&join).unwrap(),
        r#"{"username":"alice","room":"general"}"#
    );
    let msg = ChatMessage {
        message_id: "m1".into(),
        username: "alice".into(),
        message: "hi".into(),
        timestamp: 1_737_100_000_123,
        room: "general".into(),
        seq: 7,
        kind: MessageKind::Message,
    };
    // The seed fields first, with the seed's names; the additions after them.
    assert_eq!(
        serde_json::to_string(&msg).unwrap(),
        r#"{"messageId":"m1","username":"alice","message":"hi","timestamp":1737100000123,"room":"general","seq":7,"kind":"message"}"#
    );
    // A seed client's request (no `since`) is valid as it is.
    let seed: JoinRequest =
        validate::decode(json!({"username": "alice", "room": "general"})).unwrap();
    assert_eq!(seed, join);
}

#[test]
fn default_room_is_applied() {
    let join: JoinRequest = validate::decode(json!({ "username": "alice" })).unwrap();
    assert_eq!(
        join,
        JoinRequest {
            username: "alice".into(),
            room: "general".into(),
            since: None,
            resume_token: None,
        }
    );
}

#[test]
fn invalid_payloads_name_every_field() {
    let err = validate::decode::<JoinRequest>(json!({ "username": "", "room": 5 })).unwrap_err();
    let mut fields: Vec<(String, String)> = err
        .fields()
        .iter()
        .map(|f| (f.path.clone(), f.message.clone()))
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            ("/room".to_owned(), "must be a string".to_owned()),
            (
                "/username".to_owned(),
                "must be at least 1 character".to_owned()
            ),
        ]
    );
    let err = validate::decode::<JoinRequest>(json!({ "username": "x".repeat(51) })).unwrap_err();
    assert_eq!(err.fields()[0].message, "must be at most 50 characters");
    let err = validate::decode::<JoinRequest>(json!({})).unwrap_err();
    assert_eq!(err.fields()[0].path, "/username");
    assert_eq!(err.fields()[0].message, "is required");
}

#[test]
fn events_have_their_seed_names_and_kinds() {
    assert_eq!(<Join as Event>::NAME, "join");
    assert_eq!(<SendMessage as Event>::NAME, "sendMessage");
    assert_eq!(<UserJoined as Event>::NAME, "userJoined");
    assert_eq!(<UserJoined as Event>::KIND, EventKind::Push);
    fn response_of<E: RequestEvent>() -> &'static str {
        std::any::type_name::<E::Response>()
    }
    assert!(response_of::<Join>().ends_with("JoinResponse"));
    let names: Vec<&str> = ChatEvents::events().iter().map(|e| e.name).collect();
    // The seed chat's events come first; later additions follow them.
    assert_eq!(
        names[..5],
        ["join", "sendMessage", "message", "userJoined", "userLeft"]
    );
    assert_eq!(
        ChatEvents::event("join").and_then(|e| e.response_ts),
        Some("JoinResponse")
    );
}
