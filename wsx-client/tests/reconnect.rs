//! The server killed and restarted mid-session; giving up after the last attempt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wsx_client::{Client, CloseReason, ConnectionState, Error, ReconnectPolicy};

fn fast_policy() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .min_delay(Duration::from_millis(30))
        .max_delay(Duration::from_millis(150))
}

#[tokio::test]
async fn server_restart_mid_session() {
    let server = TestServer::start().await;
    let hook_runs = Arc::new(Mutex::new(0u32));
    let runs = hook_runs.clone();
    let client = Client::builder(server.url())
        .reconnect(fast_policy())
        .request_timeout(Duration::from_secs(5))
        .on_reconnect(move |client: Client| {
            let runs = runs.clone();
            async move {
                // Restore state before the queue is flushed: a request from inside the
                // hook goes out at once and is answered.
                let n = {
                    let mut runs = runs.lock().unwrap();
                    *runs += 1;
                    *runs
                };
                let resp = client
                    .request::<Echo>(EchoRequest {
                        text: format!("rejoin{n}"),
                    })
                    .await;
                assert!(resp.is_ok(), "request from the hook failed: {resp:?}");
            }
        })
        .connect()
        .await
        .unwrap();
    let mut states = client.states();
    client
        .send::<SendNote>(Note {
            text: "before".into(),
        })
        .await
        .unwrap();

    // A request in flight when the server dies fails at once with ConnectionLost.
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            (
                client.request::<Slow>(SlowRequest { ms: 3000 }).await,
                started.elapsed(),
            )
        })
    };
    eventually(Duration::from_secs(2), "slow request in flight", || async {
        client.pending_requests() == 1
    })
    .await;
    let (addr, log) = server.kill().await;
    let (result, elapsed) = in_flight.await.unwrap();
    assert_eq!(result.unwrap_err(), Error::ConnectionLost { event: "slow" });
    assert!(
        elapsed < Duration::from_secs(2),
        "lost request took {elapsed:?} to fail"
    );

    // While the server is down: sends are queued, requests wait for the connection.
    eventually(Duration::from_secs(2), "client noticed", || async {
        !client.state().is_open()
    })
    .await;
    client
        .send::<SendNote>(Note {
            text: "queued1".into(),
        })
        .await
        .unwrap();
    client
        .send::<SendNote>(Note {
            text: "queued2".into(),
        })
        .await
        .unwrap();
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .request::<Echo>(EchoRequest {
                    text: "waited".into(),
                })
                .await
        })
    };
    // Let a few attempts fail against the closed port.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = TestServer::start_on(addr, log).await;

    assert_eq!(waiting.await.unwrap().unwrap().text, "waited");
    assert!(client.wait_open(Duration::from_secs(3)).await);
    eventually(Duration::from_secs(3), "queued sends arrived", || async {
        log_of(&server.log)
            .iter()
            .filter(|l| l.starts_with("note:queued"))
            .count()
            == 2
    })
    .await;
    // Give a duplicate a chance to show up, then check the whole story, in order.
    client
        .request::<Echo>(EchoRequest {
            text: "after".into(),
        })
        .await
        .unwrap();
    let log = log_of(&server.log);
    let position = |entry: &str| {
        log.iter()
            .position(|l| l == entry)
            .unwrap_or_else(|| panic!("{entry} missing: {log:?}"))
    };
    assert_eq!(
        log.iter().filter(|l| l.starts_with("note:queued1")).count(),
        1,
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("note:queued2")).count(),
        1,
        "{log:?}"
    );
    assert!(
        !log.contains(&"slow:3000".to_owned()),
        "lost request was re-sent: {log:?}"
    );
    assert!(position("note:before") < position("echo:rejoin1"));
    assert!(
        position("echo:rejoin1") < position("note:queued1"),
        "hook ran after the flush: {log:?}"
    );
    assert!(position("note:queued1") < position("note:queued2"));
    assert_eq!(*hook_runs.lock().unwrap(), 1);

    // The state stream told the story: open → reconnecting (attempts, delays) → open.
    let mut seen = Vec::new();
    while let Ok(Some(state)) = tokio::time::timeout(Duration::from_millis(50), states.next()).await
    {
        seen.push(state);
    }
    let attempts: Vec<u32> = seen
        .iter()
        .filter_map(|s| match s {
            ConnectionState::Reconnecting { attempt, delay, .. } => {
                assert!(
                    *delay >= Duration::from_millis(30) && *delay <= Duration::from_millis(150),
                    "{delay:?}"
                );
                Some(*attempt)
            }
            _ => None,
        })
        .collect();
    assert!(
        attempts.len() >= 2,
        "expected failed attempts while the server was down: {seen:?}"
    );
    assert_eq!(
        attempts,
        (1..=attempts.len() as u32).collect::<Vec<_>>(),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&ConnectionState::Open), "{seen:?}");
    client.close().await;
    server.kill().await;
}

#[tokio::test]
async fn gives_up_after_max_attempts_and_fails_fast() {
    let server = TestServer::start().await;
    let client = Client::builder(server.url())
        .reconnect(fast_policy().max_attempts(Some(2)))
        .connect()
        .await
        .unwrap();
    let mut states = client.states();
    let queued_request = {
        let client = client.clone();
        async move {
            client.wait_open(Duration::from_millis(1)).await;
            client
                .request::<Echo>(EchoRequest {
                    text: "never".into(),
                })
                .await
        }
    };
    server.kill().await;
    let result = tokio::time::timeout(Duration::from_secs(3), queued_request)
        .await
        .unwrap();
    assert!(
        matches!(
            result,
            Err(Error::Closed { .. }) | Err(Error::ConnectionLost { .. })
        ),
        "{result:?}"
    );

    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match states.next().await {
                Some(ConnectionState::Closed { reason }) => return reason,
                Some(_) => {}
                None => panic!("state stream ended without Closed"),
            }
        }
    })
    .await
    .unwrap();
    assert!(
        matches!(closed, CloseReason::GaveUp { attempts: 2, .. }),
        "{closed:?}"
    );

    let started = Instant::now();
    let err = client
        .request::<Echo>(EchoRequest {
            text: "late".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Closed {
                reason: CloseReason::GaveUp { .. }
            }
        ),
        "{err:?}"
    );
    let err = client
        .send::<SendNote>(Note {
            text: "late".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(!client.wait_open(Duration::from_millis(50)).await);
}

#[tokio::test]
async fn send_queue_is_bounded() {
    let server = TestServer::start().await;
    let client = Client::builder(server.url())
        .reconnect(ReconnectPolicy::default().min_delay(Duration::from_secs(5)))
        .send_queue(3)
        .connect()
        .await
        .unwrap();
    let (_addr, _log) = server.kill().await;
    eventually(Duration::from_secs(2), "client noticed", || async {
        !client.state().is_open()
    })
    .await;
    for i in 0..3 {
        client
            .send::<SendNote>(Note {
                text: format!("q{i}"),
            })
            .await
            .unwrap();
    }
    let err = client
        .send::<SendNote>(Note {
            text: "overflow".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err, Error::QueueFull { capacity: 3 });
    let err = client
        .request::<Echo>(EchoRequest {
            text: "overflow".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err, Error::QueueFull { capacity: 3 });
    client.close().await;
}

#[tokio::test]
async fn a_hanging_hook_does_not_hold_the_queue_forever() {
    let server = TestServer::start().await;
    let client = Client::builder(server.url())
        .reconnect(fast_policy())
        .request_timeout(Duration::from_millis(300))
        .on_reconnect(|_client: Client| std::future::pending::<()>())
        .connect()
        .await
        .unwrap();
    let (addr, log) = server.kill().await;
    eventually(Duration::from_secs(2), "client noticed", || async {
        !client.state().is_open()
    })
    .await;
    client
        .send::<SendNote>(Note {
            text: "queued".into(),
        })
        .await
        .unwrap();
    let server = TestServer::start_on(addr, log).await;
    assert!(client.wait_open(Duration::from_secs(3)).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        log_of(&server.log).is_empty(),
        "flushed while the hook was running"
    );
    eventually(
        Duration::from_secs(2),
        "queued send arrived after the hook timed out",
        || async { log_of(&server.log) == ["note:queued"] },
    )
    .await;
    client.close().await;
}
