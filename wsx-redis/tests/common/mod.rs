//! Shared helpers of the cluster tests: a small app, nodes of it on 127.0.0.1:0 (in this
//! process or as a child process), raw WebSocket clients, and waiting with deadlines.
#![allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use wsx_core::Codec;
use wsx_core::server::{Conn, HandlerError, Server, ServerBuilder};
use wsx_redis::{RedisAdapter, RedisConfig};

wsx_core::define_events! {
    /// The events of the test app.
    pub events ClusterEvents;

    /// Puts the connection in a room; answers with its id.
    request join: JoinRequest { room: String } -> JoinResponse { id: u64 }

    /// Pushed to rooms and connections by the tests.
    push note: Note { n: u64 }
}

/// The shared Redis every development machine and CI runs.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Fails the test with a message that says so when Redis is not reachable.
pub async fn require_redis(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(3), async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    })
    .await;
    match pong {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!(
            "the cluster tests need Redis at {url} and it is not reachable: {e} \
             (start it: `redis-server --daemonize yes`)"
        ),
        Err(_) => panic!("the cluster tests need Redis at {url} and it did not answer in 3 s"),
    }
}

/// A key and channel prefix of this test alone, so tests run in parallel.
pub fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("wsx-test:{test}:{}:{nanos}", std::process::id())
}

/// Deletes every key of a test's prefix.
pub async fn delete_prefix(url: &str, prefix: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(keys)
            .exec_async(&mut conn)
            .await
            .unwrap();
    }
}

/// A config for tests: the given prefix and expiry, quick reconnects.
pub fn config(prefix: &str, expiry: Duration) -> RedisConfig {
    RedisConfig {
        prefix: prefix.to_owned(),
        node_expiry: expiry,
        reconnect_max_delay: Duration::from_millis(200),
        command_timeout: Duration::from_secs(1),
        ..RedisConfig::default()
    }
}

/// One node of the test app.
pub struct Node {
    pub addr: SocketAddr,
    pub server: Server<(), ()>,
    pub adapter: RedisAdapter,
    pub task: tokio::task::JoinHandle<()>,
}

impl Node {
    pub fn url(&self, codec: &str) -> String {
        format!("ws://{}/ws?codec={codec}", self.addr)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start_node(url: &str, config: RedisConfig) -> Node {
    let adapter = RedisAdapter::connect_with(url, config).await.unwrap();
    let server = ServerBuilder::<(), ()>::new(())
        .on_request::<Join, _, _>(|conn: Conn<()>, req: JoinRequest| async move {
            conn.join(&req.room).map_err(HandlerError::from)?;
            Ok::<_, HandlerError>(JoinResponse { id: conn.id() })
        })
        .adapter(adapter.clone())
        .build()
        .unwrap();
    let app = axum::Router::new().route("/ws", server.route());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Node {
        addr,
        server,
        adapter,
        task,
    }
}

/// A client connection: its id, and every `note` it received, in order.
pub struct Client {
    pub id: u64,
    pub notes: Arc<Mutex<Vec<u64>>>,
    pub closed: Arc<std::sync::atomic::AtomicBool>,
    reader: tokio::task::JoinHandle<()>,
}

impl Client {
    pub fn notes(&self) -> Vec<u64> {
        self.notes.lock().unwrap().clone()
    }

    pub fn has(&self, n: u64) -> bool {
        self.notes.lock().unwrap().contains(&n)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Connects over a real WebSocket with a codec (`json` or `cbor`) and joins `room`.
pub async fn client(url: &str, room: &str) -> Client {
    let codec = if url.ends_with("cbor") {
        Codec::CborMaps
    } else {
        Codec::JsonText
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let request =
        json!({"v": "1.0", "t": "request", "x": "join", "id": "j", "w": 0, "p": {"room": room}});
    let encoded = codec.encode_value(&request).unwrap();
    let msg = if encoded.text {
        Message::Text(String::from_utf8(encoded.bytes.to_vec()).unwrap().into())
    } else {
        Message::Binary(encoded.bytes)
    };
    ws.send(msg).await.unwrap();
    let id = loop {
        let frame = read_frame(&mut ws, codec).await.expect("no answer to join");
        if frame["id"] == "j" {
            assert_eq!(frame["t"], "response_ok", "join failed: {frame}");
            break frame["p"]["id"].as_u64().unwrap();
        }
    };
    let notes = Arc::new(Mutex::new(Vec::new()));
    let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (n, c) = (notes.clone(), closed.clone());
    let reader = tokio::spawn(async move {
        while let Some(frame) = read_frame(&mut ws, codec).await {
            if frame["x"] == "note" {
                n.lock().unwrap().push(frame["p"]["n"].as_u64().unwrap());
            }
        }
        c.store(true, std::sync::atomic::Ordering::Release);
    });
    Client {
        id,
        notes,
        closed,
        reader,
    }
}

async fn read_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    codec: Codec,
) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Message::Binary(b)) => return Some(codec.decode_value(&b).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Polls `check` until it holds, up to `within`; panics naming `what` (and the last
/// value seen) otherwise.
pub async fn wait_for<T: std::fmt::Debug, F: Future<Output = T>>(
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> F,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let value = probe().await;
        if check(&value) {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not reached within {within:?}; last seen {value:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
