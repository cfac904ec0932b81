//! What the evaluator concludes: findings with their evidence, and the rule catalog entries
//! that explain them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown severity `{s}` (expected critical, high, medium, low or info)")
            })
    }
}

/// The verdict of one rule on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Fail,
    /// The data the rule needs could not be read or understood. Never counts as a pass.
    NotAssessed,
    Pass,
    /// The rule does not apply to this resource (e.g. rotation on an asymmetric key).
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::NotApplicable => "NOT_APPLICABLE",
            Status::NotAssessed => "NOT_ASSESSED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Status::Pass,
            Status::Fail,
            Status::NotApplicable,
            Status::NotAssessed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown status `{s}`"))
    }
}

/// One rule's verdict on one resource (a key, an account, an account × region).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable across runs: `<rule id>:<resource>`.
    pub id: String,
    pub rule_id: String,
    pub severity: Severity,
    pub status: Status,
    /// Suppressed by an unexpired suppression or an allow-listed alias; still listed.
    pub muted: bool,
    pub mute_reason: Option<String>,
    pub account_id: String,
    /// Empty for account-wide findings.
    pub region: String,
    /// Key ARN, or `account/<id>`, or `account/<id>/region/<region>`.
    pub resource: String,
    /// First alias or key id, for people.
    pub resource_name: String,
    /// One human sentence: why this status.
    pub message: String,
    pub evidence: Evidence,
}

/// What decided a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Index of the key policy statement that decided it (0-based).
    pub statement_index: Option<usize>,
    pub sid: Option<String>,
    pub principal: Option<String>,
    pub actions: Vec<String>,
    /// The condition present (or the one missing), written out.
    pub condition: Option<String>,
    /// Anything else that decided the verdict (dates, counts, grant ids, error codes).
    pub details: BTreeMap<String, String>,
}

impl Evidence {
    pub fn detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
}

/// A rule catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub severity: Severity,
    pub title: String,
    pub rationale: String,
    pub remediation: String,
    /// Framework → control ids, e.g. `"CIS AWS Foundations v3.0" -> ["3.6"]`.
    pub compliance: BTreeMap<String, Vec<String>>,
}

/// Keys discovered vs assessed for one account × region: the reconciliation line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionCoverage {
    pub account_id: String,
    pub region: String,
    pub coverage: super::Coverage,
    pub keys_discovered: usize,
    pub keys_assessed: usize,
    pub keys_not_assessed: usize,
    /// Why the region was not read or skipped.
    pub reason: Option<String>,
}

/// One account's place in the scope table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCoverage {
    pub account_id: String,
    pub name: Option<String>,
    pub coverage: super::Coverage,
    pub reason: Option<String>,
    pub regions_scanned: usize,
    pub regions_skipped: usize,
    pub regions_not_assessed: usize,
    pub keys_discovered: usize,
    pub keys_assessed: usize,
    pub keys_not_assessed: usize,
}

/// The evaluator's whole answer for one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Sorted by (rule id, resource).
    pub findings: Vec<Finding>,
    pub rules: Vec<RuleInfo>,
    pub accounts: Vec<AccountCoverage>,
    pub regions: Vec<RegionCoverage>,
    /// Configuration problems worth a look: expired or unmatched suppressions.
    pub warnings: Vec<String>,
}

impl Evaluation {
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

    /// True when anything (account, region, key, rule input) could not be assessed.
    pub fn is_incomplete(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.status == Status::NotAssessed && !f.muted)
            || self.accounts.iter().any(|a| {
                a.coverage != super::Coverage::Assessed && a.coverage != super::Coverage::Skipped
            })
    }
}
