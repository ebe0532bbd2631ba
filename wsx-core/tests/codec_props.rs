//! Property tests: every codec round-trips arbitrary envelopes to the same frame, and no
//! decoder panics on arbitrary or corrupted bytes.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use wsx_core::codec::Codec;
use wsx_core::error::{ErrorCode, WireError};
use wsx_core::protocol::{Frame, FrameType, OutFrame};

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        // Around the 2^32 and 2^53 boundaries where the CBOR encodings change.
        (-(1i64 << 54)..(1i64 << 54)).prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        (-1e6f64..1e6).prop_filter_map("finite", Number::from_f64),
        (-(1i64 << 54)..(1i64 << 54)).prop_filter_map("finite", |n| Number::from_f64(n as f64)),
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
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            // Arrays of same-shaped objects, as a list response has.
            (
                prop::collection::vec(key(), 1..4),
                prop::collection::vec(any::<i32>(), 0..12)
            )
                .prop_map(|(keys, ns)| {
                    Value::Array(
                        ns.iter()
                            .map(|&n| {
                                Value::Object(
                                    keys.iter().map(|k| (k.clone(), Value::from(n))).collect(),
                                )
                            })
                            .collect(),
                    )
                }),
        ]
    })
}

fn frame_type() -> impl Strategy<Value = FrameType> {
    prop_oneof![
        Just(FrameType::Send),
        Just(FrameType::Request),
        Just(FrameType::ResponseOk),
        Just(FrameType::ResponseError),
    ]
}

fn wire_error() -> impl Strategy<Value = WireError> {
    let code = prop::option::of(prop::sample::select(ErrorCode::ALL.to_vec()));
    // `cause: null` reads back as no cause, so generate none rather than null.
    let cause = prop::option::of(json_value().prop_filter("not null", |v| !v.is_null()));
    ("\\PC{0,20}", code, cause).prop_map(|(message, code, cause)| WireError {
        message,
        code,
        cause,
    })
}

/// An envelope's parts; the `id` and `e` a frame type requires are always there.
#[derive(Debug, Clone)]
struct Envelope {
    t: FrameType,
    x: String,
    id: Option<String>,
    w: Option<Number>,
    p: Option<Value>,
    e: Option<WireError>,
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        frame_type(),
        "\\PC{0,16}",
        "[0-9]{1,13}-[a-z0-9]{0,9}",
        prop::option::of(number()),
        prop::option::of(json_value()),
        wire_error(),
        any::<bool>(),
    )
        .prop_map(|(t, x, id, w, p, e, send_has_id)| {
            let id = (t != FrameType::Send || send_has_id).then_some(id);
            let e = (t == FrameType::ResponseError).then_some(e);
            Envelope { t, x, id, w, p, e }
        })
}

impl Envelope {
    fn out(&self) -> OutFrame<'_, Value> {
        OutFrame {
            v: wsx_core::protocol::VERSION,
            t: self.t,
            x: &self.x,
            id: self.id.as_deref(),
            w: self.w.as_ref(),
            p: self.p.as_ref(),
            e: self.e.as_ref(),
        }
    }

    /// The frame every codec must decode (`p: null` is no payload).
    fn expected(&self) -> Frame {
        Frame {
            t: self.t,
            x: self.x.clone(),
            id: self.id.clone(),
            w: self.w.clone(),
            p: self.p.clone().filter(|p| !p.is_null()),
            e: self.e.clone(),
        }
    }
}

/// CBOR reads an integral float within ±2^53 as an integer (cbor-x writes most numbers
/// as float64); JSON keeps `1.0` a float. Compare across the families modulo that.
fn integral(n: &Number) -> Number {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
            if f >= 0.0 {
                Number::from(f as u64)
            } else {
                Number::from(f as i64)
            }
        }
        _ => n.clone(),
    }
}

fn integral_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::Number(integral(n)),
        Value::Array(items) => Value::Array(items.iter().map(integral_value).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), integral_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn integral_frame(f: &Frame) -> Frame {
    let mut f = f.clone();
    f.w = f.w.as_ref().map(integral);
    f.p = f.p.as_ref().map(integral_value);
    if let Some(e) = &mut f.e {
        e.cause = e.cause.as_ref().map(integral_value);
    }
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_codec_round_trips_every_envelope(env in envelope()) {
        let expected = env.expected();
        let mut decoded = Vec::new();
        for codec in Codec::ALL {
            let encoded = codec.encode(&env.out()).unwrap();
            prop_assert_eq!(Codec::sniff(encoded.text, &encoded.bytes), codec);
            let frame = codec.decode(&encoded.bytes).unwrap();
            decoded.push(frame);
        }
        let [json_text, json_binary, cbor_maps, cbor_records] = decoded.try_into().unwrap();
        prop_assert_eq!(&json_text, &expected);
        prop_assert_eq!(&json_binary, &expected);
        // Both CBOR forms agree exactly; with JSON, up to integral floats.
        prop_assert_eq!(&cbor_maps, &cbor_records);
        prop_assert_eq!(integral_frame(&cbor_maps), integral_frame(&expected));
    }

    #[test]
    fn cbor_keeps_every_integer_exact(n in any::<i64>(), u in any::<u64>()) {
        let p = Value::Array(vec![Value::from(n), Value::from(u)]);
        for codec in [Codec::CborMaps, Codec::CborRecords] {
            let bytes = codec.encode(&OutFrame::send("n", &p)).unwrap().bytes;
            prop_assert_eq!(codec.decode(&bytes).unwrap().p, Some(p.clone()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        for codec in Codec::ALL {
            let _ = codec.decode(&bytes);
            let _ = codec.decode_value(&bytes);
        }
    }

    /// Valid messages with a few bytes overwritten, truncated or extended reach deeper
    /// into the decoders than random bytes do.
    #[test]
    fn corrupted_messages_never_panic(
        env in envelope(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        for codec in Codec::ALL {
            let mut bytes = codec.encode(&env.out()).unwrap().bytes.to_vec();
            for (at, b) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *b;
            }
            let _ = codec.decode(&bytes);
            bytes.truncate(cut.index(bytes.len() + 1));
            let _ = codec.decode(&bytes);
        }
    }
}
