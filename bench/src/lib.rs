//! wsx benchmarks: the load generator's scenarios, and the report they print.
//!
//! Everything runs on 127.0.0.1; servers are child processes, so the memory measured is
//! the server's own. Every loop is bounded in count and in time.
//!
//! # Layout
//! | module | what it holds |
//! | --- | --- |
//! | [`server`] | starting a server binary as a child process, reading its RSS |
//! | [`stats`] | latency samples and their percentiles |
//! | [`rpc`] | scenario 1: round trips with requests in flight |
//! | [`fanout`] | scenario 2: one sender, one room of many receivers |
//! | [`idle`] | scenario 3: many open, idle connections and the server's memory |
//! | [`report`] | figures, medians of runs, the table, JSON lines and the SVG chart |
//!
//! Run everything with `scripts/bench.sh`; see `BENCHMARKS.md`.

pub mod fanout;
pub mod idle;
pub mod report;
pub mod rpc;
pub mod server;
pub mod stats;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The client's WebSocket settings: small buffers, like the servers', so that 10,000
/// connections fit in the load generator's memory.
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096)
}

/// The value of the string field `"key":"…"` in a JSON text, found without parsing the
/// whole message (the load generator must stay cheap: it shares the cores with the
/// server). Good enough for the frames the benchmarks build themselves.
pub fn string_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let needle_at = find_key(json, key)?;
    let rest = &json[needle_at..];
    let end = rest.find('"')?;
    Some(&rest[..end])
}

fn find_key(json: &str, key: &str) -> Option<usize> {
    let bytes = json.as_bytes();
    let mut from = 0;
    while let Some(at) = json[from..].find(key) {
        let start = from + at;
        let end = start + key.len();
        let quoted_before = start > 0 && bytes[start - 1] == b'"';
        if quoted_before && json[end..].starts_with("\":\"") {
            return Some(end + 3);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_string_fields() {
        let frame =
            r#"{"v":"1.0","t":"send","x":"message","p":{"messageId":"m1","message":"bench 3 42"}}"#;
        assert_eq!(string_field(frame, "message"), Some("bench 3 42"));
        assert_eq!(string_field(frame, "t"), Some("send"));
        assert_eq!(string_field(frame, "id"), None);
    }
}
