//! Three nodes in one process, one room with members on all of them: every push reaches
//! every member exactly once, and every node gives the same members and counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::collections::BTreeSet;
use std::time::Duration;
use wsx_core::server::RoomInfo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_room_every_push_exactly_once() {
    require_redis(REDIS_URL).await;
    let prefix = prefix("three-nodes");
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start_node(REDIS_URL, config(&prefix, Duration::from_secs(5))).await);
    }
    let numbers: BTreeSet<u64> = nodes.iter().map(|n| n.adapter.node()).collect();
    assert_eq!(numbers.len(), 3, "each node has its own number");

    // Two members on each node: one JSON, one CBOR (a remote push is transcoded once
    // per codec on the receiving node). A seventh client on node 0 stays out of the room.
    let mut clients = Vec::new();
    for node in &nodes {
        clients.push(client(&node.url("json"), "r").await);
        clients.push(client(&node.url("cbor"), "r").await);
    }
    let outsider = client(&nodes[0].url("json"), "elsewhere").await;
    let ids: Vec<u64> = clients.iter().map(|c| c.id).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        6,
        "connection ids are unique across nodes: {ids:?}"
    );
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(
            c.id >> 32,
            nodes[i / 2].adapter.node(),
            "an id names its node"
        );
    }

    // Every node sees the same cluster: members, counts, rooms, connections.
    let expected: Vec<u64> = unique.iter().copied().collect();
    for node in &nodes {
        wait_for(
            "the members of `r` on every node",
            Duration::from_secs(5),
            || node.server.cluster_members("r"),
            |m| m.as_ref().ok() == Some(&expected),
        )
        .await
        .unwrap();
        assert_eq!(node.server.cluster_count("r").await.unwrap(), 6);
        assert_eq!(node.server.count("r"), 2, "this node's own share");
        assert_eq!(node.server.cluster_connections().await.unwrap(), 7);
        let rooms = node.server.cluster_rooms().await.unwrap();
        assert_eq!(
            rooms,
            vec![
                RoomInfo {
                    name: "elsewhere".into(),
                    members: 1
                },
                RoomInfo {
                    name: "r".into(),
                    members: 6
                },
            ]
        );
    }

    // Pushes from every node to the room; node 2 leaves its first member out of one.
    let mut sent: Vec<Vec<u64>> = vec![Vec::new(); 6];
    for (k, node) in nodes.iter().enumerate() {
        for i in 0..20u64 {
            let n = (k as u64 + 1) * 1000 + i;
            if k == 2 && i == 7 {
                node.server
                    .to("r")
                    .except(ids[0])
                    .push::<Note>(Note { n })
                    .unwrap();
                for (c, list) in sent.iter_mut().enumerate() {
                    if c != 0 {
                        list.push(n);
                    }
                }
            } else {
                let local = node.server.to("r").push::<Note>(Note { n }).unwrap();
                assert_eq!(local, 2, "the local count of deliveries");
                for list in sent.iter_mut() {
                    list.push(n);
                }
            }
        }
    }
    // One push to one connection on another node, by id.
    nodes[2]
        .server
        .to_conn(ids[1])
        .push::<Note>(Note { n: 77 })
        .unwrap();
    sent[1].push(77);
    // Last, from each node, a marker: Redis keeps one publisher's order, so once a
    // client has all three, everything sent before them has arrived (or never will).
    for (k, node) in nodes.iter().enumerate() {
        let n = 9_000 + k as u64;
        node.server.to("r").push::<Note>(Note { n }).unwrap();
        for list in sent.iter_mut() {
            list.push(n);
        }
    }
    for c in &clients {
        wait_for(
            "every marker at every member",
            Duration::from_secs(10),
            || async { c.notes() },
            |notes| (9_000..9_003).all(|m| notes.contains(&m)),
        )
        .await;
    }
    for (c, client) in clients.iter().enumerate() {
        let mut got = client.notes();
        got.sort_unstable();
        let mut want = sent[c].clone();
        want.sort_unstable();
        assert_eq!(
            got, want,
            "client {c} (id {}) got every push exactly once",
            client.id
        );
    }
    assert!(
        outsider.notes().is_empty(),
        "a connection outside the room gets nothing"
    );
    for node in &nodes {
        let health = node.adapter.health();
        assert!(health.connected, "{health:?}");
        assert_eq!(health.dropped_pushes, 0);
    }

    // A member leaves (its connection closes): every node stops counting it.
    drop(clients.remove(0));
    let remaining: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|id| *id != ids[0])
        .collect();
    for node in &nodes {
        wait_for(
            "the closed member gone everywhere",
            Duration::from_secs(5),
            || node.server.cluster_members("r"),
            |m| m.as_ref().ok() == Some(&remaining),
        )
        .await
        .unwrap();
    }
    for node in &nodes {
        node.adapter.leave_cluster().await.unwrap();
    }
    assert_eq!(
        nodes[0].server.cluster_count("r").await.unwrap(),
        1,
        "the nodes left: only node 0's own share is counted"
    );
    delete_prefix(REDIS_URL, &prefix).await;
}
