//! The server's borrowed read of a JSON envelope (text or binary) against the owned
//! decode: where the borrowed one takes a frame, the owned one reads the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wsx_fuzz::envelope_ref(data));
