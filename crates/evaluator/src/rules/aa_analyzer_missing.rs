//! Rule: AA-ANALYZER-MISSING
//!
//! An account × region that holds KMS keys is covered by no ACTIVE IAM Access Analyzer: no
//! account analyzer there, and no organization analyzer for that region anywhere in the org.
//! A region whose analyzers could not be listed is NOT_ASSESSED, never "covered".

use kmsaudit_model::Severity;

use super::{Ctx, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "AA-ANALYZER-MISSING",
    severity: Severity::Medium,
    title: "No Access Analyzer covers a region with keys",
    rationale: "Without an analyzer, external access to keys in the region is not continuously monitored by AWS; an absent analyzer is a coverage gap, not evidence of no external access.",
    remediation: "Create an organization analyzer in every region (from the management or delegated administrator account), or an account analyzer per account and region.",
    compliance: &[("CIS AWS Foundations v3.0", &["1.20"]), ("NIST SP 800-53 Rev. 5", &["CA-7", "SI-4"])],
};

pub(crate) fn check(region: &kmsaudit_model::RegionRecord, ctx: &Ctx<'_>) -> Option<Outcome> {
    if region.keys.is_empty() {
        return None;
    }
    if ctx.org_analyzer_regions.contains(&region.region) {
        return Some(Outcome::pass("An organization analyzer covers this region"));
    }
    Some(match &region.access_analyzer {
        None => {
            Outcome::not_assessed("Access Analyzer was not queried for this account and region")
        }
        Some(aa) => match &aa.error {
            Some(e) => Outcome::not_assessed(format!(
                "analyzers could not be listed: {} {}",
                e.code, e.message
            )),
            None if aa.analyzers.iter().any(|a| a.status == "ACTIVE") => {
                Outcome::pass("An account analyzer is active in this region")
            }
            None => Outcome::fail(
                format!(
                    "{} key(s) in this region and no active Access Analyzer covers it",
                    region.keys.len()
                ),
                kmsaudit_model::Evidence::default().detail("keys", region.keys.len().to_string()),
            ),
        },
    })
}
