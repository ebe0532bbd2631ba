//! `kill -9` of one node's process: within the configured expiry its members are gone
//! from every other node's lists and counts, its state is cleaned from Redis, and its
//! clients, reconnecting to a living node, are counted again.
//!
//! The test runs its own binary a second time as the node to kill (`WSX_REDIS_TEST_NODE`
//! set): a child process, so that the kill is a real `SIGKILL` with no cleanup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "WSX_REDIS_TEST_NODE";
const EXPIRY: Duration = Duration::from_secs(2);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(prefix) = std::env::var(CHILD_ENV) {
        runtime.block_on(run_child(prefix));
        return;
    }
    runtime.block_on(a_killed_node_vanishes_within_its_expiry());
    println!("test a_killed_node_vanishes_within_its_expiry ... ok");
    println!("1 passed, 0 failed");
}

/// The node to kill: prints its address and number, then serves until killed.
async fn run_child(prefix: String) {
    let node = start_node(REDIS_URL, config(&prefix, EXPIRY)).await;
    println!("listening {} node {}", node.addr, node.adapter.node());
    std::future::pending::<()>().await;
}

async fn a_killed_node_vanishes_within_its_expiry() {
    require_redis(REDIS_URL).await;
    let prefix = prefix("node-death");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, &prefix)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"listening"), "child said {line:?}");
    let child_url = format!("ws://{}/ws?codec=json", words[1]);
    let dead_node: u64 = words[3].parse().unwrap();

    let b = start_node(REDIS_URL, config(&prefix, EXPIRY)).await;
    let c = start_node(REDIS_URL, config(&prefix, EXPIRY)).await;
    let doomed = [client(&child_url, "r").await, client(&child_url, "r").await];
    let on_b = client(&b.url("json"), "r").await;
    let on_c = client(&c.url("cbor"), "r").await;
    for node in [&b, &c] {
        wait_for(
            "four members, two of them on the child",
            Duration::from_secs(5),
            || node.server.cluster_count("r"),
            |n| n.as_ref().ok() == Some(&4),
        )
        .await
        .unwrap();
    }

    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    let mut survivors = vec![on_b.id, on_c.id];
    survivors.sort_unstable();
    // The heartbeat key expires at most `EXPIRY` after the last heartbeat, which was
    // before the kill; the margin covers the queries themselves.
    for node in [&b, &c] {
        let within = (EXPIRY + Duration::from_secs(1)).saturating_sub(killed.elapsed());
        wait_for(
            "the dead node's members gone",
            within,
            || node.server.cluster_members("r"),
            |m| m.as_ref().ok() == Some(&survivors),
        )
        .await
        .unwrap();
        assert_eq!(node.server.cluster_count("r").await.unwrap(), 2);
        assert_eq!(node.server.cluster_connections().await.unwrap(), 2);
    }
    // And a heartbeat later, a living node has deleted what the dead one left in Redis.
    let redis = redis::Client::open(REDIS_URL).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let pattern = format!("{prefix}:node:{dead_node}:*");
    wait_for(
        "the dead node's keys deleted",
        EXPIRY,
        || {
            let mut conn = conn.clone();
            let pattern = pattern.clone();
            async move {
                redis::cmd("KEYS")
                    .arg(pattern)
                    .query_async::<Vec<String>>(&mut conn)
                    .await
                    .unwrap()
            }
        },
        |keys| keys.is_empty(),
    )
    .await;
    let nodes: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(format!("{prefix}:nodes"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!nodes.contains(&dead_node), "{nodes:?}");

    // The dead node's clients saw their connections end; they reconnect to a living node.
    for doomed in &doomed {
        wait_for(
            "the dead node's clients disconnected",
            Duration::from_secs(5),
            || async { doomed.is_closed() },
            |closed| *closed,
        )
        .await;
    }
    let moved = [
        client(&b.url("json"), "r").await,
        client(&c.url("json"), "r").await,
    ];
    for node in [&b, &c] {
        wait_for(
            "the moved clients counted again",
            Duration::from_secs(5),
            || node.server.cluster_count("r"),
            |n| n.as_ref().ok() == Some(&4),
        )
        .await
        .unwrap();
    }
    // And they get pushes from either node.
    b.server.to("r").push::<Note>(Note { n: 1 }).unwrap();
    for cl in moved.iter().chain([&on_b, &on_c]) {
        wait_for(
            "the push after the move",
            Duration::from_secs(5),
            || async { cl.notes() },
            |notes| notes == &[1],
        )
        .await;
    }
    for node in [&b, &c] {
        // Seconds of heartbeats and subscription pings, and no outage: the death of
        // another node is not one.
        let health = node.adapter.health();
        assert!(health.connected, "{health:?}");
        assert_eq!(
            (health.outages, health.dropped_pushes),
            (0, 0),
            "{health:?}"
        );
        node.adapter.leave_cluster().await.unwrap();
    }
    delete_prefix(REDIS_URL, &prefix).await;
}
