//! Tests of the two records writers: the direct writer ([`records_write`]) writes what the
//! tree writer ([`records::encode_tree`]) writes, for arbitrary JSON values and typed
//! values, and takes its fast path for them; what it refuses, [`records::encode`] hands
//! to the tree writer, with the tree writer's bytes or error.

use super::records::{self, RECORD_SLOTS};
use super::records_write;
use crate::protocol::OutFrame;
use proptest::prelude::*;
use serde::Serialize;
use serde::ser::{Error as _, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value, json};
use std::cell::Cell;
use std::collections::BTreeMap;

/// The tree writer's bytes, or its error's message.
fn tree<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    records::encode_tree(value, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The direct writer's bytes, if it takes the fast path.
fn direct<T: Serialize + ?Sized>(value: &T) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    records_write::write(value, &mut out).ok().map(|()| out)
}

/// What `records::encode` writes after a prefix (which it must keep), or its error.
fn encoded<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = b"prefix".to_vec();
    records::encode(value, &mut out).map_err(|e| e.to_string())?;
    assert_eq!(out.get(..6), Some(&b"prefix"[..]));
    Ok(out.split_off(6))
}

/// Taken by the fast path, with the tree writer's bytes, and so by `encode`.
fn assert_fast<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let expected = tree(value).unwrap();
    assert_eq!(direct(value), Some(expected.clone()), "direct writer");
    assert_eq!(encoded(value), Ok(expected.clone()), "records::encode");
    expected
}

/// Refused by the direct writer; `encode` writes the tree writer's bytes (or error).
fn assert_refused<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    assert_eq!(direct(value), None, "the direct writer must refuse");
    let expected = tree(value);
    assert_eq!(encoded(value), expected);
    expected
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- JSON values ---------------------------------------------------------------------------

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        // Around the 2^32 and 2^53 boundaries where the encodings change.
        (-(1i64 << 54)..(1i64 << 54)).prop_map(Number::from),
        ((1u64 << 32) - 2..(1u64 << 32) + 2).prop_map(Number::from),
        (-(1i64 << 32) - 2..-(1i64 << 32) + 2).prop_map(Number::from),
        ((1u64 << 53) - 2..(1u64 << 53) + 2).prop_map(Number::from),
        (-(1i64 << 53) - 2..-(1i64 << 53) + 2).prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        any::<f32>().prop_filter_map("finite", |f| Number::from_f64(f.into())),
        (-1e6f64..1e6).prop_filter_map("finite", Number::from_f64),
        (-70000i32..70000).prop_filter_map("finite", |n| Number::from_f64(f64::from(n) / 4.0)),
    ]
}

fn key() -> impl Strategy<Value = String> {
    // Few short keys so shapes repeat (record references), plus arbitrary text.
    prop_oneof![4 => "[a-d]{1,2}", 1 => "\\PC{0,8}"]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        "\\PC{0,12}".prop_map(Value::String),
        // Long enough for 1- and 2-byte length headers.
        "[a-z]{20,300}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner.clone()), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            // Arrays of same-shaped objects, as a list response has, some nesting their
            // own shape.
            (
                prop::collection::vec(key(), 1..4),
                prop::collection::vec(inner, 0..8)
            )
                .prop_map(|(keys, items)| {
                    Value::Array(
                        items
                            .iter()
                            .map(|item| {
                                Value::Object(
                                    keys.iter().map(|k| (k.clone(), item.clone())).collect(),
                                )
                            })
                            .collect(),
                    )
                }),
        ]
    })
}

/// Messages with more distinct shapes than record ids: shape `s{j}` has the keys
/// `k0..k{j % 5}` renamed by `j`, so ids are reused cyclically, evicted shapes come back
/// and must be defined again.
fn many_shapes() -> impl Strategy<Value = Value> {
    let shapes = RECORD_SLOTS + 150;
    prop::collection::vec((0..shapes, any::<bool>()), 0..900).prop_map(|uses| {
        Value::Array(
            uses.into_iter()
                .map(|(j, nest)| {
                    let mut object: Map<String, Value> = (0..=j % 5)
                        .map(|k| (format!("s{j}k{k}"), Value::from(k)))
                        .collect();
                    if nest {
                        object.insert("inner".into(), json!({ "j": j }));
                    }
                    Value::Object(object)
                })
                .collect(),
        )
    })
}

// ---- typed values --------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
struct Envelope {
    t: Kind,
    x: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    w: Option<u64>,
    p: Vec<Item>,
    flat: Flattened,
    unit: Unit,
    pair: Pair,
    wrapped: Wrapped,
    by_kind: BTreeMap<Kind, i8>,
    by_char: BTreeMap<char, Option<Unit>>,
    tagged: Tagged,
    untagged: Untagged,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Request,
    ResponseOk,
}

#[derive(Debug, Clone, Serialize)]
struct Item {
    name: String,
    small: i16,
    big: i128,
    wide: u128,
    ratio: f32,
    score: f64,
    letter: char,
    #[serde(skip_serializing_if = "Option::is_none")]
    child: Option<Box<Item>>,
    shape: Shape,
    seen: Vec<bool>,
}

#[derive(Debug, Clone, Serialize)]
enum Shape {
    Dot,
    Radius(u32),
    Segment(i64, i64),
    Rect {
        w: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        h: Option<u16>,
    },
    Nested(Box<Item>),
}

/// `#[serde(flatten)]`: a map of unknown length.
#[derive(Debug, Clone, Serialize)]
struct Flattened {
    n: u8,
    #[serde(flatten)]
    extra: BTreeMap<String, i32>,
}

#[derive(Debug, Clone, Serialize)]
struct Unit;

#[derive(Debug, Clone, Serialize)]
struct Pair(u64, String);

#[derive(Debug, Clone, Serialize)]
struct Wrapped(i64);

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
enum Tagged {
    Empty,
    Point { x: i32, y: i32 },
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Untagged {
    Number(f64),
    Pair(Pair),
    Text(String),
}

fn shape(item: BoxedStrategy<Item>) -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Dot),
        any::<u32>().prop_map(Shape::Radius),
        any::<(i64, i64)>().prop_map(|(a, b)| Shape::Segment(a, b)),
        (any::<u16>(), any::<Option<u16>>()).prop_map(|(w, h)| Shape::Rect { w, h }),
        item.prop_map(|item| Shape::Nested(Box::new(item))),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    let fields = || {
        (
            "\\PC{0,10}",
            any::<i16>(),
            // In CBOR's 64-bit range (beyond, a bignum: refused, tested below).
            -(1i128 << 64)..(1i128 << 64),
            0..(1u128 << 64),
            any::<f32>(),
            prop_oneof![
                any::<f64>(),
                number().prop_map(|n| n.as_f64().unwrap_or(0.0))
            ],
            any::<char>(),
            prop::collection::vec(any::<bool>(), 0..3),
        )
    };
    let leaf = fields().prop_map(
        |(name, small, big, wide, ratio, score, letter, seen)| Item {
            name,
            small,
            big,
            wide,
            ratio,
            score,
            letter,
            child: None,
            shape: Shape::Dot,
            seen,
        },
    );
    leaf.prop_recursive(3, 12, 2, move |inner| {
        (
            fields(),
            prop::option::of(inner.clone()),
            shape(inner.boxed()),
        )
            .prop_map(
                |((name, small, big, wide, ratio, score, letter, seen), child, shape)| Item {
                    name,
                    small,
                    big,
                    wide,
                    ratio,
                    score,
                    letter,
                    child: child.map(Box::new),
                    shape,
                    seen,
                },
            )
    })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    let kind = prop_oneof![Just(Kind::Request), Just(Kind::ResponseOk)];
    (
        (
            kind.clone(),
            "\\PC{0,16}",
            prop::option::of("[0-9]{1,13}"),
            prop::option::of(any::<u64>()),
            prop::collection::vec(item(), 0..4),
        ),
        (
            any::<u8>(),
            prop::collection::btree_map("[a-c]{1,2}", any::<i32>(), 0..3),
            any::<(u64, String)>(),
            any::<i64>(),
            prop::collection::btree_map(kind, any::<i8>(), 0..2),
            prop::collection::btree_map(any::<char>(), any::<bool>(), 0..2),
            prop::option::of(any::<(i32, i32)>()),
            prop_oneof![
                any::<f64>().prop_map(Untagged::Number),
                any::<(u64, String)>().prop_map(|(n, s)| Untagged::Pair(Pair(n, s))),
                "\\PC{0,6}".prop_map(Untagged::Text),
            ],
        ),
    )
        .prop_map(
            |((t, x, id, w, p), (n, extra, pair, wrapped, by_kind, by_char, point, untagged))| {
                Envelope {
                    t,
                    x,
                    id,
                    w,
                    p,
                    flat: Flattened { n, extra },
                    unit: Unit,
                    pair: Pair(pair.0, pair.1),
                    wrapped: Wrapped(wrapped),
                    by_kind,
                    by_char: by_char
                        .into_iter()
                        .map(|(c, b)| (c, b.then_some(Unit)))
                        .collect(),
                    tagged: match point {
                        Some((x, y)) => Tagged::Point { x, y },
                        None => Tagged::Empty,
                    },
                    untagged,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn direct_writer_writes_what_the_tree_writer_writes_for_json(value in json_value()) {
        assert_fast(&value);
    }

    #[test]
    fn direct_writer_writes_what_the_tree_writer_writes_for_typed_values(value in envelope()) {
        assert_fast(&value);
    }
}

/// A reply's `w`: absent, or any number a request's clock can be.
fn clock() -> impl Strategy<Value = Option<Number>> {
    prop::option::of(prop_oneof![
        Just(Number::from(1_737_100_000_000u64)),
        number(),
    ])
}

/// `response_ok` written by [`records_write::write_ok`] is, byte for byte, what the
/// whole frame encodes to (so what the tree writer writes), and takes the fast path.
fn assert_ok_fast<T: Serialize + ?Sized>(x: &str, id: Option<&str>, w: Option<&Number>, p: &T) {
    let whole = assert_fast(&OutFrame::ok(x, id, w, p));
    let mut out = Vec::new();
    records_write::write_ok(x, id, w, p, &mut out).expect("write_ok takes the fast path");
    assert_eq!(hex(&out), hex(&whole), "x {x:?}, id {id:?}, w {w:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn a_response_ok_is_written_as_its_whole_frame_for_json(
        x in "\\PC{0,12}",
        id in prop::option::of("[0-9a-z]{1,30}"),
        w in clock(),
        p in json_value(),
    ) {
        assert_ok_fast(&x, id.as_deref(), w.as_ref(), &p);
    }

    #[test]
    fn a_response_ok_is_written_as_its_whole_frame_for_typed_values(
        id in prop::option::of("[0-9]{1,13}"),
        w in clock(),
        p in envelope(),
    ) {
        assert_ok_fast("event", id.as_deref(), w.as_ref(), &p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_response_ok_reuses_record_ids_as_its_whole_frame_does(p in many_shapes()) {
        let w = Number::from(7u64);
        assert_ok_fast("many", Some("1"), Some(&w), &p);
    }

    #[test]
    fn direct_writer_reuses_record_ids_as_the_tree_writer_does(value in many_shapes()) {
        assert_fast(&value);
    }
}

// ---- fixed cases ---------------------------------------------------------------------------

#[test]
fn rpc_reply_takes_the_fast_path_with_the_pinned_bytes() {
    let w = Number::from(1_737_100_000_000u64);
    let p = json!({ "text": "hi" });
    let reply = OutFrame::ok("echo", Some("1"), Some(&w), &p);
    assert_fast(&reply);
    assert_eq!(
        hex(&direct(&reply).unwrap()),
        concat!(
            "d9dfff",
            "88",
            "19e000",
            "86",
            "6176",
            "6174",
            "6178",
            "626964",
            "6177",
            "6170",
            "63312e30",
            "6b726573706f6e73655f6f6b",
            "646563686f",
            "6131",
            "fb42794733a7b00000",
            "d9dfff",
            "83",
            "19e001",
            "81",
            "6474657874",
            "626869",
        )
    );
}

#[test]
fn a_response_ok_whose_payload_has_the_envelopes_keys_uses_its_record() {
    // Record 0 is the envelope's key list; a payload object of the same keys, in the
    // same order, uses it instead of defining its own.
    #[derive(Serialize)]
    struct Four {
        v: u8,
        t: u8,
        x: u8,
        p: u8,
    }
    #[derive(Serialize)]
    struct Six {
        v: u8,
        t: u8,
        x: u8,
        id: u8,
        w: u8,
        p: u8,
    }
    let four = Four {
        v: 1,
        t: 2,
        x: 3,
        p: 4,
    };
    let six = Six {
        v: 1,
        t: 2,
        x: 3,
        id: 4,
        w: 5,
        p: 6,
    };
    let w = Number::from(5u64);
    let cases: [(Option<&str>, Option<&Number>, &dyn erased::Value); 4] = [
        (None, None, &four),
        (Some("1"), Some(&w), &six),
        // Another envelope: the payload defines its own record.
        (Some("1"), None, &four),
        (None, Some(&w), &six),
    ];
    for (i, (id, w, p)) in cases.into_iter().enumerate() {
        let bytes = p.ok_bytes(id, w);
        let uses_record_0 = bytes.windows(3).any(|b| b == [0xd9, 0xe0, 0x00]);
        assert_eq!(uses_record_0, i < 2, "case {i}: {}", hex(&bytes));
    }
}

/// The two payload types of the test above behind one type.
mod erased {
    use super::*;

    pub(super) trait Value {
        /// Checks `write_ok` against the whole frame; the bytes.
        fn ok_bytes(&self, id: Option<&str>, w: Option<&Number>) -> Vec<u8>;
    }

    impl<T: Serialize> Value for T {
        fn ok_bytes(&self, id: Option<&str>, w: Option<&Number>) -> Vec<u8> {
            assert_ok_fast("same", id, w, self);
            direct(&OutFrame::ok("same", id, w, self)).unwrap()
        }
    }
}

#[test]
fn a_response_ok_the_direct_writer_refuses_is_left_to_the_whole_frame() {
    // A map with an integer key: refused, so the frame is encoded whole (the tree writer).
    let p: BTreeMap<i32, bool> = [(1, true)].into_iter().collect();
    let mut out = Vec::new();
    assert!(records_write::write_ok("x", Some("1"), None, &p, &mut out).is_err());
    assert!(assert_refused(&OutFrame::ok("x", Some("1"), None, &p)).is_ok());
}

#[test]
fn a_shape_past_every_slot_evicts_the_oldest_and_is_defined_again() {
    // Shapes 0..=256: the 257th takes id 0; shape 0 then comes back and takes id 1.
    let mut items: Vec<Value> = (0..=RECORD_SLOTS)
        .map(|j| json!({ format!("k{j}"): j }))
        .collect();
    items.push(json!({ "k0": 0 }));
    items.push(json!({ "k0": 0 }));
    let value = Value::Array(items);
    assert_fast(&value);
    let bytes = direct(&value).unwrap();
    // The last two objects: a definition of k0 as id 1, then a use of id 1.
    let tail = hex(bytes.get(bytes.len() - 17..).unwrap());
    assert_eq!(tail, "d9dfff8319e00181626b3000d9e0018100");
}

#[test]
fn objects_of_any_number_of_keys_take_the_fast_path() {
    // Headers change width at 22 keys (a definition's array holds 2 more) and 24.
    let objects: Vec<Value> = (0..=40)
        .map(|n| Value::Object((0..n).map(|k| (format!("k{k}"), json!(k))).collect()))
        .collect();
    for object in &objects {
        assert_fast(object);
        // Defined, then used.
        assert_fast(&[object, object]);
    }
    assert_fast(&objects);
}

#[test]
fn empty_objects_arrays_and_every_scalar_take_the_fast_path() {
    assert_fast(&json!({}));
    assert_fast(&json!([]));
    assert_fast(&json!([{}, {}, {"a": {}}, [[]]]));
    assert_fast(&(
        true,
        false,
        (),
        Some(1u8),
        None::<u8>,
        'é',
        "text",
        -1i8,
        i64::MIN,
        u64::MAX,
        1.5f32,
        f64::NAN,
        f64::NEG_INFINITY,
        -0.0f64,
    ));
    struct Bytes;
    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&[0, 1, 2, 255])
        }
    }
    assert_fast(&Bytes);
    assert_fast(&(-(1i128 << 64), (1i128 << 64) - 1, u128::from(u64::MAX)));
    // A `Serialize` impl that encodes a message itself: the inner one gets a plan of
    // its own.
    struct Reentrant;
    impl Serialize for Reentrant {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let inner = direct(&json!({"inner": [1, {"a": 2}]})).unwrap_or_default();
            s.collect_map([("len", inner.len())])
        }
    }
    assert_fast(&Reentrant);
}

/// Text or an object for a human-readable serializer, a number for ciborium's (which,
/// like the direct writer's three serializers, are not human-readable).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Readable {
    Text(u8),
    Object(u8),
}

impl Serialize for Readable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            _ if !s.is_human_readable() => s.serialize_u8(1),
            Readable::Text(_) => s.serialize_str("text"),
            Readable::Object(_) => s.collect_map([("object", 1)]),
        }
    }
}

#[test]
fn values_serialize_as_for_a_serializer_that_is_not_human_readable() {
    let bytes = assert_fast(&[Readable::Text(1), Readable::Object(1)]);
    assert_eq!(hex(&bytes), "820101");
    // A key that is a number for ciborium: the map stays a map.
    let bytes = assert_refused(&BTreeMap::from([(Readable::Text(1), 2)])).unwrap();
    assert_eq!(hex(&bytes), "a10102");
}

// ---- refusals: each falls back to the tree writer ------------------------------------------

#[test]
fn non_text_map_keys_are_refused_and_stay_maps() {
    let by_number: BTreeMap<u32, &str> = [(1, "a"), (2, "b")].into();
    let bytes = assert_refused(&by_number).unwrap();
    assert_eq!(hex(&bytes), "a2016161026162");
    // Nested: the outer object is a record, the inner map stays a map.
    let nested: BTreeMap<&str, BTreeMap<u32, &str>> = [("m", by_number.clone())].into();
    let bytes = assert_refused(&nested).unwrap();
    assert_eq!(hex(&bytes), "d9dfff8319e00081616da2016161026162");
    let mut by_bool = BTreeMap::new();
    by_bool.insert(true, 1);
    assert_refused(&vec![by_bool]).unwrap();
}

#[test]
fn tags_are_refused() {
    use ciborium::tag::{Captured, Required};
    let bytes = assert_refused(&Captured(Some(1), 1_363_896_240u32)).unwrap();
    assert_eq!(hex(&bytes), "c11a514b67b0");
    assert_refused(&Captured(None, json!({"a": 1}))).unwrap();
    #[derive(Serialize)]
    struct WithTag {
        a: Required<&'static str, 32>,
    }
    assert_refused(&WithTag { a: Required("x") }).unwrap();
}

#[test]
fn integers_beyond_64_bits_are_refused_and_written_as_bignums() {
    let bytes = assert_refused(&u128::MAX).unwrap();
    assert_eq!(hex(&bytes), format!("c250{}", "ff".repeat(16)));
    assert_refused(&(1i128 << 64)).unwrap();
    assert_refused(&(-(1i128 << 64) - 1)).unwrap();
    assert_refused(&BTreeMap::from([("a", i128::MIN)])).unwrap();
}

#[test]
fn errors_of_serialize_impls_are_refused_and_the_tree_writer_reports_them() {
    struct Failing;
    impl Serialize for Failing {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(S::Error::custom("no such thing"))
        }
    }
    let error = assert_refused(&("ok", Failing));
    let message = error.unwrap_err();
    assert!(message.contains("no such thing"), "{message}");
}

/// Serializes differently each time it is serialized: on the direct writer's second
/// pass, the objects or keys are not those of the first.
struct Fickle {
    calls: Cell<usize>,
    /// What the `n`th serialization writes.
    each: fn(usize) -> Value,
}

impl Serialize for Fickle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        (self.each)(n).serialize(s)
    }
}

#[test]
fn keys_or_objects_that_change_between_the_passes_are_refused() {
    let cases: [fn(usize) -> Value; 4] = [
        // A key renamed.
        |n| json!({ "a": 1, (if n % 2 == 0 { "b" } else { "c" }): 2 }),
        // A key more.
        |n| {
            if n % 2 == 0 {
                json!({ "a": 1 })
            } else {
                json!({ "a": 1, "b": 2 })
            }
        },
        // An object more.
        |n| {
            if n % 2 == 0 {
                json!([1, 2])
            } else {
                json!([1, {}])
            }
        },
        // An object less.
        |n| {
            if n % 2 == 0 {
                json!([{}, {}])
            } else {
                json!([{}, 2])
            }
        },
    ];
    for each in cases {
        let value = Fickle {
            calls: Cell::new(0),
            each,
        };
        assert_eq!(direct(&value), None, "{}", each(0));
        // encode: passes 0 and 1 refused, the tree writer sees the even form again.
        value.calls.set(0);
        assert_eq!(encoded(&value), tree(&each(0)));
    }
}

/// A struct whose one field is named `a` on its first serialization (the direct
/// writer's first pass), then `b`, and so on.
struct FickleStruct {
    calls: Cell<usize>,
}

impl Serialize for FickleStruct {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let n = self.calls.get();
        self.calls.set(n + 1);
        let mut st = s.serialize_struct("FickleStruct", 1)?;
        st.serialize_field(if n % 2 == 0 { "a" } else { "b" }, &n)?;
        st.end()
    }
}

#[test]
fn struct_fields_that_change_between_the_passes_are_refused() {
    let value = FickleStruct {
        calls: Cell::new(0),
    };
    assert_eq!(direct(&value), None);
    value.calls.set(0);
    // The tree writer serializes it a third time: `a` again, with 2.
    assert_eq!(hex(&encoded(&value).unwrap()), "d9dfff8319e00081616102");
}

/// A sequence whose `serialize_seq` says `len` and which then has `items` elements.
struct Seq {
    len: Option<usize>,
    items: usize,
}

impl Serialize for Seq {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(self.len)?;
        for i in 0..self.items {
            seq.serialize_element(&i)?;
        }
        seq.end()
    }
}

#[test]
fn sequences_of_unknown_or_wrong_length_are_refused() {
    let unknown = assert_refused(&Seq {
        len: None,
        items: 2,
    })
    .unwrap();
    assert_eq!(hex(&unknown), "820001");
    assert_eq!(
        hex(&assert_refused(&Seq {
            len: Some(3),
            items: 2
        })
        .unwrap()),
        "820001"
    );
    assert_eq!(
        hex(&assert_refused(&Seq {
            len: Some(1),
            items: 2
        })
        .unwrap()),
        "820001"
    );
    assert_fast(&Seq {
        len: Some(2),
        items: 2,
    });
}

#[test]
fn a_map_value_without_its_key_is_refused() {
    /// Two keys in a row: the tree writer keeps only the pair that is whole.
    struct TwoKeys;
    impl Serialize for TwoKeys {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_key("lost")?;
            map.serialize_key("a")?;
            map.serialize_value(&1)?;
            map.end()
        }
    }
    assert_refused(&TwoKeys).unwrap();
}

#[test]
fn a_large_message_leaves_the_plan_small() {
    let big = Value::Array(
        (0..5000)
            .map(|j| json!({ format!("key number {j} of a large message"): j }))
            .collect(),
    );
    let small = json!({"a": [1, {"b": 2}]});
    assert_fast(&small);
    assert_fast(&big);
    // Untrimmed, the plan of `big` holds some 700 KB.
    let kept = records_write::kept_bytes();
    assert!(kept < 128 * 1024, "{kept} bytes kept after a large message");
    // And the next message, on the same (trimmed) plan, is still right.
    assert_fast(&small);
}
