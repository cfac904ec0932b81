//! Rule: AA-DISAGREEMENT
//!
//! kmsaudit and IAM Access Analyzer disagree on whether the key is reachable from outside the
//! analyzer's zone of trust (either way). kmsaudit's side: the key policy is public, or allows
//! a named account outside the zone, or a grant goes outside it. Service principals are left
//! out (Access Analyzer does not report them). The zone is the organization when an
//! organization analyzer covers the region, else the key's own account; configured trusted
//! accounts are not part of Access Analyzer's zone, so they are not used here.

use kmsaudit_model::{Evidence, Severity};

use super::key_facts::{active_findings, analyzer_covers, findings_complete};
use super::policy_facts::external_parties;
use super::{Ctx, KeyInput, Outcome, PolicyInput, RuleDef};
use crate::context::{Party, TrustZone};
use crate::policy::Who;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "AA-DISAGREEMENT",
    severity: Severity::Medium,
    title: "kmsaudit and Access Analyzer disagree on external access",
    rationale: "Two independent analyses of the same policy should agree; a disagreement is either a blind spot of one of them or a policy construct worth a human look.",
    remediation: "Read the key policy and grants in the evidence, decide which analysis is right, and fix the policy or archive the finding.",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    if let Err(why) = analyzer_covers(input, ctx) {
        return Outcome::not_assessed(why);
    }
    let Some(analysis) = input.policy_analysis() else {
        return Outcome::not_assessed("the key policy could not be analyzed");
    };
    let Some(grants) = &input.key.grants else {
        return Outcome::not_assessed("grants could not be read");
    };
    let key_account = Some(input.meta.aws_account_id.as_str());
    let no_zone = TrustZone::default();
    let zone = match ctx.analyzers.org_regions.contains(input.region) {
        true => &ctx.analyzer_zone,
        false => &no_zone,
    };
    let mut ours: Vec<String> = Vec::new();
    if analysis
        .accesses
        .iter()
        .any(|a| matches!(&a.who, Who::Everyone { reach, .. } if reach.is_anyone()))
    {
        ours.push("the key policy allows anyone".into());
    }
    let policy_input = PolicyInput {
        analysis,
        key_account,
    };
    ours.extend(
        external_parties(&policy_input, zone)
            .into_iter()
            // Which way Access Analyzer reads a service without a source, or an aws:userid pin,
            // is not documented: neither is counted as a disagreement.
            .filter(|p| !matches!(p, Party::AnyAccountVia(_) | Party::UnknownIdentity(_)))
            .map(|p| format!("the key policy allows {p}")),
    );
    for g in grants {
        for p in [&g.grantee_principal, &g.retiring_principal]
            .into_iter()
            .flatten()
        {
            if let Some(acct) = kmsaudit_model::arn_account(p) {
                if !zone.is_inside(acct, key_account) {
                    ours.push(format!("grant {} reaches account {acct}", g.grant_id));
                }
            }
        }
    }
    // A statement that could not be read may allow what Access Analyzer sees.
    if let (true, Some(why)) = (ours.is_empty(), analysis.incomplete()) {
        return Outcome::not_assessed(why);
    }
    let theirs = active_findings(input, ctx);
    let ev = Evidence::default()
        .detail(
            "kmsaudit",
            if ours.is_empty() {
                "no external access".into()
            } else {
                ours.join("; ")
            },
        )
        .detail(
            "access_analyzer",
            if theirs.is_empty() {
                "no active finding".into()
            } else {
                theirs
                    .iter()
                    .map(|f| f.id.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
    if theirs.is_empty() {
        if let Err(why) = findings_complete(input, ctx) {
            return Outcome::not_assessed(why);
        }
    }
    match (ours.is_empty(), theirs.is_empty()) {
        (true, true) => Outcome::pass("Both kmsaudit and Access Analyzer find no external access"),
        (false, false) => Outcome::pass("Both kmsaudit and Access Analyzer find external access").with_evidence(ev),
        (false, true) => Outcome::fail(format!("kmsaudit finds external access ({}) but Access Analyzer has no active finding", ours.join("; ")), ev),
        (true, false) => Outcome::fail(
            format!("Access Analyzer reports external access ({}) that kmsaudit does not find in the policy or grants", theirs.iter().map(|f| f.id.as_str()).collect::<Vec<_>>().join(", ")),
            ev,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::*;

    #[test]
    fn agreement_and_both_kinds_of_disagreement() {
        let f = AnalyzerFinding {
            id: "f1".into(),
            resource: KEY_ARN.into(),
            status: "ACTIVE".into(),
            ..Default::default()
        };
        let mut k = test_key();
        assert_eq!(
            check_key_with(
                "AA-DISAGREEMENT",
                &k,
                Some(&account_analyzer(vec![])),
                &Default::default()
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            check_key_with(
                "AA-DISAGREEMENT",
                &k,
                Some(&account_analyzer(vec![f.clone()])),
                &Default::default()
            )
            .status,
            Status::Fail
        );
        k.policy = Some(allow(r#""*""#, r#""kms:Decrypt""#, "").into());
        assert_eq!(
            check_key_with(
                "AA-DISAGREEMENT",
                &k,
                Some(&account_analyzer(vec![])),
                &Default::default()
            )
            .status,
            Status::Fail
        );
        assert_eq!(
            check_key_with(
                "AA-DISAGREEMENT",
                &k,
                Some(&account_analyzer(vec![f])),
                &Default::default()
            )
            .status,
            Status::Pass
        );
    }
}
