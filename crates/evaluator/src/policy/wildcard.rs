//! IAM wildcard matching: `*` matches any run of characters, `?` exactly one; nothing else is
//! special. Hand-written (20 lines) because glob crates add path and `[class]` semantics IAM
//! does not have.

/// Matches `text` against `pattern` byte by byte. Linear in practice: one backtrack point.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether a value holds an IAM wildcard character.
pub(crate) fn has_wildcard(value: &str) -> bool {
    value.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::wildcard_match as m;

    #[test]
    fn star_and_question_mark() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("kms:create*", "kms:creategrant"));
        assert!(!m("kms:create*", "kms:decrypt"));
        assert!(m("kms:*crypt", "kms:decrypt"));
        assert!(m("kms:?ncrypt", "kms:encrypt"));
        assert!(!m("kms:?ncrypt", "kms:eencrypt"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("arn:aws:iam::*:root", "arn:aws:iam::111122223333:root"));
        assert!(!m("", "x"));
        assert!(m("", ""));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let text = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(200));
        assert!(!m(&pattern, &text));
    }
}
