//! The full-screen client's interface, apart from the terminal: [`App`] holds what is
//! shown, takes [`Update`]s from the session and key events from the terminal, and draws
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

use super::editor::Editor;
use super::session::{Link, Outgoing, Update};
use super::{HELP, Input, count, format_rooms};
use crate::events::{ChatMessage, MessageKind, PrivateMessage};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use std::collections::BTreeSet;
use unicode_width::UnicodeWidthChar;

/// At most this many lines are kept per room (older ones are dropped).
pub const ROOM_LINES: usize = 2000;

/// The commands Tab completes.
pub const COMMANDS: &[&str] = &[
    "help", "join", "leave", "me", "nick", "pm", "quit", "rooms", "users",
];

/// How the key help reads, after `/help`.
const KEYS: &str = "\
keys:
  Enter send · Up/Down history · Tab complete · PageUp/PageDown scroll · End newest
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

    /// Takes an update from the session.
    pub fn update(&mut self, update: Update) {
        match update {
            Update::Link(link) => {
                match &link {
                    Link::Open if self.link != Link::Open => self.notice("reconnected"),
                    Link::Open => {}
                    Link::Reconnecting { error } => {
                        self.notice(format!("connection lost ({error}); reconnecting…"));
                    }
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
                    self.notice(line);
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
                if matches!(input, Input::Say(_) | Input::Me(_)) {
                    if let Some(room) = self.rooms.get_mut(self.current) {
                        room.scroll = 0;
                    }
                }
                Some(Action::Run { input, room })
            }
        }
    }

    /// Draws the interface on the whole frame.
    pub fn draw(&mut self, frame: &mut Frame<'_>) {
        let [main, status, input] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let messages = if main.width >= 60 {
            let [rooms, messages, members] = Layout::horizontal([
                Constraint::Length(18),
                Constraint::Min(20),
                Constraint::Length(18),
            ])
            .areas(main);
            self.draw_rooms(frame, rooms);
            self.draw_members(frame, members);
            messages
        } else {
            main
        };
        self.draw_messages(frame, messages);
        self.draw_status(frame, status);
        self.draw_input(frame, input);
    }

    fn draw_rooms(&self, frame: &mut Frame<'_>, area: Rect) {
        let lines: Vec<Line<'_>> = self
            .rooms
            .iter()
            .enumerate()
            .map(|(i, room)| {
                let mut name = Span::raw(format!("#{}", room.name));
                if i == self.current {
                    name = name.add_modifier(Modifier::BOLD | Modifier::REVERSED);
                }
                let mut line = Line::from(name);
                if room.unread > 0 {
                    line.push_span(Span::styled(
                        format!(" ({})", room.unread),
                        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                    ));
                }
                line
            })
            .collect();
        let block = Block::bordered().title(" rooms ");
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }

    fn draw_members(&self, frame: &mut Frame<'_>, area: Rect) {
        let members = self
            .rooms
            .get(self.current)
            .map(|r| r.members.as_slice())
            .unwrap_or_default();
        let lines: Vec<Line<'_>> = members
            .iter()
            .map(|m| {
                let mut style = Style::new().fg(user_colour(m));
                if *m == self.me {
                    style = style.add_modifier(Modifier::BOLD);
                }
                Line::styled(m.as_str(), style)
            })
            .collect();
        let block = Block::bordered().title(format!(" members ({}) ", members.len()));
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }

    fn draw_messages(&mut self, frame: &mut Frame<'_>, area: Rect) {
        let title = match self.rooms.get(self.current) {
            Some(room) => format!(" #{} ", room.name),
            None => " no room: /join <room> ".to_owned(),
        };
        let block = Block::bordered().title(title);
        let inner = block.inner(area);
        self.page = usize::from(inner.height);
        let (entries, scroll) = match self.rooms.get(self.current) {
            Some(room) => (room.entries.as_slice(), room.scroll),
            None => (self.lobby.as_slice(), 0),
        };
        let shown = &entries[..entries.len().saturating_sub(scroll)];
        let width = usize::from(inner.width).max(1);
        let mut rows: Vec<Line<'static>> = Vec::new();
        // Only the rows that fit are wrapped: walk back from the newest.
        let mut tail: Vec<Vec<Line<'static>>> = Vec::new();
        let mut height = 0;
        let pending = self
            .outbox
            .iter()
            .filter(|o| scroll == 0 && Some(o.room.as_str()) == self.current_room())
            .map(|o| self.pending_line(o));
        let lines = shown.iter().map(|e| self.entry_line(e)).chain(pending);
        let lines: Vec<Line<'static>> = lines.collect();
        for line in lines.into_iter().rev() {
            let wrapped = wrap(line, width);
            height += wrapped.len();
            tail.push(wrapped);
            if height >= self.page {
                break;
            }
        }
        for wrapped in tail.into_iter().rev() {
            rows.extend(wrapped);
        }
        let skip = rows.len().saturating_sub(self.page);
        let rows: Vec<Line<'static>> = rows.into_iter().skip(skip).collect();
        frame.render_widget(Paragraph::new(rows).block(block), area);
    }

    fn entry_line(&self, entry: &Entry) -> Line<'static> {
        let time = |ms: u64| Span::styled(self.zone.clock(ms), Style::new().fg(Color::DarkGray));
        match entry {
            Entry::Message(m) => {
                let name = Style::new()
                    .fg(user_colour(&m.username))
                    .add_modifier(Modifier::BOLD);
                match m.kind {
                    MessageKind::Message => Line::from(vec![
                        time(m.timestamp),
                        Span::raw(" "),
                        Span::styled(m.username.clone(), name),
                        Span::raw(format!(": {}", m.message)),
                    ]),
                    MessageKind::Action => Line::from(vec![
                        time(m.timestamp),
                        Span::raw(" * "),
                        Span::styled(m.username.clone(), name),
                        Span::styled(format!(" {}", m.message), Style::new().italic()),
                    ]),
                }
            }
            Entry::Private(p) => Line::from(vec![
                time(p.timestamp),
                Span::styled(
                    format!(" [pm] {} → {}: {}", p.from, p.to, p.message),
                    Style::new().fg(Color::Magenta),
                ),
            ]),
            Entry::Notice(text) => {
                Line::styled(format!("*** {text}"), Style::new().fg(Color::Cyan))
            }
            Entry::Error(text) => Line::styled(format!("!!! {text}"), Style::new().fg(Color::Red)),
        }
    }

    fn pending_line(&self, o: &Outgoing) -> Line<'static> {
        let text = match o.kind {
            MessageKind::Message => format!("sending… {}: {}", self.me, o.text),
            MessageKind::Action => format!("sending… * {} {}", self.me, o.text),
        };
        Line::styled(text, Style::new().fg(Color::DarkGray))
    }

    fn draw_status(&self, frame: &mut Frame<'_>, area: Rect) {
        let (link, colour) = match &self.link {
            Link::Open => ("● connected".to_owned(), Color::Green),
            Link::Reconnecting { .. } => ("◌ reconnecting…".to_owned(), Color::Yellow),
            Link::Disconnected { .. } => ("✖ disconnected: press a key".to_owned(), Color::Red),
            Link::Closed { .. } => ("✖ closed".to_owned(), Color::Red),
        };
        let mut spans = vec![
            Span::raw(" "),
            Span::styled(link, Style::new().fg(colour).add_modifier(Modifier::BOLD)),
        ];
        let sep = || Span::raw(" │ ");
        if let Some(room) = self.rooms.get(self.current) {
            spans.push(sep());
            spans.push(Span::raw(format!("#{}", room.name)));
        }
        spans.push(sep());
        spans.push(Span::raw(self.me.clone()));
        if !self.outbox.is_empty() {
            spans.push(sep());
            spans.push(Span::raw(format!(
                "{} sending…",
                count(self.outbox.len() as u64, "message", "messages")
            )));
        }
        if let Some(room) = self.rooms.get(self.current) {
            if let Some(typing) = typing_line(&room.typing) {
                spans.push(sep());
                spans.push(Span::styled(typing, Style::new().italic()));
            }
            if room.scroll > 0 {
                spans.push(sep());
                spans.push(Span::raw(format!("↓ {} newer (End)", room.scroll)));
            }
        }
        let style = Style::new().bg(Color::DarkGray).fg(Color::White);
        frame.render_widget(Paragraph::new(Line::from(spans)).style(style), area);
    }

    fn draw_input(&self, frame: &mut Frame<'_>, area: Rect) {
        let prompt = match self.current_room() {
            Some(room) => format!("[{room}] > "),
            None => "> ".to_owned(),
        };
        let text = self.editor.text();
        let chars: Vec<char> = text.chars().collect();
        let prompt_width = prompt.chars().count();
        let room_for_text = usize::from(area.width)
            .saturating_sub(prompt_width + 1)
            .max(1);
        // Scroll the line horizontally so the cursor stays visible.
        let cursor = self.editor.cursor();
        let start = cursor.saturating_sub(room_for_text);
        let visible: String = chars[start..].iter().take(room_for_text).collect();
        let line = Line::from(vec![
            Span::styled(prompt, Style::new().bold()),
            Span::raw(visible),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        let x = area.x as usize + prompt_width + (cursor - start);
        let x = u16::try_from(x)
            .unwrap_or(u16::MAX)
            .min(area.right().saturating_sub(1));
        frame.set_cursor_position((x, area.y));
    }
}

/// `bob is typing…`, `bob and carol are typing…`, `3 people are typing…`.
fn typing_line(typing: &[String]) -> Option<String> {
    match typing {
        [] => None,
        [one] => Some(format!("{one} is typing…")),
        [one, two] => Some(format!("{one} and {two} are typing…")),
        many => Some(format!("{} people are typing…", many.len())),
    }
}

/// The colour of a user's name: the same for a name on every screen.
pub fn user_colour(name: &str) -> Color {
    const PALETTE: [Color; 10] = [
        Color::Cyan,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::LightRed,
        Color::LightCyan,
        Color::LightGreen,
        Color::LightBlue,
        Color::LightMagenta,
    ];
    // FNV-1a: stable across runs and platforms (std's hasher is seeded).
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    PALETTE[hash as usize % PALETTE.len()]
}

/// Cuts a line into rows of at most `width` columns, between words where it can, keeping
/// the styles.
fn wrap(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    // (character, style) cells, then rows of cells.
    let cells: Vec<(char, Style)> = line
        .spans
        .iter()
        .flat_map(|span| span.content.chars().map(move |c| (c, span.style)))
        .collect();
    let mut rows: Vec<&[(char, Style)]> = Vec::new();
    let mut rest = cells.as_slice();
    loop {
        let mut used = 0;
        let mut end = 0;
        while end < rest.len() {
            let w = rest[end].0.width().unwrap_or(0);
            if used + w > width && end > 0 {
                break;
            }
            used += w;
            end += 1;
        }
        if end < rest.len() {
            // Break after the last space of the row, if there is one.
            if let Some(space) = rest[..end].iter().rposition(|(c, _)| *c == ' ') {
                if space > 0 {
                    end = space + 1;
                }
            }
        }
        let (row, tail) = rest.split_at(end);
        rows.push(row);
        rest = tail;
        while let [(' ', _), tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            break;
        }
    }
    rows.into_iter()
        .map(|row| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            for &(c, style) in row {
                match spans.last_mut() {
                    Some(span) if span.style == style => span.content.to_mut().push(c),
                    _ => spans.push(Span::styled(c.to_string(), style)),
                }
            }
            Line::from(spans).style(line.style)
        })
        .collect()
}

/// The text of a buffer, one line per row, without trailing spaces: what a screen shows.
pub fn screen_text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut row = String::new();
        for x in area.left()..area.right() {
            if let Some(cell) = buffer.cell((x, y)) {
                row.push_str(cell.symbol());
            }
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{UserJoined, UserTyping};
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
            room: "general".into(),
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
}

#[cfg(test)]
mod readme {
    use super::*;
    use crate::events::{UserJoined, UserTyping};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

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
            room: "general".into(),
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
        let readme = include_str!("../../../../README.md");
        assert!(
            readme.contains(&format!("```text\n{screen}```")),
            "README.md should show this session (between ```text and ```):\n{screen}"
        );
    }
}
