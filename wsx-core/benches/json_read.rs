//! Whether the canonical scan of a JSON envelope pays: the server's read of a frame in
//! the clients' layout, against serde alone reading the same frame.
//!
//! `cargo bench -p wsx-core --bench json_read`

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use wsx_core::__private::read_json_frame;

fn frames(c: &mut Criterion) {
    let long = "x".repeat(200);
    let cases = [
        (
            "echo",
            r#"{"v":"1.0","t":"request","x":"echo","id":"17","w":1737100000000,"p":{"text":"hello world"}}"#.to_owned(),
        ),
        (
            "chat_message",
            format!(
                r#"{{"v":"1.0","t":"request","x":"sendMessage","id":"1737100000000-k3j9x2m1q","w":1737100000000,"p":{{"room":"general","text":"{long}"}}}}"#
            ),
        ),
        (
            "typing",
            r#"{"v":"1.0","t":"send","x":"typing","p":{"active":true}}"#.to_owned(),
        ),
    ];
    let mut group = c.benchmark_group("json_read");
    for (name, text) in &cases {
        assert!(read_json_frame(text, true) && read_json_frame(text, false));
        group.bench_function(format!("{name}/canonical_scan"), |b| {
            b.iter(|| read_json_frame(black_box(text), true))
        });
        group.bench_function(format!("{name}/serde"), |b| {
            b.iter(|| read_json_frame(black_box(text), false))
        });
    }
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
