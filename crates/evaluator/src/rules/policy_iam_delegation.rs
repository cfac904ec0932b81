//! Rule: KMS-POLICY-IAM-DELEGATION
//!
//! The key account's root is allowed kms:* without `StringEquals aws:PrincipalType Account`.
//! Such a statement (the "Enable IAM User Permissions" statement of the default key policy)
//! lets any IAM identity of the account use and manage the key if an IAM policy says so: the
//! key policy is then no longer the only control over the key.

use kmsaudit_model::Severity;

use super::policy_facts::sid;
use super::{Ctx, Offense, PolicyInput, PolicyVerdict, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-IAM-DELEGATION",
    severity: Severity::Low,
    title: "Key policy delegates all key access to IAM policies",
    rationale: "With kms:* for the account root, any IAM policy in the account that allows kms actions on the key is enough; a broad IAM policy (kms:* on *) then reaches this key.",
    remediation: "Keep the root statement for recoverability but scope it, e.g. with Condition StringEquals aws:PrincipalType Account, and grant roles explicitly in the key policy; or review the account's IAM policies for kms:* on *.",
};

pub(crate) fn check(input: &PolicyInput<'_>, _ctx: &Ctx<'_>) -> PolicyVerdict {
    if input.key_account.is_none() {
        return PolicyVerdict::NotApplicable(
            "the key's account is not known (pass --key-account)".into(),
        );
    }
    let offenses = input
        .analysis
        .accesses
        .iter()
        .filter(|a| a.who.is_account_root(input.key_account) && a.actions.is_all() && !a.principal_type_account)
        .map(|a| {
            Offense::from_access(
                a,
                format!(
                    "Statement {}{} allows kms:* to the key account's root without aws:PrincipalType = Account, so IAM policies of account {} can grant any use of the key",
                    a.statement_index,
                    sid(a),
                    input.key_account.unwrap_or_default()
                ),
            )
        })
        .collect();
    PolicyVerdict::Offenses(
        offenses,
        "The key account's root does not hold unrestricted kms:*",
    )
}
