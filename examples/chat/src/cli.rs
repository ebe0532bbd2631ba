//! The terminal client's logic, apart from its terminal I/O: what a line typed means, how
//! events are printed in line mode, and the [`Transcript`] that shows every room message
//! exactly once across reconnects.
//!
//! # Layout
//! | module | what it holds |
//! | --- | --- |
//! | this one | [`Input`] (a typed line), [`Transcript`], line-mode formatting |
//! | [`connection`] | the connection: joins, re-joins with replay, the outbox, pushes turned into [`connection::Update`]s |
//! | [`tui`] | the full-screen interface's state, key handling and drawing, apart from the terminal |
//! | [`editor`] | the input line: editing, history, tab completion |
//!
//! The binary (`src/bin/wsx-chat-cli.rs`) owns the terminal: it feeds keys and updates to
//! [`tui::App`] and draws it, or, in line mode, prints [`connection::Update`]s with
//! [`plain_line`].
//!
//! # Exactly once on screen
//! The transcript remembers, per room, the epoch and the last `seq` shown. While a join
//! (or a re-join after a reconnect) is under way, live `message` pushes for that room are
//! held back; the join's answer is shown first (only what is newer than the last `seq`
//! shown, unless the server says it could not recover), then the held-back pushes newer
//! than the answer's `seq`. Any push at or below the last `seq` shown is a repeat and is
//! skipped.

use crate::events::{
    ChatMessage, JoinResponse, MessageKind, PrivateMessage, RoomPosition, RoomSummary,
};
use std::collections::HashMap;

pub mod connection;
pub mod editor;
pub mod tui;

/// The help text of `/help`.
pub const HELP: &str = "\
commands:
  <text>              send to the current room
  /me <action>        send an action: * alice waves
  /join <room>        join a room (it becomes the current one)
  /leave [room]       leave a room (default: the current one)
  /rooms              list the rooms
  /users [room]       list the users of a room
  /pm <user> <text>   send a private message
  /nick <name>        change your name
  /help               this help
  /quit               leave (end of input does the same)";

/// A line typed by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Text for the current room.
    Say(String),
    /// `/me …`.
    Me(String),
    /// `/join room`.
    Join(String),
    /// `/leave [room]`.
    Leave(Option<String>),
    /// `/rooms`.
    Rooms,
    /// `/users [room]`.
    Users(Option<String>),
    /// `/pm user text`.
    Pm(String, String),
    /// `/nick name`.
    Nick(String),
    /// `/help`.
    Help,
    /// `/quit`.
    Quit,
    /// A command used wrongly, with what to say about it.
    Invalid(String),
    /// A blank line.
    Empty,
}

impl Input {
    /// Parses one line of input.
    pub fn parse(line: &str) -> Input {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Input::Empty;
        }
        let Some(command) = line.strip_prefix('/') else {
            return Input::Say(line.to_owned());
        };
        let (name, rest) = command
            .split_once(char::is_whitespace)
            .unwrap_or((command, ""));
        let rest = rest.trim();
        let arg = || (!rest.is_empty()).then(|| rest.to_owned());
        match name {
            "help" | "h" | "?" => Input::Help,
            "quit" | "exit" | "q" => Input::Quit,
            "rooms" => Input::Rooms,
            "users" | "who" => Input::Users(arg()),
            "leave" | "part" => Input::Leave(arg()),
            "join" | "j" => {
                arg().map_or_else(|| Input::Invalid("usage: /join <room>".into()), Input::Join)
            }
            "nick" => {
                arg().map_or_else(|| Input::Invalid("usage: /nick <name>".into()), Input::Nick)
            }
            "me" => arg().map_or_else(|| Input::Invalid("usage: /me <action>".into()), Input::Me),
            "pm" | "msg" => match rest.split_once(char::is_whitespace) {
                Some((to, text)) if !text.trim().is_empty() => {
                    Input::Pm(to.to_owned(), text.trim().to_owned())
                }
                _ => Input::Invalid("usage: /pm <user> <text>".into()),
            },
            // "//text" sends "/text".
            _ if name.starts_with('/') => Input::Say(line[1..].to_owned()),
            _ => Input::Invalid(format!("unknown command /{name}; /help lists them")),
        }
    }
}

/// `HH:MM:SS` in the local time zone of a timestamp in milliseconds since the Unix epoch.
///
/// Local time comes from `chrono`'s `Local`, which reads `TZ` and the system's zone
/// database itself: it gives the right offset for every date (daylight saving included),
/// and works in a multi-threaded program, where the `time` crate refuses to find the
/// local offset on Unix.
pub fn clock(ms: u64) -> String {
    clock_in(ms, &chrono::Local)
}

/// `HH:MM:SS` of a timestamp in milliseconds in the time zone `tz`.
pub fn clock_in<Tz: chrono::TimeZone>(ms: u64, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    match tz.timestamp_millis_opt(ms).single() {
        Some(time) => time.format("%H:%M:%S").to_string(),
        None => "--:--:--".to_owned(),
    }
}

/// `n thing` or `n things`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `[12:00:01] alice: hi`, `[12:00:01] * alice waves` (local time); prefixed with `#room`
/// when it is not the current room.
pub fn format_message(m: &ChatMessage, current: Option<&str>) -> String {
    format_message_in(m, current, &chrono::Local)
}

/// [`format_message`] with the time in the zone `tz`.
pub fn format_message_in<Tz: chrono::TimeZone>(
    m: &ChatMessage,
    current: Option<&str>,
    tz: &Tz,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let room = if current == Some(m.room.as_str()) {
        String::new()
    } else {
        format!("#{} ", m.room)
    };
    match m.kind {
        MessageKind::Message => format!(
            "[{}] {room}{}: {}",
            clock_in(m.timestamp, tz),
            m.username,
            m.message
        ),
        MessageKind::Action => format!(
            "[{}] {room}* {} {}",
            clock_in(m.timestamp, tz),
            m.username,
            m.message
        ),
    }
}

/// `[12:00:01] [pm] alice -> bob: psst`.
pub fn format_private(m: &PrivateMessage) -> String {
    format!(
        "[{}] [pm] {} -> {}: {}",
        clock(m.timestamp),
        m.from,
        m.to,
        m.message
    )
}

/// The line mode's line for an update: `Ok` for stdout, `Err` for stderr, `None` for
/// nothing (what the user typed is not echoed; their messages come back from the server).
/// `current` is the room joined last.
pub fn plain_line(
    update: &connection::Update,
    current: Option<&str>,
) -> Option<Result<String, String>> {
    use connection::{Link, Update};
    let line = match update {
        Update::Link(Link::Open) => "*** reconnected".to_owned(),
        Update::Link(Link::Reconnecting { error }) => {
            format!("*** connection lost ({error}); reconnecting…")
        }
        Update::Link(Link::Restarting) => "*** server restarting, reconnecting…".to_owned(),
        Update::Link(Link::Disconnected { why }) => {
            format!("*** {why}; type a line to reconnect")
        }
        Update::Link(Link::Closed { why }) => format!("*** connection closed: {why}"),
        Update::Welcome { message, .. } => format!("*** {message}"),
        Update::Joined { room, users, again } => {
            let what = if *again { "back in" } else { "joined" };
            format!("*** {what} {room} ({})", users.join(", "))
        }
        Update::Message(m) => format_message(m, current),
        Update::Private(p) => format_private(p),
        Update::UserJoined(j) => format!(">>> {} joined {}", j.username, j.room),
        Update::UserLeft(l) => format!("<<< {} left {}", l.username, l.room),
        Update::NickChanged { old_name, new_name } => format!("*** {old_name} is now {new_name}"),
        Update::Renamed(name) => format!("*** you are now {name}"),
        Update::Left { room } => match current {
            Some(now) => format!("*** left {room}; now in {now}"),
            None => format!("*** left {room}"),
        },
        Update::Rooms(rooms) => format_rooms(rooms),
        Update::Users { room, users } => format!("*** users in {room}: {}", users.join(", ")),
        Update::Notice(text) => format!("*** {text}"),
        Update::Error(text) => return Some(Err(format!("!!! {text}"))),
        Update::SendFailed { why, .. } => return Some(Err(format!("!!! not sent: {why}"))),
        Update::Typing(_) | Update::Sending(_) | Update::Sent { .. } => return None,
    };
    Some(Ok(line))
}

/// `*** rooms: general (2 users, 14 messages), random (1 user, 0 messages)`.
pub fn format_rooms(rooms: &[RoomSummary]) -> String {
    if rooms.is_empty() {
        return "*** no rooms".into();
    }
    let list: Vec<String> = rooms
        .iter()
        .map(|r| {
            format!(
                "{} ({}, {})",
                r.name,
                count(r.members, "user", "users"),
                count(r.messages, "message", "messages")
            )
        })
        .collect();
    format!("*** rooms: {}", list.join(", "))
}

/// What a join lets through to the screen, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    /// A room message, shown once.
    Message(ChatMessage),
    /// Something to say about the room (e.g. that some messages were lost).
    Notice(String),
}

/// What the client has shown, per room (see the module docs).
#[derive(Debug, Default)]
pub struct Transcript {
    /// Rooms joined, in order; the last is the current one.
    rooms: Vec<String>,
    /// Per room: epoch and last `seq` shown.
    positions: HashMap<String, RoomPosition>,
    /// Rooms being joined → pushes held back until the answer.
    syncing: HashMap<String, Vec<ChatMessage>>,
}

impl Transcript {
    /// The current room.
    pub fn current(&self) -> Option<&str> {
        self.rooms.last().map(String::as_str)
    }

    /// Rooms joined, in order.
    pub fn rooms(&self) -> Vec<String> {
        self.rooms.clone()
    }

    /// A join of `room` starts: holds its pushes back; returns the `since` to send.
    pub fn begin_join(&mut self, room: &str) -> Option<RoomPosition> {
        self.syncing.entry(room.to_owned()).or_default();
        self.positions.get(room).cloned()
    }

    /// A join failed: shows what was held back, stops holding.
    pub fn abort_join(&mut self, room: &str) -> Vec<ChatMessage> {
        let held = self.syncing.remove(room).unwrap_or_default();
        held.into_iter().filter_map(|m| self.show(m)).collect()
    }

    /// A join answered: the lines to print (history, a notice if some messages were
    /// lost, then the held-back pushes), and the room becomes the current one.
    pub fn finish_join(&mut self, answer: &JoinResponse) -> Vec<Shown> {
        let room = answer.room.clone();
        self.rooms.retain(|r| *r != room);
        self.rooms.push(room.clone());
        let mut lines = Vec::new();
        let known = self
            .positions
            .get(&room)
            .filter(|p| p.epoch == answer.epoch)
            .map(|p| p.seq);
        if answer.recovered == Some(false) {
            lines.push(Shown::Notice(format!(
                "some messages of {room} could not be recovered; here are the latest"
            )));
        }
        let shown_up_to = match answer.recovered {
            Some(false) => 0,
            _ => known.unwrap_or(0),
        };
        lines.extend(
            answer
                .history
                .iter()
                .filter(|m| m.seq > shown_up_to)
                .cloned()
                .map(Shown::Message),
        );
        self.positions.insert(
            room.clone(),
            RoomPosition {
                epoch: answer.epoch.clone(),
                seq: answer.seq.max(shown_up_to),
            },
        );
        let held = self.syncing.remove(&room).unwrap_or_default();
        lines.extend(
            held.into_iter()
                .filter_map(|m| self.show(m).map(Shown::Message)),
        );
        lines
    }

    /// A room left.
    pub fn left(&mut self, room: &str) {
        self.rooms.retain(|r| r != room);
        self.positions.remove(room);
        self.syncing.remove(room);
    }

    /// A live `message` push: the message to show, or `None` (held back, or a repeat).
    pub fn on_message(&mut self, m: ChatMessage) -> Option<ChatMessage> {
        if let Some(held) = self.syncing.get_mut(&m.room) {
            held.push(m);
            return None;
        }
        self.show(m)
    }

    fn show(&mut self, m: ChatMessage) -> Option<ChatMessage> {
        match self.positions.get_mut(&m.room) {
            Some(p) if m.seq <= p.seq => None,
            Some(p) => {
                p.seq = m.seq;
                Some(m)
            }
            // Not (or no longer) in the room.
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(room: &str, seq: u64) -> ChatMessage {
        ChatMessage {
            message_id: format!("m{seq}"),
            username: "bob".into(),
            message: format!("n{seq}"),
            timestamp: 43_201_000,
            room: room.into(),
            seq,
            kind: MessageKind::Message,
        }
    }

    fn answer(
        room: &str,
        epoch: &str,
        seq: u64,
        history: Vec<ChatMessage>,
        recovered: Option<bool>,
    ) -> JoinResponse {
        JoinResponse {
            success: true,
            message: String::new(),
            users: vec![],
            room: room.into(),
            epoch: epoch.into(),
            seq,
            history,
            recovered,
            resume_token: None,
        }
    }

    #[test]
    fn lines_parse() {
        assert_eq!(
            Input::parse("hello there\n"),
            Input::Say("hello there".into())
        );
        assert_eq!(Input::parse("/me waves"), Input::Me("waves".into()));
        assert_eq!(
            Input::parse("/pm bob  see you"),
            Input::Pm("bob".into(), "see you".into())
        );
        assert!(matches!(Input::parse("/pm bob"), Input::Invalid(_)));
        assert_eq!(Input::parse("/join random"), Input::Join("random".into()));
        assert_eq!(Input::parse("/leave"), Input::Leave(None));
        assert_eq!(
            Input::parse("/users general"),
            Input::Users(Some("general".into()))
        );
        assert_eq!(Input::parse("//etc"), Input::Say("/etc".into()));
        assert_eq!(Input::parse("   "), Input::Empty);
        assert!(matches!(Input::parse("/frobnicate"), Input::Invalid(_)));
    }

    #[test]
    fn messages_print_like_the_seed() {
        assert_eq!(clock_in(43_201_000, &chrono::Utc), "12:00:01");
        let two_hours_east = chrono::FixedOffset::east_opt(7200).unwrap();
        assert_eq!(clock_in(43_201_000, &two_hours_east), "14:00:01");
        let m = msg("general", 1);
        let utc = &chrono::Utc;
        assert_eq!(
            format_message_in(&m, Some("general"), utc),
            "[12:00:01] bob: n1"
        );
        assert_eq!(
            format_message_in(&m, Some("random"), utc),
            "[12:00:01] #general bob: n1"
        );
        let me = ChatMessage {
            kind: MessageKind::Action,
            message: "waves".into(),
            ..m
        };
        assert_eq!(
            format_message_in(&me, Some("general"), utc),
            "[12:00:01] * bob waves"
        );
    }

    fn texts(shown: &[Shown]) -> Vec<String> {
        shown
            .iter()
            .map(|s| match s {
                Shown::Message(m) => m.message.clone(),
                Shown::Notice(n) => n.clone(),
            })
            .collect()
    }

    #[test]
    fn room_lists_count_in_words() {
        let room = |name: &str, members, messages| RoomSummary {
            name: name.into(),
            members,
            messages,
        };
        assert_eq!(
            format_rooms(&[room("general", 2, 14), room("quiet", 1, 1)]),
            "*** rooms: general (2 users, 14 messages), quiet (1 user, 1 message)"
        );
        assert_eq!(format_rooms(&[]), "*** no rooms");
    }

    #[test]
    fn a_rejoin_shows_each_message_once_in_order() {
        let mut t = Transcript::default();
        assert_eq!(t.begin_join("general"), None);
        let lines = t.finish_join(&answer(
            "general",
            "e",
            2,
            vec![msg("general", 1), msg("general", 2)],
            None,
        ));
        assert_eq!(lines.len(), 2);
        assert_eq!(t.on_message(msg("general", 3)), Some(msg("general", 3)));
        // Reconnect: 4 and 5 missed; 6 arrives live before the answer; 5 is repeated live.
        let since = t.begin_join("general").unwrap();
        assert_eq!((since.epoch.as_str(), since.seq), ("e", 3));
        assert_eq!(t.on_message(msg("general", 6)), None);
        let lines = t.finish_join(&answer(
            "general",
            "e",
            5,
            vec![msg("general", 4), msg("general", 5)],
            Some(true),
        ));
        assert_eq!(texts(&lines), ["n4", "n5", "n6"]);
        assert_eq!(t.on_message(msg("general", 5)), None);
        assert!(t.on_message(msg("general", 7)).is_some());
    }

    #[test]
    fn an_unrecoverable_rejoin_says_so() {
        let mut t = Transcript::default();
        t.begin_join("general");
        t.finish_join(&answer("general", "e1", 1, vec![msg("general", 1)], None));
        t.begin_join("general");
        let lines = t.finish_join(&answer(
            "general",
            "e2",
            2,
            vec![msg("general", 1), msg("general", 2)],
            Some(false),
        ));
        assert!(texts(&lines)[0].contains("could not be recovered"));
        assert_eq!(lines.len(), 3);
        t.left("general");
        assert_eq!(t.on_message(msg("general", 3)), None);
        assert_eq!(t.current(), None);
    }
}
