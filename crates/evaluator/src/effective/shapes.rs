//! Identities alike: callers a key's policy cannot tell apart get the same answers, so they are
//! decided once per key.
//!
//! Two identities of one account, of the same kind, holding the same policies (the same parsed
//! documents under the same names) and the same boundary, none of it unreadable, get the same
//! answer to every request on a key — unless something reads which one calls: a key policy
//! principal naming its ARN, or a condition or policy variable reading the caller's ARN or
//! user name in the key policy, in their own policies, or in any SCP or RCP. Such a caller is
//! decided alone, and so is every grantee (a grant names it).

use rustc_hash::FxHashSet;

use super::callers::CallerRef;
use super::directory::Directory;
use crate::policy::{Policy, Principal, PrincipalSpec};

/// What decides an identity's answers on a key whose policy does not name it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Shape<'d> {
    account: &'d str,
    user: bool,
    service_linked: bool,
    /// Each policy by its parsed document and its name (the name is in the answer's path).
    policies: Vec<(*const Policy, &'d str)>,
    boundary: Option<(*const Policy, &'d str)>,
}

/// The identities a key policy names: they, and callers that are not scanned identities, are
/// decided alone.
pub(super) struct Shapes<'p> {
    named: FxHashSet<&'p str>,
}

impl<'p> Shapes<'p> {
    /// `None` when the key policy or the organization's policies read which identity calls.
    pub fn for_key_policy(policy: &'p Policy, dir: &Directory) -> Option<Shapes<'p>> {
        if dir.org_reads_caller || reads_caller(policy) {
            return None;
        }
        let named = policy
            .statements
            .iter()
            .flat_map(|st| match &st.principals {
                PrincipalSpec::Principal(list) | PrincipalSpec::NotPrincipal(list) => list,
            })
            .filter_map(|p| match p {
                Principal::Identity { arn, .. } => Some(arn.as_str()),
                _ => None,
            })
            .collect();
        Some(Shapes { named })
    }

    /// The caller's shape, or `None` when it must be decided alone.
    pub fn of<'d>(&self, caller: &CallerRef, dir: &'d Directory) -> Option<Shape<'d>> {
        let CallerRef::Identity(i) = caller else {
            return None;
        };
        let id = &dir.identities[*i];
        let alone = !id.unreadable.is_empty()
            || id.reads_caller
            || dir.iam_unreadable.contains_key(id.account)
            || self.named.contains(id.record.arn.as_str());
        if alone {
            return None;
        }
        let named = |p: &'d super::directory::NamedPolicy| {
            (std::sync::Arc::as_ptr(&p.policy), p.label.as_str())
        };
        Some(Shape {
            account: id.account,
            user: id.record.kind == kmsaudit_model::IamPrincipalKind::User,
            service_linked: id.record.is_service_linked(),
            policies: id.policies.iter().map(named).collect(),
            boundary: id.boundary.as_ref().map(named),
        })
    }
}

/// The condition keys whose value differs between identities of one account and kind (see
/// `decide::known_context`).
const CALLER_KEYS: [&str; 2] = ["aws:principalarn", "aws:username"];

/// Whether a policy's answer can depend on which identity of an account calls: a condition
/// on the caller's ARN or user name, or a policy variable.
pub(super) fn reads_caller(policy: &Policy) -> bool {
    policy.statements.iter().any(|st| {
        st.resources.patterns.iter().any(|p| p.contains("${"))
            || st.conditions.iter().any(|c| {
                CALLER_KEYS.contains(&c.key.as_str()) || c.values.iter().any(|v| v.contains("${"))
            })
    })
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
    fn a_policy_reads_the_caller_through_its_arn_its_name_or_a_variable() {
        let reads = |st: &str| reads_caller(&policy(st));
        assert!(!reads(
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#
        ));
        assert!(!reads(
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1","kms:ViaService":"s3.us-east-1.amazonaws.com"}}}"#
        ));
        assert!(reads(
            r#"{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"ArnNotLike":{"aws:PrincipalARN":"arn:aws:iam::*:role/Admin"}}}"#
        ));
        assert!(reads(
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:username":"alice"}}}"#
        ));
        assert!(reads(
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}"#
        ));
        assert!(reads(
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/owner":"${aws:username}"}}}"#
        ));
    }
}
