//! The chat server: `cargo run --release -p wsx-chat -- --help`.
//!
//! Prints `wsx-chat listening on http://ADDR` on stdout once bound (with `--port 0`, the
//! port picked), logs on stderr (`RUST_LOG=debug` for more).

use clap::Parser;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;
use wsx_chat::{Chat, Config};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in files or journals.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = Config::parse();
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("wsx-chat: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    // Flags that do not fit together are refused before anything is opened.
    let store = config.database()?.describe();
    let listener = listen(std::net::SocketAddr::new(config.addr, config.port))?;
    let addr = listener.local_addr()?;
    let chat = Chat::new(config).await?;
    println!("wsx-chat listening on http://{addr}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, history = %store, "serving: WebSocket at /ws, REST at /api, SSE at /events, metrics at /metrics");
    if let Some(cluster) = chat.app.cluster() {
        tracing::info!(
            node = cluster.node(),
            "cluster node: rooms, names and messages shared through Redis"
        );
    }
    chat.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Connections the kernel queues before they are accepted. After a restart every client
/// comes back within a second or two (a reconnect storm: 10,000 in `scripts/bench.sh
/// storm`); a queue of 1,024 (tokio's default) overflows and the dropped SYNs are only
/// retried after 1, 2, 4 s. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (address reuse on, as `TcpListener::bind` does) with [`LISTEN_BACKLOG`].
fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
