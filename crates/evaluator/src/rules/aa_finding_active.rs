//! Rule: AA-FINDING-ACTIVE
//!
//! IAM Access Analyzer holds an ACTIVE external-access finding for the key (from an account
//! analyzer of the key's account or an organization analyzer anywhere in the organization).
//! Without an active analyzer covering the key's region the answer is unknown: NOT_ASSESSED;
//! so is "no finding" when an analyzer listing of the region that could hold one failed.

use kmsaudit_model::{Evidence, Severity};

use super::key_facts::{active_findings, analyzer_covers, findings_complete};
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "AA-FINDING-ACTIVE",
    severity: Severity::High,
    title: "Active Access Analyzer finding for the key",
    rationale: "Access Analyzer proves, from the policy and grants, that a principal outside the zone of trust can use the key. An unreviewed active finding is unaccepted external access.",
    remediation: "Remove the access, or archive the finding with an archive rule documenting why it is intended.",
    compliance: &[("NIST SP 800-53 Rev. 5", &["AC-3", "CA-7"]), ("CIS AWS Foundations v3.0", &["1.20"])],
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    if let Err(why) = analyzer_covers(input, ctx) {
        return Outcome::not_assessed(why);
    }
    let findings = active_findings(input, ctx);
    let Some(f) = findings.first() else {
        return match findings_complete(input, ctx) {
            Ok(()) => Outcome::pass("Access Analyzer has no active finding for the key"),
            Err(why) => Outcome::not_assessed(why),
        };
    };
    let principal = f
        .principal
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let public = if f.is_public == Some(true) {
        " (public)"
    } else {
        ""
    };
    Outcome::fail(
        format!(
            "Access Analyzer finding {} reports external access{public} for {}",
            f.id,
            if principal.is_empty() {
                "an unnamed principal"
            } else {
                &principal
            }
        ),
        Evidence {
            principal: (!principal.is_empty()).then_some(principal.clone()),
            condition: (!f.condition.is_empty()).then(|| {
                f.condition
                    .iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
            ..Default::default()
        }
        .detail("finding_id", f.id.clone())
        .detail("analyzer", f.analyzer_arn.clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::*;

    #[test]
    fn finding_fails_none_passes_no_analyzer_unknown() {
        let k = test_key();
        assert_eq!(
            check_key_with("AA-FINDING-ACTIVE", &k, None, &Default::default()).status,
            Status::NotAssessed
        );
        assert_eq!(
            check_key_with(
                "AA-FINDING-ACTIVE",
                &k,
                Some(&account_analyzer(vec![])),
                &Default::default()
            )
            .status,
            Status::Pass
        );
        let f = AnalyzerFinding {
            id: "f1".into(),
            resource: KEY_ARN.into(),
            status: "ACTIVE".into(),
            ..Default::default()
        };
        assert_eq!(
            check_key_with(
                "AA-FINDING-ACTIVE",
                &k,
                Some(&account_analyzer(vec![f])),
                &Default::default()
            )
            .status,
            Status::Fail
        );
        let mut none = account_analyzer(vec![]);
        none.analyzers.clear();
        assert_eq!(
            check_key_with("AA-FINDING-ACTIVE", &k, Some(&none), &Default::default()).status,
            Status::NotAssessed
        );
    }
}
