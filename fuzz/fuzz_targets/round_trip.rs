//! A frame read from any codec's bytes goes out and back through all four codecs and
//! reads the same each time (up to integral floats between the JSON and CBOR families).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wsx_fuzz::round_trip(data));
