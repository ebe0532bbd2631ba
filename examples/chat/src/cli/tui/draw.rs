//! Drawing [`App`] on a ratatui frame: the room list, the messages (wrapped, scrolled),
//! the members, the status line and the input line.

use super::{App, Entry};
use crate::cli::connection::{Link, Outgoing};
use crate::cli::count;
use crate::events::MessageKind;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthChar;

impl App {
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
            Entry::Info(text) => Line::styled(text.clone(), Style::new().fg(Color::Gray)),
        }
    }

    fn pending_line(&self, o: &Outgoing) -> Line<'static> {
        let text = match (&o.to, o.kind) {
            (Some(to), _) => format!("sending… [pm] {} -> {to}: {}", self.me, o.text),
            (None, MessageKind::Message) => format!("sending… {}: {}", self.me, o.text),
            (None, MessageKind::Action) => format!("sending… * {} {}", self.me, o.text),
        };
        Line::styled(text, Style::new().fg(Color::DarkGray))
    }

    fn draw_status(&self, frame: &mut Frame<'_>, area: Rect) {
        let (link, colour) = match &self.link {
            Link::Open => ("● connected".to_owned(), Color::Green),
            Link::Reconnecting { .. } => ("◌ reconnecting…".to_owned(), Color::Yellow),
            Link::Restarting => ("◌ server restarting…".to_owned(), Color::Yellow),
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
            if let Some(space) = rest[..end].iter().rposition(|(c, _)| *c == ' ')
                && space > 0
            {
                end = space + 1;
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
