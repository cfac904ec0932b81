//! What the evaluator concludes on one resource: findings with their evidence, and the rule
//! catalog entries that explain them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How much a failing finding matters, ordered from `Info` to `Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Hygiene.
    Low,
    /// A weakness.
    Medium,
    /// Exposure or loss of control.
    High,
    /// Exposure to anyone.
    Critical,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// `critical`, `high`, `medium`, `low`, `info`.
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The resource breaks the rule.
    Fail,
    /// The data the rule needs could not be read or understood. Never counts as a pass.
    NotAssessed,
    /// The resource meets the rule.
    Pass,
    /// The rule does not apply to this resource (e.g. rotation on an asymmetric key).
    NotApplicable,
}

impl Status {
    /// `PASS`, `FAIL`, `NOT_APPLICABLE`, `NOT_ASSESSED`.
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
///
/// A large audit holds hundreds of thousands of these, so the texts a finding shares with
/// others (its resource's names, a policy verdict's message and evidence shared by every key
/// with that policy) are shared, not copied. A finding is identified by (`rule_id`, `resource`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// The rule that decided it.
    pub rule_id: Arc<str>,
    /// The rule's severity, or a higher one for a worse case.
    pub severity: Severity,
    /// The verdict.
    pub status: Status,
    /// Suppressed by an unexpired suppression or an allow-listed alias; still listed.
    pub muted: bool,
    /// Why it is muted.
    pub mute_reason: Option<String>,
    /// The account the resource belongs to.
    pub account_id: Arc<str>,
    /// Empty for account-wide findings.
    pub region: Arc<str>,
    /// What kind of resource `resource` names.
    pub resource_type: ResourceType,
    /// Key ARN, or `account/<id>`, or `account/<id>/region/<region>`.
    pub resource: Arc<str>,
    /// First alias or key id, for people.
    pub resource_name: Arc<str>,
    /// One human sentence: why this status.
    pub message: Arc<str>,
    /// What decided the verdict.
    pub evidence: Arc<Evidence>,
}

impl Finding {
    /// Whether a person needs to look at it: a FAIL, a NOT_ASSESSED, or anything muted.
    pub fn needs_attention(&self) -> bool {
        self.muted || matches!(self.status, Status::Fail | Status::NotAssessed)
    }
}

/// The kind of resource a finding is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum ResourceType {
    /// A KMS key (`resource` is its ARN).
    #[serde(rename = "AWS::KMS::Key")]
    Key,
    /// An account (`account/<id>`).
    #[serde(rename = "AWS::Account")]
    Account,
    /// An account × region (`account/<id>/region/<region>`).
    #[serde(rename = "AWS::Account::Region")]
    AccountRegion,
    /// An IAM identity policy where it is used: a managed policy's ARN (`ARN#ACCOUNT` for an
    /// AWS managed policy, reviewed in each account that attaches it), `OWNER-ARN#NAME` for an
    /// inline policy of a user, role or group.
    #[serde(rename = "AWS::IAM::Policy")]
    IamPolicy,
}

impl ResourceType {
    /// `AWS::KMS::Key`, `AWS::Account`, `AWS::Account::Region`, `AWS::IAM::Policy`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Key => "AWS::KMS::Key",
            ResourceType::Account => "AWS::Account",
            ResourceType::AccountRegion => "AWS::Account::Region",
            ResourceType::IamPolicy => "AWS::IAM::Policy",
        }
    }
}

/// What decided a finding.
///
/// In JSON, a field that is absent or empty is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// Index of the key policy statement that decided it (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_index: Option<usize>,
    /// That statement's Sid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The principal concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The actions concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The condition present (or the one missing), written out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Anything else that decided the verdict (dates, counts, grant ids, error codes).
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub details: Details,
}

impl Evidence {
    /// Adds a named detail.
    pub fn detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key, value);
        self
    }
}

/// Named details of a finding's evidence, sorted by name: a map in JSON. Held as a sorted
/// list, not a `BTreeMap`, whose smallest node costs half a kilobyte: an audit holds one of
/// these per finding, and most hold one or two entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Details(Vec<(String, String)>);

impl Details {
    /// Sets `key` to `value`, in name order.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            Ok(i) => self.0[i].1 = value.into(),
            Err(i) => self.0.insert(i, (key.to_string(), value.into())),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// No detail at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (name, value) pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Serialize for Details {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(Details(map.into_iter().collect()))
    }
}

/// A rule catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuleInfo {
    /// e.g. `KMS-POLICY-PUBLIC`.
    pub id: String,
    /// Default severity of a FAIL.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// Why the rule matters.
    pub rationale: String,
    /// How to fix a FAIL.
    pub remediation: String,
    /// Framework → control ids, e.g. `"CIS AWS Foundations v3.0" -> ["3.6"]`.
    pub compliance: BTreeMap<String, Vec<String>>,
}

/// A compliance framework, with the controls the catalog maps some rule to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FrameworkInfo {
    /// Its key in the mapping file and for `--frameworks`, e.g. `cis6`.
    pub key: String,
    /// As [`RuleInfo::compliance`] names it, e.g. `CIS AWS Foundations v6.0`.
    pub name: String,
    /// The controls, in the mapping file's order.
    pub controls: Vec<ControlInfo>,
}

/// One control of a framework.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ControlInfo {
    /// e.g. `4.6`, `KMS.4`, `CC6.1`.
    pub id: String,
    /// The control's title, as its framework words it.
    pub title: String,
    /// Where the id, the title and the mapping were taken from.
    pub sources: Vec<String>,
}

impl RuleInfo {
    /// One `Framework: id, id` entry per mapped framework.
    pub fn compliance_refs(&self) -> Vec<String> {
        self.compliance
            .iter()
            .map(|(framework, ids)| format!("{framework}: {}", ids.join(", ")))
            .collect()
    }

    /// One `Framework id` entry per mapped control, as compliance.csv names the control by
    /// its two columns: what OCSF and ASFF findings carry as requirements.
    pub fn control_refs(&self) -> Vec<String> {
        self.compliance
            .iter()
            .flat_map(|(framework, ids)| ids.iter().map(move |id| format!("{framework} {id}")))
            .collect()
    }
}
