//! Identities alike: callers a key's policy cannot tell apart get the same answers, so they are
//! decided once per key.
//!
//! Two identities of the same kind, holding the same policies (the same parsed documents under
//! the same names) and the same boundary, none of it unreadable, get the same answer to every
//! request on a key when, besides, everything that reads which of them calls reads them alike:
//! both of the key's account, or both of other accounts whose place in the organization is the
//! same (the same SCPs at every level, see [`Directory::account_class`]); and every comparison
//! a policy makes with the caller's ARN, user name or account (a key policy principal naming an
//! account, a condition on `aws:PrincipalArn`, `kms:CallerAccount`...) comes out the same for
//! both. A caller that something reads otherwise (a policy variable, a numeric comparison of
//! its account, a key policy principal naming its ARN) is decided alone, and so is every
//! grantee (a grant names it).

use rustc_hash::{FxHashMap, FxHashSet};

use super::callers::CallerRef;
use super::directory::Directory;
use crate::policy::reference::{compares_as_text, text_comparisons};
use crate::policy::{Policy, Principal, PrincipalSpec};

/// What decides an identity's answers on a key whose policy does not name it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Shape<'d> {
    /// `None`: the key's account; else the class of the caller's account.
    home: Option<u32>,
    user: bool,
    service_linked: bool,
    /// Each policy by its parsed document and its name (the name is in the answer's path).
    policies: Vec<(*const Policy, &'d str)>,
    boundary: Option<(*const Policy, &'d str)>,
    /// How each comparison with the caller (the key policy's, the organization's, its own
    /// policies') comes out ([`text_comparisons`]).
    compared: Vec<u8>,
}

/// Which of the caller's own values a comparison reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallerValue {
    Arn,
    UserName,
    Account,
}

/// The comparisons a policy makes with the caller's ARN, user name or account: callers alike
/// on every one of them are alike to the policy.
pub(super) type CallerReads = Vec<(CallerValue, String)>;

/// The identities a key policy names and the comparisons it makes: callers it names, and
/// callers that are not scanned identities, are decided alone.
pub(super) struct Shapes<'p> {
    named: FxHashSet<&'p str>,
    reads: CallerReads,
}

impl<'p> Shapes<'p> {
    /// `None` when the key policy or the organization's policies read the caller in a way
    /// [`CallerReads`] cannot tell (every caller is then decided alone).
    pub fn for_key_policy(policy: &'p Policy, dir: &Directory) -> Option<Shapes<'p>> {
        let mut reads = caller_reads(policy)?;
        reads.extend(dir.org_reads.as_ref()?.iter().cloned());
        let mut named = FxHashSet::default();
        for p in policy
            .statements
            .iter()
            .flat_map(|st| match &st.principals {
                PrincipalSpec::Principal(list) | PrincipalSpec::NotPrincipal(list) => list,
            })
        {
            match p {
                Principal::Identity { arn, .. } => {
                    named.insert(arn.as_str());
                }
                Principal::Account(a) => reads.push((CallerValue::Account, a.clone())),
                _ => {}
            }
        }
        Some(Shapes { named, reads })
    }

    /// The shape of a caller of a key of `key_account`, or `None` when it must be decided
    /// alone.
    pub fn of<'d>(
        &self,
        caller: &CallerRef,
        dir: &'d Directory,
        key_account: &str,
    ) -> Option<Shape<'d>> {
        let CallerRef::Identity(i) = caller else {
            return None;
        };
        let id = &dir.identities[*i];
        let alone = !id.unreadable.is_empty()
            || dir.iam_unreadable.contains_key(id.account)
            || self.named.contains(id.record.arn.as_str());
        if alone {
            return None;
        }
        let user = id.record.kind == kmsaudit_model::IamPrincipalKind::User;
        let user_name = user.then(|| id.record.arn.rsplit('/').next().unwrap_or_default());
        let compared = self
            .reads
            .iter()
            .chain(id.reads.as_ref()?)
            .map(|(what, value)| match what {
                CallerValue::Arn => text_comparisons(value, &id.record.arn),
                CallerValue::Account => text_comparisons(value, id.account),
                // A role has no user name: the kind tells.
                CallerValue::UserName => user_name.map_or(0, |n| text_comparisons(value, n)),
            })
            .collect();
        let home = match id.account == key_account {
            true => None,
            false => Some(*dir.account_class.get(id.account)?),
        };
        let named = |p: &'d super::directory::NamedPolicy| {
            (std::sync::Arc::as_ptr(&p.policy), p.label.as_str())
        };
        Some(Shape {
            home,
            user,
            service_linked: id.record.is_service_linked(),
            policies: id.policies.iter().map(named).collect(),
            boundary: id.boundary.as_ref().map(named),
            compared,
        })
    }
}

/// SCPs at one level of an account's path: each by document, and by name where the name can
/// reach an answer.
type Level = Vec<(*const Policy, Option<String>)>;

/// What an account's place decides for a caller of it: membership of the organization, whether
/// it is a member account (SCPs apply), whether its IAM was read, and its path's SCPs.
type AccountClass = (bool, bool, bool, Option<Vec<Level>>);

/// [`Directory::account_class`]: SCPs at every level by document, and by name where the name can
/// reach an answer (a policy with a Deny statement names itself in the path).
pub(super) fn account_classes<'s>(dir: &Directory<'s>) -> FxHashMap<&'s str, u32> {
    let mut classes: FxHashMap<AccountClass, u32> = FxHashMap::default();
    let mut out = FxHashMap::default();
    for &account in dir.by_account.keys() {
        let path = dir.org.path_to(account).map(|levels| {
            levels
                .iter()
                .map(|level| {
                    let scps = dir.org.scps.get(level).into_iter().flatten();
                    scps.map(|p| {
                        let denies = !p.policy.invalid.is_empty()
                            || p.policy
                                .statements
                                .iter()
                                .any(|s| s.effect == crate::policy::Effect::Deny);
                        (
                            std::sync::Arc::as_ptr(&p.policy),
                            denies.then(|| p.label.clone()),
                        )
                    })
                    .collect()
                })
                .collect()
        });
        let class = (
            dir.members.contains(account),
            dir.is_member(account),
            dir.iam_read.contains(account),
            path,
        );
        let next = u32::try_from(classes.len()).expect("under 4G accounts");
        out.insert(account, *classes.entry(class).or_insert(next));
    }
    out
}

/// The condition keys whose value differs between identities (see `decide::known_context`).
fn caller_value(key: &str) -> Option<CallerValue> {
    match key {
        "aws:principalarn" => Some(CallerValue::Arn),
        "aws:username" => Some(CallerValue::UserName),
        "aws:principalaccount" | "kms:calleraccount" => Some(CallerValue::Account),
        _ => None,
    }
}

/// The comparisons a policy's conditions make with the caller; `None` when it reads the caller
/// otherwise: a policy variable (resolved per caller), or a comparison that is not by text.
pub(super) fn caller_reads(policy: &Policy) -> Option<CallerReads> {
    let mut reads = vec![];
    for st in &policy.statements {
        if st.resources.patterns.iter().any(|p| p.contains("${")) {
            return None;
        }
        for c in &st.conditions {
            if c.values.iter().any(|v| v.contains("${")) {
                return None;
            }
            let Some(what) = caller_value(&c.key) else {
                continue;
            };
            if !compares_as_text(c.operator.base) {
                return None;
            }
            reads.extend(c.values.iter().map(|v| (what, v.clone())));
        }
    }
    Some(reads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{parse_policy_as, PolicyKind};

    fn policy(statement: &str) -> Policy {
        parse_policy_as(
            &format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#),
            PolicyKind::Identity,
        )
        .unwrap()
    }

    #[test]
    fn a_policy_compares_the_callers_arn_name_or_account_or_reads_it_otherwise() {
        let reads = |st: &str| {
            caller_reads(&policy(st)).map(|r| {
                r.into_iter()
                    .map(|(what, v)| format!("{what:?} {v}"))
                    .collect::<Vec<_>>()
            })
        };
        let none: Option<Vec<String>> = Some(vec![]);
        assert_eq!(
            reads(r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#),
            none
        );
        assert_eq!(
            reads(
                r#"{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1","kms:ViaService":"s3.us-east-1.amazonaws.com"}}}"#
            ),
            none
        );
        assert_eq!(
            reads(
                r#"{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"ArnNotLike":{"aws:PrincipalARN":["arn:aws:iam::*:role/Admin","arn:aws:iam::*:role/Ops"]}}}"#
            ),
            Some(vec![
                "Arn arn:aws:iam::*:role/Admin".into(),
                "Arn arn:aws:iam::*:role/Ops".into()
            ])
        );
        assert_eq!(
            reads(
                r#"{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:username":"alice","kms:CallerAccount":"111122223333"}}}"#
            ),
            Some(vec!["UserName alice".into(), "Account 111122223333".into()])
        );
        // Read otherwise: the caller must be decided alone.
        assert_eq!(
            reads(
                r#"{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}"#
            ),
            None
        );
        assert_eq!(
            reads(
                r#"{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/owner":"${aws:username}"}}}"#
            ),
            None
        );
        assert_eq!(
            reads(
                r#"{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"aws:PrincipalAccount":"300000000000"}}}"#
            ),
            None
        );
    }

    #[test]
    fn values_alike_on_every_text_comparison_meet_every_text_condition_alike() {
        let admin = "arn:aws:iam::*:role/Admin";
        let a = text_comparisons(admin, "arn:aws:iam::111122223333:role/Admin");
        let b = text_comparisons(admin, "arn:aws:iam::444455556666:role/Admin");
        let c = text_comparisons(admin, "arn:aws:iam::111122223333:role/App");
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Equal only ignoring case.
        assert_ne!(
            text_comparisons("Alice", "alice"),
            text_comparisons("Alice", "Alice")
        );
        assert_eq!(text_comparisons("111122223333", "444455556666"), 0);
    }
}
