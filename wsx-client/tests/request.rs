//! Typed requests against a real wsx server: JSON and CBOR, server errors, local
//! refusals, timeouts, cancellation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::{FutureExt, StreamExt};
use std::time::{Duration, Instant};
use wsx_client::{Client, Codec, Error};
use wsx_core::ErrorCode;

async fn client(server: &TestServer, codec: Codec) -> Client {
    Client::builder(server.url())
        .codec(codec)
        .request_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn request_response_in_every_client_codec() {
    let server = TestServer::start().await;
    for codec in [Codec::JsonText, Codec::CborRecords, Codec::CborMaps] {
        let client = client(&server, codec).await;
        let text = format!("hi {}", codec.name());
        let resp = client
            .request::<Echo>(EchoRequest { text: text.clone() })
            .await
            .unwrap();
        assert_eq!(resp, EchoResponse { text: text.clone() }, "{codec:?}");
        // Many requests at once, answered by id.
        let calls = (0..20).map(|i| client.request::<Slow>(SlowRequest { ms: 20 - i }));
        let answers = futures::future::join_all(calls).await;
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.unwrap().ms, 20 - i as u64, "{codec:?}");
        }
        assert_eq!(client.pending_requests(), 0);
        client.close().await;
    }
    assert_eq!(
        log_of(&server.log)
            .iter()
            .filter(|l| l.starts_with("echo:"))
            .count(),
        3
    );
}

#[tokio::test]
async fn server_errors_keep_code_message_and_field_paths() {
    let server = TestServer::start().await;
    for codec in [Codec::JsonText, Codec::CborRecords] {
        let client = client(&server, codec).await;
        let err = client
            .request::<LaxJoinEvent>(LaxJoin {
                username: String::new(),
                max_users: 99,
            })
            .await
            .unwrap_err();
        let Error::Server(e) = &err else {
            panic!("expected a server error, got {err:?}")
        };
        assert_eq!(e.code, Some(ErrorCode::InvalidPayload), "{codec:?}");
        assert_eq!(e.event, "join");
        let mut paths = e.paths();
        paths.sort();
        assert_eq!(paths, ["/maxUsers", "/username"], "{codec:?}");

        let err = client
            .request::<Fail>(FailRequest {
                why: "room is full".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::HandlerError));
        assert_eq!(err.server().unwrap().message, "room is full");

        let err = client.request::<Missing>(Nothing {}).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::UnknownEvent));
        client.close().await;
    }
}

#[tokio::test]
async fn invalid_payload_never_reaches_the_wire() {
    let server = TestServer::start().await;
    let client = client(&server, Codec::JsonText).await;
    let err = client
        .request::<Echo>(EchoRequest {
            text: String::new(),
        })
        .await
        .unwrap_err();
    match err {
        Error::InvalidPayload { event, fields } => {
            assert_eq!(event, "echo");
            assert_eq!(fields[0].path, "/text");
        }
        other => panic!("expected a local refusal, got {other:?}"),
    }
    let err = client
        .send::<SendNote>(Note {
            text: String::new(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidPayload { event: "note", .. }),
        "{err:?}"
    );
    // A valid call afterwards goes through; the server saw nothing of the invalid ones.
    client
        .request::<Echo>(EchoRequest { text: "ok".into() })
        .await
        .unwrap();
    assert_eq!(log_of(&server.log), ["echo:ok"]);
}

#[tokio::test]
async fn timeouts_default_and_per_call() {
    let server = TestServer::start().await;
    let client = Client::builder(server.url())
        .request_timeout(Duration::from_millis(150))
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    let err = client
        .request::<Slow>(SlowRequest { ms: 1000 })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Timeout {
            event: "slow",
            after: Duration::from_millis(150)
        }
    );
    assert!(started.elapsed() < Duration::from_millis(900));
    // The per-call override wins over the client's timeout, both ways.
    let resp = client
        .request_with_timeout::<Slow>(SlowRequest { ms: 300 }, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(resp.ms, 300);
    let err = client
        .request_with_timeout::<Slow>(SlowRequest { ms: 100 }, Duration::from_millis(20))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Timeout {
            event: "slow",
            after: Duration::from_millis(20)
        }
    );
    assert_eq!(
        client.pending_requests(),
        0,
        "timed-out requests leave the table"
    );
}

#[tokio::test]
async fn dropping_the_future_cancels_the_request() {
    let server = TestServer::start().await;
    let client = client(&server, Codec::JsonText).await;
    {
        let call = client.request::<Slow>(SlowRequest { ms: 200 });
        // Poll it long enough to be sent, then drop it.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), call)
                .await
                .is_err()
        );
    }
    assert_eq!(
        client.pending_requests(),
        0,
        "the dropped request left the table"
    );
    // The server still answers it; the answer is discarded and nothing else is disturbed.
    eventually(
        Duration::from_secs(2),
        "server handled the slow request",
        || async { log_of(&server.log).contains(&"slow:200".to_owned()) },
    )
    .await;
    let resp = client
        .request::<Echo>(EchoRequest {
            text: "after".into(),
        })
        .await
        .unwrap();
    assert_eq!(resp.text, "after");
    assert_eq!(client.pending_requests(), 0);
}

#[tokio::test]
async fn closed_client_fails_fast() {
    let server = TestServer::start().await;
    let client = client(&server, Codec::JsonText).await;
    let clone = client.clone();
    client.close().await;
    assert!(clone.state().is_closed());
    let started = Instant::now();
    let err = clone
        .request::<Echo>(EchoRequest {
            text: "late".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err:?}");
    let err = clone
        .send::<SendNote>(Note {
            text: "late".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[tokio::test]
async fn answers_that_break_their_schema_are_refused() {
    let server = TestServer::start().await;
    let client = client(&server, Codec::JsonText).await;
    let err = client
        .request::<PickyEcho>(EchoRequest { text: "hi".into() })
        .await
        .unwrap_err();
    let Error::Protocol { message } = &err else {
        panic!("expected a protocol error, got {err:?}")
    };
    assert!(message.contains("/text"), "{message}");
    let ok = client
        .request::<PickyEcho>(EchoRequest {
            text: "hello".into(),
        })
        .await
        .unwrap();
    assert_eq!(ok.text, "hello");
}

#[tokio::test]
async fn dropping_every_handle_closes_the_connection() {
    let server = TestServer::start().await;
    let client = client(&server, Codec::JsonText).await;
    let clone = client.clone();
    eventually(
        Duration::from_secs(2),
        "server sees the connection",
        || async { server.server.connection_count() == 1 },
    )
    .await;
    let mut states = clone.states();
    drop(client);
    // A round trip through the clone: the I/O task has seen the drop and gone on.
    clone
        .request::<Echo>(EchoRequest {
            text: "still here".into(),
        })
        .await
        .unwrap();
    assert!(clone.state().is_open());
    assert_eq!(
        states.next().now_or_never(),
        None,
        "the connection changed state"
    );
    assert_eq!(
        server.server.connection_count(),
        1,
        "a clone still holds it open"
    );
    assert_eq!(server.opened(), 1, "the connection was replaced");
    drop(clone);
    eventually(Duration::from_secs(2), "server sees the close", || async {
        server.server.connection_count() == 0
    })
    .await;
}
