//! An in-process client: drives a server's real dispatcher through a pipe instead of a
//! socket, in the spirit of jsonrpsee's `RpcModule::call` and Phoenix's ChannelTest.
//!
//! ```
//! # wsx_core::define_events! {
//! #     pub events EchoEvents;
//! #     request echo: EchoRequest { text: String.max(5) } -> EchoResponse { text: String }
//! # }
//! use wsx_core::server::{HandlerError, ServerBuilder};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let server = ServerBuilder::<(), ()>::new(())
//!     .on_request::<Echo, _, _>(|req: EchoRequest| async move {
//!         Ok::<_, HandlerError>(EchoResponse { text: req.text })
//!     })
//!     .build()
//!     .unwrap();
//! let mut client = server.test_client().await.unwrap();
//! let resp = client.request::<Echo>(EchoRequest { text: "hi".into() }).await.unwrap();
//! assert_eq!(resp.text, "hi");
//! let err = client.request::<Echo>(EchoRequest { text: "too long".into() }).await.unwrap_err();
//! assert_eq!(err.code, Some(wsx_core::ErrorCode::InvalidPayload));
//! # }
//! ```

use crate::error::{ErrorCode, WireError};
use crate::event::{PushEvent, RequestEvent, SendEvent};
use crate::protocol::{Frame, FrameType, OutFrame};
use axum::extract::ws::{Message, Utf8Bytes};
use futures::channel::mpsc;
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{Number, Value};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The server end of the in-memory pipe.
pub(crate) struct MemSocket {
    incoming: mpsc::Receiver<Message>,
    outgoing: mpsc::Sender<Message>,
}

impl Stream for MemSocket {
    type Item = Result<Message, axum::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_next_unpin(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Message> for MemSocket {
    type Error = axum::Error;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.outgoing.poll_ready_unpin(cx).map_err(axum::Error::new)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.outgoing
            .start_send_unpin(item)
            .map_err(axum::Error::new)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.outgoing.poll_flush_unpin(cx).map_err(axum::Error::new)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.outgoing.poll_close_unpin(cx).map_err(axum::Error::new)
    }
}

pub(crate) fn pair() -> (TestClient, MemSocket) {
    let (to_server, incoming) = mpsc::channel(1024);
    let (outgoing, from_server) = mpsc::channel(1024);
    (
        TestClient {
            tx: to_server,
            rx: from_server,
            next_id: 1,
            pushes: VecDeque::new(),
            timeout: Duration::from_secs(5),
        },
        MemSocket { incoming, outgoing },
    )
}

/// A client connected to a [`Server`](super::Server) through memory; speaks JSON.
/// Pushes that arrive while waiting for a response are kept for [`TestClient::pushes`].
#[derive(Debug)]
pub struct TestClient {
    tx: mpsc::Sender<Message>,
    rx: mpsc::Receiver<Message>,
    next_id: u64,
    pushes: VecDeque<(String, Value)>,
    timeout: Duration,
}

fn harness_error(message: impl Into<String>) -> WireError {
    WireError {
        message: message.into(),
        code: None,
        cause: None,
    }
}

impl TestClient {
    /// Sends a request and waits for its answer.
    pub async fn request<E: RequestEvent>(
        &mut self,
        payload: E::Payload,
    ) -> Result<E::Response, WireError> {
        let value = serde_json::to_value(&payload).map_err(|e| harness_error(e.to_string()))?;
        let answer = self.request_raw(E::NAME, value).await?;
        serde_json::from_value(answer)
            .map_err(|e| harness_error(format!("response does not decode: {e}")))
    }

    /// Sends a request with any JSON payload (to test what the server refuses).
    pub async fn request_raw(&mut self, event: &str, payload: Value) -> Result<Value, WireError> {
        let id = format!("t{}", self.next_id);
        self.next_id += 1;
        let w = Number::from(0);
        let text = serde_json::to_string(&OutFrame::request(event, &id, &w, &payload))
            .map_err(|e| harness_error(e.to_string()))?;
        self.send_text(text).await?;
        loop {
            let frame = self.next_frame().await?;
            match frame.t {
                FrameType::ResponseOk if frame.id.as_deref() == Some(&id) => {
                    return Ok(frame.p.unwrap_or(Value::Null));
                }
                FrameType::ResponseError if frame.id.as_deref() == Some(&id) => {
                    return Err(frame
                        .e
                        .unwrap_or_else(|| harness_error("response_error without e")));
                }
                FrameType::Send => self
                    .pushes
                    .push_back((frame.x, frame.p.unwrap_or(Value::Null))),
                _ => {}
            }
        }
    }

    /// Sends a one-way event.
    pub async fn send<E: SendEvent>(&mut self, payload: E::Payload) -> Result<(), WireError> {
        let text = serde_json::to_string(&OutFrame::send(E::NAME, &payload))
            .map_err(|e| harness_error(e.to_string()))?;
        self.send_text(text).await
    }

    /// Sends raw text, e.g. a malformed frame.
    pub async fn send_text(&mut self, text: String) -> Result<(), WireError> {
        self.tx
            .send(Message::Text(Utf8Bytes::from(text)))
            .await
            .map_err(|_| harness_error("connection closed"))
    }

    async fn next_frame(&mut self) -> Result<Frame, WireError> {
        loop {
            let msg = tokio::time::timeout(self.timeout, self.rx.next())
                .await
                .map_err(|_| harness_error("timed out waiting for the server"))?
                .ok_or_else(|| harness_error("connection closed"))?;
            let bytes = match msg {
                Message::Text(t) => bytes::Bytes::from(t),
                Message::Binary(b) => b,
                Message::Close(c) => {
                    let why = c
                        .map(|c| format!("{} {}", c.code, c.reason))
                        .unwrap_or_default();
                    return Err(WireError {
                        message: format!("closed: {why}"),
                        code: None,
                        cause: None,
                    });
                }
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            return crate::codec::Codec::JsonText
                .decode(&bytes)
                .map_err(|e| WireError::new(ErrorCode::BadFrame, e.to_string()));
        }
    }

    /// Waits for the next push of any event: `(event name, payload)`.
    pub async fn next_push(&mut self) -> Result<(String, Value), WireError> {
        if let Some(p) = self.pushes.pop_front() {
            return Ok(p);
        }
        loop {
            let frame = self.next_frame().await?;
            if frame.t == FrameType::Send {
                return Ok((frame.x, frame.p.unwrap_or(Value::Null)));
            }
        }
    }

    /// Waits for the next push of event `E`, keeping other pushes for later.
    pub async fn next_push_of<E: PushEvent>(&mut self) -> Result<E::Payload, WireError> {
        if let Some(at) = self.pushes.iter().position(|(x, _)| x == E::NAME) {
            if let Some((_, p)) = self.pushes.remove(at) {
                return serde_json::from_value(p).map_err(|e| harness_error(e.to_string()));
            }
        }
        loop {
            let frame = self.next_frame().await?;
            if frame.t != FrameType::Send {
                continue;
            }
            let p = frame.p.unwrap_or(Value::Null);
            if frame.x == E::NAME {
                return serde_json::from_value(p).map_err(|e| harness_error(e.to_string()));
            }
            self.pushes.push_back((frame.x, p));
        }
    }

    /// Drains the pushes received so far (while waiting for responses).
    pub fn pushes(&mut self) -> Vec<(String, Value)> {
        self.pushes.drain(..).collect()
    }

    /// Changes how long the client waits for the server (default 5 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Closes the connection from the client side.
    pub async fn close(mut self) {
        let _ = self.tx.send(Message::Close(None)).await;
    }
}

#[cfg(test)]
mod idle_cost {
    /// Every idle connection carries its task's future: keep it small (the real axum
    /// socket adds its own state; BENCHMARKS.md has the whole idle connection's cost).
    /// Debug builds lay futures out less tightly, hence two limits.
    #[tokio::test]
    async fn an_idle_connection_task_stays_small() {
        let server = crate::server::ServerBuilder::<(), ()>::new(())
            .build()
            .unwrap();
        let (_client, socket) = super::pair();
        let hs = std::sync::Arc::new(crate::server::Handshake::default());
        let fut = server.serve_socket(socket, hs, (), None);
        let size = std::mem::size_of_val(&fut);
        let limit = if cfg!(debug_assertions) { 1600 } else { 800 };
        assert!(
            size <= limit,
            "the connection task grew to {size} bytes (limit {limit})"
        );
        let peer = std::mem::size_of::<crate::server::Peer>();
        assert!(peer <= 192, "Peer is {peer} bytes");
    }
}
