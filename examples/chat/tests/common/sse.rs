//! A Server-Sent Events reader over reqwest.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

use futures::StreamExt;
use serde_json::Value;

/// An SSE event as read off the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// Reads SSE events from a response body, skipping comments.
pub struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl SseReader {
    pub async fn open(url: &str, last_event_id: Option<u64>) -> SseReader {
        let mut req = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        SseReader {
            body: resp.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    pub async fn next(&mut self) -> SseEvent {
        loop {
            let (id, event, data) = self.next_raw().await;
            if let Some(id) = id {
                return SseEvent { id, event, data };
            }
        }
    }

    /// The next event, with or without an id.
    pub async fn next_raw(&mut self) -> (Option<u64>, String, serde_json::Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if event.is_empty() {
                    continue; // a comment (heartbeat)
                }
                return (id, event, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(super::WAIT, self.body.next())
                .await
                .expect("an SSE event in time");
            self.buf
                .push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
        }
    }

    /// The next event that is not `stats`.
    pub async fn next_system(&mut self) -> SseEvent {
        loop {
            let e = self.next().await;
            if e.event != "stats" {
                return e;
            }
        }
    }
}
