//! Criterion micro-benchmarks of the per-message work of a wsx server.
//!
//! - `request/<codec>`: what the server does for one chat `sendMessage` request:
//!   decode the envelope, validate and decode the payload, encode the response.
//! - `broadcast/<codec>`: one `message` push to 1,000 recipients through
//!   [`SharedFrame`]: encoded once, then one cheap clone of the bytes per recipient.
//! - `encode/<codec>`: the reply of the rpc benchmark's echo server alone (`{t,x,id,w,p}`
//!   with a `{text}` payload, `w` a millisecond clock), encoded from a JSON payload.
//! - `payload/<path>`: the `sendMessage` payload's decode and check, from its JSON text,
//!   the server's way (decoded straight into its type, checked by the typed check
//!   `define_events!` generates) and the JSON Schema validator's way (which a payload
//!   the typed check does not vouch for still takes, to name every failing field).
//!
//! ```sh
//! cargo bench -p wsx-bench --bench codec
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use wsx_core::Codec;
use wsx_core::event::Event;
use wsx_core::protocol::OutFrame;
use wsx_core::server::SharedFrame;
use wsx_core::validate;

wsx_core::define_events! {
    /// The chat events the benchmark encodes (the same shapes as `examples/chat`).
    pub events BenchEvents;

    /// Send a message to the room.
    request sendMessage: SendMessageRequest {
        /// The text.
        message: String.min(1).max(500),
    } -> SendMessageResponse {
        /// The id the server gave the message.
        message_id: String,
        /// When the server accepted it, in ms since the Unix epoch.
        timestamp: u64,
    }

    /// A message someone sent to the room.
    push message: ChatMessage {
        /// The id the server gave the message.
        message_id: String,
        /// Who sent it.
        username: String,
        /// The text.
        message: String,
        /// When the server accepted it, in ms since the Unix epoch.
        timestamp: u64,
    }
}

const TEXT: &str = "hello everyone, this is a chat message of a typical length!";

/// A `sendMessage` request as a client of `codec` sends it.
fn request(codec: Codec) -> Vec<u8> {
    let envelope = json!({
        "v": "1.0", "t": "request", "x": "sendMessage", "id": "1737100000000-k3j9x2m1q",
        "w": 1737100000000u64, "p": { "message": TEXT },
    });
    codec
        .encode_value(&envelope)
        .map(|e| e.bytes.to_vec())
        .unwrap_or_default()
}

/// Decode + validate + encode: the server's work for one request, handler excluded.
fn serve(codec: Codec, bytes: &[u8]) -> Option<usize> {
    let frame = codec.decode(bytes).ok()?;
    let req: SendMessageRequest = validate::decode(frame.p?).ok()?;
    let resp = SendMessageResponse {
        message_id: "m-1737100000123".into(),
        timestamp: 1_737_100_000_123 + req.message.len() as u64,
    };
    let out = codec
        .encode(&OutFrame::ok(
            &frame.x,
            frame.id.as_deref(),
            frame.w.as_ref(),
            &resp,
        ))
        .ok()?;
    Some(out.bytes.len())
}

fn message() -> ChatMessage {
    ChatMessage {
        message_id: "m-1737100000123".into(),
        username: "alice".into(),
        message: TEXT.into(),
        timestamp: 1_737_100_000_123,
    }
}

fn codecs(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    for codec in [Codec::JsonText, Codec::CborMaps, Codec::CborRecords] {
        let bytes = request(codec);
        assert!(
            serve(codec, &bytes).is_some(),
            "{} request does not round-trip",
            codec.name()
        );
        group.bench_function(codec.name(), |b| b.iter(|| serve(codec, black_box(&bytes))));
    }
    group.finish();

    let mut group = c.benchmark_group("broadcast_1000");
    for codec in [Codec::JsonText, Codec::CborMaps, Codec::CborRecords] {
        group.bench_function(codec.name(), |b| {
            b.iter(|| {
                let frame = SharedFrame::push::<ChatMessage>(message());
                let mut bytes = 0;
                for _ in 0..1000 {
                    bytes += frame
                        .encoded(black_box(codec))
                        .cloned()
                        .map_or(0, |e| e.bytes.len());
                }
                bytes
            })
        });
    }
    group.bench_function("mixed_codecs", |b| {
        b.iter(|| {
            let frame = SharedFrame::push::<ChatMessage>(message());
            let mut bytes = 0;
            for i in 0..1000 {
                let codec = Codec::ALL[i % 4];
                bytes += frame
                    .encoded(black_box(codec))
                    .cloned()
                    .map_or(0, |e| e.bytes.len());
            }
            bytes
        })
    });
    group.finish();
}

/// The rpc benchmark's reply alone: the encode a CBOR echo pays per round trip.
fn encode(c: &mut Criterion) {
    let p = json!({ "text": TEXT });
    let w = serde_json::Number::from(1_737_100_000_000u64);
    let reply = OutFrame::ok("echo", Some("1737100000000-k3j9x2m1q"), Some(&w), &p);
    let mut group = c.benchmark_group("encode");
    for codec in [Codec::JsonText, Codec::CborMaps, Codec::CborRecords] {
        assert!(codec.encode(&reply).is_ok(), "{} reply", codec.name());
        group.bench_function(codec.name(), |b| {
            b.iter(|| codec.encode(black_box(&reply)).map(|e| e.bytes.len()))
        });
    }
    group.finish();
}

/// The payload's decode and check, both ways, from its JSON text.
fn payload(c: &mut Criterion) {
    let text = json!({ "message": TEXT }).to_string();
    let typed = |text: &str| {
        let req: SendMessageRequest = serde_json::from_str(text).ok()?;
        SendMessage::known_valid(&req).then_some(req)
    };
    let validated = |text: &str| {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        validate::decode::<SendMessageRequest>(value).ok()
    };
    // The benchmark's payload has a typed check.
    const { assert!(SendMessage::TYPED_CHECK) };
    assert_eq!(typed(&text), validated(&text), "both ways agree");
    assert!(typed(&text).is_some());
    let mut group = c.benchmark_group("payload");
    group.bench_function("typed_check", |b| b.iter(|| typed(black_box(&text))));
    group.bench_function("json_schema_validator", |b| {
        b.iter(|| validated(black_box(&text)))
    });
    group.finish();
}

criterion_group!(benches, codecs, encode, payload);
criterion_main!(benches);
