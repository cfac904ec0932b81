//! What one Deny statement's conditions do ([`DenyKind`]): to everyone it covers, and to a named
//! principal whose own account decides some of them.

use super::access::{Access, Who};
use super::allow::is_source_key;
use super::condition::{Condition, Pin};
use super::parse::Principal;

/// What a Deny statement does to the Allows it covers.
pub(super) enum DenyKind<'d> {
    Unconditional,
    /// Narrows to callers satisfying the pin; `caller`: the pin is on the caller's identity
    /// (not on the source a service acts for).
    Pin {
        pin: Pin,
        caller: bool,
    },
    /// `Null aws:PrincipalOrgID true`: denies callers in no organization, which service
    /// principals (calling from AWS-owned accounts) are.
    NoOrganization,
    /// A positive condition on the caller's account (`StringLike kms:CallerAccount 1111*`):
    /// denies the named principals, and the accounts of a pinned `*`, that it matches.
    CallerAccountMatches(&'d Condition),
    /// Conditions we cannot turn into a narrowing: ignored.
    Opaque,
}

/// What a Deny with these conditions does to everyone it covers.
pub(super) fn classify<'d>(conditions: &[&'d Condition]) -> DenyKind<'d> {
    match conditions {
        [] => DenyKind::Unconditional,
        [only]
            if only.operator.base == super::condition::BaseOperator::Null
                && matches!(
                    only.key.as_str(),
                    "aws:principalorgid" | "aws:principalorgpaths"
                )
                && only.values.iter().all(|v| v.eq_ignore_ascii_case("true")) =>
        {
            DenyKind::NoOrganization
        }
        [only]
            if only.operator.base.is_positive_match()
                && !only.operator.base.is_arn()
                && only.operator.base != super::condition::BaseOperator::IpAddress
                && only.operator.set != super::condition::SetQualifier::ForAllValues
                && matches!(
                    only.key.as_str(),
                    "kms:calleraccount" | "aws:principalaccount"
                )
                && !only.values.iter().any(|v| v.contains("${")) =>
        {
            DenyKind::CallerAccountMatches(only)
        }
        // `StringEqualsIfExists aws:PrincipalOrgID ...` is true for a caller in no organization.
        [only]
            if only.operator.base.is_positive_match()
                && only.operator.if_exists
                && matches!(
                    only.key.as_str(),
                    "aws:principalorgid" | "aws:principalorgpaths"
                ) =>
        {
            DenyKind::NoOrganization
        }
        [only] => only
            .deny_pin()
            .map_or(DenyKind::Opaque, |pin| DenyKind::Pin {
                pin,
                caller: !is_source_key(&only.key),
            }),
        _ => DenyKind::Opaque,
    }
}

/// For a named principal of a known account: `Some(conditions left)` once those decided by
/// its own account (`kms:CallerAccount`, `aws:PrincipalAccount`) and, for an IAM role or user
/// named by its ARN, that ARN (`aws:PrincipalArn`) and a user's name (`aws:username`) are
/// known to hold; `None` when one of them cannot hold, so the Deny
/// never applies to it.
pub(super) fn for_named<'d>(
    conditions: &'d [Condition],
    account: &str,
    username: Option<&str>,
    arn: Option<&str>,
) -> Option<Vec<&'d Condition>> {
    use super::condition::{BaseOperator::*, SetQualifier};
    let mut left = Vec::new();
    for c in conditions {
        let subject = match c.key.as_str() {
            "kms:calleraccount" | "aws:principalaccount" => Some(account),
            "aws:username" => username,
            "aws:principalarn" => arn,
            _ => None,
        };
        let decided = subject.is_some()
            && c.operator.set == SetQualifier::None
            && !c.values.iter().any(|v| v.contains("${"));
        let subject = subject.unwrap_or_default();
        let hit = |v: &String| match c.operator.base {
            StringEquals | StringNotEquals => v == subject,
            StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => v.eq_ignore_ascii_case(subject),
            StringLike | StringNotLike => super::wildcard::wildcard_match(v, subject),
            ArnLike | ArnEquals | ArnNotLike | ArnNotEquals => {
                super::wildcard::arn_match(v, subject)
            }
            _ => false,
        };
        let holds = match c.operator.base {
            StringEquals | StringEqualsIgnoreCase | StringLike | ArnLike | ArnEquals if decided => {
                Some(c.values.iter().any(hit))
            }
            StringNotEquals
            | StringNotEqualsIgnoreCase
            | StringNotLike
            | ArnNotLike
            | ArnNotEquals
                if decided =>
            {
                Some(!c.values.iter().any(hit))
            }
            _ => None,
        };
        match holds {
            Some(true) => {}
            Some(false) => return None,
            None => left.push(c),
        }
    }
    Some(left)
}

/// Whether a positive condition on the caller's account matches `account`.
pub(super) fn account_matches(c: &Condition, account: &str) -> bool {
    c.values.iter().any(|v| match c.operator.base {
        super::condition::BaseOperator::StringLike => super::wildcard::wildcard_match(v, account),
        super::condition::BaseOperator::StringEqualsIgnoreCase => v.eq_ignore_ascii_case(account),
        _ => v == account,
    })
}

/// A condition on the caller's organization that holds for a caller in none (a service
/// principal's own request): `ForAllValues:`, `...IfExists`, a negated operator, `Null true`.
pub(super) fn holds_without_organization(c: &Condition) -> bool {
    matches!(
        c.key.as_str(),
        "aws:principalorgid" | "aws:principalorgpaths"
    ) && holds_when_absent(c)
}

/// A condition that holds when its key is absent from the request: `ForAllValues:`,
/// `...IfExists`, a negated operator, `Null true`.
pub(super) fn holds_when_absent(c: &Condition) -> bool {
    use super::condition::{BaseOperator, SetQualifier};
    match c.operator.base {
        BaseOperator::Null => c.values.iter().all(|v| v.eq_ignore_ascii_case("true")),
        base => {
            c.operator.set == SetQualifier::ForAllValues
                || (c.operator.set == SetQualifier::None
                    && (c.operator.if_exists || base.is_negated_match()))
        }
    }
}

/// Whether an Allow's condition, as written out, is `Null key = true`: the key is absent.
pub(super) fn requires_absent(text: &str, key: &str) -> bool {
    // Compared in place: this runs for every access and Deny of a policy.
    let Some(rest) = strip_prefix_ignore_case(text, "null ") else {
        return false;
    };
    strip_prefix_ignore_case(rest, key).is_some_and(|r| r.eq_ignore_ascii_case(" = true"))
}

/// `text` without `prefix`, compared without ASCII case.
fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `Null K false`: the key must be present.
pub(super) fn requires_present(c: &Condition) -> bool {
    c.operator.base == super::condition::BaseOperator::Null
        && c.values.iter().all(|v| v.eq_ignore_ascii_case("false"))
}

/// Whether an Allow's condition, as written out (`StringEquals aws:PrincipalOrgID = o-1`),
/// requires `key` to be present: a positive operator without `IfExists` or `ForAllValues:`.
pub(super) fn requires_key(text: &str, key: &str) -> bool {
    let Some((op, rest)) = text.split_once(' ') else {
        return false;
    };
    let op = strip_prefix_ignore_case(op, "ForAnyValue:").unwrap_or(op);
    let positive = [
        "StringEquals",
        "StringEqualsIgnoreCase",
        "StringLike",
        "ArnEquals",
        "ArnLike",
        "IpAddress",
    ]
    .iter()
    .any(|p| p.eq_ignore_ascii_case(op));
    positive && strip_prefix_ignore_case(rest, key).is_some_and(|r| r.starts_with(" = "))
}

/// The ARN of an IAM role or user named by it: what `aws:PrincipalArn` holds for its calls (a
/// role's sessions carry the role's ARN).
pub(super) fn iam_arn(access: &Access) -> Option<&str> {
    let Who::Named(Principal::Identity { arn, .. }) = &access.who else {
        return None;
    };
    let resource = arn.splitn(6, ':').nth(5)?;
    (arn.split(':').nth(2) == Some("iam")
        && (resource.starts_with("role/") || resource.starts_with("user/")))
    .then_some(arn.as_str())
}

/// The user name of an IAM user named by its ARN (`arn:aws:iam::1:user/path/name` → `name`).
pub(super) fn user_name(access: &Access) -> Option<&str> {
    let Who::Named(Principal::Identity { arn, .. }) = &access.who else {
        return None;
    };
    let resource = arn.splitn(6, ':').nth(5)?;
    resource
        .strip_prefix("user/")
        .filter(|_| arn.split(':').nth(2) == Some("iam"))
        .map(|path| path.rsplit('/').next().unwrap_or(path))
}

/// Whether the Deny condition `c` holds for every caller `access` admits, from what the
/// access already requires of the caller's organization (`aws:PrincipalOrgID`) or unique id
/// (`aws:userid`): an Allow to organization `o-otherorg01` under a Deny of `o-other*`.
pub(super) fn covers_required_values(c: &Condition, access: &Access) -> bool {
    use super::condition::{BaseOperator, SetQualifier};
    let op = &c.operator;
    if !matches!(
        op.base,
        BaseOperator::StringEquals
            | BaseOperator::StringEqualsIgnoreCase
            | BaseOperator::StringLike
    ) || op.set == SetQualifier::ForAllValues
        || c.values.iter().any(|v| v.contains("${"))
    {
        return false;
    }
    let required: Vec<&String> = match (c.key.as_str(), &access.who) {
        ("aws:principalorgid", Who::Named(_)) => access.principal_orgs.iter().flatten().collect(),
        ("aws:principalorgid", Who::Everyone { reach, .. }) => {
            reach.orgs.iter().flatten().collect()
        }
        ("aws:userid", Who::Named(_) | Who::Everyone { .. }) => access.userids.iter().collect(),
        _ => return false,
    };
    !required.is_empty()
        && required.iter().all(|value| {
            c.values.iter().any(|v| match op.base {
                BaseOperator::StringLike => pattern_covers(v, value),
                _ if super::wildcard::has_wildcard(value) => false,
                BaseOperator::StringEqualsIgnoreCase => v.eq_ignore_ascii_case(value),
                _ => v == *value,
            })
        })
}

/// Whether every text `inner` (an IAM pattern, or a literal) matches also matches `outer`:
/// equal patterns, a literal `outer` matches, or `outer` is a literal prefix and `*` that
/// `inner`'s literal beginning starts with.
fn pattern_covers(outer: &str, inner: &str) -> bool {
    if !super::wildcard::has_wildcard(inner) {
        return super::wildcard::wildcard_match(outer, inner);
    }
    if outer == inner {
        return true;
    }
    let Some(prefix) = outer.strip_suffix('*') else {
        return false;
    };
    let inner_literal: String = inner
        .chars()
        .take_while(|c| !matches!(c, '*' | '?'))
        .collect();
    !super::wildcard::has_wildcard(prefix) && inner_literal.starts_with(prefix)
}

/// For an IAM role or user that a Deny covers but for conditions on its unique id, which a
/// policy cannot know: what the analysis assumes (the id does not match), in words.
pub(super) fn unique_id_assumption(
    left: &[&Condition],
    access: &Access,
    deny_index: usize,
) -> Option<String> {
    let on_userid = |c: &&&Condition| c.key == "aws:userid" && c.operator.base.is_positive_match();
    if left.is_empty() || !left.iter().all(|c| on_userid(&c)) {
        return None;
    }
    let arn = iam_arn(access)?;
    let values: Vec<&str> = left
        .iter()
        .flat_map(|c| c.values.iter().map(String::as_str))
        .collect();
    Some(format!(
        "the unique id of {arn} does not match aws:userid {} (Deny statement {deny_index})",
        values.join(", ")
    ))
}

#[cfg(test)]
mod coverage_tests {
    use super::pattern_covers;

    #[test]
    fn a_prefix_pattern_covers_patterns_and_literals_it_starts() {
        assert!(pattern_covers("o-other*", "o-otherorg01"));
        assert!(pattern_covers("AROAOUTSIDE*", "AROAOUTSIDEROLEID12345:*"));
        assert!(!pattern_covers("AROAOUTSIDE*", "AROA*"));
        assert!(!pattern_covers("o-*-x", "o-a*"));
        assert!(pattern_covers("o-a*", "o-a*"));
    }
}
