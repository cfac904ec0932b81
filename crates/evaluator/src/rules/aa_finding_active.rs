//! Rule: AA-FINDING-ACTIVE
//!
//! IAM Access Analyzer holds an ACTIVE external-access finding for the key (from an account
//! analyzer of the key's account or an organization analyzer anywhere in the organization).
//! Without an active analyzer covering the key's region the answer is unknown: NOT_ASSESSED;
//! so is "no finding" when an analyzer listing of the region that could hold one failed.
//!
//! Access Analyzer does not apply RCPs: when the scan read IAM and the organization's
//! policies, and an RCP of the key's account denies `kms:*` to every caller outside the
//! organization, a finding whose principals are all AWS accounts or ARNs outside it is marked
//! blocked (PASS, the finding and the RCP named): nobody it names can use the key.

use kmsaudit_model::{Evidence, Severity};

use super::key_facts::{active_findings, analyzer_covers, findings_complete};
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "AA-FINDING-ACTIVE",
    severity: Severity::High,
    title: "Active Access Analyzer finding for the key",
    rationale: "Access Analyzer proves, from the policy and grants, that a principal outside the zone of trust can use the key. An unreviewed active finding is unaccepted external access.",
    remediation: "Remove the access, or archive the finding with an archive rule documenting why it is intended.",
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
    let blocked_by = match rcp_blocking(findings, input, ctx) {
        Ok(by) => by,
        Err(why) => return Outcome::not_assessed(why),
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
    let message = format!(
        "Access Analyzer finding {} reports external access{public} for {}",
        f.id,
        if principal.is_empty() {
            "an unnamed principal"
        } else {
            &principal
        }
    );
    let message = match &blocked_by {
        Some(by) => format!(
            "{message}, blocked: {by} denies kms:* to principals outside the organization (Access Analyzer does not apply RCPs; archive the finding with that reason)"
        ),
        None => message,
    };
    let evidence = Evidence {
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
    .detail("analyzer", f.analyzer_arn.clone());
    match blocked_by {
        Some(by) => Outcome::pass(message).with_evidence(evidence.detail("blocked_by", by)),
        None => Outcome::fail(message, evidence),
    }
}

/// The RCP that keeps every principal of every finding away, when one does: each finding names
/// only AWS accounts or ARNs outside the organization, and the key's account is guarded. An
/// error when such findings could be blocked but the organization's policies were not read.
fn rcp_blocking(
    findings: &[kmsaudit_model::AnalyzerFinding],
    input: &KeyInput<'_>,
    ctx: &Ctx<'_>,
) -> Result<Option<String>, String> {
    let key_account = input.meta.aws_account_id.as_str();
    let Some(guard) = ctx.access.as_ref().and_then(|a| a.guards.get(key_account)) else {
        return Ok(None);
    };
    let by = match guard {
        crate::effective::RcpGuard::Guarded(by) => by,
        crate::effective::RcpGuard::Open(_) => return Ok(None),
        crate::effective::RcpGuard::Unknown(why) => {
            return if only_outsiders(findings, input, ctx) {
                Err(format!(
                    "Access Analyzer reports access from outside the organization, and whether an RCP blocks it is unknown: {why}"
                ))
            } else {
                Ok(None)
            };
        }
    };
    Ok(only_outsiders(findings, input, ctx).then(|| by.clone()))
}

/// Every finding names only AWS accounts or ARNs outside the organization.
fn only_outsiders(
    findings: &[kmsaudit_model::AnalyzerFinding],
    input: &KeyInput<'_>,
    ctx: &Ctx<'_>,
) -> bool {
    let key_account = input.meta.aws_account_id.as_str();
    let outside = |value: &str| {
        let account = kmsaudit_model::arn_account(value).unwrap_or(value);
        kmsaudit_model::is_account_id(account)
            && account != key_account
            && !ctx.zone.org_accounts.contains(account)
    };
    findings.iter().all(|f| {
        f.is_public != Some(true)
            && !f.principal.is_empty()
            && f.principal
                .iter()
                .all(|(kind, value)| kind == "AWS" && outside(value))
    })
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

    #[test]
    fn a_finding_an_rcp_blocks_is_marked_blocked_and_others_still_fail() {
        use crate::effective::RcpGuard;
        let k = test_key();
        let finding = |principal: &str| AnalyzerFinding {
            id: "f1".into(),
            resource: KEY_ARN.into(),
            status: "ACTIVE".into(),
            principal: [("AWS".to_string(), principal.to_string())].into(),
            ..Default::default()
        };
        let guarded = || Some(RcpGuard::Guarded("RCP OrgOnly (p-1) on r-root".into()));
        let run = |f: AnalyzerFinding, guard| {
            let aa = account_analyzer(vec![f]);
            check_key_guarded(
                "AA-FINDING-ACTIVE",
                &k,
                Some(&aa),
                &Default::default(),
                guard,
            )
        };
        let outside = run(finding("444455556666"), guarded());
        assert_eq!(outside.status, Status::Pass, "{}", outside.message);
        assert!(
            outside.message.contains("blocked: RCP OrgOnly"),
            "{}",
            outside.message
        );
        assert_eq!(
            run(finding("arn:aws:iam::444455556666:role/X"), guarded()).status,
            Status::Pass
        );
        // Not blocked: no guard, an open RCP, a principal inside the organization, a service.
        assert_eq!(run(finding("444455556666"), None).status, Status::Fail);
        assert_eq!(
            run(finding("444455556666"), Some(RcpGuard::Open(vec![]))).status,
            Status::Fail
        );
        assert_eq!(run(finding(ORG_ACCOUNT), guarded()).status, Status::Fail);
        let mut service = finding("x");
        service.principal = [("Service".to_string(), "s3.amazonaws.com".to_string())].into();
        assert_eq!(run(service.clone(), guarded()).status, Status::Fail);
        // The organization's policies unread: an outsider's access that an RCP could block is
        // not assessed; a service's access, which no RCP here blocks, still fails.
        let unknown = || Some(RcpGuard::Unknown("ListPoliciesForTarget failed".into()));
        let outside = run(finding("444455556666"), unknown());
        assert_eq!(outside.status, Status::NotAssessed, "{}", outside.message);
        assert!(outside.message.contains("ListPoliciesForTarget failed"));
        assert_eq!(run(service, unknown()).status, Status::Fail);
    }
}
