//! The full-screen client's interface, apart from the terminal: [`App`] holds what is
//! shown, takes [`Update`]s from the connection and key events from the terminal, and draws
//! itself on any ratatui backend (the terminal in the binary, `TestBackend` in tests).
//!
//! ```text
//! ┌ rooms ──────────┐┌ #general ───────────────────────────┐┌ members (2) ────┐
//! │#general         ││12:00:01 alice: hi                   ││alice            │
//! │#random (3)      ││12:00:04 * bob waves                 ││bob              │
//! └─────────────────┘└─────────────────────────────────────┘└─────────────────┘
//!  ● connected │ #general │ bob is typing…
//! [general] > hello
//! ```
//!
//! Keys: Enter sends, Up/Down browse the lines sent before, Tab completes commands,
//! names and rooms, PageUp/PageDown scroll the messages (End returns to the newest),
//! Ctrl+N/Ctrl+P (or Alt+Right/Alt+Left) switch rooms, Ctrl+C quits.

mod draw;
#[cfg(test)]
mod tests;

pub use draw::{screen_text, user_colour};

use super::connection::{Link, Outgoing, Update};
use super::editor::Editor;
use super::{HELP, Input, format_rooms};
use crate::events::{ChatMessage, PrivateMessage};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::BTreeSet;

/// At most this many lines are kept per room (older ones are dropped).
pub const ROOM_LINES: usize = 2000;

/// The commands Tab completes.
pub const COMMANDS: &[&str] = &[
    "help", "join", "leave", "me", "nick", "pm", "quit", "rooms", "users",
];

/// How the key help reads, after `/help`.
const KEYS: &str = "\
keys:
  Enter send · Up/Down history · Tab complete
  PageUp/PageDown scroll · End or Esc newest
  Ctrl+N/Ctrl+P next/previous room · Ctrl+C quit";

/// Which clock the times are shown in.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    /// The local time zone.
    Local,
    /// A fixed offset from UTC (tests, or a user who wants UTC).
    Fixed(chrono::FixedOffset),
}

impl Zone {
    /// `HH:MM:SS` of a timestamp in milliseconds.
    pub fn clock(self, ms: u64) -> String {
        match self {
            Zone::Local => super::clock_in(ms, &chrono::Local),
            Zone::Fixed(offset) => super::clock_in(ms, &offset),
        }
    }
}

/// A line of a room's pane.
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Message(ChatMessage),
    Private(PrivateMessage),
    Notice(String),
    Error(String),
    /// Help text, as it is.
    Info(String),
}

/// A room joined, as the interface shows it.
#[derive(Debug)]
struct RoomView {
    name: String,
    entries: Vec<Entry>,
    /// Messages arrived while another room was shown.
    unread: u64,
    /// Members, sorted.
    members: Vec<String>,
    /// Who is typing, in the order they started.
    typing: Vec<String>,
    /// How many entries are hidden below the pane (0: the newest are shown).
    scroll: usize,
}

impl RoomView {
    fn new(name: &str) -> RoomView {
        RoomView {
            name: name.to_owned(),
            entries: Vec::new(),
            unread: 0,
            members: Vec::new(),
            typing: Vec::new(),
            scroll: 0,
        }
    }

    fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
        if self.scroll > 0 {
            // Keep what the reader looks at where it is.
            self.scroll += 1;
        }
        if self.entries.len() > ROOM_LINES {
            self.entries.remove(0);
            self.scroll = self.scroll.min(self.entries.len());
        }
    }

    fn add_member(&mut self, name: &str) {
        if let Err(at) = self.members.binary_search_by(|m| m.as_str().cmp(name)) {
            self.members.insert(at, name.to_owned());
        }
    }

    fn remove_member(&mut self, name: &str) {
        self.members.retain(|m| m != name);
        self.typing.retain(|m| m != name);
    }
}

/// What the user asked for, for the binary to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A command or a message, about `room` (the room shown).
    Run {
        /// What was typed.
        input: Input,
        /// The room shown when it was typed.
        room: Option<String>,
    },
    /// The user is typing a message in `room`.
    Typing {
        /// The room.
        room: String,
    },
    /// Leave the program.
    Quit,
}

/// The state of the full-screen interface.
#[derive(Debug)]
pub struct App {
    /// The user's name.
    me: String,
    /// Rooms joined, in the order joined.
    rooms: Vec<RoomView>,
    /// The room shown (an index into `rooms`).
    current: usize,
    /// Lines said while in no room.
    lobby: Vec<Entry>,
    /// The connection.
    link: Link,
    /// Messages typed and not yet answered, oldest first.
    outbox: Vec<Outgoing>,
    /// Rooms heard of (for completion).
    known_rooms: BTreeSet<String>,
    /// Whether the server's greeting was shown.
    welcomed: bool,
    editor: Editor,
    zone: Zone,
    /// The height of the message pane at the last draw (a page).
    page: usize,
    quit: bool,
}

impl App {
    /// A new interface for `me`, showing times in `zone`.
    pub fn new(me: &str, zone: Zone) -> App {
        App {
            me: me.to_owned(),
            rooms: Vec::new(),
            current: 0,
            lobby: Vec::new(),
            link: Link::Open,
            outbox: Vec::new(),
            known_rooms: BTreeSet::new(),
            welcomed: false,
            editor: Editor::default(),
            zone,
            page: 10,
            quit: false,
        }
    }

    /// Whether the user asked to quit.
    pub fn quit(&self) -> bool {
        self.quit
    }

    /// The room shown.
    pub fn current_room(&self) -> Option<&str> {
        self.rooms.get(self.current).map(|r| r.name.as_str())
    }

    fn room_index(&self, name: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.name == name)
    }

    /// Adds a line to the room shown, keeping a scrolled view in place.
    fn say(&mut self, entry: Entry) {
        match self.rooms.get_mut(self.current) {
            Some(room) => room.push(entry),
            None => self.lobby.push(entry),
        }
        if self.lobby.len() > ROOM_LINES {
            self.lobby.remove(0);
        }
    }

    fn notice(&mut self, text: impl Into<String>) {
        self.say(Entry::Notice(text.into()));
    }

    /// Adds a line to `room`, or to the room shown when not in it.
    fn say_in(&mut self, room: &str, entry: Entry) {
        match self.room_index(room) {
            Some(i) => self.rooms[i].push(entry),
            None => self.say(entry),
        }
    }

    fn show_room(&mut self, index: usize) {
        if let Some(room) = self.rooms.get_mut(index) {
            room.unread = 0;
            self.current = index;
        }
    }

    /// Takes an update from the connection.
    pub fn update(&mut self, update: Update) {
        match update {
            Update::Link(link) => {
                match &link {
                    Link::Open if self.link != Link::Open => self.notice("reconnected"),
                    Link::Open => {}
                    Link::Reconnecting { error } => {
                        self.notice(format!("connection lost ({error}); reconnecting…"));
                    }
                    Link::Restarting => self.notice("server restarting, reconnecting…"),
                    Link::Disconnected { why } => {
                        self.notice(format!("{why}; press any key to reconnect"));
                    }
                    Link::Closed { why } => self.notice(format!("connection closed: {why}")),
                }
                self.link = link;
            }
            Update::Welcome { message, rooms } => {
                self.known_rooms.extend(rooms.into_iter().map(|r| r.name));
                // Once: a reconnect is told by "reconnected".
                if !self.welcomed {
                    self.welcomed = true;
                    self.notice(message);
                }
            }
            Update::Joined { room, users, again } => {
                self.known_rooms.insert(room.clone());
                let index = match self.room_index(&room) {
                    Some(i) => i,
                    None => {
                        self.rooms.push(RoomView::new(&room));
                        self.rooms.len() - 1
                    }
                };
                self.rooms[index].members = users;
                self.rooms[index].members.sort();
                if again {
                    self.rooms[index].push(Entry::Notice(format!("back in {room}")));
                } else {
                    self.show_room(index);
                    let who = self.rooms[index].members.join(", ");
                    self.notice(format!("joined {room} ({who})"));
                }
            }
            Update::Message(m) => {
                let Some(i) = self.room_index(&m.room) else {
                    return;
                };
                let room = &mut self.rooms[i];
                room.typing.retain(|t| *t != m.username);
                room.push(Entry::Message(m));
                if i != self.current {
                    room.unread += 1;
                }
            }
            Update::Private(p) => self.say(Entry::Private(p)),
            Update::UserJoined(j) => {
                if let Some(i) = self.room_index(&j.room) {
                    self.rooms[i].add_member(&j.username);
                    let line = format!("{} joined", j.username);
                    self.rooms[i].push(Entry::Notice(line));
                }
            }
            Update::UserLeft(l) => {
                if let Some(i) = self.room_index(&l.room) {
                    self.rooms[i].remove_member(&l.username);
                    let line = format!("{} left", l.username);
                    self.rooms[i].push(Entry::Notice(line));
                }
            }
            Update::NickChanged { old_name, new_name } => {
                let line = format!("{old_name} is now {new_name}");
                let mut told = false;
                for room in &mut self.rooms {
                    if room.members.contains(&old_name) {
                        room.remove_member(&old_name);
                        room.add_member(&new_name);
                        room.push(Entry::Notice(line.clone()));
                        told = true;
                    }
                }
                if !told {
                    self.notice(line);
                }
            }
            Update::Renamed(name) => {
                let old = std::mem::replace(&mut self.me, name.clone());
                for room in &mut self.rooms {
                    if room.members.contains(&old) {
                        room.remove_member(&old);
                        room.add_member(&name);
                    }
                }
                self.notice(format!("you are now {name}"));
            }
            Update::Typing(t) => {
                if let Some(i) = self.room_index(&t.room) {
                    let typing = &mut self.rooms[i].typing;
                    typing.retain(|n| *n != t.username);
                    if t.active && t.username != self.me {
                        typing.push(t.username);
                    }
                }
            }
            Update::Left { room } => {
                if let Some(i) = self.room_index(&room) {
                    self.rooms.remove(i);
                    self.outbox.retain(|o| o.room != room);
                    let last = self.rooms.len().saturating_sub(1);
                    self.show_room(last);
                    if self.rooms.is_empty() {
                        self.current = 0;
                    }
                }
                let now = self
                    .current_room()
                    .map(|c| format!("; now in {c}"))
                    .unwrap_or_default();
                self.notice(format!("left {room}{now}"));
            }
            Update::Rooms(rooms) => {
                self.known_rooms
                    .extend(rooms.iter().map(|r| r.name.clone()));
                let text = format_rooms(&rooms);
                self.notice(text.trim_start_matches("*** "));
            }
            Update::Users { room, users } => {
                let line = format!("users in {room}: {}", users.join(", "));
                if let Some(i) = self.room_index(&room) {
                    self.rooms[i].members = users;
                    self.rooms[i].members.sort();
                }
                self.notice(line);
            }
            Update::Sending(o) => self.outbox.push(o),
            Update::Sent { id } => self.outbox.retain(|o| o.id != id),
            Update::SendFailed { id, why } => {
                if let Some(o) = self.outbox.iter().find(|o| o.id == id) {
                    let line = format!("not sent: {} ({why})", o.text);
                    let room = o.room.clone();
                    self.say_in(&room, Entry::Error(line));
                }
                self.outbox.retain(|o| o.id != id);
            }
            Update::Notice(text) => self.notice(text),
            Update::Error(text) => self.say(Entry::Error(text)),
        }
    }

    /// Takes a key; what the user asked for, if anything.
    pub fn key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('c') if ctrl => return self.quitting(),
            KeyCode::Char('d') if ctrl && self.editor.text().is_empty() => {
                return self.quitting();
            }
            KeyCode::Char('n') if ctrl => self.next_room(1),
            KeyCode::Char('p') if ctrl => self.next_room(self.rooms.len().saturating_sub(1)),
            KeyCode::Right if alt => self.next_room(1),
            KeyCode::Left if alt => self.next_room(self.rooms.len().saturating_sub(1)),
            KeyCode::Char('a') if ctrl => self.editor.home(),
            KeyCode::Char('e') if ctrl => self.editor.end(),
            KeyCode::Char('u') if ctrl => self.editor.delete_to_start(),
            KeyCode::Char('w') if ctrl => self.editor.delete_word(),
            KeyCode::Char(c) if !ctrl && !alt => {
                self.editor.insert(c);
                let text = self.editor.text();
                if !text.starts_with('/') {
                    return self.current_room().map(|room| Action::Typing {
                        room: room.to_owned(),
                    });
                }
            }
            KeyCode::Backspace => self.editor.backspace(),
            KeyCode::Delete => self.editor.delete(),
            KeyCode::Left => self.editor.left(),
            KeyCode::Right => self.editor.right(),
            KeyCode::Home => self.editor.home(),
            KeyCode::End if self.editor.text().is_empty() => self.scroll_to_newest(),
            KeyCode::End => self.editor.end(),
            KeyCode::Esc => self.scroll_to_newest(),
            KeyCode::Up => self.editor.older(),
            KeyCode::Down => self.editor.newer(),
            KeyCode::PageUp => self.scroll_up(),
            KeyCode::PageDown => self.scroll_down(),
            KeyCode::Tab => self.complete(),
            KeyCode::Enter => return self.submit(),
            _ => {}
        }
        None
    }

    fn quitting(&mut self) -> Option<Action> {
        self.quit = true;
        Some(Action::Quit)
    }

    fn next_room(&mut self, step: usize) {
        if !self.rooms.is_empty() {
            self.show_room((self.current + step) % self.rooms.len());
        }
    }

    fn scroll_up(&mut self) {
        let page = self.page.saturating_sub(1).max(1);
        if let Some(room) = self.rooms.get_mut(self.current) {
            // Keep at least one line on screen.
            room.scroll = (room.scroll + page).min(room.entries.len().saturating_sub(page));
        }
    }

    fn scroll_down(&mut self) {
        let page = self.page.saturating_sub(1).max(1);
        if let Some(room) = self.rooms.get_mut(self.current) {
            room.scroll = room.scroll.saturating_sub(page);
        }
    }

    fn scroll_to_newest(&mut self) {
        if let Some(room) = self.rooms.get_mut(self.current) {
            room.scroll = 0;
        }
    }

    fn complete(&mut self) {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for room in &self.rooms {
            names.extend(room.members.iter().filter(|m| **m != self.me).cloned());
        }
        let names: Vec<String> = names.into_iter().collect();
        let mut rooms: BTreeSet<String> = self.known_rooms.clone();
        rooms.extend(self.rooms.iter().map(|r| r.name.clone()));
        let rooms: Vec<String> = rooms.into_iter().collect();
        let several = self.editor.complete(COMMANDS, &names, &rooms);
        if !several.is_empty() {
            self.notice(several.join("  "));
        }
    }

    fn submit(&mut self) -> Option<Action> {
        let line = self.editor.submit();
        let room = self.current_room().map(str::to_owned);
        match Input::parse(&line) {
            Input::Empty => None,
            Input::Quit => self.quitting(),
            Input::Help => {
                for line in HELP.lines().chain(KEYS.lines()) {
                    self.say(Entry::Info(line.to_owned()));
                }
                None
            }
            Input::Invalid(why) => {
                self.say(Entry::Error(why));
                None
            }
            Input::Join(name) if self.room_index(&name).is_some() => {
                // Already in it: show it.
                if let Some(i) = self.room_index(&name) {
                    self.show_room(i);
                }
                None
            }
            input => {
                if matches!(input, Input::Say(_) | Input::Me(_))
                    && let Some(room) = self.rooms.get_mut(self.current)
                {
                    room.scroll = 0;
                }
                Some(Action::Run { input, room })
            }
        }
    }
}
