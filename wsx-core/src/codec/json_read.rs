//! The server's read of a JSON envelope, borrowed from its message where it can be
//! (with the `server` feature).
//!
//! [`decode_str`] reads the layout wsx's clients write by matching its constant parts
//! ([`scan_canonical`]); any other layout is read by serde into the same [`JsonFrame`],
//! whose strings are borrowed unless they hold escapes. Both find the payload's extent
//! (one JSON value, as serde would delimit it) and leave its content to whoever decodes
//! it: the typed decode of the handler's event reads every byte of it anyway, strictly
//! enough to accept only what a `serde_json::Value` holds, so checking the content here
//! too would read each payload twice. Where nothing decodes it (an unknown event, a
//! refusal), [`check_payload`] does; a payload that fails it makes the whole frame
//! malformed, on every path (see `server::inbound`). What cannot be read is refused with
//! serde_json's own error, as [`Codec::decode`](super::Codec::decode) refuses it.

use super::DecodeError;
use super::MAX_DEPTH;
use super::json::{check_depth, malformed};
use crate::error::WireError;
use crate::protocol::{EnvelopeParts, FrameType};
use serde::{Deserialize, Deserializer};
use serde_json::Number;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A JSON envelope as read from its message: strings borrowed from the text unless they
/// hold escapes, and the payload raw JSON until the handler of its event decodes it into
/// its type.
#[derive(Debug, Default)]
pub(crate) struct JsonFrame<'a> {
    pub(crate) v: Option<Cow<'a, str>>,
    pub(crate) t: Option<Cow<'a, str>>,
    pub(crate) x: Option<Cow<'a, str>>,
    pub(crate) id: Option<Cow<'a, str>>,
    pub(crate) w: Option<Number>,
    /// Payload: one JSON value by its extent, not `null` (read as absent); whether a
    /// `serde_json::Value` holds it (numbers in range, escapes a string can hold) is for
    /// its reader to find out ([`check_payload`]).
    pub(crate) p: Option<&'a str>,
    pub(crate) e: Option<Box<WireError>>,
}

/// The envelope as serde reads it.
#[derive(Debug, Default, Deserialize)]
struct SerdeFrame<'a> {
    /// Protocol version.
    #[serde(default, borrow, deserialize_with = "cow_str")]
    pub(crate) v: Option<Cow<'a, str>>,
    /// Frame type.
    #[serde(default, borrow, deserialize_with = "cow_str")]
    pub(crate) t: Option<Cow<'a, str>>,
    /// Event name.
    #[serde(default, borrow, deserialize_with = "cow_str")]
    pub(crate) x: Option<Cow<'a, str>>,
    /// Request id.
    #[serde(default, borrow, deserialize_with = "cow_str")]
    pub(crate) id: Option<Cow<'a, str>>,
    /// Sender clock.
    #[serde(default)]
    pub(crate) w: Option<Number>,
    /// Payload; `null` reads as absent.
    #[serde(default, borrow)]
    pub(crate) p: Option<&'a RawValue>,
    /// Error, on a client's `response_error`. Boxed: only those have one, and the
    /// envelope is moved through the read of every frame.
    #[serde(default)]
    pub(crate) e: Option<Box<WireError>>,
}

impl<'a> From<SerdeFrame<'a>> for JsonFrame<'a> {
    fn from(frame: SerdeFrame<'a>) -> Self {
        JsonFrame {
            v: frame.v,
            t: frame.t,
            x: frame.x,
            id: frame.id,
            w: frame.w,
            p: frame.p.map(RawValue::get),
            e: frame.e,
        }
    }
}

/// `text` itself if it is one JSON value that a `serde_json::Value` holds (numbers in
/// range, strings well escaped), else serde_json's error: one pass, no allocation. The
/// content check of a payload nothing decodes.
pub(crate) fn check_payload(text: &str) -> serde_json::Result<&str> {
    /// Any JSON value, read (not skipped: skipping does not check numbers) and dropped.
    struct Checked;

    impl<'de> Deserialize<'de> for Checked {
        fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
            de.deserialize_any(Checked)
        }
    }

    impl<'de> serde::de::Visitor<'de> for Checked {
        type Value = Checked;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_unit<E>(self) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
            while seq.next_element::<Checked>()?.is_some() {}
            Ok(Checked)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
            while map.next_entry::<Checked, Checked>()?.is_some() {}
            Ok(Checked)
        }
    }

    serde_json::from_str::<Checked>(text).map(|Checked| text)
}

impl JsonFrame<'_> {
    /// The parts the envelope checks look at.
    pub(crate) fn parts(&self) -> EnvelopeParts<'_> {
        EnvelopeParts {
            v: self.v.as_deref(),
            t: self.t.as_deref(),
            x: self.x.as_deref(),
            id: self.id.as_deref(),
            has_e: self.e.is_some(),
        }
    }
}

/// An optional string, borrowed from the input unless it holds escapes (serde's own
/// `Option<Cow<str>>` always copies).
fn cow_str<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct CowStr<'a>(Cow<'a, str>);

    impl<'de> Deserialize<'de> for CowStr<'de> {
        fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Cow<'de, str>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                    Ok(Cow::Borrowed(s))
                }
                fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                    Ok(Cow::Owned(s.to_owned()))
                }
                fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                    Ok(Cow::Owned(s))
                }
            }
            de.deserialize_str(Visit).map(CowStr)
        }
    }

    Ok(Option::<CowStr<'de>>::deserialize(de)?.map(|s| s.0))
}

/// The envelope of a text message. The text was checked for UTF-8 by the WebSocket
/// layer, so its strings are not checked again.
pub(crate) fn decode_str(text: &str) -> Result<JsonFrame<'_>, DecodeError> {
    // The scan bounds the depth itself (see `one_value`): the separate depth check is
    // for what goes to serde.
    if let Some(frame) = scan_canonical(text) {
        return Ok(frame);
    }
    check_depth(text.as_bytes())?;
    serde_json::from_str::<SerdeFrame<'_>>(text)
        .map(JsonFrame::from)
        .map_err(malformed)
}

/// [`decode_str`], or serde alone when `canonical_scan` is off (for the benchmark of the
/// scan, through `__private`): whether the frame was read.
pub(crate) fn read_for_bench(text: &str, canonical_scan: bool) -> bool {
    if canonical_scan {
        return decode_str(text).is_ok();
    }
    check_depth(text.as_bytes()).is_ok() && serde_json::from_str::<SerdeFrame<'_>>(text).is_ok()
}

/// [`decode_str`] for JSON in a binary message (the TypeScript library's JSON
/// serializer): read as text once its bytes are found to be UTF-8; bytes that are not
/// are refused with what serde_json finds wrong with them.
pub(crate) fn decode_slice(bytes: &[u8]) -> Result<JsonFrame<'_>, DecodeError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => decode_str(text),
        Err(_) => {
            check_depth(bytes)?;
            serde_json::from_slice::<SerdeFrame<'_>>(bytes)
                .map(JsonFrame::from)
                .map_err(malformed)
        }
    }
}

/// The envelope as wsx's clients write it, read by matching its constant parts: the
/// TypeScript library (`JSON.stringify` of an object built in this order) and
/// `wsx-client` both send
///
/// `{"v":"1.0","t":"…","x":"…"[,"id":"…"][,"w":<digits>][,"p":<payload>]}`
///
/// with no whitespace. Anything else — another key order, whitespace, escapes, a `null`,
/// a `w` that is not a plain integer, an end that is not one JSON value ([`one_value`])
/// — is `None` and goes to serde, which reads the same frames the same way (a property
/// test holds them to it). The constant parts are compared, not parsed: no key dispatch and no
/// whitespace skipping, which serde's struct visitor spends most of its time on.
fn scan_canonical(text: &str) -> Option<JsonFrame<'_>> {
    const HEAD: &[u8] = br#"{"v":"1.0","t":""#;
    let bytes = text.as_bytes();
    if !bytes.starts_with(HEAD) {
        return None;
    }
    let mut frame = JsonFrame {
        v: Some(Cow::Borrowed("1.0")),
        ..JsonFrame::default()
    };
    // The frame type is one of four words: matched whole, not scanned for its end.
    let (t, i) = FRAME_TYPES.iter().find_map(|t| {
        let end = HEAD.len() + t.len();
        (bytes.get(HEAD.len()..end) == Some(t.as_bytes())).then_some((*t, end))
    })?;
    frame.t = Some(Cow::Borrowed(t));
    let i = after(bytes, i, br#"","x":""#)?;
    let (x, mut i) = plain_rest(text, i)?;
    frame.x = Some(Cow::Borrowed(x));
    if let Some(at) = after(bytes, i, br#","id":""#) {
        let (id, next) = plain_rest(text, at)?;
        frame.id = Some(Cow::Borrowed(id));
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
        // A `null` payload is an absent one: serde says so.
        let tail = last_member(text, at).filter(|tail| !tail.starts_with("null"))?;
        // Inside the envelope's object: one level fewer is left for the payload.
        frame.p = Some(one_value(tail, MAX_DEPTH - 1)?);
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

/// The value of a member starting at `i`, if it is the last one: the text from `i` up to
/// the object's closing brace, trimmed. Whether that is one JSON value is for the caller
/// to check.
fn last_member(text: &str, i: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    let close = skip_ws_back(bytes, i, bytes.len()).checked_sub(1)?;
    if close < i || bytes[close] != b'}' {
        return None;
    }
    let end = skip_ws_back(bytes, i, close);
    text.get(i..end).filter(|tail| !tail.is_empty())
}

/// `text` if it is one JSON value by its extent: where the value that starts it ends, as
/// serde would delimit it if it is valid, is the end of `text`. Strings are skipped to
/// their closing quote and containers to their closing bracket; nothing else is checked
/// (separators, number syntax, escapes): a value that is not valid JSON makes the whole
/// message malformed whichever way it is read, and the payload's reader says so. Valid
/// JSON is delimited exactly as serde delimits it, so a frame read here is the frame
/// serde reads. A value nested deeper than `max_depth` (brackets outside strings, as
/// `check_depth` counts them) is `None` too.
fn one_value(text: &str, max_depth: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    let end = match *bytes.first()? {
        b'"' => skip_string(bytes, 1)?,
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = 0;
            loop {
                match *bytes.get(i)? {
                    b'"' => {
                        i = skip_string(bytes, i + 1)?;
                        continue;
                    }
                    b'{' | b'[' => {
                        depth += 1;
                        if depth > max_depth {
                            return None;
                        }
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            break i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => bytes
            .iter()
            .position(
                |b| !matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'+' | b'-' | b'.'),
            )
            .unwrap_or(bytes.len()),
    };
    (end == bytes.len() && end > 0).then_some(text)
}

/// The index after the closing quote of a string whose content starts at `i`.
fn skip_string(bytes: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[i] == b'"' {
            return Some(i + 1);
        }
        // The byte after a backslash is not the string's end.
        i += 2;
    }
}

/// The end of `bytes[from..end]` without its trailing JSON whitespace.
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What an envelope says, comparable.
    fn parts(f: &JsonFrame<'_>) -> impl PartialEq + std::fmt::Debug {
        (
            f.v.as_deref().map(str::to_owned),
            f.t.as_deref().map(str::to_owned),
            f.x.as_deref().map(str::to_owned),
            f.id.as_deref().map(str::to_owned),
            f.w.clone(),
            f.p.map(str::to_owned),
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
            // Near misses for the payload's extent and content.
            Just("{\"a\" 1}".to_owned()),
            Just("{\"a\":1}}".to_owned()),
            Just("[1}".to_owned()),
            Just("tru".to_owned()),
            Just("1e999".to_owned()),
            Just("{\"zz\":-1e999}".to_owned()),
            Just("\"\\ud800\"".to_owned()),
            Just("{\"s\":\"}\\\"]\"}".to_owned()),
            Just("\"a\\\\\"".to_owned()),
            Just("\"a\\\"".to_owned()),
            Just("{\"a\":[1,2],\"b\":{}}".to_owned()),
        ]
    }

    /// Envelopes of any key order, whitespace and value, valid or not.
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

    /// Whether the canonical scan, where it reads `text`, reads what serde does: the same
    /// frame, or, where serde refuses the message, a payload that fails its content
    /// check (so the frame is malformed either way).
    fn canonical_agrees(text: &str) -> bool {
        match (
            scan_canonical(text),
            serde_json::from_str::<SerdeFrame<'_>>(text).map(JsonFrame::from),
        ) {
            (Some(fast), Ok(serde)) => parts(&fast) == parts(&serde),
            (Some(fast), Err(_)) => fast.p.is_some_and(|p| check_payload(p).is_err()),
            (None, _) => true,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Where the clients' layout is matched, serde reads the same frame.
        #[test]
        fn the_canonical_scan_agrees_with_serde(text in canonical()) {
            prop_assert!(canonical_agrees(&text), "{}", text);
        }

        /// Other layouts never fool the canonical scan either.
        #[test]
        fn the_canonical_scan_agrees_on_any_envelope(text in envelope(), tail in prop_oneof![Just(""), Just(" "), Just("x")]) {
            let text = format!("{text}{tail}");
            prop_assert!(canonical_agrees(&text), "{}", text);
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
            let serde = serde_json::from_str::<SerdeFrame<'_>>(text)
                .map(JsonFrame::from)
                .expect("serde");
            assert_eq!(parts(&fast), parts(&serde), "{text}");
        }
        for other in [
            r#"{"t":"request","v":"1.0","x":"echo","id":"17"}"#,
            r#"{"v":"1.0","t":"request","x":"echo","id":"1\"7"}"#,
            r#"{"v":"1.0","t":"request","x":"echo","id":null}"#,
            r#"{"v":"1.0","t":"request","x":"echo","w":-1}"#,
            r#"{"v":"1.0","t":"request","x":"echo"} "#,
            // The end of the message is not one value: not the clients' layout.
            r#"{"v":"1.0","t":"request","x":"echo","p":{"a":1},"e":{}}"#,
            r#"{"v":"1.0","t":"request","x":"echo","p":{"a":}"#,
        ] {
            assert!(scan_canonical(other).is_none(), "{other}");
        }
    }

    #[test]
    fn strings_are_borrowed_unless_they_hold_escapes() {
        let frame = decode_str(r#"{"t":"request","x":"ec\"ho","id":"7","p":{"a":1}}"#).unwrap();
        assert!(matches!(frame.x, Some(Cow::Owned(ref x)) if x == "ec\"ho"));
        assert!(matches!(frame.id, Some(Cow::Borrowed("7"))));
        assert!(matches!(frame.t, Some(Cow::Borrowed("request"))));
        assert_eq!(frame.p, Some(r#"{"a":1}"#));
    }

    #[test]
    fn what_cannot_be_read_is_refused_with_serdes_error() {
        for text in [
            r#"{"p":{"a":}"#,
            r#"{"x":1}"#,
            "not json",
            r#"{"x":"a","x":"b"}"#,
        ] {
            let err = decode_str(text).unwrap_err();
            assert!(
                matches!(err, DecodeError::Malformed { codec: "json", .. }),
                "{text}: {err}"
            );
        }
        let deep = format!(r#"{{"p":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        assert_eq!(decode_str(&deep).unwrap_err(), DecodeError::TooDeep);
    }

    #[test]
    fn the_scan_bounds_depth_as_the_depth_check_does() {
        // The envelope is level 1, so `p` may nest MAX_DEPTH - 1 levels; brackets in
        // strings do not count.
        let frame = |levels: usize, extra: &str| {
            format!(
                r#"{{"v":"1.0","t":"send","x":"a","p":{}"{extra}"{}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        let deepest = frame(MAX_DEPTH - 1, "[[[[");
        assert!(scan_canonical(&deepest).is_some(), "read by the scan");
        assert!(decode_str(&deepest).is_ok());
        assert!(check_depth(deepest.as_bytes()).is_ok());
        for too_deep in [frame(MAX_DEPTH, ""), frame(MAX_DEPTH + 40, "]]")] {
            assert!(scan_canonical(&too_deep).is_none());
            assert_eq!(decode_str(&too_deep).unwrap_err(), DecodeError::TooDeep);
        }
        // Objects count as arrays do.
        let objects = |levels: usize| {
            format!(
                r#"{{"v":"1.0","t":"send","x":"a","p":{}1{}}}"#,
                r#"{"k":"#.repeat(levels),
                "}".repeat(levels)
            )
        };
        assert!(scan_canonical(&objects(MAX_DEPTH - 1)).is_some());
        assert_eq!(
            decode_str(&objects(MAX_DEPTH)).unwrap_err(),
            DecodeError::TooDeep
        );
    }

    #[test]
    fn json_in_a_binary_message_is_read_once_it_is_utf8() {
        let text = r#"{"v":"1.0","t":"send","x":"typing","p":{"active":true}}"#;
        let frame = decode_slice(text.as_bytes()).expect("read");
        assert_eq!(
            (frame.x.as_deref(), frame.p),
            (Some("typing"), Some(r#"{"active":true}"#))
        );
        let mut bad = text.as_bytes().to_vec();
        bad[26] = 0xff;
        assert!(matches!(
            decode_slice(&bad),
            Err(DecodeError::Malformed { codec: "json", .. })
        ));
    }
}
