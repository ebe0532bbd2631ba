//! The typed check `define_events!` generates (`Event::known_valid`) lets the server skip
//! the JSON Schema validator. It must never vouch for a payload the validator refuses:
//! these tests decode arbitrary payloads both ways and compare.
#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use wsx_core::event::Event;
use wsx_core::validate;

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
}

/// Decodes `payload` both ways; panics if the typed check vouches for a payload the
/// validator refuses, or if the two decodings differ. Returns whether it vouched.
fn agree<E: Event>(payload: &Value) -> bool
where
    E::Payload: PartialEq + std::fmt::Debug,
{
    let text = payload.to_string();
    let Ok(typed) = serde_json::from_str::<E::Payload>(&text) else {
        return false;
    };
    if !E::known_valid(&typed) {
        return false;
    }
    match validate::decode::<E::Payload>(payload.clone()) {
        Ok(checked) => assert_eq!(checked, typed, "both ways decode {text} alike"),
        Err(e) => panic!("the typed check vouched for {text}, the validator refused: {e:?}"),
    }
    true
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
