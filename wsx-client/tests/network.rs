//! Misbehaving networks: a server that accepts TCP but never answers, a peer that stops
//! answering pings, a server that refuses the upgrade.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::StreamExt;
use std::time::{Duration, Instant};
use wsx_client::{Client, ConnectionState, Error, ReconnectPolicy};

#[tokio::test]
async fn handshake_timeout_when_tcp_accepts_but_nothing_answers() {
    let (addr, _task) = silent_listener().await;
    let started = Instant::now();
    let err = Client::builder(format!("ws://{addr}/ws"))
        .handshake_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::HandshakeTimeout {
            after: Duration::from_millis(300)
        }
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Client::connect(format!("ws://{addr}/ws"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    let err = Client::connect("not a url").await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_replaced() {
    let (addr, accepted, _task) = deaf_peer().await;
    let client = Client::builder(format!("ws://{addr}/ws"))
        .subprotocols(Vec::<String>::new())
        .ping_interval(Some(Duration::from_millis(100)))
        .pong_timeout(Duration::from_millis(200))
        .request_timeout(Duration::from_secs(10))
        .reconnect(
            ReconnectPolicy::default()
                .min_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(50)),
        )
        .connect()
        .await
        .unwrap();
    let mut states = client.states();
    // A request the deaf peer never answers fails as lost once the pong timeout fires,
    // long before its own 10 s timeout.
    let started = Instant::now();
    let err = client
        .request::<Echo>(EchoRequest {
            text: "anyone?".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err, Error::ConnectionLost { event: "echo" });
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let reconnecting = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Some(ConnectionState::Reconnecting { error, .. }) = states.next().await {
                return error;
            }
        }
    })
    .await
    .unwrap();
    assert!(reconnecting.contains("ping"), "{reconnecting}");
    // The client came back on its own (to the same deaf peer).
    eventually(Duration::from_secs(2), "a second connection", || async {
        *accepted.lock().unwrap() >= 2
    })
    .await;
    client.close().await;
}
