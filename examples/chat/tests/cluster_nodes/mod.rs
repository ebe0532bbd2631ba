//! Chat nodes as real processes (the `wsx-chat` binary), to kill with SIGKILL or stop
//! with SIGTERM, on a shared PostgreSQL database and Redis.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// One `wsx-chat` process listening on 127.0.0.1 (a free port).
pub struct Node {
    child: tokio::process::Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl Node {
    /// Starts a node on `database` and `redis` under `prefix`, with `expiry` as its
    /// `--node-expiry` (also the grace window of a graceful stop), no rate limits (every
    /// test client comes from 127.0.0.1) and a history long enough for every replay.
    /// Its logs go to this test's stderr with `CHAT_NODE_LOGS=1`.
    pub async fn start(database: &str, redis: &str, prefix: &str, expiry: &str) -> Node {
        let logs = if std::env::var_os("CHAT_NODE_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wsx-chat"))
            .args(["--addr", "127.0.0.1", "--port", "0"])
            .args(["--database", database, "--redis", redis])
            .args(["--redis-prefix", prefix, "--node-expiry", expiry])
            .args(["--rate-limit", "0", "--history", "1000"])
            .stdout(Stdio::piped())
            .stderr(logs)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the node says where it listens within 20 s")
            .unwrap()
            .expect("the node started (see its log with CHAT_NODE_LOGS=1)");
        let addr = line
            .rsplit("http://")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("unexpected first line: {line}"));
        // The rest of stdout is drained so the node never blocks writing it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node { child, addr }
    }

    /// Its WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// An HTTP URL on it.
    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `kill -9`, and waits for the process to end.
    pub async fn kill9(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// SIGTERM (a graceful stop); [`Node::exited`] waits for the end.
    pub fn term(&self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (at most 20 s) for the process to end; whether it ended successfully.
    pub async fn exited(mut self) -> bool {
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the node stops within 20 s")
            .unwrap()
            .success()
    }
}

/// `GET` a JSON answer.
pub async fn get_json(url: &str) -> serde_json::Value {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.unwrap()
}

/// Waits (at most 15 s) until `GET url` answers `expected` (after `pick`).
pub async fn wait_for_json(
    url: &str,
    pick: impl Fn(&serde_json::Value) -> serde_json::Value,
    expected: serde_json::Value,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let seen = pick(&get_json(url).await);
        if seen == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url}: {seen}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
