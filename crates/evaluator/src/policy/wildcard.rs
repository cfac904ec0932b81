//! IAM wildcard matching: `*` matches any run of characters, `?` exactly one; nothing else is
//! special. Hand-written (20 lines) because glob crates add path and `[class]` semantics IAM
//! does not have.

/// Matches `text` against `pattern` byte by byte. Linear in practice: one backtrack point.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    wildcard_match_by(pattern, text, |p, t| p == t)
}

/// [`wildcard_match`] of a pattern in any case against lowercase `text`, as if the pattern
/// were lowercased first (without allocating it).
pub(crate) fn wildcard_match_lowercase(pattern: &str, text: &str) -> bool {
    wildcard_match_by(pattern, text, |p, t| p.to_ascii_lowercase() == t)
}

fn wildcard_match_by(pattern: &str, text: &str, same: impl Fn(u8, u8) -> bool) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || same(p[pi], t[ti])) {
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

/// IAM's ARN matching (`ArnLike`, `ArnEquals`, and a statement's `Resource`): each of the six
/// colon-separated fields is matched on its own, so a `*` never spans a colon except inside
/// the last field (the resource, which may itself hold colons). `*` alone matches any ARN.
pub(crate) fn arn_match(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (mut p, mut a) = (pattern.splitn(6, ':'), arn.splitn(6, ':'));
    for _ in 0..6 {
        match (p.next(), a.next()) {
            (Some(pf), Some(af)) if wildcard_match(pf, af) => {}
            _ => return false,
        }
    }
    true
}

/// Whether some text starting with `prefix` can match `pattern`: the pattern's characters
/// before its first wildcard agree with the prefix (ASCII case aside) as far as both go.
pub(crate) fn prefix_compatible(pattern: &str, prefix: &str) -> bool {
    pattern
        .chars()
        .take_while(|c| !matches!(c, '*' | '?'))
        .zip(prefix.chars())
        .all(|(a, b)| a.eq_ignore_ascii_case(&b))
}

/// Whether a value holds an IAM wildcard character.
pub(crate) fn has_wildcard(value: &str) -> bool {
    value.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::wildcard_match as m;

    #[test]
    fn a_pattern_in_any_case_matches_as_if_lowercased() {
        let patterns = [
            "KMS:Create*",
            "kms:*CRYPT",
            "Kms:?ncrypt",
            "*",
            "kms:Décrypt",
            "S3:*",
        ];
        let texts = [
            "kms:creategrant",
            "kms:decrypt",
            "kms:encrypt",
            "kms:décrypt",
            "s3:get",
        ];
        for p in patterns {
            for t in texts {
                assert_eq!(
                    super::wildcard_match_lowercase(p, t),
                    m(&p.to_ascii_lowercase(), t),
                    "{p} against {t}"
                );
            }
        }
        assert!(super::wildcard_match_lowercase(
            "KMS:Create*",
            "kms:creategrant"
        ));
        assert!(!super::wildcard_match_lowercase(
            "kms:create*",
            "KMS:CREATEGRANT"
        ));
    }

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
    fn arn_fields_are_matched_one_by_one() {
        use super::arn_match as a;
        assert!(a(
            "arn:aws:iam::*:role/x",
            "arn:aws:iam::111122223333:role/x"
        ));
        // A `*` in the region field does not reach into the account field.
        assert!(!a(
            "arn:aws:iam:*:111122223333:role/x",
            "arn:aws:iam::999988887777:role/p:111122223333:role/x"
        ));
        assert!(m(
            "arn:aws:iam:*:111122223333:role/x",
            "arn:aws:iam::999988887777:role/p:111122223333:role/x"
        ));
        assert!(a(
            "arn:aws:kms:*:111122223333:*",
            "arn:aws:kms:us-east-1:111122223333:key/k"
        ));
        assert!(!a(
            "arn:aws:kms:*:111122223333:alias/*",
            "arn:aws:kms:us-east-1:111122223333:key/k"
        ));
        assert!(a("*", "anything"));
        assert!(!a(
            "arn:aws:kms:*",
            "arn:aws:kms:us-east-1:111122223333:key/k"
        ));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let text = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(200));
        assert!(!m(&pattern, &text));
    }
}
