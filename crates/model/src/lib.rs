//! The vocabulary every kmsaudit crate shares: the [`Snapshot`] the scanner collects and the
//! [`Finding`]s the evaluator derives from it.
//!
//! Plain serde data, nothing else: no SDK types, no I/O, no clock. The snapshot is the one
//! deliberate serialization boundary of the project; it carries [`SCHEMA_VERSION`] and a reader
//! must refuse a version it does not know. Every collection is ordered (sorted `Vec`s and
//! `BTreeMap`s) so that the same data always serializes to the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod finding;
pub use finding::*;

/// Version of the snapshot layout. Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one scan read from AWS, and everything it could not read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema_version: u32,
    pub metadata: ScanMetadata,
    /// `None` when the scan ran without Organizations (e.g. `--accounts` from a member account).
    pub organization: Option<Organization>,
    /// Sorted by account id.
    pub accounts: Vec<AccountRecord>,
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanMetadata {
    pub tool_name: String,
    pub tool_version: String,
    pub caller: Option<CallerIdentity>,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC.
    pub finished_at: String,
    pub scope: ScanScope,
    /// Calls per operation, e.g. `"KMS.ListKeys" -> 120`, attempts included.
    pub api_calls: BTreeMap<String, u64>,
    /// Calls that ended in an error after retries, per operation.
    pub api_errors: BTreeMap<String, u64>,
}

impl ScanMetadata {
    pub fn total_api_calls(&self) -> u64 {
        self.api_calls.values().sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallerIdentity {
    pub arn: String,
    pub account_id: String,
    pub user_id: String,
}

/// What the user asked the scan to cover.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanScope {
    pub role_name: String,
    pub external_id_used: bool,
    pub partition: String,
    /// `None`: every region enabled for each account.
    pub regions: Option<Vec<String>>,
    pub accounts: Vec<String>,
    pub exclude_accounts: Vec<String>,
    /// Whether IAM Access Analyzer was queried (AA-* rules run only then).
    pub access_analyzer: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub arn: String,
    pub management_account_id: String,
    pub feature_set: Option<String>,
}

/// A failure to read something from AWS, recorded on the item it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Issue {
    /// The operation that failed, e.g. `KMS.GetKeyPolicy`, `STS.AssumeRole`.
    pub operation: String,
    /// The AWS error code (`AccessDeniedException`, `ThrottlingException`, ...) or a kmsaudit
    /// code for failures that never reached AWS (`Timeout`, `DispatchFailure`, ...).
    pub code: String,
    pub message: String,
}

impl Issue {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The Organizations status (`ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`), if known.
    pub org_status: Option<String>,
    pub access: AccountAccess,
    /// Sorted by region name.
    pub regions: Vec<RegionRecord>,
}

/// Whether the scanner got into the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountAccess {
    /// Credentials were obtained (`via` is `caller` or the assumed role ARN).
    Scanned { via: String },
    /// Credentials could not be obtained, or the region list could not be built.
    NotAssessed { issue: Issue },
    /// Deliberately not scanned (suspended, excluded).
    Skipped { reason: String },
}

/// How completely an account, region or key was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Coverage {
    Assessed,
    Partial,
    NotAssessed,
    Skipped,
}

impl Coverage {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionRecord {
    pub region: String,
    pub access: RegionAccess,
    /// Failure of the region-wide ListAliases call; keys then carry no aliases.
    pub aliases_error: Option<Issue>,
    /// Sorted by ARN.
    pub keys: Vec<KeyRecord>,
    /// `None` when Access Analyzer was not queried (e.g. the region could not be read).
    pub access_analyzer: Option<AccessAnalyzerRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegionAccess {
    /// ListKeys answered (all pages).
    Scanned,
    /// The region is not enabled for the account (opt-in region): out of scope, not an error.
    Skipped { reason: String },
    /// ListKeys failed: the keys of this region are unknown.
    NotAssessed { issue: Issue },
}

impl RegionRecord {
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

/// One KMS key and everything read about it. A field is `None` when its call was not made
/// (not applicable to this key) or failed; failures are in `errors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub arn: String,
    pub key_id: String,
    pub metadata: Option<KeyMetadata>,
    /// The raw `default` key policy text, exactly as GetKeyPolicy returned it.
    pub policy: Option<String>,
    pub rotation: Option<RotationStatus>,
    pub grants: Option<Vec<Grant>>,
    /// Alias names (`alias/...`) that target this key, sorted.
    pub aliases: Vec<String>,
    /// Sorted by tag key. `None` when not read.
    pub tags: Option<Vec<Tag>>,
    /// One entry per failed call, sorted by operation.
    pub errors: Vec<Issue>,
}

impl KeyRecord {
    fn normalize(&mut self) {
        self.aliases.sort();
        if let Some(tags) = &mut self.tags {
            tags.sort();
        }
        if let Some(grants) = &mut self.grants {
            grants.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
            for g in grants {
                g.operations.sort();
            }
        }
        self.errors.sort();
    }

    /// The failure of `operation` (e.g. `KMS.GetKeyPolicy`), if it failed.
    pub fn error_for(&self, operation: &str) -> Option<&Issue> {
        self.errors.iter().find(|e| e.operation == operation)
    }

    pub fn is_customer_managed(&self) -> bool {
        self.metadata
            .as_ref()
            .is_some_and(|m| m.key_manager == "CUSTOMER")
    }

    /// `key=value` pairs joined by `sep`, or `None` when the tags were not read.
    pub fn tags_text(&self, sep: &str) -> Option<String> {
        self.tags.as_ref().map(|t| {
            t.iter()
                .map(|t| format!("{}={}", t.key, t.value))
                .collect::<Vec<_>>()
                .join(sep)
        })
    }

    /// The first alias, or the key id: a short name for people.
    pub fn display_name(&self) -> &str {
        self.aliases
            .first()
            .map(String::as_str)
            .unwrap_or(&self.key_id)
    }
}

/// The subset of DescribeKey's `KeyMetadata` the rules use, with AWS's own field meanings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyMetadata {
    pub key_id: String,
    pub arn: String,
    pub aws_account_id: String,
    pub description: String,
    pub creation_date: Option<String>,
    pub enabled: bool,
    /// `Enabled`, `Disabled`, `PendingDeletion`, `PendingReplicaDeletion`, `PendingImport`, ...
    pub key_state: String,
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`, `KEY_AGREEMENT`.
    pub key_usage: String,
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, `HMAC_256`, ...
    pub key_spec: String,
    /// `CUSTOMER` or `AWS`.
    pub key_manager: String,
    /// `AWS_KMS`, `EXTERNAL`, `AWS_CLOUDHSM`, `EXTERNAL_KEY_STORE`.
    pub origin: String,
    pub custom_key_store_id: Option<String>,
    /// RFC 3339; set while the key is pending deletion.
    pub deletion_date: Option<String>,
    pub pending_deletion_window_in_days: Option<i32>,
    /// RFC 3339; when imported key material expires.
    pub valid_to: Option<String>,
    pub expiration_model: Option<String>,
    pub multi_region: Option<bool>,
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
}

impl KeyMetadata {
    /// Whether automatic rotation can exist for this key at all: symmetric encryption keys with
    /// key material generated by KMS in the default key store.
    pub fn rotation_applies(&self) -> bool {
        self.key_spec == "SYMMETRIC_DEFAULT"
            && self.key_usage == "ENCRYPT_DECRYPT"
            && self.origin == "AWS_KMS"
            && self.custom_key_store_id.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiRegionConfiguration {
    /// `PRIMARY` or `REPLICA`.
    pub key_type: String,
    pub primary_region: Option<String>,
    /// Sorted.
    pub replica_regions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RotationStatus {
    pub enabled: bool,
    pub period_days: Option<i32>,
    /// RFC 3339.
    pub next_rotation_date: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub grant_id: String,
    pub name: Option<String>,
    pub grantee_principal: Option<String>,
    pub retiring_principal: Option<String>,
    pub issuing_account: Option<String>,
    /// Sorted, e.g. `Decrypt`, `Encrypt`, `CreateGrant`.
    pub operations: Vec<String>,
    pub constraints: Option<GrantConstraints>,
    pub creation_date: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantConstraints {
    pub encryption_context_subset: BTreeMap<String, String>,
    pub encryption_context_equals: BTreeMap<String, String>,
}

impl GrantConstraints {
    pub fn is_empty(&self) -> bool {
        self.encryption_context_subset.is_empty() && self.encryption_context_equals.is_empty()
    }
}

/// Access Analyzer as seen from one account × region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessAnalyzerRecord {
    pub analyzers: Vec<Analyzer>,
    /// Active external-access findings on KMS keys, from every active analyzer listed above.
    pub findings: Vec<AnalyzerFinding>,
    /// ListAnalyzers / ListFindingsV2 failure: coverage then unknown.
    pub error: Option<Issue>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analyzer {
    pub arn: String,
    pub name: String,
    /// `ACCOUNT` or `ORGANIZATION` (external-access analyzers only).
    pub analyzer_type: String,
    /// `ACTIVE`, `CREATING`, `DISABLED`, `FAILED`.
    pub status: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyzerFinding {
    pub id: String,
    pub analyzer_arn: String,
    /// ARN of the key the finding is about.
    pub resource: String,
    pub resource_owner_account: String,
    pub status: String,
    pub finding_type: Option<String>,
    /// Principal and public-ness when GetFindingV2 details were read.
    pub is_public: Option<bool>,
    pub principal: BTreeMap<String, String>,
    pub condition: BTreeMap<String, String>,
    pub updated_at: Option<String>,
}

/// Parses the 12-digit account id out of an ARN (`arn:aws:kms:us-east-1:111122223333:key/..`).
pub fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    let _service = parts.next()?;
    let _region = parts.next()?;
    let account = parts.next()?;
    parts.next()?;
    (!account.is_empty()).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_account_reads_the_fifth_field() {
        assert_eq!(
            arn_account("arn:aws:kms:us-east-1:111122223333:key/abc"),
            Some("111122223333")
        );
        assert_eq!(
            arn_account("arn:aws:iam::444455556666:role/a:b"),
            Some("444455556666")
        );
        assert_eq!(arn_account("arn:aws:s3:::bucket"), None);
        assert_eq!(arn_account("not-an-arn"), None);
        assert_eq!(arn_account("arn:aws:iam"), None);
    }

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
    fn rotation_applies_only_to_symmetric_kms_generated_keys() {
        let mut m = KeyMetadata {
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            origin: "AWS_KMS".into(),
            ..Default::default()
        };
        assert!(m.rotation_applies());
        m.origin = "EXTERNAL".into();
        assert!(!m.rotation_applies());
        m.origin = "AWS_KMS".into();
        m.key_spec = "RSA_2048".into();
        assert!(!m.rotation_applies());
        m.key_spec = "SYMMETRIC_DEFAULT".into();
        m.custom_key_store_id = Some("cks-1".into());
        assert!(!m.rotation_applies());
    }
}
