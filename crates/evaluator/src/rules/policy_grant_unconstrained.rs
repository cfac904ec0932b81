//! Rule: KMS-POLICY-GRANT-UNCONSTRAINED
//!
//! kms:CreateGrant is allowed without `Bool kms:GrantIsForAWSResource true`, so the principal
//! can hand the key's permissions to any principal by grant, outside the key policy. Key
//! administrators (principals that also hold kms:PutKeyPolicy) and the key account's root are
//! exempt: they can rewrite the policy anyway.

use kmsaudit_model::Severity;

use super::policy_facts::sid;
use super::{non_root, per_principal, Ctx, Offense, PolicyInput, PolicyVerdict, RuleDef};
use crate::policy::ActionSet;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-GRANT-UNCONSTRAINED",
    severity: Severity::Medium,
    title: "kms:CreateGrant allowed without kms:GrantIsForAWSResource",
    rationale: "Grants delegate use of the key outside the key policy; without kms:GrantIsForAWSResource a principal can grant any other principal, including one outside the organization.",
    remediation: "Add Condition Bool kms:GrantIsForAWSResource true to statements allowing kms:CreateGrant, so only AWS services integrated with KMS can be granted on the principal's behalf.",
};

pub(crate) fn check(input: &PolicyInput<'_>, _ctx: &Ctx<'_>) -> PolicyVerdict {
    static CREATE_GRANT: std::sync::LazyLock<ActionSet> =
        std::sync::LazyLock::new(|| ActionSet::of(&["CreateGrant"]));
    let create_grant = *CREATE_GRANT;
    let mut offenses = Vec::new();
    for (principal, accesses) in per_principal(non_root(input)) {
        if accesses
            .iter()
            .any(|a| a.actions.overlaps(ActionSet::policy_change()))
        {
            continue;
        }
        for a in accesses
            .iter()
            .filter(|a| a.actions.overlaps(create_grant) && !a.grant_for_aws_resource)
        {
            let mut o = Offense::from_access(
                a,
                format!("Statement {}{} allows kms:CreateGrant to {principal} without Bool kms:GrantIsForAWSResource true", a.statement_index, sid(a)),
            );
            o.principal = Some(principal.clone());
            offenses.push(o);
        }
    }
    PolicyVerdict::Offenses(
        offenses,
        "Every kms:CreateGrant is limited to AWS resources, or held by key administrators",
    )
}
