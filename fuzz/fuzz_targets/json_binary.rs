//! The json_binary decoder on arbitrary bytes: no panic, and what it reads it writes back and
//! reads again as the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx_core::codec::Codec;

fuzz_target!(|data: &[u8]| wsx_fuzz::decoder(Codec::JsonBinary, data));
