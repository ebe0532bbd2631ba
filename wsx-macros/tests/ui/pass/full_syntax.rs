//! Every construct of `define_events!`, checked through the generated code and exports.
#![deny(warnings, missing_docs, unreachable_pub)]

/// Types defined outside the macro, used as payloads.
pub mod external {
    use wsx_core::__private::{schemars, serde, ts_rs};

    /// A lookup query.
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
    pub struct Query {
        /// What to look up.
        pub key: String,
    }

    /// A lookup answer.
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
    pub struct Answer {
        /// The value found.
        pub value: Option<String>,
    }
}

wsx_core::define_events! {
    /// Everything at once.
    pub events Everything;

    /// Join a room.
    request join: JoinRequest {
        /// The name others see.
        username: String.min(1).max(50),
        room: String.default("general"),
        /// How many messages of history to send.
        history: u32.min(0).max(100).default(20),
        volume: f64.min(0.0).max(1.0).default(0.5),
        notify: bool.default(true),
        status: Status.default(Online),
        tags: Vec<String>.min(0).max(3),
        color: Option<String>.one_of("red", "green", "blue"),
        code: Option<String>.pattern("^[A-Z]{3}$").min(3).max(3),
        theme: String.one_of("dark", "light").default("dark"),
        offset: i64.min(-10).max(10),
        #[rename = "where"]
        location: Option<Point>,
        extra: std::collections::HashMap<String, u64>,
        big: Option<u64>,
    } -> JoinResponse { success: bool, users: Vec<String> }

    /// Look something up.
    request lookup: external::Query -> external::Answer;

    #[wsx(name = "chat.typing")]
    send typing: Typing { room: Option<String> }

    /// A raw query forwarded as-is.
    push forwarded: external::Query;

    push userJoined: UserJoined { username: String }

    /// A point in the unit square.
    struct Point {
        x: f64.min(0.0).max(1.0),
        /// Vertical.
        #[rename = "yy"]
        y: f64,
    }

    /// Presence.
    enum Status {
        /// Here.
        Online,
        Away,
        #[rename = "do-not-disturb"]
        Busy,
    }
}

use wsx_core::event::{Event, EventKind, EventSet, PushEvent, RequestEvent, SendEvent};

fn is_request<E: RequestEvent>() {}
fn is_send<E: SendEvent>() {}
fn is_push<E: PushEvent>() {}

fn main() {
    is_request::<Join>();
    is_request::<Lookup>();
    is_send::<Typing>();
    is_push::<Forwarded>();
    is_push::<UserJoined>();
    assert_eq!(<Typing as Event>::NAME, "chat.typing");
    assert_eq!(<Forwarded as Event>::KIND, EventKind::Push);
    let _: <Lookup as RequestEvent>::Response = external::Answer { value: None };

    // Defaults and wire names.
    let join: JoinRequest = wsx_core::validate::decode(
        serde_json::json!({ "username": "ann", "extra": {}, "tags": [], "offset": 0 }),
    )
    .unwrap();
    assert_eq!(join.room, "general");
    assert_eq!(join.history, 20);
    assert_eq!(join.volume, 0.5);
    assert!(join.notify);
    assert_eq!(join.status, Status::Online);
    assert_eq!(join.theme, "dark");
    let json = serde_json::to_value(&join).unwrap();
    assert_eq!(json["status"], "online");
    assert!(json.get("color").is_none());
    assert_eq!(
        serde_json::to_value(Status::Busy).unwrap(),
        "do-not-disturb"
    );
    let p = Point { x: 0.5, y: 2.0 };
    assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"x":0.5,"yy":2.0}"#);

    // Constraints reach the JSON Schema and the validator.
    let bad = serde_json::json!({
        "username": "", "tags": ["a", "b", "c", "d"], "color": "pink", "code": "abc",
        "theme": "blue", "offset": 11, "volume": 2, "extra": {}, "where": { "x": 3, "yy": 0 }
    });
    let err = wsx_core::validate::decode::<JoinRequest>(bad).unwrap_err();
    let mut paths: Vec<&str> = err.fields().iter().map(|f| f.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/code",
            "/color",
            "/offset",
            "/tags",
            "/theme",
            "/username",
            "/volume",
            // The optional struct is opened up: the failing field inside it is named.
            "/where/x"
        ]
    );

    // Registry and exports.
    assert_eq!(Everything::NAME, "Everything");
    assert_eq!(Everything::DOCS, "Everything at once.");
    let names: Vec<&str> = Everything::events().iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        ["join", "lookup", "chat.typing", "forwarded", "userJoined"]
    );
    let index = wsx_core::export::typescript_index::<Everything>();
    assert!(
        index.contains("lookup: { request: Query; response: Answer };"),
        "{index}"
    );
    assert!(index.contains("\"chat.typing\": Typing;"), "{index}");
    let schema = wsx_core::export::json_schema_document::<Everything>();
    let props = &schema["$defs"]["JoinRequest"]["properties"];
    assert_eq!(props["username"]["description"], "The name others see.");
    assert_eq!(props["room"]["default"], "general");
    assert_eq!(props["tags"]["maxItems"], 3);
    assert_eq!(props["history"]["maximum"], 100);
    assert!(schema["$defs"]["Point"].is_object());

    let dir = std::env::temp_dir().join(format!("wsx-ui-full-syntax-{}", std::process::id()));
    let files = <Everything as EventSet>::export_typescript_types(&dir).unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert!(files.contains(&"Point.ts".to_owned()), "{files:?}");
    let join_ts = read("JoinRequest.ts");
    for expected in [
        "room?: string",
        "color?: \"red\" | \"green\" | \"blue\"",
        "theme?: \"dark\" | \"light\"",
        "big?: number",
        "offset: number",
        "where?: Point",
        "{ [key in string]: number }",
        "The name others see.",
    ] {
        assert!(
            join_ts.contains(expected),
            "missing `{expected}` in:\n{join_ts}"
        );
    }
    assert!(read("Status.ts").contains("\"online\" | \"away\" | \"do-not-disturb\""));
    std::fs::remove_dir_all(&dir).unwrap();
}
