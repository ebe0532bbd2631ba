//! A peer to compare wsx with: a JSON-RPC 2.0 server on jsonrpsee, over WebSocket,
//! serving the benchmark's calls the way a jsonrpsee application would.
//!
//! - `echo {text}` answers `{text}`.
//! - `subscribe_room {room}` subscribes to the room's messages, delivered as
//!   `room_message` notifications carrying `{message}` (`unsubscribe_room` ends it).
//! - `send {room, message}` publishes to the room and answers how many subscriptions
//!   it reached.
//!
//! A room is a `tokio::sync::broadcast` channel of [`QUEUE`] messages, so a subscriber that
//! falls that far behind loses messages (counted by the load generator), as a member of
//! the bare server's room does; each subscription then waits for room in its connection's
//! buffer (jsonrpsee's default, 1,024 messages). Everything else is jsonrpsee's
//! defaults, but the connection limit (100 by default; the scenarios open up to 10,000).
//! The first line on stdout is `listening on ADDR`.
//!
//! ```sh
//! cargo run --release -p wsx-bench --bin peer-jsonrpsee -- --addr 127.0.0.1:0
//! ```

use clap::Parser;
use jsonrpsee::server::{RpcModule, Server, ServerConfig};
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Messages a room keeps for a subscriber that is behind, as wsx's default outbound queue.
const QUEUE: usize = 1024;

#[derive(Debug, Parser)]
#[command(about = "JSON-RPC echo and room server on jsonrpsee (benchmark peer)")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3005")]
    addr: std::net::SocketAddr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Echo {
    text: String,
}

#[derive(Debug, Deserialize)]
struct Subscribe {
    room: String,
}

#[derive(Debug, Deserialize)]
struct Send {
    room: String,
    message: String,
}

#[derive(Debug, Serialize)]
struct RoomMessage {
    message: String,
}

/// A room message, serialized once for all its subscribers.
type Published = Arc<serde_json::value::RawValue>;

/// Every room by name; a room is made by its first subscriber or message and stays.
#[derive(Default)]
struct Rooms {
    by_name: Mutex<HashMap<String, broadcast::Sender<Published>>>,
}

impl Rooms {
    fn sender(&self, room: &str) -> Option<broadcast::Sender<Published>> {
        let mut rooms = self.by_name.lock().ok()?;
        Some(
            rooms
                .entry(room.to_owned())
                .or_insert_with(|| broadcast::channel(QUEUE).0)
                .clone(),
        )
    }
}

fn internal(message: &str) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32603, message.to_owned(), None::<()>)
}

fn module() -> Result<RpcModule<Rooms>, Box<dyn std::error::Error>> {
    let mut module = RpcModule::new(Rooms::default());
    module.register_method("echo", |params, _, _| params.parse::<Echo>())?;
    module.register_method("send", |params, rooms, _| {
        let send: Send = params.parse()?;
        let tx = rooms.sender(&send.room).ok_or_else(|| internal("rooms"))?;
        let message = serde_json::value::to_raw_value(&RoomMessage {
            message: send.message,
        })
        .map_err(|e| internal(&e.to_string()))?;
        Ok::<_, ErrorObjectOwned>(tx.send(Arc::from(message)).unwrap_or(0))
    })?;
    module.register_subscription(
        "subscribe_room",
        "room_message",
        "unsubscribe_room",
        |params, pending, rooms, _| async move {
            let subscribe: Subscribe = params.parse()?;
            let mut rx = rooms
                .sender(&subscribe.room)
                .ok_or_else(|| internal("rooms"))?
                .subscribe();
            let sink = pending.accept().await?;
            loop {
                tokio::select! {
                    message = rx.recv() => match message {
                        Ok(message) => {
                            // jsonrpsee writes each notification with its own
                            // subscription id: a copy of the message per subscriber.
                            if sink.send(message.as_ref().to_owned()).await.is_err() {
                                break;
                            }
                        }
                        // Messages lost to a full room queue: the load generator counts them.
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = sink.closed() => break,
                }
            }
            Ok(())
        },
    )?;
    Ok(module)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let _ = rlimit::increase_nofile_limit(65_536);
    let config = ServerConfig::builder()
        .ws_only()
        .max_connections(20_000)
        .build();
    let server = Server::builder()
        .set_config(config)
        .build(args.addr)
        .await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", server.local_addr()?)?;
    stdout.flush()?;
    let handle = server.start(module()?);
    tokio::select! {
        _ = handle.clone().stopped() => {}
        _ = tokio::signal::ctrl_c() => {
            let _ = handle.stop();
        }
    }
    Ok(())
}
