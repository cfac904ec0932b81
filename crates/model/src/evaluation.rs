//! The evaluator's whole answer for one snapshot: findings, the catalog, and the scope.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Coverage, Finding, ResourceType, RuleInfo, Severity, Status};

/// Keys discovered vs assessed for one account × region: the reconciliation line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegionCoverage {
    /// The account.
    pub account_id: String,
    /// The region.
    pub region: String,
    /// How completely it was read.
    pub coverage: Coverage,
    /// Keys listed by ListKeys.
    pub keys_discovered: usize,
    /// Keys read in full.
    pub keys_assessed: usize,
    /// Keys with a failed call.
    pub keys_not_assessed: usize,
    /// Why the region was not read or skipped.
    pub reason: Option<String>,
}

/// One account's place in the scope table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountCoverage {
    /// The account.
    pub account_id: String,
    /// Its name in Organizations.
    pub name: Option<String>,
    /// How completely it was read.
    pub coverage: Coverage,
    /// Why it was not read in full or skipped.
    pub reason: Option<String>,
    /// Its account × regions and keys.
    #[serde(flatten)]
    pub counts: ScopeCounts,
}

/// Account × regions and keys by how completely they were read (one account's, or the scan's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScopeCounts {
    /// Account × regions whose keys were listed (read in full or in part).
    pub regions_scanned: usize,
    /// Account × regions out of scope (not enabled).
    pub regions_skipped: usize,
    /// Account × regions that could not be read.
    pub regions_not_assessed: usize,
    /// Keys listed by ListKeys.
    pub keys_discovered: usize,
    /// Keys read in full.
    pub keys_assessed: usize,
    /// Keys with a failed call.
    pub keys_not_assessed: usize,
}

impl std::ops::Add for ScopeCounts {
    type Output = ScopeCounts;
    fn add(self, o: ScopeCounts) -> ScopeCounts {
        ScopeCounts {
            regions_scanned: self.regions_scanned + o.regions_scanned,
            regions_skipped: self.regions_skipped + o.regions_skipped,
            regions_not_assessed: self.regions_not_assessed + o.regions_not_assessed,
            keys_discovered: self.keys_discovered + o.keys_discovered,
            keys_assessed: self.keys_assessed + o.keys_assessed,
            keys_not_assessed: self.keys_not_assessed + o.keys_not_assessed,
        }
    }
}

/// The scope of the whole scan, counted once by the evaluator: what every output displays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScopeSummary {
    /// Accounts listed (scanned, partial, not assessed or skipped).
    pub accounts: usize,
    /// Accounts read in full.
    pub accounts_assessed: usize,
    /// Accounts read with gaps.
    pub accounts_partial: usize,
    /// Accounts that could not be entered.
    pub accounts_not_assessed: usize,
    /// Accounts left out (suspended, excluded).
    pub accounts_skipped: usize,
    /// Account × regions and keys, summed over the accounts.
    #[serde(flatten)]
    pub counts: ScopeCounts,
    /// Keys that are customer managed, or whose manager is unknown (the keys the rules judge).
    pub keys_judged: usize,
    /// Nothing was left unknown: every account and rule input was read.
    pub complete: bool,
}

/// The evaluator's whole answer for one snapshot.
///
/// Outcomes are held in two forms so that memory grows with what needs attention: findings
/// that need it (FAIL, NOT_ASSESSED, muted) whole, with message and evidence; every other
/// outcome (PASS, NOT_APPLICABLE) as a rule index per resource in `quiet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evaluation {
    /// Findings that need attention, sorted by (rule id, resource).
    pub findings: Vec<Finding>,
    /// Every other outcome, per resource, sorted by resource.
    pub quiet: Vec<QuietOutcomes>,
    /// The rule catalog, in catalog order.
    pub rules: Vec<RuleInfo>,
    /// The frameworks the catalog maps rules to, each with its mapped controls.
    #[serde(default)]
    pub frameworks: Vec<crate::FrameworkInfo>,
    /// Checked key policy fixes, one per key whose policy fails a policy rule and for which
    /// some edit passed the checks; sorted by key ARN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediations: Vec<crate::KeyRemediation>,
    /// The scope, counted once.
    pub scope: ScopeSummary,
    /// One row per account.
    pub accounts: Vec<AccountCoverage>,
    /// One row per account × region.
    pub regions: Vec<RegionCoverage>,
    /// Configuration problems worth a look: expired or unmatched suppressions.
    pub warnings: Vec<String>,
    /// Who can use or administer each key (allowed, conditional or not assessed), sorted by
    /// key, principal and capability; `None` when the snapshot holds no IAM data (the scan did
    /// not read it), so effective access was not computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<crate::AccessRow>>")]
    pub access: Option<crate::AccessTable>,
}

/// The outcomes of one resource that need no attention: indices into [`Evaluation::rules`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuietOutcomes {
    /// Key ARN, or `account/<id>`, or `account/<id>/region/<region>`.
    pub resource: Arc<str>,
    /// What kind of resource `resource` names.
    pub resource_type: ResourceType,
    /// The account the resource belongs to.
    pub account_id: Arc<str>,
    /// Empty for account-wide resources.
    pub region: Arc<str>,
    /// First alias or key id, for people.
    pub resource_name: Arc<str>,
    /// Rules that passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass: Vec<u16>,
    /// Rules that do not apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applicable: Vec<u16>,
}

/// One outcome of an evaluation, whole or compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutcomeRef<'a> {
    /// The rule.
    pub rule_id: &'a str,
    /// The resource.
    pub resource: &'a str,
    /// What kind of resource it is.
    pub resource_type: ResourceType,
    /// The verdict.
    pub status: Status,
    /// Muted (only findings needing attention are).
    pub muted: bool,
}

impl Evaluation {
    /// Every outcome: the findings needing attention, then the quiet ones.
    pub fn outcomes(&self) -> impl Iterator<Item = OutcomeRef<'_>> + '_ {
        let whole = self.findings.iter().map(|f| OutcomeRef {
            rule_id: &f.rule_id,
            resource: &f.resource,
            resource_type: f.resource_type,
            status: f.status,
            muted: f.muted,
        });
        let quiet = self.quiet.iter().flat_map(move |q| {
            let pass = q.pass.iter().map(|&i| (i, Status::Pass));
            let na = q.not_applicable.iter().map(|&i| (i, Status::NotApplicable));
            pass.chain(na).map(move |(i, status)| OutcomeRef {
                rule_id: &self.rules[usize::from(i)].id,
                resource: &q.resource,
                resource_type: q.resource_type,
                status,
                muted: false,
            })
        });
        whole.chain(quiet)
    }

    /// Counts of unmuted failing findings per severity.
    pub fn failing_by_severity(&self) -> BTreeMap<Severity, usize> {
        let mut out = BTreeMap::new();
        for f in self
            .findings
            .iter()
            .filter(|f| f.status == Status::Fail && !f.muted)
        {
            *out.entry(f.severity).or_insert(0) += 1;
        }
        out
    }

    /// Counts of findings per status (unmuted) and of muted findings.
    pub fn counts(&self) -> FindingCounts {
        let mut counts = FindingCounts::default();
        for f in self.outcomes() {
            if f.muted {
                counts.muted += 1;
                continue;
            }
            *match f.status {
                Status::Fail => &mut counts.fail,
                Status::NotAssessed => &mut counts.not_assessed,
                Status::Pass => &mut counts.pass,
                Status::NotApplicable => &mut counts.not_applicable,
            } += 1;
        }
        counts
    }

    /// True when anything (account, region, key, rule input) could not be assessed.
    pub fn is_incomplete(&self) -> bool {
        !self.scope.complete
    }
}

/// How many findings have each status; muted findings are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FindingCounts {
    /// Unmuted FAIL.
    pub fail: usize,
    /// Unmuted NOT_ASSESSED.
    pub not_assessed: usize,
    /// Unmuted PASS.
    pub pass: usize,
    /// Unmuted NOT_APPLICABLE.
    pub not_applicable: usize,
    /// Muted findings of any status.
    pub muted: usize,
}
