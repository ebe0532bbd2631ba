//! Redis stopped and started again under two running nodes (a `redis-server` this test
//! starts on a free port): the nodes keep serving their own connections, report the
//! outage, drop and count the pushes meant for other nodes, and recover by themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` of this test alone, killed when dropped (also when the test fails).
struct TestRedis(Child);

impl TestRedis {
    fn stop(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts one with no persistence, so a restart loses every key.
fn start_redis(port: u16) -> TestRedis {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("this test needs `redis-server` on the PATH: {e}"));
    TestRedis(child)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_recover_from_a_redis_restart_and_count_what_they_dropped() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let mut redis = start_redis(port);
    wait_for(
        "the test's redis-server up",
        Duration::from_secs(10),
        || async {
            let client = redis::Client::open(url.as_str()).unwrap();
            client.get_multiplexed_async_connection().await.is_ok()
        },
        |up| *up,
    )
    .await;
    require_redis(&url).await;
    let prefix = prefix("redis-restart");
    let a = start_node(&url, config(&prefix, Duration::from_secs(2))).await;
    let b = start_node(&url, config(&prefix, Duration::from_secs(2))).await;
    let on_a = client(&a.url("json"), "r").await;
    let on_b = client(&b.url("json"), "r").await;
    for node in [&a, &b] {
        wait_for(
            "both members counted",
            Duration::from_secs(5),
            || node.server.cluster_count("r"),
            |n| n.as_ref().ok() == Some(&2),
        )
        .await
        .unwrap();
    }
    a.server.to("r").push::<Note>(Note { n: 1 }).unwrap();
    for cl in [&on_a, &on_b] {
        wait_for(
            "the first push",
            Duration::from_secs(5),
            || async { cl.notes() },
            |n| n == &[1],
        )
        .await;
    }

    // Redis goes away.
    redis.stop();
    for node in [&a, &b] {
        let health = wait_for(
            "the outage reported",
            Duration::from_secs(5),
            || async { node.adapter.health() },
            |h| !h.connected,
        )
        .await;
        assert_eq!(health.outages, 1, "{health:?}");
        assert!(health.last_error.is_some());
        assert!(
            node.server.cluster_count("r").await.is_err(),
            "cluster queries fail"
        );
    }
    // A push during the outage: node a's own member gets it, node b's does not, and node
    // a counts it as dropped.
    let dropped_before = a.adapter.health().dropped_pushes;
    let local = a.server.to("r").push::<Note>(Note { n: 2 }).unwrap();
    assert_eq!(local, 1, "local members are still served");
    assert_eq!(a.adapter.health().dropped_pushes, dropped_before + 1);
    wait_for(
        "the local push",
        Duration::from_secs(5),
        || async { on_a.notes() },
        |n| n == &[1, 2],
    )
    .await;
    // Joining still works locally.
    let late = client(&b.url("json"), "r").await;

    // Redis comes back, empty.
    let mut redis = start_redis(port);
    for node in [&a, &b] {
        wait_for(
            "reconnected by itself",
            Duration::from_secs(10),
            || async { node.adapter.health() },
            |h| h.connected,
        )
        .await;
        wait_for(
            "membership written again (the late joiner too)",
            Duration::from_secs(5),
            || node.server.cluster_count("r"),
            |n| n.as_ref().ok() == Some(&3),
        )
        .await
        .unwrap();
    }
    b.server.to("r").push::<Note>(Note { n: 3 }).unwrap();
    a.server.to("r").push::<Note>(Note { n: 4 }).unwrap();
    for cl in [&on_a, &on_b, &late] {
        wait_for(
            "pushes flow again",
            Duration::from_secs(5),
            || async { cl.notes() },
            |n| n.contains(&3) && n.contains(&4),
        )
        .await;
    }
    assert_eq!(on_a.notes().iter().filter(|n| **n == 2).count(), 1);
    let mut on_b_notes = on_b.notes();
    on_b_notes.sort_unstable();
    assert_eq!(
        on_b_notes,
        [1, 3, 4],
        "the push sent during the outage never reached node b"
    );
    let health = a.adapter.health();
    assert!(health.connected && health.outages == 1, "{health:?}");
    assert_eq!(health.dropped_pushes, dropped_before + 1);
    redis.stop();
}
