//! JSON, in text or binary frames. serde_json bounds nesting at 128 levels by itself; we
//! check [`MAX_DEPTH`](super::MAX_DEPTH) before parsing so both codecs agree.

use super::{DecodeError, EncodeError, MAX_DEPTH};
use crate::protocol::WireFrame;
use serde::Serialize;

pub(super) fn malformed(e: serde_json::Error) -> DecodeError {
    DecodeError::Malformed {
        codec: "json",
        detail: e.to_string(),
    }
}

/// Rejects input nested deeper than [`MAX_DEPTH`] with a linear scan that skips strings.
pub(super) fn check_depth(bytes: &[u8]) -> Result<(), DecodeError> {
    // Fast path: fewer opening brackets than the limit cannot nest deeper than it. A
    // branch-free count, which the compiler vectorizes, instead of a state machine per
    // byte: it runs on every frame. Counted per 64-byte chunk in `u8` lanes (which cannot
    // overflow there), so that it vectorizes 16 bytes at a time.
    let openers: usize = bytes
        .chunks(64)
        .map(|chunk| {
            let n: u8 = chunk
                .iter()
                .map(|&b| u8::from(b == b'{') + u8::from(b == b'['))
                .sum();
            usize::from(n)
        })
        .sum();
    if openers <= MAX_DEPTH {
        return Ok(());
    }
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

pub(super) fn decode(bytes: &[u8]) -> Result<WireFrame, DecodeError> {
    check_depth(bytes)?;
    serde_json::from_slice(bytes).map_err(malformed)
}

pub(super) fn decode_value(bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
    check_depth(bytes)?;
    serde_json::from_slice(bytes).map_err(malformed)
}

pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    super::with_scratch(|out| super::json_write::write(out, value))
        .map(String::into_bytes)
        .map_err(|e| EncodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_bounded_and_strings_do_not_count() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(decode_value(deep.as_bytes()), Err(DecodeError::TooDeep));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(decode_value(ok.as_bytes()).is_ok());
        let in_string = format!("{{\"p\":\"{}\"}}", "[".repeat(500));
        assert!(decode_value(in_string.as_bytes()).is_ok());
    }
}
