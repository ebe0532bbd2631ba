//! Redis for the cluster tests: a key prefix of a test's own on the local Redis
//! (127.0.0.1:6379), or a `redis-server` of a test's own on a free port.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

use std::time::Duration;

pub const REDIS: &str = "redis://127.0.0.1:6379";

/// A Redis key prefix of the test's own; its keys are deleted on drop.
pub struct RedisPrefix(pub String);

impl RedisPrefix {
    pub async fn new(test: &str) -> RedisPrefix {
        let client = redis::Client::open(REDIS).unwrap();
        let reachable = tokio::time::timeout(
            Duration::from_secs(3),
            client.get_multiplexed_async_connection(),
        )
        .await;
        match reachable {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!(
                "Redis is not reachable at {REDIS}: {e}. These tests need it: start it \
                 (e.g. `service redis-server start`)."
            ),
            Err(_) => panic!("Redis at {REDIS} did not answer within 3 s"),
        }
        RedisPrefix(format!(
            "wsx-chat-test-{test}-{}",
            uuid::Uuid::new_v4().simple()
        ))
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let pattern = format!("{}:*", self.0);
        let _ = std::thread::spawn(move || {
            let Ok(client) = redis::Client::open(REDIS) else {
                return;
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                    return;
                };
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(&pattern)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _ = redis::cmd("DEL").arg(keys).exec_async(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// A `redis-server` of this test alone (no persistence), killed when dropped.
pub struct OwnRedis(std::process::Child);

impl OwnRedis {
    pub async fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("this test needs `redis-server` on the PATH: {e}"));
        let redis = OwnRedis(child);
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while client.get_multiplexed_async_connection().await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the test's redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    pub fn stop(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

/// A free port on 127.0.0.1 (for a server started next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
