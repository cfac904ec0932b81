//! IAM Access Analyzer as seen from one account × region.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Issue;

/// Access Analyzer as seen from one account × region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessAnalyzerRecord {
    /// External-access analyzers (account or organization) listed in this account × region.
    pub analyzers: Vec<Analyzer>,
    /// Active external-access findings on KMS keys, from every active analyzer listed above.
    pub findings: Vec<AnalyzerFinding>,
    /// ListAnalyzers / ListFindings failure: coverage then unknown.
    pub error: Option<Issue>,
}

/// One analyzer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Analyzer {
    /// The analyzer's ARN.
    pub arn: String,
    /// The analyzer's name.
    pub name: String,
    /// `ACCOUNT` or `ORGANIZATION` (external-access analyzers only).
    pub analyzer_type: String,
    /// `ACTIVE`, `CREATING`, `DISABLED`, `FAILED`.
    pub status: String,
}

/// One external-access finding of an analyzer on a KMS key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyzerFinding {
    /// The finding id.
    pub id: String,
    /// The analyzer that reported it.
    pub analyzer_arn: String,
    /// ARN of the key the finding is about.
    pub resource: String,
    /// The account that owns the key.
    pub resource_owner_account: String,
    /// `ACTIVE`, `ARCHIVED`, `RESOLVED`.
    pub status: String,
    /// e.g. `ExternalAccess`.
    pub finding_type: Option<String>,
    /// Whether the access is public, as the finding says.
    pub is_public: Option<bool>,
    /// Who has access (e.g. `AWS` → account), when details were read.
    pub principal: BTreeMap<String, String>,
    /// The policy conditions under which access exists, when details were read.
    pub condition: BTreeMap<String, String>,
    /// When the finding last changed.
    pub updated_at: Option<Timestamp>,
}
