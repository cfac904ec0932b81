//! The snapshot: everything one scan read from AWS, and everything it could not read.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AccessAnalyzerRecord, KeyRecord, ScanScope};

/// Everything one scan read from AWS, and everything it could not read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    /// [`crate::SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Who scanned, when, over what.
    pub metadata: ScanMetadata,
    /// `None` when the scan ran without Organizations (e.g. `--accounts` from a member account).
    pub organization: Option<Organization>,
    /// Sorted by account id.
    pub accounts: Vec<AccountRecord>,
    /// The AWS managed policies attached anywhere in the scanned accounts, read once per scan,
    /// sorted by ARN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aws_managed_policies: Vec<crate::ManagedPolicy>,
}

impl Snapshot {
    /// Sorts accounts, regions, keys and everything below them, so that output is deterministic
    /// whatever order the scanner finished in.
    pub fn normalize(&mut self) {
        self.accounts.sort_by(|a, b| a.id.cmp(&b.id));
        for account in &mut self.accounts {
            account.regions.sort_by(|a, b| a.region.cmp(&b.region));
            for region in &mut account.regions {
                region.keys.sort_by(|a, b| a.arn.cmp(&b.arn));
                region.keys.shrink_to_fit();
                for key in &mut region.keys {
                    key.normalize();
                }
                if let Some(aa) = &mut region.access_analyzer {
                    aa.analyzers.sort_by(|a, b| a.arn.cmp(&b.arn));
                    aa.findings
                        .sort_by(|a, b| (&a.resource, &a.id).cmp(&(&b.resource, &b.id)));
                }
            }
        }
        self.share_policies();
    }

    /// One allocation per distinct policy text: organizations repeat a few policies thousands
    /// of times.
    fn share_policies(&mut self) {
        let mut seen: std::collections::HashSet<std::sync::Arc<str>> = Default::default();
        for account in &mut self.accounts {
            for region in &mut account.regions {
                for key in &mut region.keys {
                    if let Some(policy) = &mut key.policy {
                        match seen.get(&**policy) {
                            Some(shared) => *policy = shared.clone(),
                            None => {
                                seen.insert(policy.clone());
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every key of the snapshot with the account and region it belongs to.
    pub fn keys(&self) -> impl Iterator<Item = (&AccountRecord, &RegionRecord, &KeyRecord)> {
        self.accounts.iter().flat_map(|a| {
            a.regions
                .iter()
                .flat_map(move |r| r.keys.iter().map(move |k| (a, r, k)))
        })
    }
}

/// Who ran the scan, when, over what, and how many AWS calls it took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScanMetadata {
    /// `kmsaudit`.
    pub tool_name: String,
    /// Version of the tool that scanned.
    pub tool_version: String,
    /// The identity the scan ran as.
    pub caller: Option<CallerIdentity>,
    /// When the scan started: the evaluation's "now".
    pub started_at: Timestamp,
    /// When the scan ended.
    pub finished_at: Timestamp,
    /// What the scan was asked to cover.
    pub scope: ScanScope,
    /// Calls per operation, e.g. `"KMS.ListKeys" -> 120`, attempts included.
    #[serde(deserialize_with = "crate::strict::unique_map")]
    pub api_calls: BTreeMap<String, u64>,
    /// Calls that ended in an error after retries, per operation.
    #[serde(deserialize_with = "crate::strict::unique_map")]
    pub api_errors: BTreeMap<String, u64>,
    /// The settings the scan ran with, by name (`concurrency`, `regions`, ...), and where each
    /// came from. Empty in snapshots older than this field.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::strict::unique_map"
    )]
    pub settings: BTreeMap<String, Setting>,
}

/// One effective setting of a scan: its value (a list joined with commas; a secret's value is
/// never recorded, only that it was given) and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Setting {
    /// The value as given (`(given)` for a secret such as the ExternalId).
    pub value: String,
    /// Where it came from.
    pub source: SettingSource,
}

/// Where a setting came from, in the order they win: a flag over the environment over the
/// config file's `[scan]` table over the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SettingSource {
    /// A command-line flag.
    Flag,
    /// A `KMSAUDIT_*` (or `AWS_*`) environment variable.
    Env,
    /// The config file's `[scan]` table.
    Config,
    /// kmsaudit's default.
    Default,
}

impl ScanMetadata {
    /// Every AWS call attempt of the scan.
    pub fn total_api_calls(&self) -> u64 {
        // Saturating: counts read from a file cannot wrap into a small number.
        self.api_calls
            .values()
            .fold(0u64, |sum, n| sum.saturating_add(*n))
    }
}

/// STS GetCallerIdentity of the scanning principal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallerIdentity {
    /// The caller's ARN.
    pub arn: String,
    /// The caller's account.
    pub account_id: String,
    /// The caller's unique id (`AIDA...`, `AROA...:session`).
    pub user_id: String,
}

/// DescribeOrganization's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Organization {
    /// `o-...`.
    pub id: String,
    /// The organization's ARN.
    pub arn: String,
    /// The management account.
    pub management_account_id: String,
    /// `ALL` or `CONSOLIDATED_BILLING`.
    pub feature_set: Option<String>,
    /// The delegated administrators for IAM Access Analyzer (ListDelegatedAdministrators),
    /// sorted; `None` when they could not be listed. With the management account, the only
    /// accounts that can hold an organization analyzer.
    #[serde(default)]
    pub access_analyzer_admins: Option<Vec<String>>,
    /// The tree and its SCPs and RCPs, when the scan read them (`None`: not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<crate::OrgPolicies>,
}

impl Organization {
    /// The accounts that can hold an organization analyzer, when that is known.
    pub fn analyzer_homes(&self) -> Option<Vec<&str>> {
        let admins = self.access_analyzer_admins.as_ref()?;
        let mut homes: Vec<&str> = admins.iter().map(String::as_str).collect();
        homes.push(&self.management_account_id);
        Some(homes)
    }
}

/// A failure to read something from AWS, recorded on the item it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Issue {
    /// The operation that failed, e.g. `KMS.GetKeyPolicy`, `STS.AssumeRole`.
    pub operation: String,
    /// The AWS error code (`AccessDeniedException`, `ThrottlingException`, ...) or a kmsaudit
    /// code for failures that never reached AWS (`Timeout`, `DispatchFailure`, ...).
    pub code: String,
    /// The error message, stripped of control characters.
    pub message: String,
}

impl Issue {
    /// An issue of `operation` with an error code and message.
    pub fn new(
        operation: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Issue {
            operation: operation.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.operation, self.code, self.message)
    }
}

/// One account of the organization, as listed by Organizations (or named with `--accounts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountRecord {
    /// The 12-digit account id.
    pub id: String,
    /// The account's name in Organizations.
    pub name: Option<String>,
    /// The account's root email in Organizations.
    pub email: Option<String>,
    /// The Organizations status (`ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`), if known.
    pub org_status: Option<String>,
    /// Whether the scanner got in.
    pub access: AccountAccess,
    /// Where the list of regions to scan came from, when the scan plan named none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions_from: Option<RegionSource>,
    /// Sorted by region name.
    pub regions: Vec<RegionRecord>,
    /// The account's IAM, when the scan read it (`None`: not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<crate::IamRecord>,
    /// The monitoring of its keys, when the scan read it (`None`: not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<crate::MonitoringRecord>,
}

/// Where an account's list of regions came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "source", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegionSource {
    /// The Account Management API's ListRegions, asked by the caller for this account: every
    /// region the account has enabled is scanned (also one opened after this release), and the
    /// others are recorded SKIPPED with their opt-in status, at no call.
    ListRegions,
    /// ListRegions did not answer: kmsaudit's built-in list of the partition's regions, each
    /// probed with ListKeys (a region AWS opened after this release is not in it).
    BuiltIn {
        /// Why ListRegions did not answer.
        reason: String,
        /// How many regions the built-in list holds.
        regions: usize,
    },
}

/// Whether the scanner got into the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountAccess {
    /// Credentials were obtained.
    Scanned {
        /// `caller credentials` or the assumed role ARN.
        via: String,
    },
    /// Credentials could not be obtained, or the region list could not be built.
    NotAssessed {
        /// Why.
        issue: Issue,
    },
    /// Deliberately not scanned (suspended, excluded).
    Skipped {
        /// Why.
        reason: String,
    },
}

/// How completely an account, region or key was read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Coverage {
    /// Read in full.
    Assessed,
    /// Read, but something inside could not be.
    Partial,
    /// Could not be read.
    NotAssessed,
    /// Deliberately not read (out of scope).
    Skipped,
}

impl Coverage {
    /// `ASSESSED`, `PARTIAL`, `NOT_ASSESSED`, `SKIPPED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Assessed => "ASSESSED",
            Coverage::Partial => "PARTIAL",
            Coverage::NotAssessed => "NOT_ASSESSED",
            Coverage::Skipped => "SKIPPED",
        }
    }
}

impl AccountRecord {
    /// ASSESSED when every region and key was read in full, PARTIAL when something inside the
    /// account could not be read, NOT_ASSESSED / SKIPPED when the account itself was not read.
    pub fn coverage(&self) -> Coverage {
        match &self.access {
            AccountAccess::NotAssessed { .. } => Coverage::NotAssessed,
            AccountAccess::Skipped { .. } => Coverage::Skipped,
            AccountAccess::Scanned { .. } => {
                if self
                    .regions
                    .iter()
                    .all(|r| matches!(r.coverage(), Coverage::Assessed | Coverage::Skipped))
                {
                    Coverage::Assessed
                } else {
                    Coverage::Partial
                }
            }
        }
    }
}

/// One account × region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RegionRecord {
    /// e.g. `eu-west-1`.
    pub region: String,
    /// Whether ListKeys answered.
    pub access: RegionAccess,
    /// Failure of the region-wide ListAliases call; keys then carry no aliases.
    pub aliases_error: Option<Issue>,
    /// Sorted by ARN.
    pub keys: Vec<KeyRecord>,
    /// `None` when Access Analyzer was not queried (e.g. the region could not be read).
    pub access_analyzer: Option<AccessAnalyzerRecord>,
}

/// Whether the scanner could read an account × region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegionAccess {
    /// ListKeys answered (all pages).
    Scanned,
    /// The region is not enabled for the account (opt-in region): out of scope, not an error.
    Skipped {
        /// Why.
        reason: String,
    },
    /// ListKeys failed: the keys of this region are unknown.
    NotAssessed {
        /// Why.
        issue: Issue,
    },
}

impl RegionRecord {
    /// ASSESSED when the region and all its keys were read in full.
    pub fn coverage(&self) -> Coverage {
        match &self.access {
            RegionAccess::Skipped { .. } => Coverage::Skipped,
            RegionAccess::NotAssessed { .. } => Coverage::NotAssessed,
            RegionAccess::Scanned => {
                if self.aliases_error.is_none() && self.keys.iter().all(|k| k.errors.is_empty()) {
                    Coverage::Assessed
                } else {
                    Coverage::Partial
                }
            }
        }
    }

    /// Keys listed by ListKeys.
    pub fn keys_discovered(&self) -> usize {
        self.keys.len()
    }

    /// Keys every collection call succeeded for.
    pub fn keys_assessed(&self) -> usize {
        self.keys.iter().filter(|k| k.errors.is_empty()).count()
    }

    /// Keys with at least one failed collection call.
    pub fn keys_not_assessed(&self) -> usize {
        self.keys.len() - self.keys_assessed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_coverage_counts_add_up() {
        let key_ok = KeyRecord {
            arn: "a".into(),
            ..Default::default()
        };
        let key_bad = KeyRecord {
            arn: "b".into(),
            errors: vec![Issue::new(
                "KMS.GetKeyPolicy",
                "AccessDeniedException",
                "no",
            )],
            ..Default::default()
        };
        let region = RegionRecord {
            region: "us-east-1".into(),
            access: RegionAccess::Scanned,
            aliases_error: None,
            keys: vec![key_ok, key_bad],
            access_analyzer: None,
        };
        assert_eq!(region.keys_discovered(), 2);
        assert_eq!(region.keys_assessed(), 1);
        assert_eq!(region.keys_not_assessed(), 1);
        assert_eq!(region.coverage(), Coverage::Partial);
    }

    #[test]
    fn times_are_typed_and_an_unreadable_time_does_not_load() {
        let meta = ScanMetadata {
            started_at: "2026-11-23T10:00:00Z".parse().unwrap(),
            ..Default::default()
        };
        let mut json = serde_json::to_value(&meta).unwrap();
        assert_eq!(json["started_at"], "2026-11-23T10:00:00Z");
        json["started_at"] = "yesterday".into();
        assert!(serde_json::from_value::<ScanMetadata>(json).is_err());
    }
}
