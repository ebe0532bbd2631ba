//! Every chat request's payload through the typed fast path and the JSON Schema
//! validator: the fast path never takes what the validator refuses, reads what it takes
//! as the validator's path does, and (on text a `Value` writes back unchanged) takes
//! everything the validator takes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        wsx_fuzz::typed_check(text);
    }
});
