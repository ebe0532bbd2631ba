//! Shared helpers: a real chat server on `127.0.0.1:0`, a raw WebSocket client that
//! speaks the wsx envelope by hand, and a temporary directory.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

pub mod sse;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wsx_chat::{Chat, Config};

/// How long a test waits for any one frame.
pub const WAIT: Duration = Duration::from_secs(5);

/// A chat server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub chat_app: wsx_chat::App,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with an in-memory database.
    pub async fn start() -> TestServer {
        TestServer::with(Config::default()).await
    }

    /// Starts a server with a config (the port is ignored: any free one).
    pub async fn with(config: Config) -> TestServer {
        TestServer::at(config, "127.0.0.1:0".parse().unwrap()).await
    }

    /// Starts a server with a config on a given address (e.g. again where a stopped one
    /// was).
    pub async fn at(config: Config, addr: SocketAddr) -> TestServer {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let chat = Chat::new(config).await.unwrap();
        let chat_app = chat.app.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            chat.serve(listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            addr,
            chat_app,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A raw client, connected.
    pub async fn client(&self) -> RawClient {
        RawClient::connect(&self.ws_url()).await
    }

    /// A raw client that joined `room` as `name` (the welcome consumed).
    pub async fn joined(&self, name: &str, room: &str) -> (RawClient, Value) {
        let mut c = self.client().await;
        c.push("welcome").await;
        let answer = c
            .request("join", json!({ "username": name, "room": room }))
            .await
            .unwrap();
        (c, answer)
    }

    /// Graceful shutdown, waiting for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server stops")
                .unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client that writes envelopes by hand: the wire format is the API.
pub struct RawClient {
    ws: Ws,
    /// Pushes read while waiting for something else, in arrival order.
    pushes: VecDeque<Value>,
    next_id: u64,
}

/// How a connection ended, as a client saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    pub code: Option<u16>,
    pub reason: String,
}

impl RawClient {
    /// Connects offering the JSON subprotocol, as the page does: the `welcome` comes at
    /// once (a client that offers none gets it once its first frame tells its codec).
    pub async fn connect(url: &str) -> RawClient {
        Self::connect_with(url, &[]).await.unwrap()
    }

    /// Connects with extra headers (e.g. `Origin`); the HTTP status on refusal.
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<RawClient, u16> {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            http::HeaderValue::from_static(wsx_core::protocol::SUBPROTOCOL_JSON),
        );
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(RawClient {
                ws,
                pushes: VecDeque::new(),
                next_id: 1,
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("connect failed: {e}"),
        }
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next frame, or `Err` when the connection closed (with its close frame).
    pub async fn frame(&mut self) -> Result<Value, Closed> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time");
            match msg {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
                Some(Ok(Message::Binary(b))) => return Ok(serde_json::from_slice(&b).unwrap()),
                Some(Ok(Message::Close(frame))) => {
                    return Err(Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Err(Closed {
                        code: None,
                        reason: String::new(),
                    });
                }
            }
        }
    }

    /// Sends a request; `Ok(p)` for `response_ok`, `Err(e)` for `response_error`.
    pub async fn request(&mut self, event: &str, payload: Value) -> Result<Value, Value> {
        let id = self.start_request(event, payload).await;
        self.answer(&id).await
    }

    /// Sends a request without waiting; returns its id.
    pub async fn start_request(&mut self, event: &str, payload: Value) -> String {
        let id = format!("r{}", self.next_id);
        self.next_id += 1;
        let frame = json!({ "v": "1.0", "t": "request", "x": event, "id": id, "w": 1_737_100_000_000u64, "p": payload });
        self.send_text(frame.to_string()).await;
        id
    }

    /// Waits for the answer to request `id`, keeping pushes for later.
    pub async fn answer(&mut self, id: &str) -> Result<Value, Value> {
        // Answers may overtake one another (a refusal is sent before a handler finishes).
        let early = self.pushes.iter().position(|f| f["id"] == id);
        let mut early = early.and_then(|i| self.pushes.remove(i));
        loop {
            let frame = match early.take() {
                Some(frame) => frame,
                None => self
                    .frame()
                    .await
                    .unwrap_or_else(|c| panic!("closed while waiting for {id}: {c:?}")),
            };
            if frame["id"] == id {
                return match frame["t"].as_str() {
                    Some("response_ok") => Ok(frame["p"].clone()),
                    _ => Err(frame["e"].clone()),
                };
            }
            self.pushes.push_back(frame);
        }
    }

    /// Sends a one-way event.
    pub async fn send(&mut self, event: &str, payload: Value) {
        let frame = json!({ "v": "1.0", "t": "send", "x": event, "p": payload });
        self.send_text(frame.to_string()).await;
    }

    /// The next push of `event` (earlier pushes of other events stay buffered).
    pub async fn push(&mut self, event: &str) -> Value {
        if let Some(i) = self.pushes.iter().position(|f| f["x"] == event) {
            return self.pushes.remove(i).unwrap()["p"].clone();
        }
        loop {
            let frame = self
                .frame()
                .await
                .unwrap_or_else(|c| panic!("closed while waiting for `{event}`: {c:?}"));
            if frame["t"] == "send" && frame["x"] == event {
                return frame["p"].clone();
            }
            self.pushes.push_back(frame);
        }
    }

    /// Whether a push of `event` arrives within `wait`.
    pub async fn gets_push_within(&mut self, event: &str, wait: Duration) -> Option<Value> {
        tokio::time::timeout(wait, self.push(event)).await.ok()
    }

    /// Buffered pushes of `event`, removed from the buffer.
    pub fn take_buffered(&mut self, event: &str) -> Vec<Value> {
        let (mine, rest): (Vec<Value>, Vec<Value>) =
            self.pushes.drain(..).partition(|f| f["x"] == event);
        self.pushes = rest.into();
        mine.into_iter().map(|f| f["p"].clone()).collect()
    }

    /// Reads until the connection closes; returns the close frame.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match self.frame().await {
                Ok(frame) => self.pushes.push_back(frame),
                Err(closed) => return closed,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Drain until the server's close arrives.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while self.ws.next().await.is_some() {}
        })
        .await;
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "wsx-chat-{tag}-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Polls `check` every 20 ms until it holds, for at most 5 s.
pub async fn eventually<F: FnMut() -> bool>(mut check: F) {
    for _ in 0..250 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not met within 5 s");
}

/// A TCP relay in front of a server whose client side can be cut while the server side
/// stays open and unread: a network that died without closing, as the server sees it.
pub struct CuttableRelay {
    pub addr: SocketAddr,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttableRelay {
    pub async fn start(target: SocketAddr) -> CuttableRelay {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let cuts = cut.clone();
        // Server sides of cut links, kept open (and never read) until the relay stops.
        let parked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(target).await else {
                    continue;
                };
                let mut cut_seen = cuts.subscribe();
                let parked = parked.clone();
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut ur, mut uw) = upstream.into_split();
                    let piped = async {
                        tokio::select! {
                            _ = tokio::io::copy(&mut cr, &mut uw) => {}
                            _ = tokio::io::copy(&mut ur, &mut cw) => {}
                        }
                    };
                    tokio::select! {
                        _ = piped => {}
                        _ = cut_seen.changed() => {
                            drop((cr, cw));
                            parked.lock().unwrap().push((ur, uw));
                        }
                    }
                });
            }
        });
        CuttableRelay { addr, cut, task }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Cuts every link open now on the client's side; the server's side stays open.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for CuttableRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
