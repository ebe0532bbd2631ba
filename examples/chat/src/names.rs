//! User names: what is refused, and when two names are the same.
//!
//! A name is shown as the user typed it (trimmed, NFC-normalised) and compared by its
//! key: NFKC-normalised, lower-cased, then reduced to its Unicode TR39 confusable
//! skeleton, so `Alice`, `ALICE`, `Ａｌｉｃｅ` (full-width), `аlice` (Cyrillic `а`) and
//! `rnallory` (`rn` for `m`) are one name: nobody can pass for someone else with a
//! look-alike. (Case is folded before the skeleton, so `Iris` and `iris` stay one name;
//! the price is that a capital `I` posing as `l` is not caught.) Characters that hide or reorder text are refused outright: control
//! characters, bidirectional overrides and isolates, and zero-width characters, which
//! would let `alice\u{200B}` pass for `alice` or flip the rest of a line.

use unicode_normalization::UnicodeNormalization;
use unicode_security::confusable_detection::skeleton;

/// Longest name, in characters (the `join` schema says the same).
pub const MAX_NAME_CHARS: usize = 50;

/// A checked user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName {
    /// How the name is shown: trimmed and NFC-normalised.
    pub display: String,
    /// How names are compared: [`name_key`] (case-folded confusable skeleton).
    pub key: String,
}

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing left after trimming.
    #[error("the name is empty")]
    Empty,
    /// Over [`MAX_NAME_CHARS`].
    #[error("the name is longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    /// A control, bidirectional or zero-width character, or whitespace other than a space.
    #[error("the name contains a forbidden character (U+{0:04X})")]
    ForbiddenChar(u32),
}

impl UserName {
    /// Checks and normalises a name.
    pub fn parse(raw: &str) -> Result<UserName, NameError> {
        let display: String = raw.trim().nfc().collect();
        if display.is_empty() {
            return Err(NameError::Empty);
        }
        if display.chars().count() > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        if let Some(c) = display.chars().find(|&c| is_forbidden(c)) {
            return Err(NameError::ForbiddenChar(c as u32));
        }
        Ok(UserName {
            key: name_key(&display),
            display,
        })
    }
}

/// The comparison key of a name: [`fold_case`], then the TR39 confusable skeleton of
/// that, lower-cased and folded again (a skeleton maps some look-alikes to capitals:
/// `0` → `O`). Two names with the same key look alike and cannot both be in use.
pub fn name_key(name: &str) -> String {
    let folded = fold_case(name);
    let skeleton: String = skeleton(&folded).collect();
    fold_case(&skeleton)
}

/// A name without case or width: NFKC, lower case, NFKC again (lower-casing may
/// denormalise). Used to sort names as people read them.
pub fn fold_case(name: &str) -> String {
    let lowered: String = name.nfkc().flat_map(char::to_lowercase).collect();
    lowered.nfkc().collect()
}

/// Whether a character may not appear in a name.
fn is_forbidden(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            // bidirectional marks, embeddings, overrides and isolates
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            // zero-width and invisible characters
            | '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180E}'
            | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
        )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_compare_case_and_width_insensitively() {
        let a = UserName::parse("  Alice ").unwrap();
        assert_eq!(a.display, "Alice");
        assert_eq!(a.key, UserName::parse("ALICE").unwrap().key);
        assert_eq!(a.key, UserName::parse("Ａｌｉｃｅ").unwrap().key);
        // Composed and decomposed forms are one name.
        assert_eq!(
            UserName::parse("Jos\u{e9}").unwrap().key,
            UserName::parse("Jose\u{301}").unwrap().key
        );
        assert_eq!(UserName::parse("Jose\u{301}").unwrap().display, "Jos\u{e9}");
    }

    #[test]
    fn look_alike_names_are_one_name() {
        let alice = UserName::parse("alice").unwrap().key;
        // Cyrillic а (U+0430), Greek ο in "bοb", digit zero for o, `rn` for `m`.
        assert_eq!(UserName::parse("\u{430}lice").unwrap().key, alice);
        assert_eq!(UserName::parse("\u{410}LICE").unwrap().key, alice);
        assert_eq!(
            UserName::parse("rnallory").unwrap().key,
            UserName::parse("Mallory").unwrap().key
        );
        assert_eq!(
            UserName::parse("b\u{3bf}b").unwrap().key,
            UserName::parse("bob").unwrap().key
        );
        assert_eq!(
            UserName::parse("b0b").unwrap().key,
            UserName::parse("BOB").unwrap().key
        );
        // Names that only share letters stay apart, and the shown name is untouched.
        assert_ne!(UserName::parse("alicia").unwrap().key, alice);
        assert_ne!(UserName::parse("bob").unwrap().key, alice);
        assert_eq!(
            UserName::parse("\u{430}lice").unwrap().display,
            "\u{430}lice"
        );
    }

    #[test]
    fn hiding_characters_are_refused() {
        for bad in [
            "al\u{200B}ice",
            "ali\u{202E}ec",
            "bob\u{2066}",
            "a\tb",
            "a\nb",
            "x\u{7}",
            "\u{FEFF}eve",
            "a\u{00A0}b",
        ] {
            assert!(
                matches!(UserName::parse(bad), Err(NameError::ForbiddenChar(_))),
                "{bad:?}"
            );
        }
        assert_eq!(UserName::parse("   "), Err(NameError::Empty));
        assert_eq!(UserName::parse(&"x".repeat(51)), Err(NameError::TooLong));
        assert!(UserName::parse("Zoë the 2nd").is_ok());
        assert!(UserName::parse("李小龍").is_ok());
    }
}
