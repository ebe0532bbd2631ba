//! The server killed and restarted mid-session; giving up after the last attempt; closes
//! the server means for good, and `reconnect()`; several URLs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::StreamExt;
use std::sync::atomic::{AtomicU32, Ordering};
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
    eventually(Duration::from_secs(3), "two reconnect attempts", || async {
        matches!(
            client.state(),
            ConnectionState::Reconnecting { attempt, .. } | ConnectionState::Connecting { attempt }
                if attempt >= 2
        )
    })
    .await;
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

/// Writes `entry` into a shared log when dropped.
struct LogOnDrop(Log, &'static str);

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(self.1.to_owned());
    }
}

#[tokio::test]
async fn a_hanging_hook_does_not_hold_the_queue_forever() {
    let server = TestServer::start().await;
    // The hook makes a request, then hangs; when it is cancelled its guard writes into
    // the server's log, so the log tells what happened in which order.
    let timeline = server.log.clone();
    let client = Client::builder(server.url())
        .reconnect(fast_policy())
        .request_timeout(Duration::from_millis(300))
        .on_reconnect(move |client: Client| {
            let timeline = timeline.clone();
            async move {
                let _guard = LogOnDrop(timeline, "hook cancelled");
                client
                    .request::<Echo>(EchoRequest {
                        text: "in hook".into(),
                    })
                    .await
                    .unwrap();
                std::future::pending::<()>().await;
            }
        })
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
    eventually(
        Duration::from_secs(3),
        "queued send arrived after the hook was cancelled",
        || async { log_of(&server.log).len() == 3 },
    )
    .await;
    assert_eq!(
        log_of(&server.log),
        ["echo:in hook", "hook cancelled", "note:queued"],
        "flushed while the hook was running"
    );
    client.close().await;
}

/// Waits for the next `Disconnected` state and returns its code and reason.
async fn next_disconnect(states: &mut wsx_client::StateStream) -> (u16, String) {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match states.next().await {
                Some(ConnectionState::Disconnected { code, reason }) => return (code, reason),
                Some(ConnectionState::Closed { reason }) => panic!("closed: {reason}"),
                Some(_) => {}
                None => panic!("state stream ended"),
            }
        }
    })
    .await
    .expect("no Disconnected state")
}

#[tokio::test]
async fn an_idle_timeout_close_sticks_until_reconnect_is_called() {
    let server = TestServer::start_with(Options {
        idle_timeout: Some(Duration::from_millis(600)),
    })
    .await;
    let hook_runs = Arc::new(AtomicU32::new(0));
    let runs = hook_runs.clone();
    let client = Client::builder(server.url())
        .reconnect(fast_policy())
        .on_reconnect(move |client: Client| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                client
                    .request::<Echo>(EchoRequest {
                        text: format!("rejoin{n}"),
                    })
                    .await
                    .unwrap();
            }
        })
        .connect()
        .await
        .unwrap();
    let mut states = client.states();

    // Control: a close that is not final (1012, service restart) is reconnected by
    // itself, after one delay of at most 150 ms.
    client
        .send::<CloseMe>(CloseRequest {
            code: 1012,
            reason: "restart".into(),
        })
        .await
        .unwrap();
    eventually(Duration::from_secs(3), "reconnected after 1012", || async {
        server.opened() == 2 && log_of(&server.log).contains(&"echo:rejoin1".to_owned())
    })
    .await;

    // Then nothing is sent: the server closes the connection with 4000.
    let (code, reason) = next_disconnect(&mut states).await;
    assert_eq!(code, 4000);
    assert!(reason.contains("idle"), "{reason}");
    assert_eq!(
        client.state(),
        ConnectionState::Disconnected {
            code,
            reason: reason.clone()
        }
    );
    eventually(
        Duration::from_secs(3),
        "server let the connection go",
        || async { server.server.connection_count() == 0 },
    )
    .await;
    // No reconnect where the control case had one: over a window more than six times the
    // longest reconnect delay, the state stays put and the server sees no connection.
    let quiet = tokio::time::timeout(Duration::from_secs(1), states.next()).await;
    assert!(quiet.is_err(), "the state changed: {quiet:?}");
    assert_eq!(server.opened(), 2, "the client reconnected by itself");
    assert_eq!(server.server.connection_count(), 0);

    // Calls made meanwhile wait in the queue.
    client
        .send::<SendNote>(Note {
            text: "while away".into(),
        })
        .await
        .unwrap();
    // The user acts: reconnect, with the hook, then the queue.
    client.reconnect().await.unwrap();
    assert!(client.wait_open(Duration::from_secs(3)).await);
    assert_eq!(
        states.next().await,
        Some(ConnectionState::Connecting { attempt: 1 })
    );
    assert_eq!(states.next().await, Some(ConnectionState::Open));
    eventually(Duration::from_secs(3), "queued note arrived", || async {
        log_of(&server.log).contains(&"note:while away".to_owned())
    })
    .await;
    let log = log_of(&server.log);
    let at = |entry: &str| log.iter().position(|l| l == entry).unwrap();
    assert!(at("echo:rejoin2") < at("note:while away"), "{log:?}");
    assert_eq!(hook_runs.load(Ordering::SeqCst), 2);
    assert_eq!(server.opened(), 3);
    client.close().await;
}

#[tokio::test]
async fn app_close_codes_are_final_unless_the_policy_says_otherwise() {
    let server = TestServer::start().await;
    // Default policy: 4001 (an app's "kicked") sticks.
    let client = Client::builder(server.url())
        .reconnect(fast_policy())
        .connect()
        .await
        .unwrap();
    let mut states = client.states();
    client
        .send::<CloseMe>(CloseRequest {
            code: 4001,
            reason: "kicked".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        next_disconnect(&mut states).await,
        (4001, "kicked".to_owned())
    );
    // `reconnect` while connected does nothing; on a closed client it fails.
    client.reconnect().await.unwrap();
    assert!(client.wait_open(Duration::from_secs(3)).await);
    client.reconnect().await.unwrap();
    client
        .request::<Echo>(EchoRequest { text: "hi".into() })
        .await
        .unwrap();
    assert_eq!(server.opened(), 2);
    client.close().await;
    assert!(matches!(
        client.reconnect().await,
        Err(Error::Closed {
            reason: CloseReason::ClientClosed
        })
    ));

    // A policy with no final codes reconnects after 4001 by itself.
    let client = Client::builder(server.url())
        .reconnect(fast_policy().final_close_codes([]))
        .connect()
        .await
        .unwrap();
    client
        .send::<CloseMe>(CloseRequest {
            code: 4001,
            reason: "kicked".into(),
        })
        .await
        .unwrap();
    eventually(Duration::from_secs(3), "reconnected after 4001", || async {
        server.opened() == 4
    })
    .await;
    assert!(client.wait_open(Duration::from_secs(3)).await);
    client.close().await;
}

#[tokio::test]
async fn reconnect_cuts_a_long_backoff_short() {
    let server = TestServer::start().await;
    let client = Client::builder(server.url())
        .reconnect(
            ReconnectPolicy::default()
                .min_delay(Duration::from_secs(30))
                .max_delay(Duration::from_secs(60)),
        )
        .connect()
        .await
        .unwrap();
    let (addr, log) = server.kill().await;
    let server = TestServer::start_on(addr, log).await;
    eventually(Duration::from_secs(2), "waiting to reconnect", || async {
        matches!(client.state(), ConnectionState::Reconnecting { .. })
    })
    .await;
    // The delay is at least 30 s; the explicit call connects now.
    client.reconnect().await.unwrap();
    assert!(client.wait_open(Duration::from_secs(5)).await);
    assert_eq!(server.opened(), 1);
    client.close().await;
}

#[tokio::test]
async fn several_urls_fail_over_and_back() {
    // Both down: connect names how many were tried.
    let dead: Vec<String> = (0..2)
        .map(|_| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("ws://{}/ws", listener.local_addr().unwrap())
        })
        .collect();
    let err = Client::builder(&dead[0])
        .urls(dead.clone())
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Connect { message } if message.contains("none of the 2 URLs")),
        "{err:?}"
    );
    let err = Client::builder(&dead[0])
        .urls(Vec::<String>::new())
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");

    // The first server is down, the second up: the client ends up on the second.
    let first = TestServer::start().await;
    let first_url = first.url();
    let (first_addr, first_log) = first.kill().await;
    let second = TestServer::start().await;
    let client = Client::builder(&first_url)
        .urls([first_url.clone(), second.url()])
        .reconnect(fast_policy())
        .connect()
        .await
        .unwrap();
    assert_eq!(client.url(), second.url());
    client
        .request::<Echo>(EchoRequest {
            text: "on 2".into(),
        })
        .await
        .unwrap();
    assert_eq!(log_of(&second.log), ["echo:on 2"]);

    // The first comes back; the second drops the connection (a close that is not
    // final), though it stays up: the client moves on, round the list, to the first.
    let first = TestServer::start_on(first_addr, first_log).await;
    client
        .send::<CloseMe>(CloseRequest {
            code: 1012,
            reason: "moving".into(),
        })
        .await
        .unwrap();
    eventually(
        Duration::from_secs(3),
        "client on the first server",
        || async { first.server.connection_count() == 1 && client.state().is_open() },
    )
    .await;
    assert_eq!(client.url(), first_url);
    client
        .request::<Echo>(EchoRequest {
            text: "on 1".into(),
        })
        .await
        .unwrap();
    assert_eq!(log_of(&first.log), ["echo:on 1"]);
    eventually(Duration::from_secs(3), "second server let go", || async {
        second.server.connection_count() == 0
    })
    .await;

    // The first dies: the next attempt goes to the second.
    first.kill().await;
    eventually(
        Duration::from_secs(3),
        "client back on the second",
        || async { second.server.connection_count() == 1 && client.state().is_open() },
    )
    .await;
    assert_eq!(client.url(), second.url());
    client
        .request::<Echo>(EchoRequest {
            text: "on 2 again".into(),
        })
        .await
        .unwrap();
    assert_eq!(log_of(&second.log), ["echo:on 2", "echo:on 2 again"]);
    assert_eq!(second.opened(), 2);
    client.close().await;
}

#[tokio::test]
async fn a_graceful_shutdown_is_told_by_its_close_code_while_reconnecting() {
    let server = TestServer::start().await;
    let client = Client::builder(server.url())
        .reconnect(fast_policy())
        .connect()
        .await
        .unwrap();
    let mut states = client.states();
    // The server's graceful shutdown closes with 1001 (going away): not final. The first
    // attempt after it carries the code; the next, after a refused connect, none.
    server.kill().await;
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        let mut seen = Vec::new();
        while seen.len() < 2 {
            match states.next().await {
                Some(ConnectionState::Reconnecting {
                    attempt,
                    close_code,
                    error,
                    ..
                }) => seen.push((attempt, close_code, error)),
                Some(ConnectionState::Disconnected { code, .. }) => panic!("{code} taken as final"),
                Some(_) => {}
                None => panic!("state stream ended"),
            }
        }
        seen
    })
    .await
    .expect("two Reconnecting states");
    assert_eq!((seen[0].0, seen[0].1), (1, Some(1001)), "{seen:?}");
    assert!(seen[0].2.contains("1001"), "{seen:?}");
    assert_eq!((seen[1].0, seen[1].1), (2, None), "{seen:?}");
    client.close().await;
}
