//! The server's reads of a CBOR message (its envelope straight from the bytes, or the
//! whole message transcoded to JSON) against each other and against the owned decode.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wsx_fuzz::cbor_envelope(data));
