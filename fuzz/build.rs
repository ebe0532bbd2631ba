//! Copies the chat's event declaration (examples/chat/src/events.rs) without its module
//! docs, so `src/lib.rs` can include it: the typed-check target fuzzes exactly the chat's
//! events without building the chat (SQLite, clap, the Prometheus exporter).

use std::path::PathBuf;

fn main() {
    let source = "../examples/chat/src/events.rs";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("the chat's events are readable");
    let items: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//!"))
        .collect();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("chat_events.rs"), items.join("\n")).expect("OUT_DIR is writable");
}
