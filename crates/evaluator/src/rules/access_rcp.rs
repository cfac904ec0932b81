//! Rule: KMS-ACCESS-NO-RCP
//!
//! A member account holds customer-managed keys and no resource control policy keeps
//! principals outside the organization away from them: one key policy or grant that names an
//! outsider, or a `*` left unpinned, is then enough. An RCP denying `kms:*` to callers whose
//! `aws:PrincipalOrgID` is not the organization's (services aside) closes that for every key of
//! the account at once, whatever its key policy says. The management account is exempt from
//! RCPs, so it is not judged.

use kmsaudit_model::{AccountRecord, Evidence, Severity};

use super::{Ctx, Outcome, RuleDef};
use crate::effective::RcpGuard;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-ACCESS-NO-RCP",
    severity: Severity::Medium,
    title: "No RCP keeps principals outside the organization away from the account's keys",
    rationale: "A resource control policy is the one control that holds for every key of an account whatever its key policy and grants say; without one, a single statement naming an outside account, or a * left unpinned, exposes a key. Access Analyzer does not apply RCPs, and the management account is exempt from them.",
    remediation: "Attach to the account (or its OU) an RCP that denies kms:* to principals whose aws:PrincipalOrgID is not the organization's, with BoolIfExists aws:PrincipalIsAWSService false so AWS services keep working (AWS documents this data-perimeter RCP); test it on one OU first.",
};

pub(crate) fn check(account: &AccountRecord, ctx: &Ctx<'_>) -> Option<Outcome> {
    let guard = ctx.access.as_ref()?.guards.get(&account.id)?;
    Some(match guard {
        RcpGuard::Guarded(by) => Outcome::pass(format!(
            "{by} denies kms:* to principals outside the organization"
        )),
        RcpGuard::Unknown(reason) => Outcome::not_assessed(reason.clone()),
        RcpGuard::Open(conditions) => {
            let only = if conditions.is_empty() {
                String::new()
            } else {
                format!(
                    " (an RCP denies them only when {})",
                    conditions.join(" and ")
                )
            };
            Outcome::fail(
                format!(
                    "member account {} holds customer-managed keys and no RCP keeps principals outside the organization away from them{only}",
                    account.id
                ),
                Evidence::default().detail("account", account.id.clone()),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsaudit_model::*;
    use std::sync::Arc;

    /// An organization of a management account and one member holding one key, with these
    /// RCPs attached to the member (RCPs enabled when `enabled`).
    fn guard_of(rcps: &[&str], enabled: bool) -> Option<RcpGuard> {
        let member = "222222222222";
        let account =
            |id: &str, keys| fixtures::scanned_account(id, true, keys, Some(IamRecord::default()));
        let key = fixtures::customer_key(&format!("arn:aws:kms:us-east-1:{member}:key/k"));
        let policy = |i: usize, text: &str| OrgPolicy {
            id: format!("p-{i}"),
            name: format!("rcp{i}"),
            kind: OrgPolicyKind::ResourceControlPolicy,
            document: Arc::from(text),
            targets: vec![member.into()],
        };
        let mut policies: Vec<OrgPolicy> =
            rcps.iter().enumerate().map(|(i, t)| policy(i, t)).collect();
        policies.push(OrgPolicy {
            targets: vec!["r-root".into(), member.into()],
            ..policy(
                99,
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
            )
        });
        let snapshot = Snapshot {
            schema_version: SCHEMA_VERSION,
            metadata: ScanMetadata::default(),
            organization: Some(Organization {
                id: "o-test".into(),
                management_account_id: "111111111111".into(),
                policies: Some(OrgPolicies {
                    root_id: "r-root".into(),
                    enabled: if enabled {
                        vec![OrgPolicyKind::ResourceControlPolicy]
                    } else {
                        vec![]
                    },
                    parents: [
                        ("111111111111".to_string(), "r-root".to_string()),
                        (member.to_string(), "r-root".to_string()),
                    ]
                    .into(),
                    policies,
                    errors: vec![],
                }),
                ..Default::default()
            }),
            accounts: vec![account("111111111111", vec![]), account(member, vec![key])],
            aws_managed_policies: vec![],
        };
        crate::effective::rows_and_guards(&snapshot)
            .1
            .remove(member)
    }

    const ORG_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":"o-test"},"BoolIfExists":{"aws:PrincipalIsAWSService":"false"}}}]}"#;

    #[test]
    fn the_documented_data_perimeter_rcp_guards_the_account() {
        assert!(
            matches!(guard_of(&[ORG_ONLY], true), Some(RcpGuard::Guarded(by)) if by.contains("rcp0"))
        );
    }

    #[test]
    fn no_rcp_an_rcp_on_other_actions_or_rcps_disabled_leave_it_open() {
        assert_eq!(guard_of(&[], true), Some(RcpGuard::Open(vec![])));
        let s3_only = ORG_ONLY.replace("kms:*", "s3:*");
        assert_eq!(guard_of(&[&s3_only], true), Some(RcpGuard::Open(vec![])));
        assert_eq!(guard_of(&[ORG_ONLY], false), Some(RcpGuard::Open(vec![])));
    }

    #[test]
    fn a_deny_under_a_condition_outside_callers_do_not_decide_is_not_a_guard() {
        let vpce = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}}]}"#;
        assert!(matches!(guard_of(&[vpce], true), Some(RcpGuard::Open(c)) if !c.is_empty()));
    }
}
