//! The input line of the full-screen client: a text with a cursor, the lines typed before
//! (Up/Down), and tab completion that cycles through the candidates.

/// At most this many lines are kept in the history.
pub const HISTORY_LIMIT: usize = 500;

/// An input line with history and completion.
#[derive(Debug, Default)]
pub struct Editor {
    /// The text, as characters (the cursor moves by character).
    text: Vec<char>,
    /// The cursor, a character index in `0..=text.len()`.
    cursor: usize,
    /// Lines entered, oldest first.
    history: Vec<String>,
    /// While browsing the history: the index shown, and the line being typed before.
    browsing: Option<(usize, String)>,
    /// While cycling completions: what was typed and the candidates.
    completing: Option<Completion>,
}

#[derive(Debug)]
struct Completion {
    /// Where the completed word starts.
    start: usize,
    /// The candidates, in order.
    candidates: Vec<String>,
    /// The one shown now.
    shown: usize,
    /// What follows the candidate (`" "`, or `": "` for a name first on the line).
    suffix: &'static str,
}

impl Editor {
    /// The text.
    pub fn text(&self) -> String {
        self.text.iter().collect()
    }

    /// The cursor's position, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The lines entered, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Inserts a character at the cursor.
    pub fn insert(&mut self, c: char) {
        self.edited();
        self.text.insert(self.cursor, c);
        self.cursor += 1;
    }

    /// Deletes the character before the cursor.
    pub fn backspace(&mut self) {
        self.edited();
        if self.cursor > 0 {
            self.cursor -= 1;
            self.text.remove(self.cursor);
        }
    }

    /// Deletes the character at the cursor.
    pub fn delete(&mut self) {
        self.edited();
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    /// Deletes the word before the cursor (Ctrl+W).
    pub fn delete_word(&mut self) {
        self.edited();
        let mut start = self.cursor;
        while start > 0 && self.text[start - 1].is_whitespace() {
            start -= 1;
        }
        while start > 0 && !self.text[start - 1].is_whitespace() {
            start -= 1;
        }
        self.text.drain(start..self.cursor);
        self.cursor = start;
    }

    /// Deletes everything before the cursor (Ctrl+U).
    pub fn delete_to_start(&mut self) {
        self.edited();
        self.text.drain(..self.cursor);
        self.cursor = 0;
    }

    /// Moves the cursor one character left.
    pub fn left(&mut self) {
        self.completing = None;
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// Moves the cursor one character right.
    pub fn right(&mut self) {
        self.completing = None;
        self.cursor = (self.cursor + 1).min(self.text.len());
    }

    /// Moves the cursor to the start.
    pub fn home(&mut self) {
        self.completing = None;
        self.cursor = 0;
    }

    /// Moves the cursor to the end.
    pub fn end(&mut self) {
        self.completing = None;
        self.cursor = self.text.len();
    }

    /// Takes the line (Enter): it goes into the history, the editor is empty again.
    pub fn submit(&mut self) -> String {
        let line = self.text();
        self.set("");
        self.browsing = None;
        self.completing = None;
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > HISTORY_LIMIT {
                self.history.remove(0);
            }
        }
        line
    }

    /// Shows the line entered before the one shown (Up).
    pub fn older(&mut self) {
        self.completing = None;
        let index = match &self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.browsing = Some((self.history.len(), self.text()));
                self.history.len() - 1
            }
            Some((0, _)) => return,
            Some((i, _)) => i - 1,
        };
        if let Some((i, _)) = &mut self.browsing {
            *i = index;
        }
        let line = self.history[index].clone();
        self.set(&line);
    }

    /// Shows the line entered after the one shown, or the line being typed (Down).
    pub fn newer(&mut self) {
        self.completing = None;
        let Some((i, draft)) = self.browsing.take() else {
            return;
        };
        if i + 1 < self.history.len() {
            let line = self.history[i + 1].clone();
            self.browsing = Some((i + 1, draft));
            self.set(&line);
        } else {
            self.set(&draft);
        }
    }

    /// Completes the word before the cursor (Tab); pressed again, shows the next
    /// candidate. `commands` complete a first word starting with `/`, `names` any other
    /// word; after `/join ` and `/leave `, `rooms` do. Returns the candidates when there
    /// were several, to show them.
    pub fn complete(
        &mut self,
        commands: &[&str],
        names: &[String],
        rooms: &[String],
    ) -> Vec<String> {
        if let Some(c) = &mut self.completing {
            c.shown = (c.shown + 1) % c.candidates.len();
            let (start, word, suffix) = (c.start, c.candidates[c.shown].clone(), c.suffix);
            self.replace_word(start, &word, suffix);
            return Vec::new();
        }
        let mut start = self.cursor;
        while start > 0 && !self.text[start - 1].is_whitespace() {
            start -= 1;
        }
        let word: String = self.text[start..self.cursor].iter().collect();
        let before: String = self.text[..start].iter().collect();
        let first = before.trim().is_empty();
        let command = before.split_whitespace().next().unwrap_or("");
        let (pool, suffix): (Vec<String>, &'static str) = if first && word.starts_with('/') {
            (commands.iter().map(|c| format!("/{c}")).collect(), " ")
        } else if matches!(
            command,
            "/join" | "/j" | "/leave" | "/part" | "/users" | "/who"
        ) {
            (rooms.to_vec(), " ")
        } else if first {
            (names.to_vec(), ": ")
        } else {
            (names.to_vec(), " ")
        };
        let lower = word.to_lowercase();
        let mut candidates: Vec<String> = pool
            .into_iter()
            .filter(|c| c.to_lowercase().starts_with(&lower))
            .collect();
        candidates.sort();
        candidates.dedup();
        if candidates.is_empty() || word.is_empty() && first {
            return Vec::new();
        }
        let word = candidates[0].clone();
        self.replace_word(start, &word, suffix);
        if candidates.len() > 1 {
            let shown = candidates.clone();
            self.completing = Some(Completion {
                start,
                candidates,
                shown: 0,
                suffix,
            });
            shown
        } else {
            Vec::new()
        }
    }

    fn replace_word(&mut self, start: usize, word: &str, suffix: &str) {
        // The word runs from `start` to the cursor (a suffix added before included).
        self.text
            .splice(start..self.cursor, word.chars().chain(suffix.chars()));
        self.cursor = start + word.chars().count() + suffix.chars().count();
    }

    fn set(&mut self, line: &str) {
        self.text = line.chars().collect();
        self.cursor = self.text.len();
    }

    fn edited(&mut self) {
        self.completing = None;
        self.browsing = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Editor {
        let mut e = Editor::default();
        text.chars().for_each(|c| e.insert(c));
        e
    }

    #[test]
    fn editing_moves_and_deletes_by_character() {
        let mut e = typed("héllo wörld");
        e.left();
        e.backspace();
        assert_eq!(e.text(), "héllo wörd");
        e.home();
        e.delete();
        e.insert('H');
        assert_eq!((e.text().as_str(), e.cursor()), ("Héllo wörd", 1));
        e.end();
        e.delete_word();
        assert_eq!(e.text(), "Héllo ");
        e.delete_to_start();
        assert_eq!(e.text(), "");
    }

    #[test]
    fn history_goes_back_and_returns_to_the_draft() {
        let mut e = typed("one");
        e.submit();
        "two".chars().for_each(|c| e.insert(c));
        e.submit();
        "dra".chars().for_each(|c| e.insert(c));
        e.older();
        assert_eq!(e.text(), "two");
        e.older();
        assert_eq!(e.text(), "one");
        e.older();
        assert_eq!(e.text(), "one");
        e.newer();
        assert_eq!(e.text(), "two");
        e.newer();
        assert_eq!(e.text(), "dra");
        assert_eq!(e.history(), ["one", "two"]);
    }

    #[test]
    fn tab_completes_commands_names_and_rooms_and_cycles() {
        let names = vec!["bob".to_owned(), "barbara".to_owned(), "alice".to_owned()];
        let rooms = vec!["general".to_owned(), "random".to_owned()];
        let mut e = typed("/jo");
        e.complete(&["join", "leave"], &names, &rooms);
        assert_eq!(e.text(), "/join ");
        e.insert('r');
        e.complete(&["join"], &names, &rooms);
        assert_eq!(e.text(), "/join random ");

        let mut e = typed("b");
        let shown = e.complete(&[], &names, &rooms);
        assert_eq!(shown, ["barbara", "bob"]);
        assert_eq!(e.text(), "barbara: ");
        e.complete(&[], &names, &rooms);
        assert_eq!(e.text(), "bob: ");
        e.complete(&[], &names, &rooms);
        assert_eq!(e.text(), "barbara: ");

        let mut e = typed("hi Al");
        e.complete(&[], &names, &rooms);
        assert_eq!(e.text(), "hi alice ");
    }
}
