//! Rule: AA-ANALYZER-MISSING
//!
//! An account × region that holds KMS keys is covered by no ACTIVE IAM Access Analyzer: no
//! account analyzer there, and no organization analyzer for that region anywhere in the org.
//! A region whose analyzers could not be listed is NOT_ASSESSED, never "covered"; so is a
//! region without an analyzer of its own when whether an organization analyzer covers it is
//! unknown (another account's listing there failed): unknown coverage is not a gap.

use kmsaudit_model::Severity;

use super::{Ctx, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "AA-ANALYZER-MISSING",
    severity: Severity::Medium,
    title: "No Access Analyzer covers a region with keys",
    rationale: "Without an analyzer, external access to keys in the region is not continuously monitored by AWS; an absent analyzer is a coverage gap, not evidence of no external access.",
    remediation: "Create an organization analyzer in every region (from the management or delegated administrator account), or an account analyzer per account and region.",
};

pub(crate) fn check(region: &kmsaudit_model::RegionRecord, ctx: &Ctx<'_>) -> Option<Outcome> {
    if region.keys.is_empty() {
        return None;
    }
    if ctx.analyzers.org_regions.contains(&region.region) {
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
            None => match ctx.analyzers.unknown(&region.region) {
                Some(why) => Outcome::not_assessed(format!(
                    "no analyzer in this account, and whether an organization analyzer covers the region is unknown: {why}"
                )),
                None => Outcome::fail(
                format!(
                    "{} key(s) in this region and no active Access Analyzer covers it",
                    region.keys.len()
                ),
                    kmsaudit_model::Evidence::default()
                        .detail("keys", region.keys.len().to_string()),
                ),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::config::EvalConfig;
    use kmsaudit_model::*;

    fn region(aa: Option<AccessAnalyzerRecord>, keys: usize) -> RegionRecord {
        RegionRecord {
            region: "us-east-1".into(),
            access: RegionAccess::Scanned,
            aliases_error: None,
            keys: (0..keys).map(|_| test_key()).collect(),
            access_analyzer: aa,
        }
    }

    fn analyzer(kind: &str, status: &str) -> Analyzer {
        Analyzer {
            arn: "a".into(),
            name: "a".into(),
            analyzer_type: kind.into(),
            status: status.into(),
        }
    }

    #[test]
    fn coverage_by_account_or_organization_analyzer() {
        let config = EvalConfig::default();
        let c = ctx(&config);
        let status = |r: &RegionRecord, c: &super::Ctx<'_>| super::check(r, c).map(|o| o.status);
        assert_eq!(
            status(&region(Some(AccessAnalyzerRecord::default()), 0), &c),
            None,
            "no keys, no finding"
        );
        assert_eq!(
            status(&region(Some(AccessAnalyzerRecord::default()), 2), &c),
            Some(Status::Fail)
        );
        let active = AccessAnalyzerRecord {
            analyzers: vec![analyzer("ACCOUNT", "ACTIVE")],
            ..Default::default()
        };
        assert_eq!(status(&region(Some(active), 2), &c), Some(Status::Pass));
        let disabled = AccessAnalyzerRecord {
            analyzers: vec![analyzer("ACCOUNT", "DISABLED")],
            ..Default::default()
        };
        assert_eq!(status(&region(Some(disabled), 2), &c), Some(Status::Fail));
        let failed = AccessAnalyzerRecord {
            error: Some(Issue::new(
                "AccessAnalyzer.ListAnalyzers",
                "AccessDeniedException",
                "no",
            )),
            ..Default::default()
        };
        assert_eq!(
            status(&region(Some(failed), 2), &c),
            Some(Status::NotAssessed)
        );
        assert_eq!(status(&region(None, 2), &c), Some(Status::NotAssessed));
        let mut org = ctx(&config);
        org.analyzers.org_regions.insert("us-east-1".into());
        assert_eq!(status(&region(None, 2), &org), Some(Status::Pass));
    }
}
