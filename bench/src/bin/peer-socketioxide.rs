//! A peer to compare wsx with: a Socket.IO server on socketioxide, serving the
//! benchmark's events the way a socketioxide application would.
//!
//! - `echo {text}` is acknowledged with the same `{text}` (`42<id>["echo",…]` →
//!   `43<id>[…]`).
//! - `join {username, room}` puts the socket in `room` and is acknowledged.
//! - `send {room, message}` emits `message {message}` to every socket in `room` (the
//!   sender included, as wsx's room push does) and is acknowledged.
//!
//! Everything else is socketioxide's defaults, but the ping interval and timeout (5
//! minutes each, so that the idle scenario's clients, which never answer pings, stay
//! connected while memory is read; the rpc and fan-out clients answer them) and the packets a socket may have waiting ([`QUEUE`], as wsx and bare).
//! Served on axum like the others, with `TCP_NODELAY`. The first line on stdout is
//! `listening on ADDR`.
//!
//! ```sh
//! cargo run --release -p wsx-bench --bin peer-socketioxide -- --addr 127.0.0.1:0
//! ```

use clap::Parser;
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use std::time::Duration;

/// Packets a socket may have waiting (socketioxide's default is 128); as wsx's default
/// outbound queue and the bare server's.
const QUEUE: usize = 1024;

#[derive(Debug, Parser)]
#[command(about = "Socket.IO echo and room server on socketioxide (benchmark peer)")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3004")]
    addr: std::net::SocketAddr,
}

#[derive(Debug, Serialize, Deserialize)]
struct Echo {
    text: String,
}

#[derive(Debug, Deserialize)]
struct Join {
    #[allow(dead_code)]
    username: String,
    room: String,
}

#[derive(Debug, Deserialize)]
struct Send {
    room: String,
    message: String,
}

#[derive(Debug, Serialize)]
struct RoomMessage<'a> {
    message: &'a str,
}

/// Registers the event handlers, as a connect middleware: socketioxide sends the connect
/// packet before it runs the connect handler (as a task), so an event the client sends
/// right after it could arrive before a handler registered there and go unanswered (a
/// join lost now and then). Middlewares run before the connect packet is sent.
async fn register(socket: SocketRef) -> Result<(), std::convert::Infallible> {
    socket.on("echo", async |Data(echo): Data<Echo>, ack: AckSender| {
        let _ = ack.send(&echo);
    });
    socket.on(
        "join",
        async |socket: SocketRef, Data(join): Data<Join>, ack: AckSender| {
            socket.join(join.room);
            let _ = ack.send(&true);
        },
    );
    socket.on(
        "send",
        async |socket: SocketRef, Data(send): Data<Send>, ack: AckSender| {
            let pushed = socket
                .within(send.room)
                .emit(
                    "message",
                    &RoomMessage {
                        message: &send.message,
                    },
                )
                .await
                .is_ok();
            let _ = ack.send(&pushed);
        },
    );
    Ok(())
}

/// Nothing left to do once connected: the handlers are registered by [`register`].
async fn on_connect() {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let _ = rlimit::increase_nofile_limit(65_536);
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(300))
        .ping_timeout(Duration::from_secs(300))
        .max_buffer_size(QUEUE)
        .build_layer();
    io.ns("/", on_connect.with(register));
    let app = axum::Router::new().layer(layer);
    wsx_bench::serve_announced(args.addr, app).await?;
    Ok(())
}
