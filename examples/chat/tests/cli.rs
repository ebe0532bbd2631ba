//! Two terminal clients chatting through pipes, across a server restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TempDir, TestServer};
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use wsx_chat::Config;

/// A `wsx-chat-cli` process with piped stdin and stdout.
struct Cli {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every line read so far.
    seen: Vec<String>,
}

impl Cli {
    fn spawn(name: &'static str, room: &str, url: &str) -> Cli {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsx-chat-cli"))
            .args([name, room, "--url", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Cli {
            name,
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    async fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// Reads lines until one satisfies `want`; returns it.
    async fn expect(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{}: no line {what:?} within 10 s; saw {:#?}",
                        self.name, self.seen
                    )
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{}: output ended before {what:?}; saw {:#?}",
                        self.name, self.seen
                    )
                });
            self.seen.push(line.clone());
            if want(&line) {
                return line;
            }
        }
    }

    /// Closes stdin and waits for a clean exit.
    async fn quit(mut self) -> Vec<String> {
        drop(self.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{} exited with {status}", self.name);
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen
    }
}

/// `[HH:MM:SS] rest`.
fn timed(line: &str, rest: &str) -> bool {
    let b = line.as_bytes();
    b.len() == rest.len() + 11
        && b[0] == b'['
        && b[3] == b':'
        && b[6] == b':'
        && line[9..].starts_with("] ")
        && [1, 2, 4, 5, 7, 8].iter().all(|&i| b[i].is_ascii_digit())
        && line.ends_with(rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_terminal_clients_chat_through_pipes_and_survive_a_restart() {
    let dir = TempDir::new("cli");
    let config = Config {
        memory: false,
        db: dir.0.join("chat.db"),
        ..Config::default()
    };
    let server = TestServer::with(config.clone()).await;
    let addr = server.addr;
    let url = server.ws_url();

    let mut alice = Cli::spawn("alice", "general", &url);
    alice
        .expect("joined", |l| l == "*** joined general (alice)")
        .await;
    let mut bob = Cli::spawn("bob", "general", &url);
    bob.expect("joined", |l| l == "*** joined general (alice, bob)")
        .await;
    alice
        .expect("bob joined", |l| l == ">>> bob joined general")
        .await;

    bob.say("hi alice").await;
    alice
        .expect("bob's message", |l| timed(l, "bob: hi alice"))
        .await;
    bob.expect("own message", |l| timed(l, "bob: hi alice"))
        .await;
    alice.say("/me waves").await;
    bob.expect("action", |l| timed(l, "* alice waves")).await;
    alice.say("/pm bob secret").await;
    bob.expect("pm", |l| timed(l, "[pm] alice -> bob: secret"))
        .await;
    alice
        .expect("pm echo", |l| timed(l, "[pm] alice -> bob: secret"))
        .await;

    bob.say("/join random").await;
    bob.expect("joined random", |l| l == "*** joined random (bob)")
        .await;
    alice.say("/rooms").await;
    alice
        .expect("rooms", |l| {
            l == "*** rooms: general (2 users, 2 messages), random (1 user, 0 messages)"
        })
        .await;
    alice.say("/users").await;
    alice
        .expect("users", |l| l == "*** users in general: alice, bob")
        .await;
    bob.say("/leave").await;
    bob.expect("left", |l| l == "*** left random; now in general")
        .await;
    bob.say("/nick robert").await;
    bob.expect("nick", |l| l == "*** you are now robert").await;
    alice
        .expect("nick seen", |l| l == "*** bob is now robert")
        .await;
    alice.say("/help").await;
    alice
        .expect("help", |l| l.contains("/pm <user> <text>"))
        .await;

    // The server restarts; the clients reconnect by themselves and show what they missed.
    server.stop().await;
    alice
        .expect("lost", |l| l.starts_with("*** connection lost"))
        .await;
    let server = TestServer::at(config, addr).await;
    let (mut carol, _) = server.joined("carol", "general").await;
    for i in 1..=3 {
        carol
            .request("sendMessage", json!({ "message": format!("missed {i}") }))
            .await
            .unwrap();
    }
    for i in 1..=3 {
        alice
            .expect("missed message", |l| {
                timed(l, &format!("carol: missed {i}"))
            })
            .await;
    }
    bob.expect("back", |l| l.starts_with("*** back in general"))
        .await;
    bob.say("still here").await;
    alice
        .expect("after the restart", |l| timed(l, "robert: still here"))
        .await;

    let seen = alice.quit().await;
    for i in 1..=3 {
        let shown = seen
            .iter()
            .filter(|l| l.ends_with(&format!("carol: missed {i}")))
            .count();
        assert_eq!(shown, 1, "missed {i} shown {shown} times: {seen:#?}");
    }
    assert_eq!(
        seen.iter().filter(|l| l.ends_with("bob: hi alice")).count(),
        1,
        "{seen:#?}"
    );
    bob.expect("alice left", |l| l == "<<< alice left general")
        .await;
    let bob_seen = bob.quit().await;
    // His own change was told once, by the answer (not again by the push).
    assert!(
        !bob_seen.iter().any(|l| l.contains("bob is now robert")),
        "{bob_seen:#?}"
    );
    server.stop().await;
}

/// Issue 19.4: the network of a terminal user dies without closing; the client
/// reconnects and, with the resume token of its join, is itself again at once (the
/// server would otherwise hold the name for its ping timeout, 45 s), and the others see
/// no leave or join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_client_takes_its_name_back_after_a_silent_drop() {
    let server = TestServer::start().await;
    let relay = common::CuttableRelay::start(server.addr).await;
    let mut alice = Cli::spawn("alice", "general", &server.ws_url());
    alice
        .expect("joined", |l| l == "*** joined general (alice)")
        .await;
    let mut bob = Cli::spawn("bob", "general", &relay.ws_url());
    bob.expect("joined", |l| l == "*** joined general (alice, bob)")
        .await;
    alice
        .expect("bob joined", |l| l == ">>> bob joined general")
        .await;

    relay.cut();
    bob.expect("lost", |l| l.starts_with("*** connection lost"))
        .await;
    alice.say("are you there?").await;
    // What was missed, then the room's members: bob again, at once.
    bob.expect("missed message", |l| timed(l, "alice: are you there?"))
        .await;
    bob.expect("back", |l| l == "*** back in general (alice, bob)")
        .await;
    bob.say("yes, back").await;
    alice
        .expect("bob again", |l| timed(l, "bob: yes, back"))
        .await;
    let alice_seen = alice.quit().await;
    assert_eq!(
        alice_seen
            .iter()
            .filter(|l| l.contains("bob joined") || l.contains("bob left"))
            .count(),
        1,
        "only bob's first join: {alice_seen:#?}"
    );
    bob.quit().await;
    server.stop().await;
}
