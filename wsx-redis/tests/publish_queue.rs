//! A push that finds the publish queue full reaches this node's members only, and is
//! counted as dropped (never lost silently).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::time::Duration;
use wsx_redis::RedisConfig;

// One thread: the publishing task cannot run while the test pushes, so the queue of one
// fills with the first push and every later one overflows.
#[tokio::test(flavor = "current_thread")]
async fn a_full_publish_queue_drops_and_counts() {
    require_redis(REDIS_URL).await;
    let prefix = prefix("publish-queue");
    let small = RedisConfig {
        publish_queue: 1,
        ..config(&prefix, Duration::from_secs(5))
    };
    let a = start_node(REDIS_URL, small).await;
    let b = start_node(REDIS_URL, config(&prefix, Duration::from_secs(5))).await;
    let on_a = client(&a.url("json"), "r").await;
    let on_b = client(&b.url("json"), "r").await;
    wait_for(
        "both members counted",
        Duration::from_secs(5),
        || a.server.cluster_count("r"),
        |n| n.as_ref().ok() == Some(&2),
    )
    .await
    .unwrap();
    for n in 1..=5u64 {
        assert_eq!(a.server.to("r").push::<Note>(Note { n }).unwrap(), 1);
    }
    assert_eq!(
        a.adapter.health().dropped_pushes,
        4,
        "pushes 2 to 5 did not fit"
    );
    // The queue drains; a later push goes through, after the one that fitted.
    wait_for(
        "the first push at b",
        Duration::from_secs(5),
        || async { on_b.notes() },
        |n| n == &[1],
    )
    .await;
    a.server.to("r").push::<Note>(Note { n: 6 }).unwrap();
    wait_for(
        "the later push at b",
        Duration::from_secs(5),
        || async { on_b.notes() },
        |n| n == &[1, 6],
    )
    .await;
    wait_for(
        "local members got everything",
        Duration::from_secs(5),
        || async { on_a.notes() },
        |n| n == &[1, 2, 3, 4, 5, 6],
    )
    .await;
    assert!(
        a.adapter.health().connected,
        "a full queue is not an outage"
    );
    for node in [&a, &b] {
        node.adapter.leave_cluster().await.unwrap();
    }
    delete_prefix(REDIS_URL, &prefix).await;
}
