//! Shared helpers: hand-declared events, a real wsx server on 127.0.0.1, and misbehaving
//! peers (a TCP listener that never answers, a WebSocket peer that never pongs).
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

// The test event declarations of wsx-core's tests, shared.
#[macro_use]
#[path = "../../../wsx-core/tests/support/event.rs"]
mod event_macro;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use wsx_core::server::{Conn, HandlerError, Server, ServerBuilder, ServerConfig, State};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EchoRequest {
    #[schemars(length(min = 1, max = 20))]
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EchoResponse {
    pub text: String,
}

/// What the server requires of `join`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StrictJoin {
    #[schemars(length(min = 1, max = 10))]
    pub username: String,
    #[schemars(range(min = 1, max = 10))]
    pub max_users: u32,
}

/// A client that declares `join` more loosely than the server: it lets an invalid
/// payload reach the wire, to see the server's error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LaxJoin {
    pub username: String,
    pub max_users: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Joined {
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlowRequest {
    pub ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlowResponse {
    pub ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FailRequest {
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Nothing {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BurstRequest {
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tick {
    pub n: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Note {
    #[schemars(length(min = 1))]
    pub text: String,
}

/// `note` as a lax client declares it (no minimum length).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LaxNote {
    pub text: String,
}

/// `echo` as a client that expects more of the answer than the server gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PickyEchoResponse {
    #[schemars(length(min = 5))]
    pub text: String,
}

/// Sent by the server's open hook to every new connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Welcome {
    pub conn: u64,
}

/// Asks the server to close this connection with `code` and `reason`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CloseRequest {
    pub code: u16,
    pub reason: String,
}

event!(request Echo = "echo": EchoRequest => EchoResponse);
event!(request PickyEcho = "echo": EchoRequest => PickyEchoResponse);
event!(request Join = "join": StrictJoin => Joined);
event!(request LaxJoinEvent = "join": LaxJoin => Joined);
event!(request Slow = "slow": SlowRequest => SlowResponse);
event!(request Fail = "fail": FailRequest => Nothing);
event!(request Burst = "burst": BurstRequest => Nothing);
event!(request Missing = "missing": Nothing => Nothing);
event!(send SendNote = "note": Note);
event!(send LaxSendNote = "note": LaxNote);
event!(push TickPush = "tick": Tick);
event!(push WelcomePush = "welcome": Welcome);
event!(send CloseMe = "closeMe": CloseRequest);

/// What the server saw, in order: `"echo:<text>"`, `"note:<text>"`, `"slow:<ms>"`.
/// Shared across server restarts.
pub type Log = Arc<Mutex<Vec<String>>>;

pub fn log_of(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// A real wsx server on 127.0.0.1 with the events above. Its open hook counts the
/// connections it opened and pushes `welcome` to each.
pub struct TestServer {
    pub addr: SocketAddr,
    pub server: Server<Log, ()>,
    pub log: Log,
    /// Connections opened so far (the open hook ran).
    pub opens: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

/// How a [`TestServer`] differs from the default.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Close connections that send nothing for this long (code 4000).
    pub idle_timeout: Option<Duration>,
}

fn build(log: Log, opens: Arc<AtomicUsize>, options: &Options) -> Server<Log, ()> {
    ServerBuilder::<Log, ()>::new(log)
        .config(ServerConfig {
            shutdown_deadline: Duration::from_millis(300),
            idle_timeout: options.idle_timeout,
            ..ServerConfig::default()
        })
        .on_open(move |conn: Conn<()>, _log: Log| {
            let opens = opens.clone();
            async move {
                opens.fetch_add(1, Ordering::SeqCst);
                conn.push::<WelcomePush>(Welcome { conn: conn.id() })
                    .unwrap();
            }
        })
        .on_send::<CloseMe, _, _>(|conn: Conn<()>, req: CloseRequest| async move {
            conn.close(req.code, req.reason);
        })
        .on_request::<Echo, _, _>(|State(log): State<Log>, req: EchoRequest| async move {
            log.lock().unwrap().push(format!("echo:{}", req.text));
            Ok::<_, HandlerError>(EchoResponse { text: req.text })
        })
        .on_request::<Join, _, _>(|_req: StrictJoin| async move {
            Ok::<_, HandlerError>(Joined { ok: true })
        })
        .on_request::<Slow, _, _>(|State(log): State<Log>, req: SlowRequest| async move {
            tokio::time::sleep(Duration::from_millis(req.ms)).await;
            log.lock().unwrap().push(format!("slow:{}", req.ms));
            Ok::<_, HandlerError>(SlowResponse { ms: req.ms })
        })
        .on_request::<Fail, _, _>(|req: FailRequest| async move {
            Err::<Nothing, _>(HandlerError::new(req.why))
        })
        .on_request::<Burst, _, _>(|conn: Conn<()>, req: BurstRequest| async move {
            for n in 0..req.count {
                conn.push::<TickPush>(Tick { n })
                    .map_err(|e| HandlerError::new(e.to_string()))?;
            }
            Ok::<_, HandlerError>(Nothing {})
        })
        .on_send::<SendNote, _, _>(|State(log): State<Log>, note: Note| async move {
            log.lock().unwrap().push(format!("note:{}", note.text));
        })
        .build()
        .unwrap()
}

impl TestServer {
    /// Starts on a free port.
    pub async fn start() -> TestServer {
        Self::start_on("127.0.0.1:0".parse().unwrap(), Log::default()).await
    }

    /// Starts on a free port, with `options`.
    pub async fn start_with(options: Options) -> TestServer {
        Self::start_on_with("127.0.0.1:0".parse().unwrap(), Log::default(), options).await
    }

    /// Starts on `addr` (e.g. the port of a server just stopped), with `log`.
    pub async fn start_on(addr: SocketAddr, log: Log) -> TestServer {
        Self::start_on_with(addr, log, Options::default()).await
    }

    /// Starts on `addr` with `log` and `options`.
    pub async fn start_on_with(addr: SocketAddr, log: Log, options: Options) -> TestServer {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot bind {addr}: {e}"),
            }
        };
        let addr = listener.local_addr().unwrap();
        let opens = Arc::new(AtomicUsize::new(0));
        let server = build(log.clone(), opens.clone(), &options);
        let app = axum::Router::new().route("/ws", server.route());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            addr,
            server,
            log,
            opens,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// How many connections the server opened so far.
    pub fn opened(&self) -> usize {
        self.opens.load(Ordering::SeqCst)
    }

    /// Stops the server: closes every connection (1001) and frees the port.
    pub async fn kill(self) -> (SocketAddr, Log) {
        self.server.shutdown().await;
        self.task.abort();
        let _ = self.task.await;
        (self.addr, self.log)
    }
}

/// A listener that accepts TCP connections and never answers. Returns its address.
pub async fn silent_listener() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (addr, task)
}

/// A WebSocket peer that completes the handshake and then never reads, so it never
/// answers a ping. Counts the connections it accepted.
pub async fn deaf_peer() -> (SocketAddr, Arc<Mutex<usize>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0usize));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                *count.lock().unwrap() += 1;
                held.push(ws);
            }
        }
    });
    (addr, accepted, task)
}

/// Polls `check` every 10 ms until it holds, failing after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out after {within:?} waiting for: {what}");
}
