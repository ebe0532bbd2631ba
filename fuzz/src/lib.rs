//! What the fuzz targets check, kept here so each target is one line and a crash found
//! by one can be replayed from a test.
//!
//! | target | input | property |
//! | --- | --- | --- |
//! | `json_text`, `json_binary`, `cbor_maps`, `cbor_records` | one message | [`decoder`] |
//! | `round_trip` | one message, any codec | [`round_trip`] |
//! | `envelope_ref` | one JSON message | [`envelope_ref`] |
//! | `cbor_envelope` | one CBOR message | [`cbor_envelope`] |
//! | `typed_check` | one payload, JSON text | [`typed_check`] |

use serde_json::{Number, Value};
use wsx_core::codec::{Codec, CodecFamily};
use wsx_core::event::{Event, EventKind, EventSet};
use wsx_core::protocol::{Frame, OutFrame, VERSION};
use wsx_core::{typed, validate};

/// The chat's events, exactly as examples/chat/src/events.rs declares them.
#[allow(missing_docs)]
pub mod chat {
    include!(concat!(env!("OUT_DIR"), "/chat_events.rs"));
}

/// The envelope to write `frame` back.
fn out(frame: &Frame) -> OutFrame<'_, Value> {
    OutFrame {
        v: VERSION,
        t: frame.t,
        x: &frame.x,
        id: frame.id.as_deref(),
        w: frame.w.as_ref(),
        p: frame.p.as_ref(),
        e: frame.e.as_ref(),
    }
}

/// One message of `codec`: no panic; a frame it reads is written back in the same codec
/// and read again as the same frame.
pub fn decoder(codec: Codec, data: &[u8]) {
    // A text frame is UTF-8: the WebSocket layer refuses it otherwise.
    if codec == Codec::JsonText && std::str::from_utf8(data).is_err() {
        return;
    }
    let _ = codec.decode_value(data);
    let Ok(frame) = codec.decode(data) else {
        return;
    };
    let encoded = codec
        .encode(&out(&frame))
        .unwrap_or_else(|e| panic!("{} cannot write back what it read: {e}", codec.name()));
    let again = codec
        .decode(&encoded.bytes)
        .unwrap_or_else(|e| panic!("{} cannot read what it wrote: {e}", codec.name()));
    assert_eq!(
        integral_frame(&again),
        integral_frame(&frame),
        "{}",
        codec.name()
    );
}

/// A frame read from one message (its codec sniffed, as the server does) goes out and
/// back through every codec: the JSON codecs read exactly it, the CBOR codecs read the
/// same as each other, and both families agree up to integral floats.
pub fn round_trip(data: &[u8]) {
    let text = std::str::from_utf8(data).is_ok() && data.first() == Some(&b'{');
    let Ok(frame) = Codec::sniff(text, data).decode(data) else {
        return;
    };
    let mut read = Vec::new();
    for codec in Codec::ALL {
        let encoded = codec
            .encode(&out(&frame))
            .unwrap_or_else(|e| panic!("{}: {e}", codec.name()));
        assert_eq!(
            Codec::sniff(encoded.text, &encoded.bytes),
            codec,
            "a message of {} is sniffed as its codec",
            codec.name()
        );
        let back = codec
            .decode(&encoded.bytes)
            .unwrap_or_else(|e| panic!("{} cannot read what it wrote: {e}", codec.name()));
        read.push(back);
    }
    let [json_text, json_binary, cbor_maps, cbor_records] =
        <[Frame; 4]>::try_from(read).unwrap_or_else(|_| unreachable!("one frame per codec"));
    assert_eq!(json_text, json_binary);
    assert_eq!(cbor_maps, cbor_records);
    assert_eq!(integral_frame(&json_text), integral_frame(&frame));
    assert_eq!(integral_frame(&cbor_maps), integral_frame(&frame));
}

/// One JSON message read the two ways the server reads it: where the borrowed read takes
/// a frame, the owned decode reads the same frame (the borrowed read does not read `e`);
/// where the borrowed read refuses its payload, so does the owned one.
pub fn envelope_ref(data: &[u8]) {
    for text in [true, false] {
        // The server reads a binary message the borrowed way only when it sniffs JSON.
        if !text && Codec::sniff(false, data) != Codec::JsonBinary {
            continue;
        }
        let codec = if text {
            Codec::JsonText
        } else {
            Codec::JsonBinary
        };
        let Some(borrowed) = wsx_core::__private::borrowed_json_frame(data, text) else {
            continue;
        };
        let owned = codec.decode(data);
        match (borrowed, owned) {
            (Ok(borrowed), Ok(mut owned)) => {
                owned.e = None;
                assert_eq!(borrowed, owned, "{}", String::from_utf8_lossy(data));
            }
            (Ok(borrowed), Err(e)) => panic!(
                "the borrowed read took {borrowed:?} from {:?}, the owned one refused: {e}",
                String::from_utf8_lossy(data)
            ),
            (Err(_), Err(_)) => {}
            (Err(e), Ok(owned)) => {
                panic!("the borrowed read refused the payload ({e}), the owned one read {owned:?}")
            }
        }
    }
}

/// The server's read of a CBOR message: where its envelope read takes a frame, the whole
/// transcoding read as JSON takes the same one; and where either takes a frame, the
/// owned decode reads the same `t`, `x`, `id`, `w`, `p` (as [`envelope_ref`] holds the
/// JSON read to it).
pub fn cbor_envelope(data: &[u8]) {
    let codec = Codec::sniff(false, data);
    if codec.family() != CodecFamily::Cbor {
        return;
    }
    let [envelope, whole] = wsx_core::__private::borrowed_cbor_frames(data);
    if let Some(envelope) = &envelope {
        assert_eq!(
            Some(envelope),
            whole.as_ref(),
            "the envelope read and the whole transcoding differ on {data:02x?}"
        );
    }
    let Some(read) = envelope.or(whole) else {
        return;
    };
    match (read, codec.decode(data)) {
        (Ok(read), Ok(mut owned)) => {
            owned.e = None;
            assert_eq!(read, owned, "{data:02x?}");
        }
        (Ok(read), Err(e)) => {
            panic!("the server's read took {read:?} from {data:02x?}, the owned one refused: {e}")
        }
        (Err(e), owned) => {
            panic!("transcoded JSON no Value holds ({e}) from {data:02x?}; owned: {owned:?}")
        }
    }
}

/// One payload through one event's fast path and through its validator.
fn one_event<E: Event>(text: &str, canonical: bool)
where
    E::Payload: PartialEq + std::fmt::Debug,
{
    let fast = typed::decode_vouched::<E>(text);
    let full = serde_json::from_str::<Value>(text)
        .ok()
        .map(validate::decode::<E::Payload>);
    match (fast, full) {
        (Some(fast), Some(Ok(full))) => assert_eq!(fast, full, "`{}` reads {text:?}", E::NAME),
        (Some(fast), full) => panic!(
            "the fast path of `{}` took {text:?} as {fast:?}, the validator's path refused: {full:?}",
            E::NAME
        ),
        (None, Some(Ok(full))) if canonical => panic!(
            "the fast path of `{}` refused {text:?}, the validator took it as {full:?}",
            E::NAME
        ),
        (None, _) => {}
    }
}

/// Every chat request (and one-way event) against its validator; see [`one_event`]. Text
/// a `Value` writes back unchanged has no duplicate key, so there the two must agree
/// both ways (serde's derive refuses a repeated field the validator sees once).
pub fn typed_check(text: &str) {
    let canonical = serde_json::from_str::<Value>(text)
        .and_then(|v| serde_json::to_string(&v))
        .is_ok_and(|written| written == text);
    let decoded = chat::ChatEvents::events()
        .iter()
        .filter(|e| e.kind != EventKind::Push)
        .count();
    assert_eq!(
        decoded, 9,
        "a chat event the server decodes is missing below"
    );
    one_event::<chat::Join>(text, canonical);
    one_event::<chat::SendMessage>(text, canonical);
    one_event::<chat::Leave>(text, canonical);
    one_event::<chat::ListRooms>(text, canonical);
    one_event::<chat::ListUsers>(text, canonical);
    one_event::<chat::History>(text, canonical);
    one_event::<chat::SetNick>(text, canonical);
    one_event::<chat::SendPrivate>(text, canonical);
    one_event::<chat::TypingRequest>(text, canonical);
}

/// CBOR reads an integral float within ±2^53 as an integer; JSON keeps `1.0` a float.
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
