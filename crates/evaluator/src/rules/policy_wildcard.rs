//! Rule: KMS-POLICY-WILDCARD
//!
//! Every KMS action (`kms:*`, `*`, or a NotAction that excludes nothing of KMS) is allowed to a
//! principal other than the key account's root. (The root statement is the IAM delegation of
//! the default key policy: see KMS-POLICY-IAM-DELEGATION.) Judged after Deny statements.

use kmsaudit_model::Severity;

use super::policy_facts::sid;
use super::{non_root, Ctx, Offense, PolicyInput, PolicyVerdict, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-WILDCARD",
    severity: Severity::High,
    title: "Key policy grants kms:* to a principal other than the account root",
    rationale: "kms:* hands one principal every administrative and cryptographic power over the key, including rewriting its policy and scheduling its deletion.",
    remediation: "Grant the specific actions the principal needs: key administrators the administrative actions, key users the cryptographic ones.",
};

pub(crate) fn check(input: &PolicyInput<'_>, _ctx: &Ctx<'_>) -> PolicyVerdict {
    let offenses = non_root(input)
        .filter(|a| a.actions.is_all())
        .map(|a| {
            Offense::from_access(
                a,
                format!(
                    "Statement {}{} allows every KMS action (kms:*) to {}",
                    a.statement_index,
                    sid(a),
                    a.who.describe()
                ),
            )
        })
        .collect();
    PolicyVerdict::Offenses(
        offenses,
        "No principal other than the account root holds kms:*",
    )
}
