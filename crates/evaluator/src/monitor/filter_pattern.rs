//! CloudWatch Logs filter patterns, parsed and matched against log events, so that a metric
//! filter is judged by what it means, not by its text: `{ ($.eventSource = kms.amazonaws.com) &&
//! (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion)) }` and the same with other
//! spacing, order or parentheses mean the same; `&&` in place of `||` matches nothing.
//!
//! Two forms are read: JSON patterns (`{ $.a.b = value && ... }`: `=`, `!=`, `<`, `>`, `<=`,
//! `>=`, `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS`, `&&`, `||`, parentheses, `*` wildcards
//! in strings) and term patterns (`ERROR "disk full"`: every term, `?a ?b`: any of them,
//! `-term`: not that one), matched on the event's text. Space-delimited patterns (`[a, b]`) and
//! regular expressions (`%...%`) are not understood: such a filter is reported, never counted.

use serde_json::Value;

use super::filter_terms::{glob, terms, unquote};

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pattern {
    /// `{ ... }`.
    Json(Expr),
    /// Terms matched on the raw text.
    Terms {
        all: Vec<String>,
        any: Vec<String>,
        none: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare {
        path: Vec<Step>,
        op: Op,
        value: Literal,
    },
    Test {
        path: Vec<Step>,
        test: Test,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Field(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Text(String),
    Number(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Test {
    Null,
    True,
    False,
    NotExists,
}

/// Deepest nesting of parentheses read: a crafted pattern cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Parses a filter pattern; the error says what is not understood.
pub(crate) fn parse(pattern: &str) -> Result<Pattern, String> {
    let text = pattern.trim();
    if let Some(inner) = text.strip_prefix('{') {
        let inner = inner
            .strip_suffix('}')
            .ok_or_else(|| "a JSON pattern must end with `}`".to_string())?;
        let tokens = tokenize(inner)?;
        let mut p = Parser { tokens, at: 0 };
        let expr = p.or(0)?;
        if p.at != p.tokens.len() {
            return Err(format!("unexpected `{}`", p.tokens[p.at].text()));
        }
        return Ok(Pattern::Json(expr));
    }
    if text.starts_with('[') {
        return Err("space-delimited patterns ([...]) are not understood".into());
    }
    if text.starts_with('%') {
        return Err("regular-expression patterns (%...%) are not understood".into());
    }
    let (mut all, mut any, mut none) = (vec![], vec![], vec![]);
    for term in terms(text)? {
        if let Some(t) = term.strip_prefix('?') {
            any.push(unquote(t));
        } else if let Some(t) = term.strip_prefix('-') {
            none.push(unquote(t));
        } else {
            all.push(unquote(&term));
        }
    }
    Ok(Pattern::Terms { all, any, none })
}

/// Whether the pattern matches a log event: `event` parsed, `raw` its text.
pub(crate) fn matches(pattern: &Pattern, event: &Value, raw: &str) -> bool {
    match pattern {
        Pattern::Json(e) => eval(e, event),
        Pattern::Terms { all, any, none } => {
            if !any.is_empty() {
                return any.iter().any(|t| raw.contains(t.as_str()));
            }
            all.iter().all(|t| raw.contains(t.as_str()))
                && !none.iter().any(|t| raw.contains(t.as_str()))
        }
    }
}

fn eval(e: &Expr, event: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, event) && eval(b, event),
        Expr::Or(a, b) => eval(a, event) || eval(b, event),
        Expr::Test { path, test } => {
            let v = lookup(event, path);
            match test {
                Test::NotExists => v.is_none(),
                Test::Null => matches!(v, Some(Value::Null)),
                Test::True => matches!(v, Some(Value::Bool(true))),
                Test::False => matches!(v, Some(Value::Bool(false))),
            }
        }
        Expr::Compare { path, op, value } => {
            let Some(v) = lookup(event, path) else {
                return false;
            };
            match (value, v) {
                (Literal::Number(n), Value::Number(x)) => {
                    let x = x.as_f64().unwrap_or(f64::NAN);
                    match op {
                        Op::Eq => x == *n,
                        Op::Ne => x != *n,
                        Op::Lt => x < *n,
                        Op::Gt => x > *n,
                        Op::Le => x <= *n,
                        Op::Ge => x >= *n,
                    }
                }
                (lit, v) => {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => return false,
                    };
                    let want = match lit {
                        Literal::Text(t) => t.clone(),
                        Literal::Number(n) => n.to_string(),
                    };
                    match op {
                        Op::Eq => glob(&want, &text),
                        Op::Ne => !glob(&want, &text),
                        _ => false,
                    }
                }
            }
        }
    }
}

fn lookup<'v>(event: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter().try_fold(event, |v, step| match step {
        Step::Field(f) => v.get(f.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Op(Op),
    Path(Vec<Step>),
    Word(String),
    Quoted(String),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::And => "&&".into(),
            Token::Or => "||".into(),
            Token::Op(op) => format!("{op:?}"),
            Token::Path(_) => "a selector".into(),
            Token::Word(w) | Token::Quoted(w) => w.clone(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => (out.push(Token::Open), i += 1).1,
            ')' => (out.push(Token::Close), i += 1).1,
            '&' if next == Some('&') => (out.push(Token::And), i += 2).1,
            '|' if next == Some('|') => (out.push(Token::Or), i += 2).1,
            '=' => (out.push(Token::Op(Op::Eq)), i += 1).1,
            '!' if next == Some('=') => (out.push(Token::Op(Op::Ne)), i += 2).1,
            '<' if next == Some('=') => (out.push(Token::Op(Op::Le)), i += 2).1,
            '>' if next == Some('=') => (out.push(Token::Op(Op::Ge)), i += 2).1,
            '<' => (out.push(Token::Op(Op::Lt)), i += 1).1,
            '>' => (out.push(Token::Op(Op::Gt)), i += 1).1,
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("a quoted value is not closed".into()),
                        Some('\\') if i + 1 < chars.len() => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('"') => break,
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Token::Quoted(s));
            }
            '$' => {
                let start = i;
                i += 1;
                while i < chars.len() && !is_boundary(chars[i]) {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                out.push(Token::Path(selector(&raw)?));
            }
            _ => {
                let start = i;
                while i < chars.len() && !is_boundary(chars[i]) {
                    i += 1;
                }
                if i == start {
                    return Err(format!("unexpected `{c}`"));
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

fn is_boundary(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '=' | '!' | '<' | '>' | '&' | '|' | '"')
}

/// `$.a.b[0].c`.
fn selector(raw: &str) -> Result<Vec<Step>, String> {
    let mut steps = vec![];
    let rest = raw.strip_prefix('$').unwrap_or(raw);
    for part in rest.split('.').skip(1) {
        let (name, mut indices) = match part.find('[') {
            Some(b) => (&part[..b], &part[b..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return Err(format!("selector `{raw}` names an empty field"));
        }
        steps.push(Step::Field(name.to_string()));
        while let Some(open) = indices.strip_prefix('[') {
            let close = open
                .find(']')
                .ok_or_else(|| format!("selector `{raw}`: `[` without `]`"))?;
            let index = open[..close]
                .parse()
                .map_err(|_| format!("selector `{raw}`: only numeric indices are understood"))?;
            steps.push(Step::Index(index));
            indices = &open[close + 1..];
        }
        if !indices.is_empty() {
            return Err(format!("selector `{raw}` is not understood"));
        }
    }
    if steps.is_empty() || !rest.starts_with('.') {
        return Err(format!("selector `{raw}` is not understood"));
    }
    Ok(steps)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self, depth: usize) -> Result<Expr, String> {
        let mut left = self.and(depth)?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, String> {
        let mut left = self.unary(depth)?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_DEPTH {
            return Err(format!("parentheses nested deeper than {MAX_DEPTH}"));
        }
        match self.next() {
            Some(Token::Open) => {
                let e = self.or(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(e),
                    _ => Err("`(` without `)`".into()),
                }
            }
            Some(Token::Path(path)) => self.comparison(path),
            Some(t) => Err(format!(
                "expected a selector ($.field), found `{}`",
                t.text()
            )),
            None => Err("the pattern ends too early".into()),
        }
    }

    fn comparison(&mut self, path: Vec<Step>) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Op(op)) => {
                let value = match self.next() {
                    Some(Token::Quoted(s)) => Literal::Text(s),
                    Some(Token::Word(w)) => match w.parse::<f64>() {
                        Ok(n) if w.bytes().all(|b| b.is_ascii_digit() || b"+-.".contains(&b)) => {
                            Literal::Number(n)
                        }
                        _ => Literal::Text(w),
                    },
                    _ => return Err("a comparison needs a value".into()),
                };
                if !matches!(op, Op::Eq | Op::Ne) && !matches!(value, Literal::Number(_)) {
                    return Err("`<`, `>`, `<=` and `>=` compare numbers".into());
                }
                Ok(Expr::Compare { path, op, value })
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("IS") => {
                let test = match self.next() {
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("NULL") => Test::Null,
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("TRUE") => Test::True,
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("FALSE") => Test::False,
                    _ => return Err("IS must be followed by NULL, TRUE or FALSE".into()),
                };
                Ok(Expr::Test { path, test })
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("NOT") => match self.next() {
                Some(Token::Word(e)) if e.eq_ignore_ascii_case("EXISTS") => Ok(Expr::Test {
                    path,
                    test: Test::NotExists,
                }),
                _ => Err("NOT must be followed by EXISTS".into()),
            },
            _ => Err("a selector must be followed by a comparison".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> (Value, String) {
        let v = serde_json::json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
            "eventSource": "kms.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "readOnly": false,
            "requestParameters": {"keyId": "k", "pendingWindowInDays": 30},
            "responseElements": null,
        });
        let raw = v.to_string();
        (v, raw)
    }

    fn hits(pattern: &str, name: &str) -> bool {
        let p = parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let (v, raw) = event(name);
        matches(&p, &v, &raw)
    }

    const CIS: &str = "{($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion))}";

    #[test]
    fn the_cis_pattern_means_disable_and_schedule_deletion() {
        assert!(hits(CIS, "DisableKey"));
        assert!(hits(CIS, "ScheduleKeyDeletion"));
        assert!(!hits(CIS, "Decrypt"));
        // Spacing, order and quoting do not change the meaning.
        let other = r#"{ ($.eventName = "ScheduleKeyDeletion" || $.eventName=DisableKey) && $.eventSource="kms.amazonaws.com" }"#;
        assert!(hits(other, "DisableKey") && hits(other, "ScheduleKeyDeletion"));
    }

    #[test]
    fn a_look_alike_with_and_matches_nothing() {
        let lookalike = "{($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) && ($.eventName = ScheduleKeyDeletion))}";
        assert!(!hits(lookalike, "DisableKey"));
        assert!(!hits(lookalike, "ScheduleKeyDeletion"));
    }

    #[test]
    fn wildcards_negation_tests_and_numbers() {
        assert!(hits("{ $.eventName = Schedule* }", "ScheduleKeyDeletion"));
        assert!(hits("{ $.eventName = *Key* }", "DisableKey"));
        assert!(
            !hits("{ $.eventName = Disable?ey }", "DisableKey"),
            "? is no wildcard"
        );
        assert!(!hits("{ $.eventName = Disable }", "DisableKey"));
        assert!(!hits("{ $.eventName != DisableKey }", "DisableKey"));
        assert!(hits("{ $.errorCode NOT EXISTS }", "DisableKey"));
        assert!(hits("{ $.responseElements IS NULL }", "DisableKey"));
        assert!(hits("{ $.readOnly IS FALSE }", "DisableKey"));
        assert!(hits(
            "{ $.requestParameters.pendingWindowInDays < 31 }",
            "x"
        ));
        assert!(!hits(
            "{ $.requestParameters.pendingWindowInDays > 30 }",
            "x"
        ));
        // A field the event lacks never compares.
        assert!(!hits("{ $.errorCode != AccessDenied }", "DisableKey"));
    }

    #[test]
    fn term_patterns_match_the_text() {
        assert!(hits("kms.amazonaws.com DisableKey", "DisableKey"));
        assert!(!hits("kms.amazonaws.com DisableKey", "Decrypt"));
        assert!(hits(
            "?DisableKey ?ScheduleKeyDeletion",
            "ScheduleKeyDeletion"
        ));
        assert!(!hits("kms.amazonaws.com -DisableKey", "DisableKey"));
        assert!(hits("", "anything"));
    }

    #[test]
    fn what_is_not_understood_is_an_error() {
        for bad in [
            "[ip, user, ...]",
            "%Disable.*%",
            "{ $.eventName = DisableKey",
            "{ $.eventName DisableKey }",
            "{ ($.eventName = DisableKey }",
            "{ $.a < b }",
            "{ eventName = x }",
            "\"unclosed",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{{{}$.a = b{}}}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&deep).is_err());
    }
}
