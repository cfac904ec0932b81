//! Rule: KMS-POLICY-EXTERNAL
//!
//! Principals of accounts outside the organization (and outside the configured trusted
//! accounts) are allowed actions: named accounts and identities, `*` pinned to outside
//! accounts or organizations, and service principals that may act on behalf of any account
//! (no aws:SourceAccount / aws:SourceArn / aws:SourceOrgID: the confused-deputy case) or of an
//! outside account. A public statement is KMS-POLICY-PUBLIC's, not repeated here.

use kmsaudit_model::Severity;

use super::policy_facts::external_access;
use super::{Ctx, PolicyInput, PolicyVerdict, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-EXTERNAL",
    severity: Severity::High,
    title: "Key policy allows accounts outside the organization",
    rationale: "Principals outside the organization are outside its guardrails (SCPs, logging, offboarding); access for them should be rare, known and reviewed.",
    remediation: "Remove the external principals, or list the account in trusted_accounts after review. Pin service principals with aws:SourceAccount or aws:SourceArn.",
};

pub(crate) fn check(input: &PolicyInput<'_>, ctx: &Ctx<'_>) -> PolicyVerdict {
    PolicyVerdict::Offenses(
        external_access(input, &ctx.zone)
            .into_iter()
            .map(|(o, _)| o)
            .collect(),
        "Every principal the policy allows is inside the organization or trusted",
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::config::EvalConfig;
    use kmsaudit_model::Status::*;

    const ID: &str = "KMS-POLICY-EXTERNAL";

    #[test]
    fn trusted_accounts_pass() {
        let cfg = EvalConfig {
            trusted_accounts: vec!["999988887777".into()],
            ..Default::default()
        };
        let p = allow(r#"{"AWS":"999988887777"}"#, r#""kms:Decrypt""#, "");
        assert_eq!(check_policy_with(ID, &p, &cfg).0, Pass);
    }
}
