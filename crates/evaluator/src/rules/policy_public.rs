//! Rule: KMS-POLICY-PUBLIC
//!
//! An Allow reaches any principal (`*`, `{"AWS":"*"}`, a list holding `*`, or Allow with
//! NotPrincipal) and no condition pins who the caller is (see `policy::condition` for what
//! pins), after Deny statements are applied. Only operations KMS lets a principal of another
//! account perform count (the others have no effect for outsiders).

use kmsaudit_model::Severity;

use super::policy_facts::{outsider_effective, sid};
use super::{Ctx, Offense, PolicyInput, PolicyVerdict, RuleDef};
use crate::policy::Who;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-PUBLIC",
    severity: Severity::Critical,
    title: "Key policy allows anyone",
    rationale: "A key policy statement that reaches any principal without a condition pinning the caller lets any AWS account, or anonymous callers, use or manage the key.",
    remediation: "Name the principals explicitly, or add a condition that pins the caller to concrete values (aws:PrincipalOrgID, kms:CallerAccount, aws:SourceVpce...). kms:ViaService alone is not enough.",
};

pub(crate) fn check(input: &PolicyInput<'_>, _ctx: &Ctx<'_>) -> PolicyVerdict {
    let offenses = input
        .analysis
        .accesses
        .iter()
        .filter(|a| matches!(&a.who, Who::Everyone { reach, .. } if reach.is_anyone()))
        .filter_map(|a| {
            // Only what KMS lets another account do makes the key public.
            let effective = outsider_effective(a.actions)?;
            let why = match &a.who {
                Who::Everyone { except, .. } if !except.is_empty() => {
                    "Allow with NotPrincipal reaches everyone but the listed principals"
                }
                _ => "Principal `*` with no condition that pins the caller",
            };
            let cond = match a.condition_text() {
                Some(c) => format!(" (conditions present but none pins who: {c})"),
                None => String::new(),
            };
            let mut o = Offense::from_access(
                a,
                format!(
                    "Statement {}{} allows {} to anyone: {why}{cond}{}",
                    a.statement_index,
                    sid(a),
                    effective.describe(),
                    a.assumed_text()
                ),
            );
            o.actions = effective.evidence_names();
            Some(o)
        })
        .collect();
    PolicyVerdict::Offenses(
        offenses,
        "No statement allows anyone: every Allow names principals or pins the caller",
    )
}
