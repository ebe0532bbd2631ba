//! The terminal chat client, on `wsx-client`:
//! `cargo run -p wsx-chat --bin wsx-chat-cli -- alice [room] [--url ws://127.0.0.1:3001/ws] [--plain]`.
//!
//! In a terminal it is full-screen: rooms with unread counts, the messages of the room
//! shown (PageUp/PageDown to scroll), its members, a status line (connection, room, who
//! is typing) and an input line with history (Up/Down) and Tab completion; `/help` lists
//! the commands and keys. With `--plain`, or when stdin is not a terminal (a pipe, a
//! script), it reads lines from stdin and prints the chat on stdout:
//! `[12:00:01] alice: hi`, `>>> bob joined general`, `<<< bob left general`. Times are
//! local.
//!
//! When the connection drops it reconnects by itself, joins its rooms again and shows the
//! messages it missed, each once; messages typed meanwhile wait in the outbox
//! ("sending…") and go out after the reconnect. After the server's idle timeout it does
//! not reconnect until the user acts. End of input, `/quit` or Ctrl+C leaves.

use clap::Parser;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use wsx_chat::cli::connection::{Connection, REQUEST_TIMEOUT, Update};
use wsx_chat::cli::tui::{Action, App, Zone};
use wsx_chat::cli::{HELP, Input, plain_line};

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
    /// Line mode: read lines from stdin, print lines on stdout (the default when stdin or
    /// stdout is not a terminal).
    #[arg(long)]
    plain: bool,
    /// How long to wait for the server's answer, in seconds; a message not answered in
    /// time stays in the outbox and is sent again once the connection is open.
    #[arg(long, value_name = "SECONDS", default_value_t = REQUEST_TIMEOUT.as_secs())]
    request_timeout: u64,
}

/// How often a "typing" indicator is renewed while the user types (the server drops it
/// after a few seconds without one).
const TYPING_EVERY: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let (updates, received) = mpsc::unbounded_channel();
    let conn = match Connection::connect(
        &args.url,
        &args.name,
        Duration::from_secs(args.request_timeout.max(1)),
        updates,
    )
    .await
    {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("!!! cannot connect to {}: {e}", args.url);
            return ExitCode::FAILURE;
        }
    };
    let full_screen =
        !args.plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if full_screen {
        full_screen_mode(conn, received, &args).await
    } else {
        line_mode(conn, received, &args).await
    }
}

/// Line mode: stdin lines in, chat lines out.
async fn line_mode(
    conn: Connection,
    mut received: mpsc::UnboundedReceiver<Update>,
    args: &Args,
) -> ExitCode {
    let printer_conn = conn.clone();
    let print = move |update: Update| match plain_line(&update, printer_conn.current().as_deref()) {
        Some(Ok(line)) => println!("{line}"),
        Some(Err(line)) => eprintln!("{line}"),
        None => {}
    };
    // The printer holds the conn, so the updates never end by themselves: it prints
    // until told to stop, then what is left.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let printer = tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(update) = received.recv() => print(update),
                _ = &mut stopped => break,
            }
        }
        while let Ok(update) = received.try_recv() {
            print(update);
        }
    });
    if let Err(e) = conn.join(&args.room).await {
        eprintln!("!!! {e}");
        conn.close().await;
        return ExitCode::FAILURE;
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                eprintln!("!!! cannot read input: {e}");
                break;
            }
        };
        conn.wake().await;
        match Input::parse(&line) {
            Input::Quit => break,
            Input::Help => println!("{HELP}"),
            input => conn.act(input, None).await,
        }
    }
    // What was typed goes out before leaving.
    if !conn.drain(Duration::from_secs(args.request_timeout)).await {
        eprintln!("!!! some messages were not sent");
    }
    conn.close().await;
    let _ = stop.send(());
    let _ = printer.await;
    ExitCode::SUCCESS
}

/// The full-screen interface.
async fn full_screen_mode(
    conn: Connection,
    mut received: mpsc::UnboundedReceiver<Update>,
    args: &Args,
) -> ExitCode {
    let mut app = App::new(&args.name, Zone::Local);
    // Sets raw mode and the alternate screen, and restores the terminal on a panic.
    let mut terminal = ratatui::init();
    let joining = conn.clone();
    let room = args.room.clone();
    tokio::spawn(async move {
        if let Err(e) = joining.join(&room).await {
            joining.act(Input::Invalid(e), None).await;
        }
    });
    let mut keys = EventStream::new();
    let mut typing_sent: Option<(String, Instant)> = None;
    let mut failed = None;
    loop {
        if let Err(e) = terminal.draw(|frame| app.draw(frame)) {
            failed = Some(format!("cannot draw: {e}"));
            break;
        }
        tokio::select! {
            Some(update) = received.recv() => {
                app.update(update);
                // Everything already here, then one draw.
                while let Ok(update) = received.try_recv() {
                    app.update(update);
                }
            }
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    conn.wake().await;
                    match app.key(key) {
                        Some(Action::Quit) => break,
                        Some(Action::Run { input, room }) => {
                            if let (Some((typing_room, _)), Input::Say(_) | Input::Me(_)) = (&typing_sent, &input) {
                                let stop = conn.clone();
                                let typing_room = typing_room.clone();
                                tokio::spawn(async move { stop.typing(typing_room, false).await });
                                typing_sent = None;
                            }
                            let acting = conn.clone();
                            tokio::spawn(async move { acting.act(input, room).await });
                        }
                        Some(Action::Typing { room }) => {
                            let due = match &typing_sent {
                                Some((r, at)) => *r != room || at.elapsed() >= TYPING_EVERY,
                                None => true,
                            };
                            if due {
                                typing_sent = Some((room.clone(), Instant::now()));
                                let typing = conn.clone();
                                tokio::spawn(async move { typing.typing(room, true).await });
                            }
                        }
                        None => {}
                    }
                }
                // A resize (or anything else) just redraws.
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    failed = Some(format!("cannot read the terminal: {e}"));
                    break;
                }
                None => break,
            },
        }
        if app.quit() {
            break;
        }
    }
    ratatui::restore();
    if !conn.drain(Duration::from_secs(2)).await {
        eprintln!("!!! some messages were not sent");
    }
    conn.close().await;
    match failed {
        Some(e) => {
            eprintln!("!!! {e}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
