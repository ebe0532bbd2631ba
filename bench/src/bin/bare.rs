//! The bare baseline: a minimal axum WebSocket server with no framework, the practical
//! limit every wsx figure is divided by.
//!
//! - `/echo` sends every text or binary frame back as it came (JSON text, CBOR binary).
//! - `/room` puts every connection in one room, `/room/{name}` in the room `name`; each
//!   text or binary frame received is sent to every member of the sender's room (the
//!   sender included).
//!
//! Both write in bursts, as wsx does: what is ready is fed to the socket and flushed
//! once. Socket buffers are wsx's defaults (`ServerConfig::default()`: 1 KiB read, 4 KiB
//! write; `--read-buffer` or `WSX_READ_BUFFER` sets the read buffer of both servers
//! alike). The first line on stdout is `listening on ADDR`.
//!
//! ```sh
//! cargo run --release -p wsx-bench --bin bare -- --addr 127.0.0.1:0
//! ```

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use clap::Parser;
use futures::{FutureExt, SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use tokio::sync::mpsc;
use wsx_core::server::ServerConfig;

/// The socket sizes of every connection, set once at start.
static SIZES: OnceLock<Sizes> = OnceLock::new();

/// wsx's socket defaults, the read buffer as `--read-buffer` sets it.
struct Sizes {
    read_buffer: usize,
    write_buffer: usize,
    max_message: usize,
}

impl Sizes {
    fn new(read_buffer: Option<usize>) -> Sizes {
        let defaults = ServerConfig::default();
        Sizes {
            read_buffer: read_buffer.unwrap_or(defaults.read_buffer_size),
            write_buffer: defaults.write_buffer_size,
            max_message: defaults.max_message_size,
        }
    }
}
/// Frames already buffered that are read before the replies are flushed.
const READ_BURST: usize = 64;
/// Frames one member may have waiting; as wsx's default outbound queue.
const QUEUE: usize = 1024;

#[derive(Debug, Parser)]
#[command(about = "Bare axum WebSocket echo and broadcast server (benchmark baseline)")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3003")]
    addr: std::net::SocketAddr,
    /// WebSocket read buffer per connection, in bytes (default: wsx's default).
    #[arg(long, env = "WSX_READ_BUFFER")]
    read_buffer: Option<usize>,
}

/// A room: every member's queue.
#[derive(Default)]
struct Room {
    members: RwLock<HashMap<u64, mpsc::Sender<Message>>>,
}

/// Every room by name; a room is made by its first member and stays.
#[derive(Default)]
struct Rooms {
    next_id: AtomicU64,
    by_name: RwLock<HashMap<String, Arc<Room>>>,
}

impl Rooms {
    fn get(&self, name: &str) -> Option<Arc<Room>> {
        if let Some(room) = self.by_name.read().ok()?.get(name) {
            return Some(room.clone());
        }
        let mut rooms = self.by_name.write().ok()?;
        Some(rooms.entry(name.to_owned()).or_default().clone())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    SIZES.get_or_init(|| Sizes::new(args.read_buffer));
    let _ = rlimit::increase_nofile_limit(65_536);
    let rooms = Arc::new(Rooms::default());
    let app = axum::Router::new()
        .route("/echo", axum::routing::get(echo_upgrade))
        .route("/room", axum::routing::get(room_upgrade))
        .route("/room/{name}", axum::routing::get(named_room_upgrade))
        .with_state(rooms);
    wsx_bench::serve_announced(args.addr, app).await?;
    Ok(())
}

fn sized(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    let sizes = SIZES.get_or_init(|| Sizes::new(None));
    ws.read_buffer_size(sizes.read_buffer)
        .write_buffer_size(sizes.write_buffer)
        .max_message_size(sizes.max_message)
}

async fn echo_upgrade(ws: WebSocketUpgrade) -> Response {
    sized(ws).on_upgrade(echo)
}

/// Reads a frame and whatever else is already buffered, then writes the echoes with one
/// flush.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(first)) = socket.next().await {
        let mut pending = Some(first);
        let mut burst = 0;
        while let Some(msg) = pending.take() {
            let fed = match msg {
                msg @ (Message::Text(_) | Message::Binary(_)) => socket.feed(msg).await.is_ok(),
                Message::Close(_) => false,
                _ => true,
            };
            if !fed {
                return;
            }
            burst += 1;
            if burst < READ_BURST {
                if let Some(Some(Ok(next))) = socket.next().now_or_never() {
                    pending = Some(next);
                }
            }
        }
        if socket.flush().await.is_err() {
            return;
        }
    }
}

async fn room_upgrade(ws: WebSocketUpgrade, State(rooms): State<Arc<Rooms>>) -> Response {
    sized(ws).on_upgrade(move |socket| member(socket, rooms, String::new()))
}

async fn named_room_upgrade(
    ws: WebSocketUpgrade,
    Path(name): Path<String>,
    State(rooms): State<Arc<Rooms>>,
) -> Response {
    sized(ws).on_upgrade(move |socket| member(socket, rooms, name))
}

/// One member: a select loop over the socket (frames to broadcast) and the member's queue
/// (frames to write, drained and flushed once per burst).
async fn member(mut socket: WebSocket, rooms: Arc<Rooms>, name: String) {
    let Some(room) = rooms.get(&name) else {
        return;
    };
    let id = rooms.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    if let Ok(mut members) = room.members.write() {
        members.insert(id, tx);
    }
    loop {
        tokio::select! {
            msg = socket.next() => match msg {
                Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => broadcast(&room, &msg),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            Some(first) = rx.recv() => {
                let mut ok = socket.feed(first).await.is_ok();
                while ok {
                    match rx.try_recv() {
                        Ok(next) => ok = socket.feed(next).await.is_ok(),
                        Err(_) => break,
                    }
                }
                if !ok || socket.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    if let Ok(mut members) = room.members.write() {
        members.remove(&id);
    }
}

fn broadcast(room: &Room, msg: &Message) {
    let Ok(members) = room.members.read() else {
        return;
    };
    for tx in members.values() {
        // A full queue loses the frame: the loss shows in the load generator's count.
        // Cloning a message clones its `Bytes`: a reference count, not the bytes.
        let _ = tx.try_send(msg.clone());
    }
}
