//! The wire is the API: every codec's bytes for known frames, pinned as literals.
//!
//! The `CBOR_X_*` messages were produced by the real cbor-x 1.6.9 with the TypeScript wsx
//! client's options (`new Encoder({ mapsAsObjects: false })`, records on); our encodings
//! were checked to decode with cbor-x into the same JS objects. Regenerate or re-check
//! with `scripts/gen-cbor-fixtures.mjs` (needs node and cbor-x; these tests do not).
#![allow(clippy::unwrap_used, clippy::panic)]

use serde::Serialize;
use serde_json::{Number, json};
use wsx_core::codec::{Codec, DecodeError, MAX_DEPTH};
use wsx_core::error::WireError;
use wsx_core::protocol::{Frame, FrameType, OutFrame};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    assert!(s.len() % 2 == 0, "odd hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- the frames -------------------------------------------------------------------------

#[derive(Serialize)]
struct Join {
    username: &'static str,
    room: &'static str,
}

#[derive(Serialize)]
struct User {
    name: &'static str,
    age: f64,
}

#[derive(Serialize)]
struct UserList {
    users: Vec<User>,
    rooms: Vec<Vec<u32>>,
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
    n: i32,
    f: f64,
    big: u64,
    ok: bool,
    nil: Option<u8>,
}

const JOIN_ID: &str = "1737100000000-k3j9x2m1q";
const LIST_ID: &str = "1737100000001-abc";
const ERR_ID: &str = "1737100000002-zz";

fn join() -> Join {
    Join {
        username: "alice",
        room: "general",
    }
}

fn user_list() -> UserList {
    UserList {
        users: vec![
            User {
                name: "alice",
                age: 30.0,
            },
            User {
                name: "bob",
                age: 41.5,
            },
        ],
        rooms: vec![vec![1, 2], vec![3]],
    }
}

fn message() -> Message {
    Message {
        message: "hi",
        n: -7,
        f: 0.5,
        big: 9007199254740992,
        ok: false,
        nil: None,
    }
}

fn nope() -> WireError {
    WireError {
        message: "nope".into(),
        code: None,
        cause: None,
    }
}

/// The frames as [`Codec::decode`] must return them, in every codec.
fn expected_request() -> Frame {
    Frame {
        t: FrameType::Request,
        x: "join".into(),
        id: Some(JOIN_ID.into()),
        w: Some(Number::from(1737100000000u64)),
        p: Some(json!({"username": "alice", "room": "general"})),
        e: None,
    }
}

fn expected_list() -> Frame {
    Frame {
        t: FrameType::ResponseOk,
        x: "listUsers".into(),
        id: Some(LIST_ID.into()),
        w: Some(Number::from(1737100000001u64)),
        p: Some(
            json!({"users": [{"name": "alice", "age": 30}, {"name": "bob", "age": 41.5}], "rooms": [[1, 2], [3]]}),
        ),
        e: None,
    }
}

fn expected_send() -> Frame {
    Frame {
        t: FrameType::Send,
        x: "sendMessage".into(),
        id: None,
        w: None,
        p: Some(
            json!({"message": "hi", "n": -7, "f": 0.5, "big": 9007199254740992u64, "ok": false, "nil": null}),
        ),
        e: None,
    }
}

fn expected_error() -> Frame {
    Frame {
        t: FrameType::ResponseError,
        x: "join".into(),
        id: Some(ERR_ID.into()),
        w: Some(Number::from(1737100000002u64)),
        p: None,
        e: Some(nope()),
    }
}

// ---- what real cbor-x sends -------------------------------------------------------------

/// `{v:'1.0',t:'request',x:'join',id:'1737100000000-k3j9x2m1q',w:1737100000000,
/// p:{username:'alice',room:'general'}}`; `w` is a float64.
const CBOR_X_REQUEST: &str = "d9dfff 88 19e000 86 6176 6174 6178 626964 6177 6170
    63312e30 6772657175657374 646a6f696e 77313733373130303030303030302d6b336a3978326d3171
    fb42794733a7b00000
    d9dfff 84 19e001 82 68757365726e616d65 64726f6f6d 65616c696365 6767656e6572616c";

/// A `response_ok` whose `p.users` holds two objects of one shape (the second uses tag
/// 0xE002); `age` 30 is an integer, 41.5 a float64.
const CBOR_X_LIST: &str = "d9dfff 88 19e000 86 6176 6174 6178 626964 6177 6170
    63312e30 6b726573706f6e73655f6f6b 696c6973745573657273 71313733373130303030303030312d616263
    fb42794733a7b01000
    d9dfff 84 19e001 82 657573657273 65726f6f6d73
    82 d9dfff 84 19e002 82 646e616d65 63616765 65616c696365 181e
       d9e002 82 63626f62 fb4044c00000000000
    82 820102 8103";

/// A `send` (no `id`, `w`) with a negative int, a float, 2^53 as float64, false, null.
const CBOR_X_SEND: &str = "d9dfff 86 19e000 84 6176 6174 6178 6170 63312e30 6473656e64
    6b73656e644d657373616765
    d9dfff 88 19e001 86 676d657373616765 616e 6166 63626967 626f6b 636e696c
    626869 26 fb3fe0000000000000 fb4340000000000000 f4 f6";

/// A `response_error` with `e: {message: 'nope', cause: undefined}`.
const CBOR_X_ERROR: &str = "d9dfff 88 19e000 86 6176 6174 6178 626964 6177 6165
    63312e30 6e726573706f6e73655f6572726f72 646a6f696e 70313733373130303030303030322d7a7a
    fb42794733a7b02000
    d9dfff 84 19e001 82 676d657373616765 656361757365 646e6f7065 f7";

#[test]
fn protocol_md_prefix_is_what_cbor_x_sends() {
    // PROTOCOL.md: tag 57343, array of 8, record id 0xE000, array of the 6 keys.
    assert!(hex(CBOR_X_REQUEST).starts_with(&hex("d9 dfff 88 19 e000 86")));
    // And our records encoder starts the same way.
    let w = Number::from(1737100000000u64);
    let ours = Codec::CborRecords
        .encode(&OutFrame::request("join", JOIN_ID, &w, &join()))
        .unwrap();
    assert!(
        ours.bytes.starts_with(&hex("d9 dfff 88 19 e000 86")),
        "{}",
        to_hex(&ours.bytes)
    );
}

#[test]
fn cbor_x_messages_decode() {
    for (bytes, expected) in [
        (CBOR_X_REQUEST, expected_request()),
        (CBOR_X_LIST, expected_list()),
        (CBOR_X_SEND, expected_send()),
        (CBOR_X_ERROR, expected_error()),
    ] {
        let bytes = hex(bytes);
        assert_eq!(Codec::sniff(false, &bytes), Codec::CborRecords);
        assert_eq!(Codec::CborRecords.decode(&bytes).unwrap(), expected);
        assert_eq!(
            Codec::CborMaps.decode(&bytes).unwrap(),
            expected,
            "both CBOR forms read both"
        );
    }
}

#[test]
fn cbor_x_undefined_cause_is_absent() {
    let value = Codec::CborRecords.decode_value(&hex(CBOR_X_ERROR)).unwrap();
    assert_eq!(value["e"], json!({"message": "nope"}));
}

// ---- what we send -----------------------------------------------------------------------

/// The four frames encoded with `codec`, named as in the script.
fn encode_all(codec: Codec) -> Vec<(&'static str, Vec<u8>, bool)> {
    let (w0, w1, w2) = (
        Number::from(1737100000000u64),
        Number::from(1737100000001u64),
        Number::from(1737100000002u64),
    );
    let (j, l, m, e) = (join(), user_list(), message(), nope());
    let enc = [
        (
            "request",
            codec.encode(&OutFrame::request("join", JOIN_ID, &w0, &j)),
        ),
        (
            "response_ok",
            codec.encode(&OutFrame::ok("listUsers", Some(LIST_ID), Some(&w1), &l)),
        ),
        ("send", codec.encode(&OutFrame::send("sendMessage", &m))),
        (
            "response_error",
            codec.encode(&OutFrame::error("join", Some(ERR_ID), Some(&w2), &e)),
        ),
    ];
    enc.into_iter()
        .map(|(name, e)| {
            let e = e.unwrap();
            (name, e.bytes.to_vec(), e.text)
        })
        .collect()
}

/// Our CBOR encodings as the JSON lines `scripts/gen-cbor-fixtures.mjs --check` reads:
/// `cargo test -p wsx-core --test codec_wire -- --nocapture cbor_fixture_lines`.
/// Each line must name its codec and frame and carry bytes that decode back to the frame.
#[test]
fn cbor_fixture_lines_decode_back() {
    for codec in [Codec::CborMaps, Codec::CborRecords] {
        for (name, bytes, _) in encode_all(codec) {
            let line = format!(
                "{{\"codec\":\"{}\",\"frame\":\"{name}\",\"hex\":\"{}\"}}",
                codec.name(),
                to_hex(&bytes)
            );
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(parsed["frame"], name);
            let back = hex(parsed["hex"].as_str().unwrap());
            assert_eq!(
                codec.decode(&back).unwrap(),
                expected(name, codec),
                "{} {name}",
                codec.name()
            );
            println!("{line}");
        }
    }
}

struct Pinned {
    frame: &'static str,
    json: &'static str,
    cbor_maps: &'static str,
    cbor_records: &'static str,
}

/// Our bytes for the four frames. Maps are RFC 8949 with shortest integers and floats;
/// records are cbor-x's bytes except that floats take their shortest exact width (30.0 is
/// `f94f80`), while 8-byte integers within ±2^53 (`w`, `big`) are float64/float32, as
/// cbor-x writes them, since cbor-x would read a `1b` integer as a BigInt.
const PINNED: [Pinned; 4] = [
    Pinned {
        frame: "request",
        json: r#"{"v":"1.0","t":"request","x":"join","id":"1737100000000-k3j9x2m1q","w":1737100000000,"p":{"username":"alice","room":"general"}}"#,
        cbor_maps: "a6 6176 63312e30 6174 6772657175657374 6178 646a6f696e
            626964 77313733373130303030303030302d6b336a3978326d3171 6177 1b00000194733a7b00
            6170 a2 68757365726e616d65 65616c696365 64726f6f6d 6767656e6572616c",
        cbor_records: CBOR_X_REQUEST,
    },
    Pinned {
        frame: "response_ok",
        json: r#"{"v":"1.0","t":"response_ok","x":"listUsers","id":"1737100000001-abc","w":1737100000001,"p":{"users":[{"name":"alice","age":30.0},{"name":"bob","age":41.5}],"rooms":[[1,2],[3]]}}"#,
        cbor_maps: "a6 6176 63312e30 6174 6b726573706f6e73655f6f6b 6178 696c6973745573657273
            626964 71313733373130303030303030312d616263 6177 1b00000194733a7b01
            6170 a2 657573657273 82 a2 646e616d65 65616c696365 63616765 f94f80
                                    a2 646e616d65 63626f62 63616765 f95130
                    65726f6f6d73 82 820102 8103",
        cbor_records: "d9dfff 88 19e000 86 6176 6174 6178 626964 6177 6170
            63312e30 6b726573706f6e73655f6f6b 696c6973745573657273 71313733373130303030303030312d616263
            fb42794733a7b01000
            d9dfff 84 19e001 82 657573657273 65726f6f6d73
            82 d9dfff 84 19e002 82 646e616d65 63616765 65616c696365 f94f80
               d9e002 82 63626f62 f95130
            82 820102 8103",
    },
    Pinned {
        frame: "send",
        json: r#"{"v":"1.0","t":"send","x":"sendMessage","p":{"message":"hi","n":-7,"f":0.5,"big":9007199254740992,"ok":false,"nil":null}}"#,
        cbor_maps: "a4 6176 63312e30 6174 6473656e64 6178 6b73656e644d657373616765
            6170 a6 676d657373616765 626869 616e 26 6166 f93800 63626967 1b0020000000000000
                    626f6b f4 636e696c f6",
        cbor_records: "d9dfff 86 19e000 84 6176 6174 6178 6170 63312e30 6473656e64
            6b73656e644d657373616765
            d9dfff 88 19e001 86 676d657373616765 616e 6166 63626967 626f6b 636e696c
            626869 26 f93800 fa5a000000 f4 f6",
    },
    Pinned {
        frame: "response_error",
        json: r#"{"v":"1.0","t":"response_error","x":"join","id":"1737100000002-zz","w":1737100000002,"e":{"message":"nope"}}"#,
        cbor_maps: "a6 6176 63312e30 6174 6e726573706f6e73655f6572726f72 6178 646a6f696e
            626964 70313733373130303030303030322d7a7a 6177 1b00000194733a7b02
            6165 a1 676d657373616765 646e6f7065",
        cbor_records: "d9dfff 88 19e000 86 6176 6174 6178 626964 6177 6165
            63312e30 6e726573706f6e73655f6572726f72 646a6f696e 70313733373130303030303030322d7a7a
            fb42794733a7b02000
            d9dfff 83 19e001 81 676d657373616765 646e6f7065",
    },
];

fn pinned_bytes(p: &Pinned, codec: Codec) -> Vec<u8> {
    match codec {
        Codec::JsonText | Codec::JsonBinary => p.json.as_bytes().to_vec(),
        Codec::CborMaps => hex(p.cbor_maps),
        Codec::CborRecords => hex(p.cbor_records),
    }
}

/// The decoded frames; JSON keeps `30.0` a float where CBOR reads an integral float as
/// an integer (see the codec docs).
fn expected(frame: &str, codec: Codec) -> Frame {
    match frame {
        "request" => expected_request(),
        "response_ok" if codec.family() == wsx_core::codec::CodecFamily::Json => {
            let mut f = expected_list();
            f.p.as_mut().unwrap()["users"][0]["age"] = json!(30.0);
            f
        }
        "response_ok" => expected_list(),
        "send" => expected_send(),
        "response_error" => expected_error(),
        other => panic!("no frame {other}"),
    }
}

#[test]
fn every_codec_encodes_the_pinned_bytes() {
    for codec in Codec::ALL {
        for ((name, bytes, text), pinned) in encode_all(codec).into_iter().zip(&PINNED) {
            assert_eq!(name, pinned.frame);
            assert_eq!(text, codec == Codec::JsonText, "{} {name}", codec.name());
            assert_eq!(
                to_hex(&bytes),
                to_hex(&pinned_bytes(pinned, codec)),
                "{} {name}",
                codec.name()
            );
        }
    }
}

#[test]
fn every_codec_decodes_the_pinned_bytes_to_the_same_frame() {
    for codec in Codec::ALL {
        for pinned in &PINNED {
            let bytes = pinned_bytes(pinned, codec);
            let frame = codec
                .decode(&bytes)
                .unwrap_or_else(|e| panic!("{} {}: {e}", codec.name(), pinned.frame));
            assert_eq!(
                frame,
                expected(pinned.frame, codec),
                "{} {}",
                codec.name(),
                pinned.frame
            );
        }
    }
}

#[test]
fn ts_client_json_reads_like_its_cbor() {
    // What the TS client's JSON serializer sends for the list response (JS writes 30, not 30.0).
    let json = br#"{"v":"1.0","t":"response_ok","x":"listUsers","id":"1737100000001-abc","w":1737100000001,"p":{"users":[{"name":"alice","age":30},{"name":"bob","age":41.5}],"rooms":[[1,2],[3]]}}"#;
    assert_eq!(Codec::sniff(false, json), Codec::JsonBinary);
    assert_eq!(
        Codec::JsonBinary.decode(json).unwrap(),
        Codec::CborRecords.decode(&hex(CBOR_X_LIST)).unwrap()
    );
}

#[test]
fn sniffing_tells_every_form_apart() {
    for codec in Codec::ALL {
        for (name, bytes, text) in encode_all(codec) {
            assert_eq!(Codec::sniff(text, &bytes), codec, "{} {name}", codec.name());
        }
    }
    assert_eq!(Codec::sniff(true, b"not even json"), Codec::JsonText);
    assert_eq!(
        Codec::sniff(false, b" \r\n\t{\"t\":\"send\"}"),
        Codec::JsonBinary
    );
    assert_eq!(Codec::sniff(false, &hex(CBOR_X_SEND)), Codec::CborRecords);
    assert_eq!(
        Codec::sniff(false, &hex("a1 6174 6473656e64")),
        Codec::CborMaps
    );
    assert_eq!(Codec::sniff(false, b""), Codec::CborMaps);
}

// ---- what we refuse ---------------------------------------------------------------------

fn cbor_error(bytes: &[u8]) -> DecodeError {
    let e = Codec::CborMaps.decode(bytes).unwrap_err();
    assert_eq!(
        Codec::CborRecords.decode(bytes).unwrap_err(),
        e,
        "both CBOR codecs decode alike"
    );
    e
}

fn assert_malformed(bytes: &[u8], needle: &str) {
    match cbor_error(bytes) {
        DecodeError::Malformed {
            codec: "cbor",
            detail,
        } => {
            assert!(
                detail.contains(needle),
                "{detail:?} does not mention {needle:?}"
            )
        }
        other => panic!(
            "{}: expected a malformed error, got {other:?}",
            to_hex(bytes)
        ),
    }
}

/// `{"t": "send", "x": "a", "p": <p>}` as standard CBOR.
fn send_with(p: &str) -> Vec<u8> {
    hex(&format!("a3 6174 6473656e64 6178 6161 6170 {p}"))
}

#[test]
fn truncated_messages_are_malformed() {
    for pinned in &PINNED {
        for codec in Codec::ALL {
            let bytes = pinned_bytes(pinned, codec);
            for cut in 0..bytes.len() {
                let e = codec.decode(&bytes[..cut]).unwrap_err();
                assert!(
                    matches!(e, DecodeError::Malformed { .. }),
                    "{} {} cut at {cut}: {e:?}",
                    codec.name(),
                    pinned.frame
                );
            }
        }
    }
    assert_malformed(&hex(CBOR_X_REQUEST)[..40], "end of input");
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut bytes = hex(CBOR_X_REQUEST);
    bytes.push(0x00);
    assert_malformed(&bytes, "1 trailing byte");
    let mut bytes = hex(PINNED[0].cbor_maps);
    bytes.extend_from_slice(&hex(PINNED[0].cbor_maps));
    assert_malformed(&bytes, "trailing");
    let json = format!("{} x", PINNED[0].json);
    assert!(matches!(
        Codec::JsonBinary.decode(json.as_bytes()),
        Err(DecodeError::Malformed { codec: "json", .. })
    ));
}

#[test]
fn nesting_deeper_than_max_depth_is_refused_in_every_form() {
    // The envelope is level 1, so `p` may nest MAX_DEPTH - 1 levels.
    let arrays = |n: usize| send_with(&("81".repeat(n) + "00"));
    assert!(Codec::CborMaps.decode(&arrays(MAX_DEPTH - 1)).is_ok());
    assert_eq!(cbor_error(&arrays(MAX_DEPTH)), DecodeError::TooDeep);
    let maps = |n: usize| send_with(&("a1 6161 ".repeat(n) + "00"));
    assert!(Codec::CborMaps.decode(&maps(MAX_DEPTH - 1)).is_ok());
    assert_eq!(cbor_error(&maps(MAX_DEPTH)), DecodeError::TooDeep);
    let records = |n: usize| send_with(&("d9dfff 83 19e000 81 6161 ".repeat(n) + "00"));
    assert!(Codec::CborRecords.decode(&records(MAX_DEPTH - 1)).is_ok());
    assert_eq!(cbor_error(&records(MAX_DEPTH)), DecodeError::TooDeep);
    // Far deeper than any stack should take, in each form and through ignorable tags.
    for p in [
        "81".repeat(100_000),
        "a1 6161 ".repeat(100_000),
        "c1".repeat(100_000),
    ] {
        assert_eq!(cbor_error(&send_with(&(p + "00"))), DecodeError::TooDeep);
    }
    let json = |n: usize| {
        format!(
            r#"{{"t":"send","x":"a","p":{}0{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    assert!(
        Codec::JsonText
            .decode(json(MAX_DEPTH - 1).as_bytes())
            .is_ok()
    );
    assert_eq!(
        Codec::JsonText.decode(json(MAX_DEPTH).as_bytes()),
        Err(DecodeError::TooDeep)
    );
}

#[test]
fn records_must_be_defined_and_well_formed() {
    assert_malformed(
        &send_with("d9e005 81 01"),
        "record 0xe005 is used before its definition",
    );
    // Defined in the message before, then used: fine. Defined in another message: not known.
    let defined = send_with("82 d9dfff 83 19e005 81 6161 01 d9e005 81 02");
    assert_eq!(
        Codec::CborRecords.decode(&defined).unwrap().p,
        Some(json!([{"a": 1}, {"a": 2}]))
    );
    assert_malformed(&send_with("d9dfff 83 19e100 81 6161 01"), "outside");
    assert_malformed(&send_with("d9dfff 83 19e000 81 01 01"), "text");
    assert_malformed(
        &send_with("d9dfff 83 19e000 82 6161 6162 01"),
        "fewer values",
    );
    assert_malformed(&send_with("d9dfff 84 19e000 81 6161 01 02"), "more values");
    assert_malformed(&send_with("d9dfff 01"), "record");
    assert_malformed(
        &send_with("d9dffe 83 19e000 81 6161 01"),
        "cbor-x extension",
    );
    // A later definition of the same id replaces the earlier one (cbor-x reuses ids).
    let redefined =
        send_with("83 d9dfff 83 19e000 81 6161 01 d9dfff 83 19e000 81 6162 02 d9e000 81 03");
    assert_eq!(
        Codec::CborRecords.decode(&redefined).unwrap().p,
        Some(json!([{"a": 1}, {"b": 2}, {"b": 3}]))
    );
}

#[test]
fn values_json_cannot_hold_are_malformed() {
    assert_malformed(&send_with("a1 01 02"), "text map key");
    assert_malformed(&send_with("f97e00"), "NaN");
    assert_malformed(&send_with("fb7ff0000000000000"), "inf");
    assert_malformed(&send_with("43 010203"), "byte strings");
    assert_malformed(&send_with("c2 49 010000000000000000"), "64-bit range");
    assert_malformed(&send_with("3b ffffffffffffffff"), "64-bit range");
    assert_malformed(&hex("f7"), "invalid type");
    assert_malformed(&hex("82 01 02"), "invalid type");
    assert_malformed(&hex("ff"), "");
    assert_malformed(&hex("1c"), "");
    assert!(
        matches!(cbor_error(&hex("a1 6178 6161")), DecodeError::Frame(_)),
        "decodes, but has no `t`"
    );
}

#[test]
fn undefined_is_absent_and_tags_are_transparent() {
    let p = send_with("a3 6161 f7 6162 f6 6163 83 f7 c1 01 d8 20 6178");
    assert_eq!(
        Codec::CborMaps.decode(&p).unwrap().p,
        Some(json!({"b": null, "c": [null, 1, "x"]}))
    );
    // `p: undefined` is no payload at all.
    assert_eq!(Codec::CborMaps.decode(&send_with("f7")).unwrap().p, None);
}
