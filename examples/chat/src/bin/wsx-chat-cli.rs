//! The terminal chat client, on `wsx-client`:
//! `cargo run -p wsx-chat --bin wsx-chat-cli -- alice [room] [--url ws://127.0.0.1:3001/ws]`.
//!
//! Reads lines from stdin (a terminal or a pipe) and prints the chat on stdout:
//! `[12:00:01] alice: hi`, `>>> bob joined general`, `<<< bob left general` (times in
//! UTC). `/help` lists the commands. When the connection drops it reconnects by itself,
//! joins its rooms again and shows the messages it missed, each once. End of input or
//! `/quit` leaves.

use clap::Parser;
use futures::StreamExt;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use wsx_chat::cli::{HELP, Input, Transcript, format_private, format_rooms};
use wsx_chat::*;
use wsx_client::{Client, ConnectionState, ReconnectPolicy};

/// A terminal client for the wsx example chat.
#[derive(Debug, Parser)]
#[command(name = "wsx-chat-cli", version)]
struct Args {
    /// Your name in the chat.
    name: String,
    /// The room to join first.
    #[arg(default_value = "general")]
    room: String,
    /// The server's WebSocket URL.
    #[arg(long, env = "WSX_CHAT_URL", default_value = "ws://127.0.0.1:3001/ws")]
    url: String,
}

/// What the client shares between its tasks.
#[derive(Clone)]
struct Shared {
    transcript: Arc<Mutex<Transcript>>,
    name: Arc<Mutex<String>>,
    /// The latest join's `resumeToken`: a re-join after a reconnect presents it, so the
    /// server hands the name back at once even if it has not noticed the old connection
    /// die.
    resume_token: Arc<Mutex<Option<String>>>,
}

impl Shared {
    fn name(&self) -> String {
        self.name.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// Runs `f` on the transcript and prints the lines it returns, under the lock so
    /// lines from different tasks do not interleave out of order.
    fn print_with<F: FnOnce(&mut Transcript) -> Vec<String>>(&self, f: F) {
        if let Ok(mut t) = self.transcript.lock() {
            for line in f(&mut t) {
                println!("{line}");
            }
        }
    }

    fn say(&self, line: impl AsRef<str>) {
        let _guard = self.transcript.lock();
        println!("{}", line.as_ref());
    }
}

fn error(message: impl AsRef<str>) {
    eprintln!("!!! {}", message.as_ref());
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let shared = Shared {
        transcript: Arc::default(),
        name: Arc::new(Mutex::new(args.name.clone())),
        resume_token: Arc::default(),
    };
    let hook_shared = shared.clone();
    let connected = Client::builder(args.url.clone())
        .request_timeout(Duration::from_secs(10))
        .reconnect(
            ReconnectPolicy::default()
                .min_delay(Duration::from_millis(100))
                .max_delay(Duration::from_secs(5)),
        )
        .on_reconnect(move |client| {
            let shared = hook_shared.clone();
            async move { rejoin_all(&client, &shared).await }
        })
        .connect()
        .await;
    let client = match connected {
        Ok(client) => client,
        Err(e) => {
            error(format!("cannot connect to {}: {e}", args.url));
            return ExitCode::FAILURE;
        }
    };
    let printer = tokio::spawn(print_pushes(client.clone(), shared.clone()));
    if let Err(e) = join(&client, &shared, &args.room).await {
        error(e);
        client.close().await;
        return ExitCode::FAILURE;
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                error(format!("cannot read input: {e}"));
                break;
            }
        };
        if !handle(&client, &shared, Input::parse(&line)).await {
            break;
        }
    }
    client.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), printer).await;
    ExitCode::SUCCESS
}

/// Acts on one line; `false` to quit.
async fn handle(client: &Client, shared: &Shared, input: Input) -> bool {
    let current = || {
        shared
            .transcript
            .lock()
            .ok()
            .and_then(|t| t.current().map(str::to_owned))
    };
    let result: Result<(), String> = match input {
        Input::Empty => Ok(()),
        Input::Quit => return false,
        Input::Help => {
            shared.say(HELP);
            Ok(())
        }
        Input::Invalid(why) => Err(why),
        Input::Say(text) => send(client, current(), text, MessageKind::Message).await,
        Input::Me(text) => send(client, current(), text, MessageKind::Action).await,
        Input::Join(room) => join(client, shared, &room).await,
        Input::Leave(room) => match room.or_else(current) {
            None => Err("you are in no room".into()),
            Some(room) => match client
                .request::<Leave>(LeaveRequest {
                    room: Some(room.clone()),
                })
                .await
            {
                Ok(answer) => {
                    shared.print_with(|t| {
                        t.left(&answer.room);
                        let now = t
                            .current()
                            .map(|c| format!("; now in {c}"))
                            .unwrap_or_default();
                        vec![format!("*** left {}{now}", answer.room)]
                    });
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            },
        },
        Input::Rooms => match client.request::<ListRooms>(ListRoomsRequest {}).await {
            Ok(answer) => {
                shared.say(format_rooms(&answer.rooms));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
        Input::Users(room) => match client
            .request::<ListUsers>(ListUsersRequest {
                room: room.or_else(current),
            })
            .await
        {
            Ok(answer) => {
                shared.say(format!(
                    "*** users in {}: {}",
                    answer.room,
                    answer.users.join(", ")
                ));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
        Input::Pm(to, message) => client
            .request::<SendPrivate>(SendPrivateRequest {
                to,
                message,
                client_id: None,
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Input::Nick(name) => match client
            .request::<SetNick>(SetNickRequest { username: name })
            .await
        {
            Ok(answer) => {
                if let Ok(mut n) = shared.name.lock() {
                    n.clone_from(&answer.username);
                }
                shared.say(format!("*** you are now {}", answer.username));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
    };
    if let Err(e) = result {
        error(e);
    }
    true
}

async fn send(
    client: &Client,
    room: Option<String>,
    message: String,
    kind: MessageKind,
) -> Result<(), String> {
    let Some(room) = room else {
        return Err("join a room first: /join <room>".into());
    };
    let request = SendMessageRequest {
        message,
        room: Some(room),
        kind: Some(kind),
        client_id: None,
    };
    client
        .request::<SendMessage>(request)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Joins a room (or joins it again after a reconnect, with the last position seen).
async fn join(client: &Client, shared: &Shared, room: &str) -> Result<(), String> {
    let since = shared
        .transcript
        .lock()
        .ok()
        .and_then(|mut t| t.begin_join(room));
    let rejoin = since.is_some();
    let request = JoinRequest {
        username: shared.name(),
        room: room.to_owned(),
        since,
        resume_token: shared.resume_token.lock().ok().and_then(|t| t.clone()),
    };
    let mut attempt = 0;
    let answer = loop {
        match client.request::<Join>(request.clone()).await {
            Ok(answer) => break answer,
            // After a reconnect the server may not have seen the old connection go yet.
            Err(e) if rejoin && attempt < 40 && e.to_string().contains("taken") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                shared.print_with(|t| t.abort_join(room));
                return Err(format!("cannot join {room}: {e}"));
            }
        }
    };
    if let (Some(token), Ok(mut kept)) = (answer.resume_token.clone(), shared.resume_token.lock()) {
        *kept = Some(token);
    }
    shared.print_with(|t| {
        let mut lines = Vec::new();
        if !rejoin {
            lines.push(format!(
                "*** joined {} ({})",
                answer.room,
                answer.users.join(", ")
            ));
        }
        lines.extend(t.finish_join(&answer));
        if rejoin {
            lines.push(format!(
                "*** back in {} ({})",
                answer.room,
                answer.users.join(", ")
            ));
        }
        lines
    });
    Ok(())
}

/// After a reconnect: every room again, in the order joined, from where we were.
async fn rejoin_all(client: &Client, shared: &Shared) {
    let rooms = shared
        .transcript
        .lock()
        .map(|t| t.rooms())
        .unwrap_or_default();
    for room in rooms {
        if let Err(e) = join(client, shared, &room).await {
            error(e);
        }
    }
}

/// Prints pushes and connection changes until the client closes.
async fn print_pushes(client: Client, shared: Shared) {
    let mut messages = client.subscribe::<ChatMessage>();
    let mut joined = client.subscribe::<UserJoined>();
    let mut left = client.subscribe::<UserLeft>();
    let mut nicks = client.subscribe::<NickChanged>();
    let mut privates = client.subscribe::<PrivateMessage>();
    let mut welcomes = client.subscribe::<Welcome>();
    let mut states = client.states();
    drop(client);
    let mut last_nick: Option<(String, String)> = None;
    loop {
        tokio::select! {
            Some(m) = messages.recv() => shared.print_with(|t| t.on_message(m).into_iter().collect()),
            Some(j) = joined.recv() => shared.say(format!(">>> {} joined {}", j.username, j.room)),
            Some(l) = left.recv() => shared.say(format!("<<< {} left {}", l.username, l.room)),
            Some(n) = nicks.recv() => {
                // One line per change, not one per shared room; our own change was
                // already told by the answer to /nick.
                let change = (n.old_name.clone(), n.new_name.clone());
                let me = shared.name();
                let mine = n.old_name == me || n.new_name == me;
                if !mine && last_nick.as_ref() != Some(&change) {
                    shared.say(format!("*** {} is now {}", n.old_name, n.new_name));
                    last_nick = Some(change);
                }
            }
            Some(p) = privates.recv() => shared.say(format_private(&p)),
            Some(w) = welcomes.recv() => shared.say(format!("*** {}", w.message)),
            Some(state) = states.next() => match state {
                ConnectionState::Reconnecting { attempt: 1, error, .. } => {
                    shared.say(format!("*** connection lost ({error}); reconnecting…"));
                }
                ConnectionState::Open => shared.say("*** reconnected"),
                ConnectionState::Closed { reason } => {
                    shared.say(format!("*** disconnected: {reason}"));
                    break;
                }
                _ => {}
            },
            else => break,
        }
    }
}
