//! wsx benchmarks: the load generator's scenarios, and the report they print.
//!
//! Everything runs on 127.0.0.1; servers are child processes, so the memory measured is
//! the server's own. Every loop is bounded in count and in time.
//!
//! # Layout
//! | module | what it holds |
//! | --- | --- |
//! | [`server`] | starting a server binary as a child process, reading its RSS |
//! | [`wire`] | what the load generator sends and reads: wsx JSON, CBOR records or maps, Socket.IO, JSON-RPC |
//! | [`cbor`] | the little CBOR the wsx wire needs, written and read without a tree |
//! | [`stats`] | latency samples and their percentiles |
//! | [`rpc`] | scenario 1: round trips with requests in flight |
//! | [`fanout`] | scenario 2: rooms of many receivers, one sender in each |
//! | [`idle`] | scenario 3: many open, idle connections and the server's memory |
//! | [`report`] | figures, medians of runs, the table, JSON lines and the SVG chart |
//! | [`storm`] | the reconnect storm against the chat server (`src/bin/storm.rs`) |
//!
//! Run everything with `scripts/bench.sh`; see `BENCHMARKS.md`.

pub mod cbor;
pub mod fanout;
pub mod idle;
pub mod report;
pub mod rpc;
pub mod server;
pub mod stats;
pub mod storm;
pub mod wire;

use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wire::Wire;

/// A load generator's connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to `url` and says hello if `wire` needs it (Socket.IO's namespace connect),
/// waiting at most `limit` in all.
pub async fn open(url: &str, wire: Wire, limit: Duration) -> Result<Socket, String> {
    use futures::{SinkExt, StreamExt};
    let opened = async {
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(client_config()), true)
                .await
                .map_err(|e| e.to_string())?;
        if let Some(hello) = wire.hello() {
            ws.send(hello).await.map_err(|e| e.to_string())?;
            loop {
                match ws.next().await {
                    Some(Ok(msg)) if wire.is_welcome(&msg) => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("closed before the welcome".to_owned()),
                }
            }
        }
        Ok(ws)
    };
    tokio::time::timeout(limit, opened)
        .await
        .map_err(|_| format!("{url}: not open within {limit:?}"))?
}

/// Serves `app` on `addr` as every benchmark server does: `TCP_NODELAY` on each accepted
/// socket, `listening on ADDR` as the first line on stdout (what
/// [`server::ServerProcess::spawn_announced`] reads), until Ctrl-C.
pub async fn serve_announced(addr: std::net::SocketAddr, app: axum::Router) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    use std::io::Write;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async { drop(tokio::signal::ctrl_c().await) })
        .await
}

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
///
/// For a key looked up in every frame, make a [`StringField`] once instead.
pub fn string_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    StringField::new(key).find(json)
}

/// A prepared [`string_field`] lookup: the searcher for `"key":"` is built once, and a
/// frame is scanned once, whatever other fields contain the key's name (the chat's
/// `message` push has `"x":"message"` and `"messageId"` before its `"message"`).
#[derive(Debug, Clone)]
pub struct StringField {
    needle: memchr::memmem::Finder<'static>,
}

impl StringField {
    /// A lookup of `key`'s string value.
    pub fn new(key: &str) -> Self {
        StringField {
            needle: memchr::memmem::Finder::new(format!("\"{key}\":\"").as_bytes()).into_owned(),
        }
    }

    /// The value in `json`, if it has the key with a string value.
    pub fn find<'a>(&self, json: &'a str) -> Option<&'a str> {
        let start = self.needle.find(json.as_bytes())? + self.needle.needle().len();
        // `start` follows an ASCII quote, so it is a character boundary; so is `len`.
        let len = memchr::memchr(b'"', json.as_bytes().get(start..)?)?;
        json.get(start..start + len)
    }
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
        assert_eq!(string_field(frame, "v"), Some("1.0"));
        assert_eq!(StringField::new("x").find(frame), Some("message"));
        assert_eq!(StringField::new("p").find(frame), None, "not a string");
        assert_eq!(string_field(r#"{"a":"unterminated"#, "a"), None);
        assert_eq!(string_field(r#"{"message":"é ü"}"#, "message"), Some("é ü"));
    }
}
