//! The terminal client as a user runs it: two clients chatting through pipes across a
//! server restart, the idle timeout and the outbox in line mode, and the full-screen
//! interface in a pseudo-terminal.
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
        Cli::spawn_with(name, &[room, "--url", url])
    }

    fn spawn_with(name: &'static str, args: &[&str]) -> Cli {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsx-chat-cli"))
            .arg(name)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Errors (`!!! …`, on stderr) are read with the rest.
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        forward_lines(child.stdout.take().unwrap(), tx.clone());
        forward_lines(child.stderr.take().unwrap(), tx);
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

/// A server with its history in a file, to be started again where it was.
async fn restartable(tag: &str) -> (TempDir, Config, TestServer) {
    let dir = TempDir::new(tag);
    let config = Config {
        memory: false,
        db: dir.0.join("chat.db"),
        ..Config::default()
    };
    let server = TestServer::with(config.clone()).await;
    (dir, config, server)
}

/// alice in `general` (with `args` besides), the server stopped under her, and "typed
/// while the server was down" typed, waiting in her outbox; what it takes to start the
/// server again where it was.
async fn typed_during_an_outage(
    tag: &str,
    args: &[&str],
) -> (TempDir, Config, std::net::SocketAddr, Cli) {
    let (dir, config, server) = restartable(tag).await;
    let addr = server.addr;
    let url = server.ws_url();
    let mut cli_args = vec!["general", "--url", &url];
    cli_args.extend_from_slice(args);
    let mut alice = Cli::spawn_with("alice", &cli_args);
    alice
        .expect("joined", |l| l == "*** joined general (alice)")
        .await;
    server.stop().await;
    alice
        .expect("restarting", |l| {
            l == "*** server restarting, reconnecting…"
        })
        .await;
    alice.say("typed while the server was down").await;
    (dir, config, addr, alice)
}

/// Sends every line read from `output` to `tx`.
fn forward_lines<R>(output: R, tx: tokio::sync::mpsc::UnboundedSender<String>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(output).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
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
    let (_dir, config, server) = restartable("cli").await;
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

    // The server restarts (a graceful shutdown closes with 1001): the clients say so,
    // reconnect by themselves and show what they missed.
    server.stop().await;
    for cli in [&mut alice, &mut bob] {
        cli.expect("restarting", |l| {
            l == "*** server restarting, reconnecting…"
        })
        .await;
    }
    // Typed during the outage: it waits in the outbox and goes out after the reconnect.
    bob.say("typed during the outage").await;
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
    // ("typed during the outage" may come before or after what carol wrote; it comes
    // before "still here", and is counted below.)
    alice
        .expect("after the restart", |l| timed(l, "robert: still here"))
        .await;

    let seen = alice.quit().await;
    // A restart is not a lost connection.
    assert!(
        !seen.iter().any(|l| l.contains("connection lost")),
        "{seen:#?}"
    );
    for i in 1..=3 {
        let shown = seen
            .iter()
            .filter(|l| l.ends_with(&format!("carol: missed {i}")))
            .count();
        assert_eq!(shown, 1, "missed {i} shown {shown} times: {seen:#?}");
    }
    for once in ["bob: hi alice", "robert: typed during the outage"] {
        let shown = seen.iter().filter(|l| l.ends_with(once)).count();
        assert_eq!(shown, 1, "{once:?} shown {shown} times: {seen:#?}");
    }
    bob.expect("alice left", |l| l == "<<< alice left general")
        .await;
    let seen = bob.quit().await;
    // Bob's own change is announced once, by the answer, not again by the push.
    assert!(
        !seen.iter().any(|l| l.contains("bob is now robert")),
        "{seen:#?}"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_idle_timeout_the_client_waits_for_the_user_then_replays_and_sends() {
    let server = TestServer::with(Config {
        idle_timeout: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let mut alice = Cli::spawn("alice", "general", &server.ws_url());
    alice
        .expect("joined", |l| l == "*** joined general (alice)")
        .await;
    // One quiet second later the server closes with 4000; the client says so in words.
    alice
        .expect("idle", |l| {
            l == "*** disconnected after 1 second without activity; type a line to reconnect"
        })
        .await;
    // Meanwhile someone writes (without waiting for the welcome, which the server holds
    // until a client's first frame, longer than this server's idle timeout).
    let mut carol = server.client().await;
    carol
        .request("join", json!({ "username": "carol", "room": "general" }))
        .await
        .unwrap();
    carol
        .request("sendMessage", json!({ "message": "while you were away" }))
        .await
        .unwrap();
    // The next line typed reconnects, joins again with replay, then goes out.
    alice.say("back now").await;
    alice
        .expect("replayed", |l| timed(l, "carol: while you were away"))
        .await;
    alice
        .expect("back", |l| l.starts_with("*** back in general ("))
        .await;
    alice
        .expect("sent after the reconnect", |l| timed(l, "alice: back now"))
        .await;
    let seen = alice.quit().await;
    assert_eq!(
        seen.iter()
            .filter(|l| l.ends_with("alice: back now"))
            .count(),
        1,
        "{seen:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("Closed") || l.contains("Some(")),
        "no Rust debug text: {seen:#?}"
    );
    drop(carol);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_request_timed_out_during_an_outage_is_sent_after_it() {
    let (_dir, config, addr, mut alice) =
        typed_during_an_outage("cli-outbox", &["--request-timeout", "1"]).await;
    // The outage outlasts the request timeout (1 s): the request fails with a timeout
    // while the server is down, and the outbox keeps the message.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let server = TestServer::at(config, addr).await;
    alice
        .expect("sent", |l| {
            timed(l, "alice: typed while the server was down")
        })
        .await;
    // It is in the room's history, once.
    let (_bob, joined) = server.joined("bob", "general").await;
    let history: Vec<&str> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["typed while the server was down"]);
    let seen = alice.quit().await;
    let shown = seen
        .iter()
        .filter(|l| l.ends_with("alice: typed while the server was down"))
        .count();
    assert_eq!(shown, 1, "{seen:#?}");
    assert!(
        !seen.iter().any(|l| l.contains("timed out")),
        "the timeout is not the user's problem: {seen:#?}"
    );
    server.stop().await;
}

/// A message waiting in the outbox is known to the server by its clientId under the name
/// it was typed with: a rename before it is answered is refused (sent again under the new
/// name it would be stored twice), and accepted once the outbox is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_waits_for_the_outbox() {
    let (_dir, config, addr, mut alice) = typed_during_an_outage("cli-nick-outbox", &[]).await;
    alice.say("/nick alicia").await;
    alice
        .expect("refused", |l| {
            l == "!!! wait until your 1 message is sent before changing your name"
        })
        .await;
    let server = TestServer::at(config, addr).await;
    alice
        .expect("sent", |l| {
            timed(l, "alice: typed while the server was down")
        })
        .await;
    alice.say("/nick alicia").await;
    alice.expect("renamed", |l| l.contains("alicia")).await;
    let (_bob, joined) = server.joined("bob", "general").await;
    let history: Vec<(&str, &str)> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap(),
                m["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(history, [("alice", "typed while the server was down")]);
    alice.quit().await;
    server.stop().await;
}

/// `wsx-chat-cli` in a pseudo-terminal, its output read into a terminal emulator.
struct Screen {
    parser: std::sync::Arc<std::sync::Mutex<vt100::Parser>>,
    writer: Box<dyn std::io::Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    /// The terminal's side the test holds (dropping it would hang up the child).
    master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Screen {
    fn spawn(args: &[&str]) -> Screen {
        use portable_pty::{CommandBuilder, PtySize, native_pty_system};
        let (rows, cols) = (24, 100);
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_wsx-chat-cli"));
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.cwd(std::env::current_dir().unwrap());
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let parser = std::sync::Arc::new(std::sync::Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let feed = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock().unwrap().process(&buf[..n]);
            }
        });
        let writer = pair.master.take_writer().unwrap();
        Screen {
            parser,
            writer,
            child,
            master: pair.master,
        }
    }

    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until the screen's text satisfies `want`.
    async fn wait(&self, what: &str, want: impl Fn(&str) -> bool) {
        self.wait_for(what, |screen| want(&screen.contents())).await;
    }

    /// Waits until the screen satisfies `want`.
    async fn wait_for(&self, what: &str, want: impl Fn(&vt100::Screen) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !want(self.parser.lock().unwrap().screen()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what:?} on the screen within 10 s:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resizes the terminal, as a user dragging the window's corner.
    fn resize(&self, rows: u16, cols: u16) {
        // The emulator first, so it reads the redraw at the new size.
        self.parser.lock().unwrap().set_size(rows, cols);
        self.master
            .resize(portable_pty::PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
    }

    fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_screen_client_joins_sends_receives_and_quits_in_a_terminal() {
    let server = TestServer::start().await;
    let url = server.ws_url();
    let mut alice = Screen::spawn(&["alice", "general", "--url", &url]);
    alice
        .wait("the room joined", |s| {
            s.contains("*** joined general (alice)")
        })
        .await;
    assert!(alice.parser.lock().unwrap().screen().alternate_screen());
    let screen = alice.text();
    assert!(
        screen.contains("rooms") && screen.contains("members (1)"),
        "{screen}"
    );
    assert!(
        screen.contains("● connected │ #general │ alice"),
        "{screen}"
    );

    let (mut bob, _) = server.joined("bob", "general").await;
    alice
        .wait("bob in the members", |s| {
            s.contains("*** bob joined") && s.contains("members (2)")
        })
        .await;

    // Type a message (with Tab completing bob's name) and send it.
    alice.keys("b\tsee you at noon\r");
    let message = bob.push("message").await;
    assert_eq!(message["username"], "alice");
    assert_eq!(message["message"], "bob: see you at noon");
    alice
        .wait("the message echoed", |s| {
            s.contains("alice: bob: see you at noon")
        })
        .await;

    bob.request("sendMessage", json!({ "message": "hi alice" }))
        .await
        .unwrap();
    alice
        .wait("bob's message with its time", |s| {
            s.lines().any(|l| {
                l.find("bob: hi alice")
                    .and_then(|at| l.get(at.checked_sub(9)?..at))
                    .is_some_and(|time| timed(&format!("[{}] x", time.trim_end()), "x"))
            })
        })
        .await;

    // A narrower window: redrawn without the side panes (the message pane first, where
    // the old picture cut at 50 columns starts with the rooms), the messages still there.
    alice.resize(20, 50);
    alice
        .wait("the redraw at 50 columns", |s| {
            let top = s.lines().next().unwrap_or("");
            top.starts_with("┌ #general")
                && top.chars().count() == 50
                && s.contains("bob: hi alice")
        })
        .await;

    // `/qu` completed by Tab, then Enter: the program ends and gives the terminal back.
    alice.keys("/qu\t\r");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = alice.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still running:\n{}",
            alice.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    let left = bob.push("userLeft").await;
    assert_eq!(left["username"], "alice");
    alice
        .wait_for("the terminal given back", |s| !s.alternate_screen())
        .await;
    server.stop().await;
}
