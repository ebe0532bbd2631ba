//! The server's read of a JSON envelope borrowed from its message, and its prebuilt
//! `response_ok`: the JSON fast path (with the `server` feature).
//!
//! [`decode_ref_str`] reads the envelope without copying a string: first by matching
//! the layout the TypeScript clients write (`scan_canonical`), then with a general scan
//! of the members (`scan_envelope`); `None` sends the frame to the owned decode
//! ([`Codec::decode`](super::Codec::decode)), which also names what is wrong with it.
//! The reply side writes a `response_ok` from a per-event prefix ([`json_ok_prefix`],
//! [`write_json_ok`]), byte for byte what serializing [`OutFrame::ok`] gives.

use super::json::check_depth;
use crate::error::WireError;
#[cfg(doc)]
use crate::protocol::OutFrame;
use crate::protocol::{EnvelopeParts, FrameType, VERSION};
use serde::{Deserialize, Serialize};
use serde_json::Number;

/// A JSON envelope borrowed from the text of its message: no string is copied and the
/// payload stays raw JSON until the handler of its event decodes it into its type.
///
/// Strings with escapes cannot be borrowed; such a frame fails here and is decoded
/// again as a [`WireFrame`], which also gives the precise error of a malformed one.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct JsonFrameRef<'a> {
    #[serde(default, borrow)]
    pub(crate) v: Option<&'a str>,
    #[serde(default, borrow)]
    pub(crate) t: Option<&'a str>,
    #[serde(default, borrow)]
    pub(crate) x: Option<&'a str>,
    #[serde(default, borrow)]
    pub(crate) id: Option<&'a str>,
    #[serde(default)]
    pub(crate) w: Option<Number>,
    #[serde(default, borrow)]
    pub(crate) p: Option<&'a serde_json::value::RawValue>,
    /// Boxed: only a client's `response_error` has one, and the envelope is moved
    /// through the decode of every frame.
    #[serde(default)]
    pub(crate) e: Option<Box<WireError>>,
    /// Set by the direct scan instead of `p` when the payload is the last member: the
    /// rest of the text up to the closing brace, not yet known to be one JSON value.
    /// Whoever decodes it checks that, and sends the frame down the owned path if not.
    #[serde(skip)]
    pub(crate) p_tail: Option<&'a str>,
}

impl<'a> JsonFrameRef<'a> {
    /// The parts the envelope checks look at.
    pub(crate) fn parts(&self) -> EnvelopeParts<'a> {
        EnvelopeParts {
            v: self.v,
            t: self.t,
            x: self.x,
            id: self.id,
            has_e: self.e.is_some(),
        }
    }
}

/// The envelope of a text message, borrowed from it; `None` when it must be decoded
/// the owned way ([`decode`]), which also reports what is wrong with it. The text was
/// checked for UTF-8 by the WebSocket layer, so its strings are not checked again.
pub(crate) fn decode_ref_str(text: &str) -> Option<JsonFrameRef<'_>> {
    check_depth(text.as_bytes()).ok()?;
    scan_canonical(text)
        .or_else(|| scan_envelope(text))
        .or_else(|| serde_json::from_str(text).ok())
}

/// The envelope as wsx's clients write it, read by matching its constant parts: the
/// TypeScript library (`JSON.stringify` of an object built in this order) and
/// `wsx-client` both send
///
/// `{"v":"1.0","t":"…","x":"…"[,"id":"…"][,"w":<digits>][,"p":<payload>]}`
///
/// with no whitespace. Anything else — another key order, whitespace, escapes, a `null`,
/// a `w` that is not a plain integer — is `None` and goes to [`scan_envelope`], which
/// reads the same frames the same way (a property test holds them to it). The general
/// scan dispatches on every key and skips whitespace around every token, ~1,300
/// instructions for an echo request; this is a fifth of that.
fn scan_canonical(text: &str) -> Option<JsonFrameRef<'_>> {
    const HEAD: &[u8] = br#"{"v":"1.0","t":""#;
    let bytes = text.as_bytes();
    if !bytes.starts_with(HEAD) {
        return None;
    }
    let mut frame = JsonFrameRef {
        v: Some("1.0"),
        ..JsonFrameRef::default()
    };
    // The frame type is one of four words: matched whole, not scanned for its end.
    let (t, i) = FRAME_TYPES.iter().find_map(|t| {
        let end = HEAD.len() + t.len();
        (bytes.get(HEAD.len()..end) == Some(t.as_bytes())).then_some((*t, end))
    })?;
    frame.t = Some(t);
    let i = after(bytes, i, br#"","x":""#)?;
    let (x, mut i) = plain_rest(text, i)?;
    frame.x = Some(x);
    if let Some(at) = after(bytes, i, br#","id":""#) {
        let (id, next) = plain_rest(text, at)?;
        frame.id = Some(id);
        i = next;
    }
    if let Some(at) = after(bytes, i, br#","w":"#) {
        let digits = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let w = plain_u64(text.get(at..at + digits)?)?;
        frame.w = Some(serde_json::Number::from(w));
        i = at + digits;
    }
    if let Some(at) = after(bytes, i, br#","p":"#) {
        // A `null` payload is an absent one: the general scan says so.
        let tail = last_member(text, at).filter(|tail| !tail.starts_with("null"))?;
        frame.p_tail = Some(tail);
        return Some(frame);
    }
    (bytes.get(i..) == Some(b"}".as_slice())).then_some(frame)
}

/// The frame types' wire words, the commonest first.
const FRAME_TYPES: [&str; 4] = [
    FrameType::Request.as_str(),
    FrameType::Send.as_str(),
    FrameType::ResponseOk.as_str(),
    FrameType::ResponseError.as_str(),
];

/// The index after `literal` if the bytes at `i` are it.
#[inline]
fn after(bytes: &[u8], i: usize, literal: &[u8]) -> Option<usize> {
    let end = i.checked_add(literal.len())?;
    (bytes.get(i..end) == Some(literal)).then_some(end)
}

/// The rest of a string whose opening quote is just before `i`, if plain (no escape, no
/// control character): its text and the index after its closing quote.
#[inline]
fn plain_rest(text: &str, i: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let len = bytes
        .get(i..)?
        .iter()
        .position(|&b| super::json_write::ESCAPE[usize::from(b)] != 0)?;
    let end = i + len;
    (bytes[end] == b'"').then(|| (&text[i..end], end + 1))
}

/// The envelope of the common frame, read directly: an object of the known keys whose
/// strings have no escapes, each key once, and no `e`. A payload that ends the object is
/// left unchecked in `p_tail` (see [`last_member`]); one followed by other members has its
/// extent found by serde_json (which checks it is JSON). Everything else is a plain scan,
/// since serde's struct visitor (a string parse per key, an `Option` per field) was a
/// fifth of an echo server's time. Anything outside that shape is `None`, and serde_json
/// decodes it: where both succeed they agree (a property test holds them to it, once
/// `p_tail` is checked to be one value).
fn scan_envelope(text: &str) -> Option<JsonFrameRef<'_>> {
    let bytes = text.as_bytes();
    let mut frame = JsonFrameRef::default();
    let mut seen = 0u8;
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(bytes, i + 1);
    if bytes.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            let (key, next) = envelope_key(bytes, i)?;
            i = skip_ws(bytes, next);
            if bytes.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(bytes, i + 1);
            let bit = key as u8;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            if bytes.get(i..i + 4) == Some(b"null") {
                i += 4;
            } else {
                match key {
                    Key::W => {
                        let end = bytes[i..]
                            .iter()
                            .position(|b| {
                                !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                            })
                            .map_or(bytes.len(), |n| i + n);
                        let number = text.get(i..end)?;
                        frame.w = Some(match plain_u64(number) {
                            Some(n) => serde_json::Number::from(n),
                            None => serde_json::from_str(number).ok()?,
                        });
                        i = end;
                    }
                    Key::P => {
                        if let Some(tail) = last_member(text, i) {
                            frame.p_tail = Some(tail);
                            return Some(frame);
                        }
                        let rest = text.get(i..)?;
                        let mut de = serde_json::Deserializer::from_str(rest);
                        let raw: &serde_json::value::RawValue =
                            serde::Deserialize::deserialize(&mut de).ok()?;
                        // The raw value is a slice of `rest`: it ends where the payload ends.
                        let offset =
                            (raw.get().as_ptr() as usize).checked_sub(rest.as_ptr() as usize)?;
                        i += offset + raw.get().len();
                        frame.p = Some(raw);
                    }
                    Key::V | Key::T | Key::X | Key::Id => {
                        let (value, next) = plain_string(text, i)?;
                        i = next;
                        let slot = match key {
                            Key::V => &mut frame.v,
                            Key::T => &mut frame.t,
                            Key::X => &mut frame.x,
                            _ => &mut frame.id,
                        };
                        *slot = Some(value);
                    }
                }
            }
            i = skip_ws(bytes, i);
            match bytes.get(i) {
                Some(b',') => i = skip_ws(bytes, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(bytes, i) == bytes.len()).then_some(frame)
}

/// The value of a member starting at `i`, if it is the last one: the text from `i` up to
/// the object's closing brace, trimmed. Whether that is one JSON value is not checked
/// here: the payload is parsed once, by its decode (see `JsonFrameRef::p_tail`), rather
/// than once to find its end and again into its type.
fn last_member(text: &str, i: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    let close = skip_ws_back(bytes, i, bytes.len()).checked_sub(1)?;
    if close < i || bytes[close] != b'}' {
        return None;
    }
    let end = skip_ws_back(bytes, i, close);
    text.get(i..end).filter(|tail| !tail.is_empty())
}

/// A key of the envelope the scan reads, as its bit in the set of keys seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    V = 1,
    T = 2,
    X = 4,
    Id = 8,
    W = 16,
    P = 32,
}

/// One of the envelope's keys but `e` (`"v"`, `"t"`, `"x"`, `"id"`, `"w"`, `"p"`, written
/// plainly) starting at `i`, and the index after it; `None` for any other key.
#[inline]
fn envelope_key(bytes: &[u8], i: usize) -> Option<(Key, usize)> {
    let key = match bytes.get(i..i + 4)? {
        [b'"', b'i', b'd', b'"'] => return Some((Key::Id, i + 4)),
        [b'"', b'v', b'"', _] => Key::V,
        [b'"', b't', b'"', _] => Key::T,
        [b'"', b'x', b'"', _] => Key::X,
        [b'"', b'w', b'"', _] => Key::W,
        [b'"', b'p', b'"', _] => Key::P,
        _ => return None,
    };
    Some((key, i + 3))
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
#[inline]
fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// [`skip_ws`] backwards: the end of `bytes[from..end]` without its trailing JSON
/// whitespace.
fn skip_ws_back(bytes: &[u8], from: usize, mut end: usize) -> usize {
    while end > from && matches!(bytes[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
        end -= 1;
    }
    end
}

/// A JSON integer of digits only (no sign, no leading zero) that fits a `u64`, as
/// serde_json would read it; anything else is left to serde_json.
fn plain_u64(number: &str) -> Option<u64> {
    let bytes = number.as_bytes();
    let plain = !bytes.is_empty()
        && bytes.len() <= 19
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes.len() == 1 || bytes[0] != b'0');
    if plain { number.parse().ok() } else { None }
}

/// A string starting at `i` with no escape and no control character, and the index
/// after its closing quote.
fn plain_string(text: &str, i: usize) -> Option<(&str, usize)> {
    if text.as_bytes().get(i) != Some(&b'"') {
        return None;
    }
    plain_rest(text, i + 1)
}

/// [`decode_ref_str`] for JSON in a binary message.
///
/// JSON in a binary message is what the TypeScript library's JSON serializer sends: once
/// its bytes are found to be UTF-8 it is read as text is. Bytes that are not UTF-8 are
/// not JSON either: the owned decode names what is wrong.
pub(crate) fn decode_ref_slice(bytes: &[u8]) -> Option<JsonFrameRef<'_>> {
    std::str::from_utf8(bytes).ok().and_then(decode_ref_str)
}

/// The bytes every JSON `response_ok` of event `x` starts with: what
/// [`OutFrame::ok`] writes before the `id`. A server builds it once per event.
pub(crate) fn json_ok_prefix(x: &str) -> Result<String, serde_json::Error> {
    Ok(format!(
        r#"{{"v":"{VERSION}","t":"response_ok","x":{}"#,
        serde_json::to_string(x)?
    ))
}

/// Writes a JSON `response_ok` exactly as [`OutFrame::ok`] serializes, from its prefix
/// ([`json_ok_prefix`]): the event name and the constant keys are not serialized again.
pub(crate) fn write_json_ok<P: Serialize + ?Sized>(
    out: &mut String,
    prefix: &str,
    id: Option<&str>,
    w: Option<&Number>,
    p: &P,
) -> Result<(), serde_json::Error> {
    use crate::codec::json_write;
    out.push_str(prefix);
    if let Some(id) = id {
        out.push_str(r#","id":"#);
        json_write::write_str(out, id);
    }
    if let Some(w) = w {
        out.push_str(r#","w":"#);
        // A client's clock in ms, as serde_json writes a `u64`.
        match w.as_u64() {
            Some(ms) => out.push_str(itoa::Buffer::new().format(ms)),
            None => json_write::write(out, w)?,
        }
    }
    out.push_str(r#","p":"#);
    json_write::write(out, p)?;
    out.push('}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a borrowed envelope says, comparable.
    fn parts(f: &JsonFrameRef<'_>) -> impl PartialEq + std::fmt::Debug {
        (
            f.v.map(str::to_owned),
            f.t.map(str::to_owned),
            f.x.map(str::to_owned),
            f.id.map(str::to_owned),
            f.w.clone(),
            f.p.map(|p| p.get().to_owned()),
            f.e.is_some(),
        )
    }

    fn string_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("\"1.0\"".to_owned()),
            Just("\"request\"".to_owned()),
            Just("null".to_owned()),
            Just("\"a\\\"b\"".to_owned()),
            Just("7".to_owned()),
            "[a-z0-9é ]{0,5}".prop_map(|s| format!("\"{s}\"")),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            string_value(),
            Just("0".to_owned()),
            Just("-1.5e3".to_owned()),
            Just("1.".to_owned()),
            Just("01".to_owned()),
            Just("42".to_owned()),
            Just("9999999999999999999".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("{\"text\":\"hi\"}".to_owned()),
            Just("[1, {\"a\": [true, null]}]".to_owned()),
            Just("{\"a\":".to_owned()),
            Just("{\"message\":\"x\"}".to_owned()),
        ]
    }

    fn envelope() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("v"),
            Just("t"),
            Just("x"),
            Just("id"),
            Just("w"),
            Just("p"),
            Just("e"),
            Just("other"),
        ];
        let ws = prop_oneof![Just(""), Just(" "), Just("\n\t")];
        proptest::collection::vec((key, value(), ws), 0..8).prop_map(|fields| {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v, w)| format!("{w}\"{k}\"{w}:{w}{v}{w}"))
                .collect();
            format!("{{{}}}", body.join(","))
        })
    }

    #[test]
    fn a_payload_that_ends_the_frame_is_left_unchecked() {
        let text = r#"{"v":"1.0","t":"request","x":"echo","id":"1","p": {"text":"hi"} }"#;
        let frame = scan_envelope(text).unwrap();
        assert_eq!(
            (frame.p_tail, frame.p.is_none()),
            (Some(r#"{"text":"hi"}"#), true)
        );
        // A member after the payload: the tail is not one value, which its decode finds.
        let text = r#"{"v":"1.0","p":{"text":"hi"},"t":"request"}"#;
        let tail = scan_envelope(text).unwrap().p_tail.unwrap();
        assert_eq!(tail, r#"{"text":"hi"},"t":"request""#);
        assert!(serde_json::from_str::<&serde_json::value::RawValue>(tail).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Where the scan reads an envelope, serde_json reads the same one.
        #[test]
        fn the_scan_agrees_with_serde(text in envelope(), tail in prop_oneof![Just(""), Just(" "), Just("x")]) {
            let text = format!("{text}{tail}");
            // A payload left unchecked is used only once it is found to be one value
            // (else the frame takes the owned path): check it as the decode would.
            let checked = scan_envelope(&text).and_then(|mut frame| match frame.p_tail.take() {
                Some(tail) => serde_json::from_str(tail).ok().map(|raw| JsonFrameRef { p: Some(raw), ..frame }),
                None => Some(frame),
            });
            if let Some(scanned) = checked {
                let serde: JsonFrameRef<'_> = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("scanned, but serde refuses {text}: {e}"));
                prop_assert_eq!(parts(&scanned), parts(&serde), "{}", text);
            }
        }
    }

    /// Frames in the clients' layout, and near misses of it.
    fn canonical() -> impl Strategy<Value = String> {
        let string = prop_oneof![
            Just("\"request\"".to_owned()),
            Just("\"send\"".to_owned()),
            Just("\"response_ok\"".to_owned()),
            Just("\"bogus\"".to_owned()),
            Just("\"a\\\"b\"".to_owned()),
            Just("\"\"".to_owned()),
            Just("null".to_owned()),
            "[a-z0-9é -]{0,12}".prop_map(|s| format!("\"{s}\"")),
        ];
        let number = prop_oneof![
            Just("0".to_owned()),
            Just("1737100000000".to_owned()),
            Just("01".to_owned()),
            Just("-1".to_owned()),
            Just("1.5".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("null".to_owned()),
        ];
        let head = prop_oneof![
            4 => Just(r#"{"v":"1.0","t":"#),
            1 => Just(r#"{"v":"1.1","t":"#),
            1 => Just(r#"{ "v":"1.0","t":"#),
        ];
        let end =
            prop_oneof![6 => Just(""), 1 => Just(" "), 1 => Just(",\"e\":{}"), 1 => Just("x")];
        (
            head,
            string.clone(),
            string.clone(),
            proptest::option::of(string),
            proptest::option::of(number),
            proptest::option::of(value()),
            end,
        )
            .prop_map(|(head, t, x, id, w, p, end)| {
                let mut text = format!(r#"{head}{t},"x":{x}"#);
                if let Some(id) = id {
                    text += &format!(r#","id":{id}"#);
                }
                if let Some(w) = w {
                    text += &format!(r#","w":{w}"#);
                }
                if let Some(p) = p {
                    text += &format!(r#","p":{p}"#);
                }
                format!("{text}{end}}}")
            })
    }

    /// Everything a scan read, the unchecked payload included.
    fn scanned(f: &JsonFrameRef<'_>) -> impl PartialEq + std::fmt::Debug {
        (parts(f), f.p_tail.map(str::to_owned))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Where the clients' layout is matched, the general scan reads the same frame.
        #[test]
        fn the_canonical_scan_agrees_with_the_general_one(text in canonical()) {
            prop_assert!(canonical_agrees(&text), "{}", text);
        }

        /// The general envelopes never fool the canonical scan either.
        #[test]
        fn the_canonical_scan_agrees_on_any_envelope(text in envelope()) {
            prop_assert!(canonical_agrees(&text), "{}", text);
        }
    }

    /// Whether the canonical scan, where it reads `text`, reads what the general one does.
    fn canonical_agrees(text: &str) -> bool {
        match (scan_canonical(text), scan_envelope(text)) {
            (Some(fast), Some(general)) => scanned(&fast) == scanned(&general),
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    #[test]
    fn the_clients_layout_takes_the_canonical_scan() {
        for text in [
            r#"{"v":"1.0","t":"request","x":"echo","id":"17","w":0,"p":{"text":"hi"}}"#,
            r#"{"v":"1.0","t":"request","x":"join","id":"1737100000000-k3j9x2m1q","w":1737100000000,"p":{"username":"alice","room":"general"}}"#,
            r#"{"v":"1.0","t":"send","x":"typing","p":{"active":true}}"#,
            r#"{"v":"1.0","t":"send","x":"ping"}"#,
        ] {
            let fast = scan_canonical(text).unwrap_or_else(|| panic!("not canonical: {text}"));
            let general = scan_envelope(text).expect("general");
            assert_eq!(scanned(&fast), scanned(&general), "{text}");
        }
        for other in [
            r#"{"t":"request","v":"1.0","x":"echo","id":"17"}"#,
            r#"{"v":"1.0","t":"request","x":"echo","id":"1\"7"}"#,
            r#"{"v":"1.0","t":"request","x":"echo","id":null}"#,
            r#"{"v":"1.0","t":"request","x":"echo","w":-1}"#,
            r#"{"v":"1.0","t":"request","x":"echo"} "#,
        ] {
            assert!(scan_canonical(other).is_none(), "{other}");
        }
    }

    #[test]
    fn json_in_a_binary_message_is_scanned_once_it_is_utf8() {
        let text = r#"{"v":"1.0","t":"send","x":"typing","p":{"active":true}}"#;
        let frame = decode_ref_slice(text.as_bytes()).expect("read");
        assert_eq!(
            (frame.x, frame.p_tail),
            (Some("typing"), Some(r#"{"active":true}"#))
        );
        let mut bad = text.as_bytes().to_vec();
        bad[26] = 0xff;
        assert!(
            decode_ref_slice(&bad).is_none(),
            "not UTF-8: the owned decode names it"
        );
    }

    #[test]
    fn the_common_frame_is_scanned() {
        let text = r#"{"v":"1.0","t":"request","x":"echo","id":"17","w":0,"p":{"text":"hi"}}"#;
        let f = scan_envelope(text).expect("scanned");
        assert_eq!(
            (f.v, f.t, f.x, f.id, f.p_tail),
            (
                Some("1.0"),
                Some("request"),
                Some("echo"),
                Some("17"),
                Some(r#"{"text":"hi"}"#)
            )
        );
        assert!(
            scan_envelope(r#"{"x":"a\"b"}"#).is_none(),
            "escapes go to serde"
        );
        assert!(
            scan_envelope(r#"{"x":"a","x":"b"}"#).is_none(),
            "duplicates go to serde"
        );
        assert_eq!(
            scan_envelope(r#"{"p":{"a":}"#).and_then(|f| f.p_tail),
            Some(r#"{"a":"#),
            "malformed payload at the end: left to its decode, which refuses it"
        );
    }

    #[test]
    fn the_prebuilt_response_is_byte_for_byte_the_serialized_one() {
        let payload = serde_json::json!({ "text": "h\"i é\n", "n": [1, 2.5] });
        let ws = [
            None,
            Some(Number::from(0)),
            Some(Number::from(1737100000000u64)),
            Number::from_f64(-1.5),
        ];
        for x in ["echo", "sendMessage", "we\"ird"] {
            let prefix = json_ok_prefix(x).unwrap();
            for id in [None, Some("1"), Some("a\"b\\c\u{1}")] {
                for w in &ws {
                    let mut fast = String::new();
                    write_json_ok(&mut fast, &prefix, id, w.as_ref(), &payload).unwrap();
                    let slow = serde_json::to_string(&crate::protocol::OutFrame::ok(
                        x,
                        id,
                        w.as_ref(),
                        &payload,
                    ))
                    .unwrap();
                    assert_eq!(fast, slow);
                }
            }
        }
    }
}
