//! Pushes: several typed subscribers, callbacks, subscriptions made before the connection
//! opens, subscribers that fall behind, and `$error` pushes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wsx_client::{Client, Codec, Lagged};
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
            second.take(5).map(|t| t.unwrap().n).collect(),
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

        // A cancelled listener stops receiving; others go on.
        listener.cancel();
        eventually(Duration::from_secs(2), "listener task ended", || async {
            listener.is_finished()
        })
        .await;
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
        // The callback only runs on the listener's task, which has ended: nothing new.
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

// Several worker threads, as in an app: the I/O task reads the socket while `connect`
// returns, so a subscription made on the client afterwards could miss the welcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_subscription_gets_the_push_sent_on_open_every_time() {
    let server = TestServer::start().await;
    let mut seen = Vec::new();
    for round in 0..12 {
        let codec = if round % 2 == 0 {
            Codec::JsonText
        } else {
            Codec::CborRecords
        };
        let builder = Client::builder(server.url()).codec(codec);
        let mut welcomes = builder.subscribe::<WelcomePush>();
        let client = builder.connect().await.unwrap();
        let welcome = tokio::time::timeout(Duration::from_secs(2), welcomes.next())
            .await
            .unwrap_or_else(|_| panic!("round {round}: no welcome"))
            .unwrap()
            .unwrap();
        seen.push(welcome.conn);
        client.close().await;
        // The subscription ends with the client, having seen only its own welcome.
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), welcomes.next())
                .await
                .unwrap(),
            None
        );
    }
    seen.dedup();
    assert_eq!(seen.len(), 12, "one welcome per connection: {seen:?}");
}

#[tokio::test]
async fn a_builder_subscription_ends_if_connect_fails() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let builder = Client::builder(format!("ws://{addr}/ws"));
    let mut welcomes = builder.subscribe::<WelcomePush>();
    assert!(builder.connect().await.is_err());
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), welcomes.next())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_slow_subscriber_is_told_how_many_pushes_it_lost() {
    let server = TestServer::start().await;
    for codec in [Codec::JsonText, Codec::CborRecords] {
        let builder = Client::builder(server.url()).codec(codec).push_buffer(4);
        let mut slow = builder.subscribe::<TickPush>();
        let client = builder.connect().await.unwrap();
        let mut other = client.subscribe::<TickPush>();
        // The server pushes every tick before it answers, so once the answer is here
        // every tick has been handed to the subscribers; neither has read any.
        client
            .request::<Burst>(BurstRequest { count: 10 })
            .await
            .unwrap();
        assert_eq!(slow.missed(), 6, "{codec:?}");
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(slow.next().await.unwrap().map(|t| t.n));
        }
        assert_eq!(
            got,
            [Ok(0), Ok(1), Ok(2), Ok(3), Err(Lagged(6))],
            "{codec:?}"
        );
        // Each subscriber has its own buffer (also 4) and its own gap.
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(other.next().await.unwrap().map(|t| t.n));
        }
        assert_eq!(
            got,
            [Ok(0), Ok(1), Ok(2), Ok(3), Err(Lagged(6))],
            "{codec:?}"
        );
        // They read on after the gap.
        client
            .request::<Burst>(BurstRequest { count: 2 })
            .await
            .unwrap();
        for sub in [&mut slow, &mut other] {
            assert_eq!(sub.next().await.unwrap().unwrap().n, 0);
            assert_eq!(sub.next().await.unwrap().unwrap().n, 1);
        }
        assert_eq!(slow.missed(), 6);
        drop(other);
        // `recv` skips the gap; `missed` still counts it.
        client
            .request::<Burst>(BurstRequest { count: 6 })
            .await
            .unwrap();
        let mut through_recv = Vec::new();
        for _ in 0..4 {
            through_recv.push(slow.recv().await.unwrap().n);
        }
        assert_eq!(through_recv, [0, 1, 2, 3]);
        assert_eq!(slow.missed(), 8);
        client.close().await;
        // A gap at the very end is told before the stream ends.
        assert_eq!(slow.next().await, Some(Err(Lagged(2))));
        assert_eq!(slow.next().await, None);
    }
}
