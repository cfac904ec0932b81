//! Conditions of one block that no request satisfies together: two exact values of one
//! single-valued key, a value both required and refused, an account root's or an IAM user's
//! identity with another principal type's attributes.

use super::condition::{BaseOperator, Condition, SetQualifier};

/// Keys that hold several values in one request: two conditions on them can both hold with
/// different values.
fn multivalued(key: &str) -> bool {
    matches!(
        key,
        "aws:principalorgpaths"
            | "aws:sourceorgpaths"
            | "aws:resourceorgpaths"
            | "aws:tagkeys"
            | "aws:calledvia"
            | "aws:principalservicenameslist"
            | "kms:grantoperations"
            | "kms:encryptioncontextkeys"
    )
}

/// Two positive conditions on one single-valued key that no value satisfies together: the
/// literal values of an exact one (`StringEquals`) against the other's values or patterns.
pub(super) fn contradiction(conditions: &[Condition]) -> Option<String> {
    use super::wildcard::wildcard_match;
    let positive = |c: &&Condition| {
        c.operator.base.is_positive_match()
            && !c.operator.if_exists
            && c.operator.set != SetQualifier::ForAllValues
            && !multivalued(&c.key)
            && !c.values.is_empty()
            && !c.values.iter().any(|v| v.contains("${"))
    };
    let exact = |c: &Condition| {
        matches!(
            c.operator.base,
            BaseOperator::StringEquals | BaseOperator::StringEqualsIgnoreCase
        )
    };
    let accepts = |c: &Condition, value: &str| {
        c.values.iter().any(|p| match c.operator.base {
            BaseOperator::StringEquals => p == value,
            BaseOperator::StringEqualsIgnoreCase => p.eq_ignore_ascii_case(value),
            BaseOperator::StringLike => wildcard_match(p, value),
            BaseOperator::ArnLike | BaseOperator::ArnEquals => super::wildcard::arn_match(p, value),
            // Addresses and ranges: not compared here.
            _ => true,
        })
    };
    // A value a positive condition needs that a negated one on the same key refuses:
    // `IpAddress 10.0.0.0/8` with `NotIpAddress 10.0.0.0/8`, `StringEquals x` with
    // `StringNotEquals x`.
    for p in conditions.iter().filter(|c| positive(c)) {
        let refused_by = |n: &&Condition| {
            n.key == p.key
                && n.operator.base.is_negated_match()
                && n.operator.set == SetQualifier::None
                && matches!(
                    (p.operator.base, n.operator.base),
                    (BaseOperator::IpAddress, BaseOperator::NotIpAddress)
                        | (BaseOperator::StringEquals, BaseOperator::StringNotEquals)
                )
                && p.values.iter().all(|v| n.values.contains(v))
        };
        if let Some(n) = conditions.iter().find(refused_by) {
            return Some(format!(
                "{} and {}: no value satisfies both",
                p.describe(),
                n.describe()
            ));
        }
    }
    // `aws:userid` equal to account ids only, or `aws:PrincipalType` `Account`: the caller is an
    // account's root, whose `aws:PrincipalArn` is `arn:aws:iam::ACCOUNT:root`, whose
    // `aws:PrincipalType` is `Account` and whose `aws:userid` is the account id.
    // (The ids, and whether they are all the caller's account can be.)
    let root_ids: Option<(Vec<String>, bool)> = conditions
        .iter()
        .filter(|c| positive(c) && exact(c))
        .find_map(|c| match c.key.as_str() {
            "aws:userid" if c.values.iter().all(|v| kmsaudit_model::is_account_id(v)) => {
                Some((c.values.clone(), true))
            }
            "aws:principaltype" if c.values.iter().all(|v| v.eq_ignore_ascii_case("Account")) => {
                // Any account: the ids the policy writes, and one it does not.
                let mut ids: Vec<String> = conditions
                    .iter()
                    .flat_map(|c| c.values.iter())
                    .flat_map(|v| v.split(|ch: char| !ch.is_ascii_digit()))
                    .filter(|d| kmsaudit_model::is_account_id(d))
                    .map(str::to_string)
                    .collect();
                ids.push("000000000000".into());
                Some((ids, false))
            }
            _ => None,
        });
    if let Some((roots, exhaustive)) = root_ids {
        for c in conditions.iter().filter(|c| positive(c)) {
            let fits = match c.key.as_str() {
                "kms:calleraccount" | "aws:principalaccount" if exhaustive => {
                    roots.iter().any(|id| accepts(c, id))
                }
                "aws:principalarn" => roots
                    .iter()
                    .any(|id| accepts(c, &format!("arn:aws:iam::{id}:root"))),
                "aws:principaltype" => accepts(c, "Account"),
                "aws:userid" => roots.iter().any(|id| accepts(c, id)),
                _ => true,
            };
            if !fits {
                return Some(format!(
                    "{}: aws:userid names only account roots",
                    c.describe()
                ));
            }
        }
    }
    // `aws:username` is present: the caller is an IAM user, whose `aws:PrincipalType` is
    // `User`, whose `aws:userid` starts with `AIDA` and whose ARN names `user/...`.
    if conditions
        .iter()
        .any(|c| positive(&c) && c.key == "aws:username")
    {
        use super::wildcard::prefix_compatible;
        for c in conditions.iter().filter(|c| positive(c)) {
            let fits = match c.key.as_str() {
                "aws:principaltype" => accepts(c, "User"),
                "aws:userid" if !c.operator.base.is_arn() => {
                    c.values.iter().any(|v| prefix_compatible(v, "AIDA"))
                }
                "aws:principalarn" if c.operator.base.is_arn() => c.values.iter().any(|v| {
                    v.splitn(6, ':')
                        .nth(5)
                        .is_some_and(|resource| prefix_compatible(resource, "user/"))
                }),
                _ => true,
            };
            if !fits {
                return Some(format!(
                    "{}: aws:username is present only for an IAM user",
                    c.describe()
                ));
            }
        }
    }
    let candidates: Vec<&Condition> = conditions.iter().filter(positive).collect();
    for a in candidates.iter().filter(|c| exact(c)) {
        for b in candidates
            .iter()
            .filter(|b| b.key == a.key && !std::ptr::eq(*a, **b))
        {
            if !a.values.iter().any(|v| accepts(b, v)) {
                return Some(format!(
                    "{} and {}: no value satisfies both",
                    a.describe(),
                    b.describe()
                ));
            }
        }
    }
    None
}
