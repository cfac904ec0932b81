//! A statement as it stands for one key at one time, before the analysis reads its conditions:
//! policy variables replaced, keys that every KMS request carries read as present, time windows
//! judged against "now", and values that can match no request dropped. What is left is what
//! the pin rules of `condition.rs` read; what can never hold says so.
//!
//! Sources (IAM User Guide): "Policy variables" (`reference_policies_variables`), "Condition
//! operators" (`...IfExists`, `Null`, set operators), "AWS global condition context keys"
//! (availability of each key), "Version" (variables only under `2012-10-17`).

use std::borrow::Cow;

use kmsaudit_model::Timestamp;

use super::condition::{always_present, BaseOperator, Condition, SetQualifier};
use super::contradiction::contradiction;
use super::keys::{can_match, may_have_value, same_attribute};
use super::parse::{KeyScope, Statement};
use super::variables::{self, Segment, LITERAL_DOLLAR};

/// What the analysis knows of the key and the moment it is analysed for.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisEnv<'a> {
    /// The key (its ARN, its account, or nothing).
    pub key: KeyScope<'a>,
    /// The organization of the key's account, when known (`aws:ResourceOrgID`).
    pub key_org: Option<&'a str>,
    /// "Now": the scan's start, or the current time in lint-policy. `None`: time windows are
    /// taken to be open.
    pub now: Option<Timestamp>,
}

impl<'a> AnalysisEnv<'a> {
    /// Only the key is known.
    pub fn key(key: KeyScope<'a>) -> AnalysisEnv<'a> {
        AnalysisEnv {
            key,
            key_org: None,
            now: None,
        }
    }

    pub(super) fn key_account(&self) -> Option<&'a str> {
        match self.key {
            KeyScope::Arn(arn) => kmsaudit_model::arn_account(arn),
            KeyScope::Account(a) => Some(a),
            KeyScope::Unknown => None,
        }
    }
}

/// One value of a condition, for this key.
enum Value {
    /// Concrete text (escaped `*` / `?` / `$` carried as literal markers).
    Text(String),
    /// Depends on the request (a variable naming the caller's own attributes): any caller can
    /// make it match, so it pins no one.
    Caller,
    /// A variable with no value and no default: matches nothing.
    Never,
}

fn resolve_value(value: &str, version: Option<&str>, env: &AnalysisEnv<'_>) -> Value {
    if !variables::enabled(version) {
        // `${...}` is text: kept so that no pin rule reads it as a variable.
        return Value::Text(value.replace('$', &LITERAL_DOLLAR.to_string()));
    }
    if !value.contains("${") {
        return Value::Text(value.to_string());
    }
    let mut out = String::new();
    for seg in variables::segments(value) {
        match seg {
            Segment::Text(t) => out.push_str(&t),
            Segment::Variable { key, default } => {
                let bound = match key.as_str() {
                    "aws:resourceaccount" => env.key_account(),
                    "aws:resourceorgid" => env.key_org,
                    _ => None,
                };
                match (bound, may_have_value(&key), default) {
                    (Some(v), _, _) => out.push_str(v),
                    (None, true, _) => return Value::Caller,
                    (None, false, Some(d)) => out.push_str(&d),
                    (None, false, None) => return Value::Never,
                }
            }
        }
    }
    Value::Text(out)
}

/// Why a statement grants (or denies) nothing now, or what is assumed of it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict<'s> {
    /// The statement as the analysis reads it, with notes to report.
    Applies(Cow<'s, Statement>, Vec<String>),
    /// No request can match it now (the reason; `note`: worth telling the user).
    Never { why: String, note: bool },
}

/// What one time condition says at `now`: true now, or closed for good, or opens later.
enum Window {
    Open,
    Past,
    Future,
}

fn time_window(c: &Condition, now: Timestamp) -> Option<Window> {
    use BaseOperator::*;
    let epoch = c.key == "aws:epochtime";
    if c.key != "aws:currenttime" && !epoch {
        return None;
    }
    let parse = |v: &str| -> Option<Timestamp> {
        let v = v.trim();
        v.parse::<Timestamp>().ok().or_else(|| {
            v.parse::<i64>()
                .ok()
                .and_then(|n| Timestamp::from_second(n).ok())
        })
    };
    let op = c.operator.base;
    let mut any_future = false;
    for v in &c.values {
        let t = parse(v)?;
        let (holds, later) = match op {
            DateLessThan | NumericLessThan => (now < t, false),
            DateLessThanEquals | NumericLessThanEquals => (now <= t, false),
            DateGreaterThan | NumericGreaterThan => (now > t, true),
            DateGreaterThanEquals | NumericGreaterThanEquals => (now >= t, true),
            DateEquals | NumericEquals => (now == t, now < t),
            _ => return None,
        };
        if holds {
            return Some(Window::Open);
        }
        any_future |= later;
    }
    Some(if any_future {
        Window::Future
    } else {
        Window::Past
    })
}

/// Reads `st` for the key and time of `env`.
pub(super) fn resolve<'s>(
    st: &'s Statement,
    version: Option<&str>,
    env: &AnalysisEnv<'_>,
) -> Verdict<'s> {
    let needs_work = |c: &Condition| {
        always_present(&c.key)
            || c.values
                .iter()
                .any(|v| v.contains('$') || v.contains(['*', '?']))
            || c.operator.base == BaseOperator::Null
            || c.operator.set != SetQualifier::None
            || c.operator.if_exists
    };
    if !st.conditions.iter().any(needs_work) {
        return match contradiction(&st.conditions) {
            Some(why) => Verdict::Never { why, note: false },
            None => Verdict::Applies(Cow::Borrowed(st), vec![]),
        };
    }
    let describe = |c: &Condition| c.describe();
    let mut notes = Vec::new();
    // Keys present whenever the statement applies: guarded by `Null: false`, or required by a
    // positive operator without `IfExists` (false when the key is absent).
    let guarded: Vec<&str> = st
        .conditions
        .iter()
        .filter(|c| {
            let op = &c.operator;
            (op.base == BaseOperator::Null
                && c.values.iter().all(|v| v.eq_ignore_ascii_case("false")))
                || (op.base.is_positive_match()
                    && !op.if_exists
                    && op.set != SetQualifier::ForAllValues)
        })
        .map(|c| c.key.as_str())
        .collect();
    let mut kept = Vec::with_capacity(st.conditions.len());
    for c in &st.conditions {
        let mut c = c.clone();
        let present = always_present(&c.key);
        if c.operator.base == BaseOperator::Null {
            let wants_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            if present && wants_absent {
                return Verdict::Never {
                    why: format!("{}: the key is in every KMS request", describe(&c)),
                    note: false,
                };
            }
            if wants_absent
                && st.conditions.iter().any(|o| {
                    o.key == c.key
                        && o.operator.base.is_positive_match()
                        && !o.operator.if_exists
                        && o.operator.set != SetQualifier::ForAllValues
                })
            {
                return Verdict::Never {
                    why: format!(
                        "{} while another condition requires {} to be present",
                        describe(&c),
                        c.key_as_written
                    ),
                    note: false,
                };
            }
            if present {
                continue;
            }
            kept.push(c);
            continue;
        }
        // A key required present elsewhere in the block: `IfExists` changes nothing.
        if guarded.contains(&c.key.as_str())
            && c.operator.set == SetQualifier::None
            && c.operator.base != BaseOperator::Null
        {
            c.operator.if_exists = false;
        }
        if present {
            c.operator.if_exists = false;
            c.operator.set = SetQualifier::None;
            // KMS answers only over TLS: `aws:SecureTransport` is always `true`.
            if c.key == "aws:securetransport" && c.operator.base == BaseOperator::Bool {
                if c.values.iter().any(|v| v.eq_ignore_ascii_case("true")) {
                    continue;
                }
                return Verdict::Never {
                    why: format!("{}: KMS accepts only TLS requests", describe(&c)),
                    note: false,
                };
            }
        } else if c.operator.set == SetQualifier::ForAllValues && guarded.contains(&c.key.as_str())
        {
            // The guard closes the empty-set hole: every value must match, and there is one.
            c.operator.set = SetQualifier::ForAnyValue;
        }
        // `kms:CallerAccount` compared with `${aws:PrincipalAccount}` (or a key with itself):
        // the same attribute of every caller, so the comparison always holds.
        if variables::enabled(version)
            && matches!(
                c.operator.base,
                BaseOperator::StringEquals
                    | BaseOperator::StringEqualsIgnoreCase
                    | BaseOperator::StringNotEquals
                    | BaseOperator::StringNotEqualsIgnoreCase
            )
            && present
            && c.values.iter().any(|v| same_attribute(&c.key, v))
        {
            if c.operator.base.is_negated_match() {
                // Every value must differ, and one never does: the condition never holds.
                return Verdict::Never {
                    why: format!(
                        "{}: the caller's own attribute always equals itself",
                        describe(&c)
                    ),
                    note: false,
                };
            }
            continue;
        }
        let mut values = Vec::with_capacity(c.values.len());
        let mut caller_bound = false;
        for v in &c.values {
            match resolve_value(v, version, env) {
                Value::Text(t) => values.push(t),
                Value::Caller => {
                    caller_bound = true;
                    values.push(v.clone());
                }
                Value::Never => {}
            }
        }
        // A value no request value can take (`*` under `StringEquals`, a character outside
        // the key's alphabet) matches nothing.
        if matches!(
            c.operator.base,
            BaseOperator::StringEquals
                | BaseOperator::StringEqualsIgnoreCase
                | BaseOperator::StringNotEquals
                | BaseOperator::StringNotEqualsIgnoreCase
                | BaseOperator::StringLike
                | BaseOperator::StringNotLike
        ) {
            let wild = c.operator.base.has_wildcards();
            let key = c.key.clone();
            values.retain(|v| {
                (caller_bound && v.contains("${")) || can_match(&key, &v.to_ascii_lowercase(), wild)
            });
        }
        // (An empty list as written is left to the pin rules, which read it as no pin.)
        if values.is_empty() && !c.values.is_empty() {
            // No value can match: a positive operator is false whenever the key is present.
            let negated = c.operator.base.is_negated_match();
            let can_be_absent = !present && !guarded.contains(&c.key.as_str());
            if negated || c.operator.set == SetQualifier::ForAllValues {
                continue;
            }
            if !(c.operator.if_exists && can_be_absent) {
                return Verdict::Never {
                    why: format!("{}: no request value can match", describe(&c)),
                    note: false,
                };
            }
        }
        c.values = values;
        if let Some(now) = env.now {
            match time_window(&c, now) {
                Some(Window::Open) => continue,
                Some(Window::Past) => {
                    return Verdict::Never {
                        why: format!("{}: the time window closed before {now}", describe(&c)),
                        note: true,
                    }
                }
                Some(Window::Future) if st.effect == super::parse::Effect::Deny => {
                    return Verdict::Never {
                        why: format!("{}: not in effect yet", describe(&c)),
                        note: false,
                    }
                }
                Some(Window::Future) => {
                    notes.push(format!(
                        "{} is in effect only later: assumed open now",
                        describe(&c)
                    ));
                    continue;
                }
                None => {}
            }
        }
        kept.push(c);
    }
    if let Some(why) = contradiction(&kept) {
        return Verdict::Never { why, note: false };
    }
    let mut out = st.clone();
    out.conditions = kept;
    Verdict::Applies(Cow::Owned(out), notes)
}
