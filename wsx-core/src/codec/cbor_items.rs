//! CBOR items written as ciborium writes them: headers in their shortest form, text,
//! integers (as a float where ciborium's `Value` makes one: see [`records`](super::records)),
//! floats in the shortest exact width. The direct records writers
//! ([`records_write`](super::records_write)) write every item through these.

use super::records::MAX_SAFE_INTEGER;
use super::records_write::Refused;

/// CBOR major types, as the top three bits of an item's first byte.
pub(super) mod major {
    pub(in crate::codec) const POSITIVE: u8 = 0;
    pub(in crate::codec) const NEGATIVE: u8 = 1;
    pub(in crate::codec) const BYTES: u8 = 2;
    pub(in crate::codec) const TEXT: u8 = 3;
    pub(in crate::codec) const ARRAY: u8 = 4;
    pub(in crate::codec) const TAG: u8 = 6;
}

/// CBOR's `false`.
pub(super) const FALSE: u8 = 0xf4;
/// CBOR's `true`.
pub(super) const TRUE: u8 = 0xf5;
/// CBOR's `null` (what ciborium writes for `None` and `()`).
pub(super) const NULL: u8 = 0xf6;

/// An item's header in its shortest form, as ciborium writes every header.
#[inline(always)]
pub(super) fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[m | 24, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(m | 25);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(m | 26);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A length as a header's argument.
#[inline]
pub(super) fn head_len(out: &mut Vec<u8>, major: u8, len: usize) {
    head(out, major, len as u64);
}

/// A text item.
#[inline]
pub(super) fn text(out: &mut Vec<u8>, s: &[u8]) {
    head_len(out, major::TEXT, s.len());
    out.extend_from_slice(s);
}

/// A float in the shortest width that holds it exactly: ciborium's own encoding
/// (through its half-precision conversion), so NaN payloads and all are the same.
pub(super) fn float(out: &mut Vec<u8>, v: f64) -> Result<(), Refused> {
    ciborium::into_writer(&v, out).map_err(|_| Refused)
}

/// An integer of 2^32 < |n| <= 2^53 as a float: what [`float`] writes for it, without
/// ciborium's half-precision attempt (such an `n` is beyond a half's range, 65504):
/// float32 if its 24 significant bits hold it, else float64. Every clock in
/// milliseconds (`w`) takes this path.
#[inline]
fn integral_float(out: &mut Vec<u8>, n: f64) {
    let single = n as f32;
    if f64::from(single).to_bits() == n.to_bits() {
        out.push(0xfa);
        out.extend_from_slice(&single.to_be_bytes());
    } else {
        out.push(0xfb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A non-negative integer: as a float if it needs 8 bytes but is exact in a double
/// (see [`records`](super::records)).
#[inline]
pub(super) fn unsigned(out: &mut Vec<u8>, n: u64) {
    if n > u64::from(u32::MAX) && u128::from(n) <= MAX_SAFE_INTEGER {
        // Exact: n <= 2^53.
        integral_float(out, n as f64);
    } else {
        head(out, major::POSITIVE, n);
    }
}

/// A signed integer: see [`unsigned`].
#[inline]
pub(super) fn signed(out: &mut Vec<u8>, n: i64) {
    match u64::try_from(n) {
        Ok(n) => unsigned(out, n),
        Err(_) => negative(out, n),
    }
}

/// A negative integer: see [`unsigned`].
#[inline]
fn negative(out: &mut Vec<u8>, n: i64) {
    // CBOR's argument for a negative n is -1 - n.
    let arg = !(n as u64);
    if arg > u64::from(u32::MAX) && u128::from(arg) < MAX_SAFE_INTEGER {
        // Exact: |n| = arg + 1 <= 2^53.
        integral_float(out, n as f64);
    } else {
        head(out, major::NEGATIVE, arg);
    }
}

/// A 128-bit integer within CBOR's 64-bit range is an ordinary integer; beyond it the
/// tree writer writes a bignum (a tag), which is refused.
pub(super) fn wide(out: &mut Vec<u8>, n: i128) -> Result<(), Refused> {
    if let Ok(n) = i64::try_from(n) {
        signed(out, n);
        return Ok(());
    }
    if let Ok(n) = u64::try_from(n) {
        unsigned(out, n);
        return Ok(());
    }
    // Below i64::MIN: |n| > 2^53, an integer either way.
    let arg = u64::try_from(-1 - n).map_err(|_| Refused)?;
    head(out, major::NEGATIVE, arg);
    Ok(())
}
