//! Pushes: several typed subscribers, callbacks, and `$error` pushes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wsx_client::{Client, Codec};
use wsx_core::ErrorCode;

#[tokio::test]
async fn every_subscriber_gets_every_push_in_order() {
    let server = TestServer::start().await;
    for codec in [Codec::JsonText, Codec::CborRecords] {
        let client = Client::builder(server.url())
            .codec(codec)
            .connect()
            .await
            .unwrap();
        let mut first = client.subscribe::<TickPush>();
        let second = client.subscribe::<TickPush>();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let listener = client.on::<TickPush, _>(move |tick| sink.lock().unwrap().push(tick.n));

        client
            .request::<Burst>(BurstRequest { count: 5 })
            .await
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(
                tokio::time::timeout(Duration::from_secs(2), first.recv())
                    .await
                    .unwrap()
                    .unwrap()
                    .n,
            );
        }
        assert_eq!(got, [0, 1, 2, 3, 4], "{codec:?}");
        let got: Vec<u32> = tokio::time::timeout(
            Duration::from_secs(2),
            second.take(5).map(|t| t.n).collect(),
        )
        .await
        .unwrap();
        assert_eq!(got, [0, 1, 2, 3, 4], "{codec:?}");
        eventually(Duration::from_secs(2), "callback saw every push", || {
            let seen = seen.clone();
            async move { seen.lock().unwrap().len() == 5 }
        })
        .await;
        assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3, 4]);

        // A cancelled listener and a dropped subscription stop receiving; others go on.
        listener.cancel();
        client
            .request::<Burst>(BurstRequest { count: 1 })
            .await
            .unwrap();
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(2), first.recv())
                .await
                .unwrap()
                .unwrap()
                .n,
            0
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(seen.lock().unwrap().len(), 5);

        // Subscriptions end when the client closes.
        client.close().await;
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), first.recv())
                .await
                .unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn server_error_pushes_surface() {
    let server = TestServer::start().await;
    let client = Client::connect(server.url()).await.unwrap();
    let mut errors = client.server_errors();
    // The lax client lets an empty note through; the server refuses it with a `$error`.
    client
        .send::<LaxSendNote>(LaxNote {
            text: String::new(),
        })
        .await
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(2), errors.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.event, "$error");
    assert_eq!(e.code, Some(ErrorCode::InvalidPayload));
    assert_eq!(e.paths(), ["/text"]);
    // A valid note is handled.
    client
        .send::<SendNote>(Note {
            text: "fine".into(),
        })
        .await
        .unwrap();
    eventually(Duration::from_secs(2), "note handled", || async {
        log_of(&server.log) == ["note:fine"]
    })
    .await;
}
