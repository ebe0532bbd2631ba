//! One node of a clustered wsx app: every node started with the same `--redis` URL (and
//! `--prefix`) is part of one server. A client joins a room on any node and hears every
//! message sent to that room on any node.
//!
//! Three nodes on one machine (Redis on 127.0.0.1:6379):
//!
//! ```sh
//! cargo build --release -p example-cluster-echo
//! for port in 4001 4002 4003; do
//!   target/release/example-cluster-echo --addr 127.0.0.1:$port &
//! done
//! ```
//!
//! then connect to `ws://127.0.0.1:4001/ws` and `ws://127.0.0.1:4003/ws` and send
//! `{"v":"1.0","t":"request","x":"join","id":"1","w":0,"p":{"username":"ann","room":"lobby"}}`
//! on each, then `{"v":"1.0","t":"request","x":"sendMessage","id":"2","w":0,"p":{"message":"hi"}}`
//! on one: both receive the `message` push. The first line on stdout is
//! `listening on ADDR`, so a parent process can start it on port 0. `--local` runs it
//! alone, without Redis.
//!
//! The events are those of the chat that the fan-out benchmark speaks (`join` with a
//! `username` and a `room`, `sendMessage`, the `message` push), without the chat's
//! history: the `cluster` benchmark scenario runs against it.

use clap::Parser;
use std::io::Write;
use std::sync::Mutex;
use wsx_core::server::{Conn, HandlerError, ServerBuilder, ServerConfig};
use wsx_redis::{RedisAdapter, RedisConfig};

wsx_core::define_events! {
    /// The events of the cluster example.
    pub events ClusterEchoEvents;

    /// Enters a room (and leaves the previous one); answers with the connection's id
    /// and the room's members on every node.
    request join: JoinRequest {
        /// A display name.
        username: String.min(1).max(50),
        /// The room.
        room: String.min(1).max(100),
    } -> JoinResponse {
        /// The connection's id, unique in the cluster.
        id: u64,
        /// Members of the room on every node.
        members: u64,
    }

    /// Sends a message to everyone in the connection's room, on every node.
    request sendMessage: SendMessageRequest {
        /// The text.
        message: String.max(4096),
    } -> SendMessageResponse {
        /// Members of this node that got it.
        delivered: u64,
    }

    /// A message sent to the room.
    push message: RoomMessage {
        /// The room.
        room: String,
        /// Who sent it.
        username: String,
        /// The text.
        message: String,
    }
}

/// Flags of the node.
#[derive(Debug, Parser)]
#[command(about = "One node of a clustered wsx app")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "WSX_NODE_ADDR", default_value = "127.0.0.1:4001")]
    addr: std::net::SocketAddr,
    /// The Redis every node of the cluster shares.
    #[arg(long, env = "WSX_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Key and channel prefix: nodes with the same one form one cluster.
    #[arg(long, env = "WSX_REDIS_PREFIX", default_value = "cluster-echo")]
    prefix: String,
    /// Run alone, without Redis (the single-node figure of the benchmark).
    #[arg(long)]
    local: bool,
    /// Runtime worker threads (default: one per CPU). Several nodes on one machine share
    /// its CPUs: give each its part.
    #[arg(long)]
    threads: Option<usize>,
}

/// A connection's name and room.
#[derive(Debug, Default)]
struct Member {
    place: Mutex<Option<(String, String)>>,
}

async fn join(conn: Conn<Member>, req: JoinRequest) -> Result<JoinResponse, HandlerError> {
    let previous = conn
        .state()
        .place
        .lock()
        .map_err(|_| HandlerError::new("state unavailable"))?
        .replace((req.username, req.room.clone()));
    if let Some((_, room)) = previous {
        conn.leave(&room);
    }
    conn.join(&req.room)?;
    // This node's share is current; the others' are as of their last membership write.
    let members = conn
        .cluster_count(&req.room)
        .await
        .map_err(|e| HandlerError::new(e.to_string()))?;
    Ok(JoinResponse {
        id: conn.id(),
        members: members as u64,
    })
}

async fn send_message(
    conn: Conn<Member>,
    req: SendMessageRequest,
) -> Result<SendMessageResponse, HandlerError> {
    let place = conn
        .state()
        .place
        .lock()
        .map_err(|_| HandlerError::new("state unavailable"))?
        .clone();
    let Some((username, room)) = place else {
        return Err(HandlerError::new("join a room first"));
    };
    let delivered = conn.to(&room).push::<RoomMessage>(RoomMessage {
        room: room.clone(),
        username,
        message: req.message,
    })?;
    Ok(SendMessageResponse {
        delivered: delivered as u64,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    runtime.enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = RedisConfig {
        prefix: args.prefix.clone(),
        ..RedisConfig::default()
    };
    let adapter = if args.local {
        None
    } else {
        Some(RedisAdapter::connect_with(&args.redis, config).await?)
    };
    let builder = ServerBuilder::<(), Member>::new(())
        .config(ServerConfig {
            rate_limit_per_second: None,
            ..ServerConfig::default()
        })
        .on_request::<Join, _, _>(join)
        .on_request::<SendMessage, _, _>(send_message);
    let server = match &adapter {
        Some(adapter) => builder.adapter(adapter.clone()).build()?,
        None => builder.build()?,
    };
    let app = axum::Router::new().route("/ws", server.route());
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    match &adapter {
        Some(adapter) => tracing::info!(node = adapter.node(), "in the cluster"),
        None => tracing::info!("alone, without Redis"),
    }
    let shutdown = server.shutdown_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    if let Some(adapter) = adapter {
        adapter.leave_cluster().await?;
    }
    Ok(())
}
