//! One Allow statement read into accesses: one per principal, with how far its conditions
//! narrow the caller ([`Reach`]), what a named principal's own account and ARN rule out, what a
//! service principal's own request cannot meet, and what operations cannot take effect.

use std::sync::Arc;

use super::access::{Access, Analysis, Reach, Who};
use super::actions::ActionSet;
use super::condition::{BaseOperator, Condition, SetQualifier};
use super::parse::{Principal, PrincipalSpec, Statement};

pub(super) fn allow_accesses(
    st: &Statement,
    partition: &str,
    assumed: Vec<String>,
    analysis: &mut Analysis,
) {
    let mut reach = Reach::default();
    let mut source_reach = Reach::default();
    let mut caller_reach = Reach::default();
    let mut userids = Vec::new();
    for c in &st.conditions {
        if let Some(pin) = c.allow_pin() {
            reach.narrow(&pin);
            if is_source_key(&c.key) {
                source_reach.narrow(&pin);
            } else {
                caller_reach.narrow(&pin);
            }
        }
        if let Some(pin) = c.service_source_pin() {
            source_reach.narrow(&pin);
        }
        if let Some(values) = c.userid_values() {
            userids.extend(values.iter().cloned());
        }
    }
    // `aws:PrincipalArn` conditions that together leave a few accounts pin the caller to them.
    if let Some(accounts) = super::arn_accounts::principal_arn_accounts(st) {
        let pin = super::condition::Pin::Accounts(accounts);
        reach.narrow(&pin);
        caller_reach.narrow(&pin);
    }
    let template = Access {
        statement_index: st.index,
        sid: st.sid.clone(),
        who: Who::Everyone {
            reach: Reach::default(),
            except: vec![],
        },
        actions: st.actions.set,
        conditions: st.conditions.iter().map(Condition::describe).collect(),
        grant_for_aws_resource: st
            .conditions
            .iter()
            .any(Condition::is_grant_for_aws_resource),
        principal_type_account: st
            .conditions
            .iter()
            .any(Condition::is_principal_type_account)
            || st.conditions.iter().any(Condition::is_root_itself),
        userids,
        principal_orgs: caller_reach.orgs.clone(),
        orgs_if_present: st
            .conditions
            .iter()
            .find_map(Condition::pin_if_organization_present),
        narrowed_by: vec![],
        assumed: assumed.into(),
    };
    match &st.principals {
        // `NotPrincipal: "*"` leaves out everyone: the Allow grants nobody.
        PrincipalSpec::NotPrincipal(except) if except.contains(&Principal::Anyone) => {}
        PrincipalSpec::NotPrincipal(except) => {
            analysis.accesses.push(Access {
                who: Who::Everyone {
                    reach,
                    except: except.clone(),
                },
                ..template
            });
        }
        PrincipalSpec::Principal(list) => {
            for p in list {
                // The root of the key's own partition, written as an ARN, is its account.
                let root;
                let p = match p {
                    Principal::Identity {
                        arn,
                        account: Some(a),
                    } if arn.ends_with(":root") && p.partition() == Some(partition) => {
                        root = Principal::Account(a.clone());
                        &root
                    }
                    p => p,
                };
                if p.partition().is_some_and(|other| other != partition) {
                    analysis.other_partition.push((st.index, p.clone()));
                    analysis.notes.push(format!(
                        "statement {}: {} is of another partition than the key and is never granted anything",
                        st.index,
                        p.describe()
                    ));
                    continue;
                }
                let who = match p {
                    Principal::Anyone => Who::Everyone {
                        reach: reach.clone(),
                        except: vec![],
                    },
                    Principal::Service(name) => Who::Service {
                        name: name.clone(),
                        on_behalf_of: source_reach.clone(),
                    },
                    other => Who::Named(other.clone()),
                };
                if !matches!(p, Principal::Anyone) {
                    analysis.principals.insert(p.clone());
                }
                // A named principal of an account the caller pins exclude is never allowed.
                if matches!(who, Who::Named(_)) && !admits(&caller_reach, p) {
                    continue;
                }
                // A service principal calls from its own AWS-owned account, in no customer's
                // organization: pins on the caller's account or organization exclude it.
                if matches!(who, Who::Service { .. })
                    && (caller_reach.accounts.is_some()
                        || caller_reach.orgs.is_some()
                        || st.conditions.iter().any(requires_organization))
                {
                    continue;
                }
                // A named principal's own account and ARN are known: a condition on them that
                // no value matches excludes it.
                if matches!(who, Who::Named(_)) && !named_can_satisfy(st, p) {
                    continue;
                }
                // What a service principal's own request carries in the caller's keys is not
                // documented: a condition on them is assumed satisfiable, and said so.
                let assumed = match who {
                    Who::Service { .. } => service_assumptions(st, &template.assumed),
                    _ => template.assumed.clone(),
                };
                // An account whose `aws:PrincipalArn` conditions fix its IAM roles or users is
                // those identities: a Deny naming one of them then covers it.
                let identities = match p {
                    Principal::Account(account) => {
                        super::arn_accounts::principal_arns_in(st, account)
                            .filter(|arns| arns.iter().all(|a| is_iam_identity(a)))
                            .map(|arns| {
                                arns.into_iter()
                                    .map(|arn| {
                                        Who::Named(Principal::Identity {
                                            arn,
                                            account: Some(account.clone()),
                                        })
                                    })
                                    .collect::<Vec<_>>()
                            })
                    }
                    _ => None,
                };
                for who in identities.unwrap_or_else(|| vec![who]) {
                    analysis.accesses.push(Access {
                        who,
                        assumed: assumed.clone(),
                        ..template.clone()
                    });
                }
            }
        }
    }
}

/// Operations granted to a named principal of another account that KMS gives no effect
/// across accounts: dead policy text, said once per statement.
pub(super) fn dead_text_notes(st: &Statement, key_account: Option<&str>, notes: &mut Vec<String>) {
    let (Some(key_account), PrincipalSpec::Principal(list)) = (key_account, &st.principals) else {
        return;
    };
    let dead = st.actions.set.minus(ActionSet::cross_account());
    if dead.is_empty() {
        return;
    }
    let outside: Vec<String> = list
        .iter()
        .filter(|p| p.account().is_some_and(|a| a != key_account))
        .map(Principal::describe)
        .collect();
    if !outside.is_empty() {
        notes.push(format!(
            "statement {}: {} granted to {} has no effect: KMS lets another account perform only cryptographic operations, the grant operations, DescribeKey, GetKeyRotationStatus and GetPublicKey",
            st.index,
            dead.describe(),
            outside.join(", ")
        ));
    }
}

/// The statement's conditions on the caller's identity, which a service principal's request
/// is assumed to satisfy, added to what is already assumed.
fn service_assumptions(st: &Statement, assumed: &Arc<[String]>) -> Arc<[String]> {
    let on_caller: Vec<String> = st
        .conditions
        .iter()
        .filter(|c| {
            matches!(
                c.key.as_str(),
                "aws:principalarn"
                    | "aws:principalaccount"
                    | "kms:calleraccount"
                    | "aws:principaltype"
                    | "aws:userid"
            )
        })
        .map(|c| format!("{} (by the service's own request)", c.describe()))
        .collect();
    if on_caller.is_empty() {
        return assumed.clone();
    }
    assumed.iter().cloned().chain(on_caller).collect()
}

/// Whether `p` can be a caller the Allow statement `st` admits, as far as its own identity
/// decides: a service principal's own request meets no caller account or organization
/// condition; a named principal's account, ARN and type must fit the statement's conditions.
/// (Used when a Deny's `NotPrincipal` leaves `p` with what an Allow gave.)
pub(super) fn principal_can_satisfy(st: &Statement, p: &Principal) -> bool {
    match p {
        Principal::Service(_) => !st.conditions.iter().any(|c| {
            requires_organization(c)
                || (matches!(c.key.as_str(), "kms:calleraccount" | "aws:principalaccount")
                    && c.operator.base.is_positive_match()
                    && !c.operator.if_exists
                    && c.operator.set != SetQualifier::ForAllValues)
        }),
        Principal::Anyone => true,
        named => named_can_satisfy(st, named),
    }
}

/// A condition a service principal's own request cannot meet: it requires the caller to
/// belong to an organization (`Null aws:PrincipalOrgID false`, or a positive operator on it)
/// or to be an IAM user (`aws:username`).
fn requires_organization(c: &Condition) -> bool {
    let op = &c.operator;
    let key = matches!(
        c.key.as_str(),
        "aws:principalorgid" | "aws:principalorgpaths" | "aws:username"
    );
    let required = if op.base == BaseOperator::Null {
        c.values.iter().all(|v| v.eq_ignore_ascii_case("false"))
    } else {
        op.base.is_positive_match() && !op.if_exists && op.set != SetQualifier::ForAllValues
    };
    key && required
}

/// Whether a named principal can satisfy the statement's positive conditions on its own
/// account (`kms:CallerAccount`, `aws:PrincipalAccount`) and, for an IAM role or user named by
/// ARN, on `aws:PrincipalArn` (a role's sessions carry the role's ARN there).
fn named_can_satisfy(st: &Statement, p: &Principal) -> bool {
    if let Principal::Account(account) = p {
        if super::arn_accounts::principal_arns_in(st, account).is_some_and(|a| a.is_empty()) {
            return false;
        }
    }
    st.conditions.iter().all(|c| {
        let op = &c.operator;
        if !op.base.is_positive_match() || op.if_exists || op.set == SetQualifier::ForAllValues {
            return true;
        }
        // `aws:SourceAccount`, `aws:SourceArn` and `aws:SourceOrg*` are set only when a service
        // principal calls ("AWS global condition context keys": availability).
        let service_only = matches!(
            c.key.as_str(),
            "aws:sourceaccount" | "aws:sourcearn" | "aws:sourceorgid" | "aws:sourceorgpaths"
        );
        if service_only && !matches!(p, Principal::Service(_)) {
            return false;
        }
        // `aws:username` is in the request of IAM users only; `aws:userid` has a documented
        // shape per principal type (a role's sessions `AROA…:session`, a user's `AIDA…`).
        if let Some(kind) = iam_kind(p) {
            if c.key == "aws:username" && kind != "user" {
                return false;
            }
            // `aws:PrincipalType` is `User` for a user, `AssumedRole` for a role's sessions.
            if c.key == "aws:principaltype" && !op.base.has_wildcards() {
                let own = if kind == "user" {
                    "User"
                } else {
                    "AssumedRole"
                };
                if !c
                    .values
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(own) || v.contains("${"))
                {
                    return false;
                }
            }
            if c.key == "aws:userid" && op.base.is_positive_match() && !op.base.is_arn() {
                let prefix = if kind == "user" { "AIDA" } else { "AROA" };
                let fits =
                    |v: &str| v.contains("${") || super::wildcard::prefix_compatible(v, prefix);
                if !c.values.iter().any(|v| fits(v)) {
                    return false;
                }
            }
        }
        let subject = match (c.key.as_str(), p) {
            ("kms:calleraccount" | "aws:principalaccount", _) => p.account(),
            ("aws:principalarn", Principal::Identity { arn, .. })
                if arn.split(':').nth(2) == Some("iam") && !arn.ends_with(":root") =>
            {
                Some(arn.as_str())
            }
            _ => None,
        };
        let Some(subject) = subject else {
            return true;
        };
        c.values.iter().any(|v| {
            v.contains("${")
                || match op.base {
                    BaseOperator::StringEquals => v == subject,
                    BaseOperator::StringEqualsIgnoreCase => v.eq_ignore_ascii_case(subject),
                    BaseOperator::StringLike => super::wildcard::wildcard_match(v, subject),
                    BaseOperator::ArnLike | BaseOperator::ArnEquals => {
                        super::wildcard::arn_match(v, subject)
                    }
                    _ => true,
                }
        })
    })
}

/// An IAM role's or user's ARN (`arn:aws:iam::111122223333:role/Partner`).
fn is_iam_identity(arn: &str) -> bool {
    let f: Vec<&str> = arn.splitn(6, ':').collect();
    f.len() == 6 && f[2] == "iam" && (f[5].starts_with("role/") || f[5].starts_with("user/"))
}

/// `role` or `user` for an IAM role or user named by its ARN.
fn iam_kind(p: &Principal) -> Option<&'static str> {
    let Principal::Identity { arn, .. } = p else {
        return None;
    };
    let mut fields = arn.splitn(6, ':');
    if fields.nth(2) != Some("iam") {
        return None;
    }
    let resource = fields.nth(2)?;
    if resource.starts_with("role/") {
        Some("role")
    } else if resource.starts_with("user/") {
        Some("user")
    } else {
        None
    }
}

/// `aws:SourceAccount`, `aws:SourceArn`...: who a service acts for, not who the caller is.
pub(super) fn is_source_key(key: &str) -> bool {
    key.starts_with("aws:source")
}

/// Whether a named principal can satisfy account pins on the caller (`caller` holds only
/// caller-identifying pins). A principal of unknown account (a service, a canonical user) can.
fn admits(caller: &Reach, p: &Principal) -> bool {
    match (&caller.accounts, p.account()) {
        (Some(set), Some(account)) => super::reach::admits(set, account),
        _ => !caller.is_nobody(),
    }
}
