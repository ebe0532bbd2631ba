//! Case conversion between Rust names and wire names (serde_derive's `case.rs`).

/// `join` → `Join`, `sendMessage` → `SendMessage`, `user_left` → `UserLeft`.
pub(crate) fn pascal_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.trim_start_matches("r#").chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `messageId` → `message_id`.
pub(super) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// serde's `rename_all = "camelCase"` for a snake_case field name.
pub(super) fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.trim_start_matches("r#").chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A variant's wire name: `SoSo` → `soSo` (serde's `rename_all = "camelCase"`).
pub(super) fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(pascal_case("join"), "Join");
        assert_eq!(pascal_case("sendMessage"), "SendMessage");
        assert_eq!(pascal_case("user_left"), "UserLeft");
        assert_eq!(camel_case("message_id"), "messageId");
        assert_eq!(snake_case("messageId"), "message_id");
        assert_eq!(lower_first("SoSo"), "soSo");
    }
}
