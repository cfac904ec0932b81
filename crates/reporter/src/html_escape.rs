//! How report.html escapes what it prints.

/// HTML escaping of every value the template prints: tera's characters, and the display
/// controls (escape sequences, bidi overrides that reorder a line) shown as `\u{202e}` text.
pub(crate) fn escape_html(text: &str, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let replacement: std::borrow::Cow<'_, str> = match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#x27;".into(),
            '/' => "&#x2F;".into(),
            '\n' | '\t' => continue,
            c if kmsaudit_model::is_display_control(c) => format!("\\u{{{:x}}}", c as u32).into(),
            _ => continue,
        };
        w.write_all(&text.as_bytes()[start..i])?;
        w.write_all(replacement.as_bytes())?;
        start = i + c.len_utf8();
    }
    w.write_all(&text.as_bytes()[start..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_escaping_shows_controls_as_text() {
        let mut out = Vec::new();
        super::escape_html("<a href='x'>\u{202e}gpj.exe\u{1b}[2K</a>", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "&lt;a href=&#x27;x&#x27;&gt;\\u{202e}gpj.exe\\u{1b}[2K&lt;&#x2F;a&gt;"
        );
    }
}
