//! Every server of the benchmark answers the load generator in every wire it is measured
//! in: a short rpc load and a small fan-out against the bare server (JSON and both CBOR
//! forms: it sends the bytes back) and the two peers, over real sockets on 127.0.0.1.
//! Counts only: no figure of speed is asserted.

#![allow(clippy::panic)]

use std::time::Duration;
use wsx_bench::fanout::{self, FanoutLoad};
use wsx_bench::rpc::{self, RpcLoad};
use wsx_bench::server::ServerProcess;
use wsx_bench::wire::Wire;

fn start(bin: &str) -> ServerProcess {
    ServerProcess::spawn_announced(bin, std::path::Path::new(bin), &["--addr", "127.0.0.1:0"])
        .unwrap_or_else(|e| panic!("{bin} did not start: {e}"))
}

async fn rpc_round_trips(url: String, wire: Wire) {
    let load = RpcLoad {
        url: url.clone(),
        wire,
        connections: 2,
        depth: 4,
        text_len: 16,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(300),
    };
    let result = rpc::run(&load, || None).await;
    assert_eq!(result.connect_errors, 0, "{wire:?} at {url}: connections");
    assert_eq!(result.errors, 0, "{wire:?} at {url}: answers");
    assert!(result.latency_us.count > 0, "{wire:?} at {url}: no answer");
}

async fn fanout_deliveries(url: String, wire: Wire, join: bool) {
    let load = FanoutLoad {
        url: url.clone(),
        spread: Vec::new(),
        wire,
        rooms: 2,
        users: 4,
        rate: 100,
        count: 20,
        join,
    };
    let result = fanout::run(&load, || None).await;
    assert_eq!(result.connect_errors, 0, "{wire:?} at {url}: joins");
    assert_eq!(result.send_errors, 0, "{wire:?} at {url}: sends");
    assert_eq!(
        result.expected,
        2 * 3 * 20,
        "{wire:?}: receivers × messages"
    );
    assert_eq!(result.lost, 0, "{wire:?} at {url}: lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_echoes_and_broadcasts_every_wsx_wire() {
    let bare = start(env!("CARGO_BIN_EXE_bare"));
    for wire in Wire::WSX {
        rpc_round_trips(format!("ws://{}/echo", bare.addr), wire).await;
        fanout_deliveries(format!("ws://{}/room", bare.addr), wire, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketioxide_answers_acks_and_fills_rooms() {
    let peer = start(env!("CARGO_BIN_EXE_peer-socketioxide"));
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", peer.addr);
    rpc_round_trips(url.clone(), Wire::SocketIo).await;
    fanout_deliveries(url, Wire::SocketIo, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonrpsee_answers_calls_and_notifies_subscribers() {
    let peer = start(env!("CARGO_BIN_EXE_peer-jsonrpsee"));
    let url = format!("ws://{}/", peer.addr);
    rpc_round_trips(url.clone(), Wire::JsonRpc).await;
    fanout_deliveries(url, Wire::JsonRpc, true).await;
}
