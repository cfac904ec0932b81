//! Text from AWS, packs and policies shown to people: one definition of the characters that
//! can hide or reorder what a terminal, a spreadsheet or a browser displays.

use std::borrow::Cow;

/// Whether `c` changes how text around it is displayed instead of being seen: C0 and C1
/// controls (escape sequences start with ESC), DEL, and the Unicode bidirectional formatting
/// characters (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), which reorder a line.
pub fn is_display_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        )
}

/// `text` as a terminal or a log line may show it: every display control written as an escape
/// (`\n`, `\t`, `\e`, `\u{202e}`). Borrowed when there is nothing to escape.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_display_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if is_display_control(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_hide_nothing() {
        assert_eq!(for_terminal("report.html"), "report.html");
        assert_eq!(
            for_terminal("x\u{1b}[2K\u{1b}[1Aok\n"),
            "x\\e[2K\\e[1Aok\\n"
        );
        assert_eq!(
            for_terminal("a\u{202e}b\u{7f}\u{9b}"),
            "a\\u{202e}b\\u{7f}\\u{9b}"
        );
        assert!(matches!(for_terminal("plain"), Cow::Borrowed(_)));
    }
}
