//! Shared helpers of the server's socket tests: a small event set declared by hand, a
//! server on 127.0.0.1:0, and a raw tokio-tungstenite client.
#![allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[macro_use]
#[path = "../support/event.rs"]
mod event_macro;

use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wsx_core::server::{
    Conn, DisconnectReason, HandlerError, Handshake, Reject, Server, ServerBuilder, ServerConfig,
};

macro_rules! payload {
    ($name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name { $(pub $field: $ty),* }
    };
}

payload!(EchoReq { text: String });
payload!(EchoResp { text: String });
payload!(JoinReq { room: String });
payload!(JoinResp { members: usize });
payload!(SayReq { room: String, text: String, size: Option<usize> });
payload!(SayResp { delivered: usize });
payload!(Said {
    room: String,
    text: String
});
payload!(Note { text: String });
payload!(Empty {});
payload!(WhoResp { id: u64, token: Option<String>, rooms: Vec<String> });

/// A payload with constraints, to check every failing field is reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignupReq {
    #[schemars(length(min = 1, max = 5))]
    pub username: String,
    #[schemars(range(min = 13, max = 130))]
    pub age: u32,
}

event!(request Echo = "echo": EchoReq => EchoResp);
event!(request Join = "join": JoinReq => JoinResp);
event!(request Say = "say": SayReq => SayResp);
event!(request SayDroppable = "sayDroppable": SayReq => SayResp);
event!(request Signup = "signup": SignupReq => Empty);
event!(request Boom = "boom": Empty => Empty);
event!(request Fail = "fail": Empty => Empty);
event!(request Who = "who": Empty => WhoResp);
event!(request Shout = "shout": EchoReq => SayResp);
event!(request Sleepy = "sleepy": Empty => Empty);
event!(send Jot = "jot": Note);
event!(push SaidPush = "said": Said);
event!(push Noted = "noted": Note);

/// Per-connection state of the test server.
#[derive(Debug, Default)]
pub struct Session {
    pub token: Option<String>,
}

/// What the test server's hooks observed.
#[derive(Debug, Default)]
pub struct Observed {
    pub disconnects: Mutex<Vec<(u64, DisconnectReason, Vec<String>)>>,
    pub shutdown_ran: Mutex<bool>,
}

pub type App = Arc<Observed>;

pub fn builder() -> ServerBuilder<App, Session> {
    ServerBuilder::<App, Session>::new(Arc::new(Observed::default()))
        .on_request::<Echo, _, _>(|req: EchoReq| async move {
            Ok::<_, HandlerError>(EchoResp { text: req.text })
        })
        .on_request::<Join, _, _>(|conn: Conn<Session>, req: JoinReq| async move {
            conn.join(&req.room).map_err(HandlerError::from)?;
            Ok::<_, HandlerError>(JoinResp { members: 0 })
        })
        .on_request::<Say, _, _>(|conn: Conn<Session>, req: SayReq| async move {
            let text = match req.size {
                Some(n) => "x".repeat(n),
                None => req.text,
            };
            let delivered = conn.to(&req.room).push::<SaidPush>(Said {
                room: req.room.clone(),
                text,
            })?;
            Ok::<_, HandlerError>(SayResp { delivered })
        })
        .on_request::<SayDroppable, _, _>(|conn: Conn<Session>, req: SayReq| async move {
            let text = "x".repeat(req.size.unwrap_or(1));
            let delivered = conn.to(&req.room).push_droppable::<SaidPush>(Said {
                room: req.room.clone(),
                text,
            })?;
            Ok::<_, HandlerError>(SayResp { delivered })
        })
        .on_request::<Shout, _, _>(|conn: Conn<Session>, req: EchoReq| async move {
            let delivered = conn.broadcast().push::<Noted>(Note { text: req.text })?;
            Ok::<_, HandlerError>(SayResp { delivered })
        })
        .on_request::<Signup, _, _>(
            |_req: SignupReq| async move { Ok::<_, HandlerError>(Empty {}) },
        )
        .on_request::<Boom, _, _>(|_req: Empty| async move {
            if true {
                panic!("handler blew up");
            }
            Ok::<_, HandlerError>(Empty {})
        })
        .on_request::<Fail, _, _>(|_req: Empty| async move {
            Err::<Empty, _>(HandlerError::new("the room is full"))
        })
        .on_request::<Who, _, _>(
            |conn: Conn<Session>, hs: Arc<Handshake>, _req: Empty| async move {
                Ok::<_, HandlerError>(WhoResp {
                    id: conn.id(),
                    token: hs.query("token"),
                    rooms: conn.rooms(),
                })
            },
        )
        .on_request::<Sleepy, _, _>(|_req: Empty| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, HandlerError>(Empty {})
        })
        .on_send::<Jot, _, _>(|conn: Conn<Session>, note: Note| async move {
            let _ = conn.push::<Noted>(note);
        })
        .on_connect(|hs: Arc<Handshake>, _app: App| async move {
            if hs.query("token").as_deref() == Some("bad") {
                return Err(Reject::unauthorized("bad token"));
            }
            Ok(Session {
                token: hs.query("token"),
            })
        })
        .on_disconnect(
            |conn: Conn<Session>, app: App, reason: DisconnectReason| async move {
                app.disconnects
                    .lock()
                    .unwrap()
                    .push((conn.id(), reason, conn.rooms()));
            },
        )
        .on_shutdown(|app: App| async move {
            *app.shutdown_ran.lock().unwrap() = true;
        })
}

pub struct Running {
    pub addr: SocketAddr,
    pub server: Server<App, Session>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn url(&self, query: &str) -> String {
        format!("ws://{}/ws{}", self.addr, query)
    }

    pub fn observed(&self) -> &Observed {
        self.server.state()
    }

    /// Why the connections that ended so far ended, in order.
    pub fn reasons(&self) -> Vec<DisconnectReason> {
        self.observed()
            .disconnects
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.1.clone())
            .collect()
    }
}

pub async fn start(config: ServerConfig) -> Running {
    serve(builder().config(config).build().unwrap()).await
}

/// Serves a built server on 127.0.0.1:0.
pub async fn serve(server: Server<App, Session>) -> Running {
    let app = axum::Router::new().route("/ws", server.route());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = server.shutdown_on(std::future::pending::<()>());
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .unwrap();
    });
    Running { addr, server, task }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

pub async fn connect_with_protocol(url: &str, protocol: &str) -> (Ws, Option<String>) {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    let chosen = resp
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    (ws, chosen)
}

pub fn request(x: &str, id: &str, p: Value) -> String {
    json!({"v": "1.0", "t": "request", "x": x, "id": id, "w": 1737100000000u64, "p": p}).to_string()
}

pub async fn send_text(ws: &mut Ws, text: String) {
    ws.send(Message::Text(text.into())).await.unwrap();
}

/// The next data message within 5 s, skipping pings.
pub async fn next_message(ws: &mut Ws) -> Message {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("timed out waiting for a message")
            .expect("connection ended")
            .expect("socket error");
        match msg {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

pub async fn next_json(ws: &mut Ws) -> Value {
    match next_message(ws).await {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Sends a JSON request and returns the answer with the same id (pushes in between are
/// returned too).
pub async fn call(ws: &mut Ws, x: &str, id: &str, p: Value) -> (Value, Vec<Value>) {
    send_text(ws, request(x, id, p)).await;
    let mut pushes = Vec::new();
    loop {
        let v = next_json(ws).await;
        if v["id"] == id {
            return (v, pushes);
        }
        pushes.push(v);
    }
}

/// Waits for the close frame and returns its code and reason.
pub async fn expect_close(ws: &mut Ws, within: Duration) -> Option<(u16, String)> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("no close in time");
        match next {
            Some(Ok(Message::Close(Some(frame)))) => {
                return Some((frame.code.into(), frame.reason.to_string()));
            }
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Polls until `f` holds, for up to 5 s.
pub async fn eventually(mut f: impl FnMut() -> bool) {
    for _ in 0..250 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached within 5 s");
}
