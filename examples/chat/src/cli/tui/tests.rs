//! The full-screen interface against ratatui's `TestBackend`: what the screen shows after
//! a sequence of updates and keys.

use super::*;
use crate::events::{MessageKind, UserJoined, UserTyping};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const NOON: u64 = 1_764_936_001_000; // 2025-12-05 12:00:01 UTC

fn app() -> App {
    let mut app = App::new(
        "alice",
        Zone::Fixed(chrono::FixedOffset::east_opt(0).unwrap()),
    );
    app.update(Update::Joined {
        room: "general".into(),
        users: vec!["bob".into(), "alice".into()],
        again: false,
    });
    app
}

fn message(room: &str, from: &str, text: &str, seq: u64) -> ChatMessage {
    ChatMessage {
        message_id: format!("m{seq}"),
        username: from.into(),
        message: text.into(),
        timestamp: NOON + seq * 1000,
        room: room.into(),
        seq,
        kind: MessageKind::Message,
    }
}

/// Draws the app on a `width`×`height` test terminal; the terminal, to read.
fn draw(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| app.draw(frame)).unwrap();
    terminal
}

fn screen(app: &mut App, width: u16, height: u16) -> String {
    screen_text(draw(app, width, height).backend().buffer())
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn type_line(app: &mut App, text: &str) -> Option<Action> {
    for c in text.chars() {
        app.key(key(KeyCode::Char(c)));
    }
    app.key(key(KeyCode::Enter))
}

/// The row of the screen that contains `needle`.
fn row<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle:?} in\n{screen}"))
}

#[test]
fn messages_render_with_time_name_colour_and_the_panes_around_them() {
    let mut app = App::new(
        "alice",
        Zone::Fixed(chrono::FixedOffset::east_opt(7200).unwrap()),
    );
    app.update(Update::Joined {
        room: "general".into(),
        users: vec!["bob".into(), "alice".into()],
        again: false,
    });
    app.update(Update::Message(message("general", "bob", "hi alice", 1)));
    let mut me = message("general", "alice", "waves", 2);
    me.kind = MessageKind::Action;
    app.update(Update::Message(me));
    let terminal = draw(&mut app, 80, 12);
    let text = screen_text(terminal.backend().buffer());
    // Times in the app's zone (UTC+2 here).
    assert!(text.contains("14:00:02 bob: hi alice"), "{text}");
    assert!(text.contains("14:00:03 * alice waves"), "{text}");
    assert!(text.contains("*** joined general (alice, bob)"), "{text}");
    let top = text.lines().next().unwrap();
    assert!(top.contains("rooms") && top.contains("#general") && top.contains("members (2)"));
    assert!(
        row(&text, "joined general").starts_with("│#general "),
        "{text}"
    );
    assert!(
        row(&text, "hi alice").ends_with("│bob             │"),
        "{text}"
    );
    assert!(text.contains("● connected │ #general │ alice"), "{text}");
    assert_eq!(text.lines().last().unwrap(), "[general] >", "{text}");
    // Bob's name is drawn in bob's colour.
    let y = text
        .lines()
        .position(|l| l.contains("bob: hi alice"))
        .unwrap() as u16;
    let x = text
        .lines()
        .nth(y as usize)
        .unwrap()
        .find("bob: hi")
        .unwrap();
    let x = text.lines().nth(y as usize).unwrap()[..x].chars().count() as u16;
    let cell = terminal.backend().buffer().cell((x, y)).unwrap();
    assert_eq!(cell.fg, user_colour("bob"));
}

#[test]
fn page_up_and_page_down_scroll_through_the_history() {
    let mut app = app();
    for seq in 1..=40 {
        app.update(Update::Message(message(
            "general",
            "bob",
            &format!("line {seq}"),
            seq,
        )));
    }
    let text = screen(&mut app, 80, 14);
    assert!(
        text.contains("line 40") && !text.contains("line 30"),
        "{text}"
    );
    app.key(key(KeyCode::PageUp));
    let text = screen(&mut app, 80, 14);
    assert!(
        !text.contains("line 40") && text.contains("line 30"),
        "{text}"
    );
    assert!(text.contains("newer (End)"), "{text}");
    // A new message does not move what the reader looks at.
    app.update(Update::Message(message("general", "bob", "line 41", 41)));
    assert!(screen(&mut app, 80, 14).contains("line 30"));
    for _ in 0..10 {
        app.key(key(KeyCode::PageUp));
    }
    let text = screen(&mut app, 80, 14);
    assert!(
        text.contains("bob: line 1\n") || text.contains("bob: line 1 "),
        "{text}"
    );
    assert!(
        text.contains("joined general"),
        "the oldest line is reachable:\n{text}"
    );
    for _ in 0..10 {
        app.key(key(KeyCode::PageDown));
    }
    let text = screen(&mut app, 80, 14);
    assert!(
        text.contains("line 41") && !text.contains("newer (End)"),
        "{text}"
    );
}

#[test]
fn up_and_down_walk_the_lines_sent_before() {
    let mut app = app();
    let sent = type_line(&mut app, "first");
    assert_eq!(
        sent,
        Some(Action::Run {
            input: Input::Say("first".into()),
            room: Some("general".into())
        })
    );
    type_line(&mut app, "/me second");
    app.key(key(KeyCode::Up));
    assert!(screen(&mut app, 80, 10).ends_with("[general] > /me second\n"));
    app.key(key(KeyCode::Up));
    assert!(screen(&mut app, 80, 10).ends_with("[general] > first\n"));
    app.key(key(KeyCode::Down));
    assert!(screen(&mut app, 80, 10).ends_with("[general] > /me second\n"));
    app.key(key(KeyCode::Down));
    assert!(screen(&mut app, 80, 10).ends_with("[general] >\n"));
    // Enter on a line from the history sends it again.
    app.key(key(KeyCode::Up));
    assert_eq!(
        app.key(key(KeyCode::Enter)),
        Some(Action::Run {
            input: Input::Me("second".into()),
            room: Some("general".into())
        })
    );
}

#[test]
fn tab_completes_commands_and_names() {
    let mut app = app();
    app.update(Update::UserJoined(UserJoined {
        username: "barbara".into(),
        room: "general".into(),
    }));
    for c in "/jo".chars() {
        app.key(key(KeyCode::Char(c)));
    }
    app.key(key(KeyCode::Tab));
    assert!(screen(&mut app, 80, 10).ends_with("[general] > /join\n"));
    app.key(ctrl('u'));
    app.key(key(KeyCode::Char('b')));
    app.key(key(KeyCode::Tab));
    let text = screen(&mut app, 80, 10);
    assert!(text.ends_with("[general] > barbara:\n"), "{text}");
    assert!(
        text.contains("*** barbara  bob"),
        "the candidates are listed:\n{text}"
    );
    app.key(key(KeyCode::Tab));
    assert!(screen(&mut app, 80, 10).ends_with("[general] > bob:\n"));
    for c in "hi".chars() {
        app.key(key(KeyCode::Char(c)));
    }
    assert_eq!(
        app.key(key(KeyCode::Enter)),
        Some(Action::Run {
            input: Input::Say("bob: hi".into()),
            room: Some("general".into())
        })
    );
}

#[test]
fn rooms_count_unread_messages_until_shown() {
    let mut app = app();
    app.update(Update::Joined {
        room: "random".into(),
        users: vec!["alice".into()],
        again: false,
    });
    app.update(Update::Message(message("general", "bob", "one", 1)));
    app.update(Update::Message(message("general", "bob", "two", 2)));
    app.update(Update::Message(message("random", "alice", "mine", 1)));
    let text = screen(&mut app, 80, 10);
    assert!(text.contains("│#general (2)"), "{text}");
    assert!(text.contains("│#random    "), "{text}");
    assert!(!text.contains("bob: one"), "general is not shown:\n{text}");
    app.key(ctrl('p'));
    let text = screen(&mut app, 80, 10);
    assert!(!text.contains("#general (2)"), "{text}");
    assert!(
        text.contains("bob: one") && !text.contains("alice: mine"),
        "{text}"
    );
    assert!(text.ends_with("[general] >\n"), "{text}");
}

#[test]
fn the_status_line_says_who_is_typing() {
    let mut app = app();
    let typing = |name: &str, active: bool| {
        Update::Typing(UserTyping {
            room: "general".into(),
            username: name.into(),
            active,
        })
    };
    let status = |app: &mut App| {
        let text = screen(app, 80, 10);
        text.lines().nth(8).unwrap().to_owned()
    };
    assert!(!status(&mut app).contains("typing"));
    app.update(typing("bob", true));
    assert!(status(&mut app).ends_with("│ bob is typing…"));
    app.update(typing("carol", true));
    assert!(status(&mut app).ends_with("│ bob and carol are typing…"));
    app.update(typing("bob", false));
    assert!(status(&mut app).ends_with("│ carol is typing…"));
    // A message from the typist ends it.
    app.update(Update::Message(message("general", "carol", "done", 1)));
    assert!(!status(&mut app).contains("typing"));
}

#[test]
fn the_outbox_shows_sending_until_answered_and_a_final_close_says_why() {
    let mut app = app();
    app.update(Update::Sending(Outgoing {
        id: 1,
        client_id: "c1".into(),
        room: "general".into(),
        to: None,
        text: "are you there?".into(),
        kind: MessageKind::Message,
    }));
    app.update(Update::Link(Link::Disconnected {
        why: "disconnected after 5 minutes without activity".into(),
    }));
    let text = screen(&mut app, 120, 10);
    assert!(text.contains("sending… alice: are you there?"), "{text}");
    assert!(
        text.contains(
            "*** disconnected after 5 minutes without activity; press any key to reconnect"
        ),
        "{text}"
    );
    assert!(
        text.contains("✖ disconnected: press a key │ #general │ alice │ 1 message sending…"),
        "{text}"
    );
    app.update(Update::Link(Link::Open));
    app.update(Update::Sent { id: 1 });
    let text = screen(&mut app, 100, 10);
    assert!(!text.contains("sending…"), "{text}");
    assert!(
        text.contains("*** reconnected") && text.contains("● connected"),
        "{text}"
    );
    // A private message waits in the outbox too, shown where it was typed.
    app.update(Update::Sending(Outgoing {
        id: 2,
        client_id: "c2".into(),
        room: "general".into(),
        to: Some("bob".into()),
        text: "psst".into(),
        kind: MessageKind::Message,
    }));
    let text = screen(&mut app, 100, 10);
    assert!(text.contains("sending… [pm] alice -> bob: psst"), "{text}");
}

#[test]
fn a_restart_is_said_as_such_and_not_as_a_lost_connection() {
    let mut app = app();
    app.update(Update::Link(Link::Restarting));
    let text = screen(&mut app, 120, 10);
    assert!(
        text.contains("*** server restarting, reconnecting…"),
        "{text}"
    );
    assert!(text.contains("◌ server restarting…"), "{text}");
    assert!(!text.contains("connection lost"), "{text}");
    app.update(Update::Link(Link::Open));
    let text = screen(&mut app, 120, 10);
    assert!(
        text.contains("*** reconnected") && text.contains("● connected"),
        "{text}"
    );
}

#[test]
fn a_narrow_terminal_drops_the_side_panes() {
    let mut app = app();
    app.update(Update::Message(message(
        "general",
        "bob",
        "a message long enough to wrap on a narrow screen",
        1,
    )));
    let wide = screen(&mut app, 90, 10);
    assert!(wide.contains("members (2)"), "{wide}");
    let narrow = screen(&mut app, 40, 10);
    assert!(!narrow.contains("members"), "{narrow}");
    assert!(
        narrow.contains("12:00:02 bob: a message long enough"),
        "{narrow}"
    );
    // Wrapped between words.
    assert!(
        narrow.contains("│12:00:02 bob: a message long enough  "),
        "{narrow}"
    );
    assert!(narrow.contains("│to wrap on a narrow screen  "), "{narrow}");
}

/// The README's picture of a session.
mod readme {
    use super::*;

    /// The session the README shows, drawn on a 100×13 terminal.
    fn session() -> String {
        let at = |h: u64, m: u64, s: u64| 1_764_936_000_000 + ((h - 12) * 3600 + m * 60 + s) * 1000;
        let msg = |room: &str, from: &str, text: &str, seq: u64, time: u64| ChatMessage {
            message_id: format!("m{seq}"),
            username: from.into(),
            message: text.into(),
            timestamp: time,
            room: room.into(),
            seq,
            kind: MessageKind::Message,
        };
        let mut app = App::new(
            "alice",
            Zone::Fixed(chrono::FixedOffset::east_opt(0).unwrap()),
        );
        app.update(Update::Welcome {
            message: "welcome to the wsx chat".into(),
            rooms: Vec::new(),
        });
        app.update(Update::Joined {
            room: "random".into(),
            users: vec!["alice".into(), "dave".into()],
            again: false,
        });
        app.update(Update::Joined {
            room: "general".into(),
            users: vec!["alice".into(), "bob".into()],
            again: false,
        });
        app.update(Update::Message(msg(
            "general",
            "bob",
            "morning all",
            41,
            at(12, 0, 1),
        )));
        app.update(Update::UserJoined(UserJoined {
            username: "carol".into(),
            room: "general".into(),
        }));
        app.update(Update::Message(msg(
            "general",
            "carol",
            "hi! did the deploy go out?",
            42,
            at(12, 0, 9),
        )));
        let mut action = msg("general", "bob", "checks the dashboard", 43, at(12, 0, 14));
        action.kind = MessageKind::Action;
        app.update(Update::Message(action));
        app.update(Update::Message(msg(
            "general",
            "alice",
            "yes, at 11:58, all green",
            44,
            at(12, 0, 20),
        )));
        app.update(Update::Private(PrivateMessage {
            message_id: "p1".into(),
            from: "carol".into(),
            to: "alice".into(),
            message: "lunch later?".into(),
            timestamp: at(12, 0, 31),
        }));
        app.update(Update::Message(msg(
            "random",
            "dave",
            "anyone seen my mug",
            7,
            at(12, 0, 33),
        )));
        app.update(Update::Message(msg(
            "random",
            "dave",
            "the blue one",
            8,
            at(12, 0, 35),
        )));
        app.update(Update::Sending(Outgoing {
            id: 1,
            client_id: "c1".into(),
            room: "general".into(),
            to: None,
            text: "thanks bob".into(),
            kind: MessageKind::Message,
        }));
        app.update(Update::Typing(UserTyping {
            room: "general".into(),
            username: "bob".into(),
            active: true,
        }));
        for c in "/pm carol sure, 12:30?".chars() {
            app.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        let mut terminal = Terminal::new(TestBackend::new(100, 13)).unwrap();
        terminal.draw(|frame| app.draw(frame)).unwrap();
        screen_text(terminal.backend().buffer())
    }

    #[test]
    fn the_readme_shows_this_session() {
        let screen = session();
        let readme = include_str!("../../../../../README.md");
        assert!(
            readme.contains(&format!("```text\n{screen}```")),
            "README.md should show this session (between ```text and ```):\n{screen}"
        );
    }
}

#[test]
fn help_switching_to_a_joined_room_and_ctrl_c_stay_in_the_interface() {
    let mut app = app();
    app.update(Update::Joined {
        room: "random".into(),
        users: vec!["alice".into()],
        again: false,
    });
    assert_eq!(type_line(&mut app, "/help"), None);
    let text = screen(&mut app, 100, 30);
    assert!(
        text.contains("│  /pm <user> <text>   send a private message"),
        "{text}"
    );
    assert!(
        text.contains("│  PageUp/PageDown scroll · End or Esc newest "),
        "{text}"
    );
    assert_eq!(type_line(&mut app, "/frobnicate"), None);
    assert!(screen(&mut app, 100, 30).contains("!!! unknown command /frobnicate"));
    // Already in general: shown at once, nothing asked of the server.
    assert_eq!(type_line(&mut app, "/join general"), None);
    assert_eq!(app.current_room(), Some("general"));
    assert_eq!(
        type_line(&mut app, "/join lobby"),
        Some(Action::Run {
            input: Input::Join("lobby".into()),
            room: Some("general".into())
        })
    );
    assert!(!app.quit());
    assert_eq!(app.key(ctrl('c')), Some(Action::Quit));
    assert!(app.quit());
}
