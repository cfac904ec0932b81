//! IAM policy variables (`${aws:username}`, `${aws:ResourceAccount, 'default'}`) in condition
//! values and `Resource`, as the IAM User Guide describes them
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>):
//!
//! * only under `"Version": "2012-10-17"`; under `2008-10-17` or no `Version`, `${…}` is text;
//! * `${*}`, `${?}` and `${$}` are the literal characters `*`, `?` and `$`, never wildcards;
//! * a variable whose key has no value in the request makes the value match nothing, unless it
//!   has a default (`${key, 'text'}`, `''` for a quote inside it);
//! * names are case-insensitive; one round of replacement only.
//!
//! Literal `*` and `?` are carried as the private-use characters [`LITERAL_STAR`] and
//! [`LITERAL_QUESTION`], which IAM wildcard matching compares as plain characters.

/// A literal `*` (`${*}`) inside a resolved value.
pub(crate) const LITERAL_STAR: char = '\u{E000}';
/// A literal `?` (`${?}`) inside a resolved value.
pub(crate) const LITERAL_QUESTION: char = '\u{E001}';
/// A `$` that starts no variable (a policy whose `Version` has no variables).
pub(crate) const LITERAL_DOLLAR: char = '\u{E002}';

/// One piece of a value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Text, with `${*}` / `${?}` already turned into the literal markers.
    Text(String),
    /// `${key}` or `${key, 'default'}`; `key` lowercase.
    Variable {
        key: String,
        default: Option<String>,
    },
}

/// Whether policy variables are read in a policy of this `Version`.
pub(crate) fn enabled(version: Option<&str>) -> bool {
    version == Some("2012-10-17")
}

/// Splits a value into text and variables. A `${` without a closing `}` is text.
pub(crate) fn segments(value: &str) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut text = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        text.push_str(&rest[..start]);
        let inner = rest[start + 2..start + 2 + len].trim();
        rest = &rest[start + 3 + len..];
        match inner {
            "*" => text.push(LITERAL_STAR),
            "?" => text.push(LITERAL_QUESTION),
            "$" => text.push('$'),
            _ => {
                if !text.is_empty() {
                    out.push(Segment::Text(std::mem::take(&mut text)));
                }
                out.push(variable(inner));
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() || out.is_empty() {
        out.push(Segment::Text(text));
    }
    out
}

fn variable(inner: &str) -> Segment {
    let (key, default) = match inner.split_once(',') {
        Some((key, default)) => {
            let d = default.trim();
            let quoted = d.len() >= 2 && d.starts_with('\'') && d.ends_with('\'');
            (key, quoted.then(|| d[1..d.len() - 1].replace("''", "'")))
        }
        None => (inner, None),
    };
    Segment::Variable {
        key: key.trim().to_ascii_lowercase(),
        default,
    }
}

/// Whether the value holds a variable (or an escaped character) under this `Version`.
pub(crate) fn has_variables(value: &str, version: Option<&str>) -> bool {
    enabled(version) && value.contains("${")
}

/// The value with every variable replaced: `lookup` gives a key's value in the request (`None`
/// when absent). `None` when a variable has no value and no default: the value matches nothing.
pub(crate) fn resolve(
    value: &str,
    version: Option<&str>,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> Option<String> {
    if !has_variables(value, version) {
        return Some(value.to_string());
    }
    let mut out = String::new();
    for seg in segments(value) {
        match seg {
            Segment::Text(t) => out.push_str(&t),
            Segment::Variable { key, default } => out.push_str(&lookup(&key).or(default)?),
        }
    }
    Some(out)
}

/// A request value as IAM wildcard matching sees it against a resolved pattern: its own `*`
/// and `?` are the literal characters.
pub(crate) fn literal_text(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.bytes().any(|b| b == b'*' || b == b'?') {
        return value.into();
    }
    value
        .replace('*', &LITERAL_STAR.to_string())
        .replace('?', &LITERAL_QUESTION.to_string())
        .into()
}

/// A resolved value for explanations and exact comparison: the literal markers as `*` / `?`.
pub(crate) fn plain(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains([LITERAL_STAR, LITERAL_QUESTION, LITERAL_DOLLAR]) {
        return value.into();
    }
    value
        .replace(LITERAL_STAR, "*")
        .replace(LITERAL_QUESTION, "?")
        .replace(LITERAL_DOLLAR, "$")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Option<&str> = Some("2012-10-17");

    #[test]
    fn variables_defaults_and_escapes() {
        let ctx = |k: &str| (k == "aws:username").then(|| "alice".to_string());
        assert_eq!(
            resolve("home/${aws:username}/*", V, ctx).as_deref(),
            Some("home/alice/*")
        );
        assert_eq!(resolve("${AWS:UserName}", V, ctx).as_deref(), Some("alice"));
        assert_eq!(resolve("${aws:PrincipalTag/team}", V, ctx), None);
        assert_eq!(
            resolve("${aws:PrincipalTag/team, 'it''s none'}", V, ctx).as_deref(),
            Some("it's none")
        );
        let star = resolve("a${*}b${?}${$}", V, ctx).unwrap();
        assert_eq!(star, format!("a{LITERAL_STAR}b{LITERAL_QUESTION}$"));
        assert_eq!(plain(&star), "a*b?$");
        // Not a variable: unclosed, or an older Version.
        assert_eq!(resolve("${oops", V, ctx).as_deref(), Some("${oops"));
        assert_eq!(
            resolve("${aws:username}", Some("2008-10-17"), ctx).as_deref(),
            Some("${aws:username}")
        );
        assert_eq!(
            resolve("${aws:username}", None, ctx).as_deref(),
            Some("${aws:username}")
        );
    }

    #[test]
    fn literal_stars_do_not_match_as_wildcards() {
        use super::super::wildcard::wildcard_match;
        let pattern = resolve("o-${*}", V, |_| None).unwrap();
        assert!(!wildcard_match(&pattern, "o-abc"));
        assert!(wildcard_match(&pattern, &literal_text("o-*")));
    }
}
