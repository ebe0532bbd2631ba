//! The wsx echo server: one request event, `echo`, that answers with the text it got.
//!
//! It is what the benchmarks (`scripts/bench.sh`, the `loadgen` binary of `wsx-bench`)
//! measure against a bare axum WebSocket server. Run it with
//!
//! ```sh
//! cargo run --release -p example-echo -- --addr 127.0.0.1:3002
//! ```
//!
//! and send `{"v":"1.0","t":"request","x":"echo","id":"1","w":0,"p":{"text":"hi"}}` to
//! `ws://127.0.0.1:3002/ws`. The first line on stdout is `listening on ADDR`, so a
//! parent process can start it on port 0 and read the port.
//!
//! Settings are the framework defaults (payload validation on, a 1 KiB read buffer and a
//! 4 KiB write buffer per connection, 64 KiB messages) except one: the per-connection
//! rate limit (100 messages/s by default) is disabled, since a benchmark client sends far
//! more than a person would. `--read-buffer` (or `WSX_READ_BUFFER`, which the bare
//! baseline reads too) sets the read buffer, to measure what its size trades.

use clap::Parser;
use std::io::Write;
use wsx_core::server::{HandlerError, ServerBuilder, ServerConfig};

wsx_core::define_events! {
    /// The events of the echo server.
    pub events EchoEvents;

    /// Answers with the same text.
    request echo: EchoRequest {
        /// The text to send back, up to 64 KiB.
        text: String.max(65536),
    } -> EchoResponse {
        /// The text that was sent.
        text: String,
    }
}

/// Flags of the echo server.
#[derive(Debug, Parser)]
#[command(about = "The wsx echo server")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "WSX_ECHO_ADDR", default_value = "127.0.0.1:3002")]
    addr: std::net::SocketAddr,
    /// WebSocket read buffer per connection, in bytes (default: the framework's).
    #[arg(long, env = "WSX_READ_BUFFER")]
    read_buffer: Option<usize>,
}

async fn echo(req: EchoRequest) -> Result<EchoResponse, HandlerError> {
    Ok(EchoResponse { text: req.text })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let defaults = ServerConfig::default();
    let config = ServerConfig {
        rate_limit_per_second: None,
        read_buffer_size: args.read_buffer.unwrap_or(defaults.read_buffer_size),
        ..defaults
    };
    let server = ServerBuilder::<(), ()>::new(())
        .config(config)
        .on_request::<Echo, _, _>(echo)
        .build()?;
    let app = axum::Router::new().route("/ws", server.route());
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    // Replies are written in bursts with one flush each; Nagle would only delay them.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(server.shutdown_on(shutdown_signal()))
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
