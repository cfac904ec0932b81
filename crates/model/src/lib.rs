//! The vocabulary every kmsaudit crate shares: the [`Snapshot`] the scanner collects and the
//! [`Evaluation`] the evaluator derives from it.
//!
//! Plain serde data, nothing else: no SDK types, no I/O, no clock. The snapshot is the one
//! deliberate serialization boundary of the project; it carries [`SCHEMA_VERSION`] and a reader
//! must refuse a version it does not know. Every collection is ordered (sorted `Vec`s and
//! `BTreeMap`s) so that the same data always serializes to the same bytes. Times are typed
//! ([`jiff::Timestamp`], RFC 3339 in JSON): a snapshot whose times do not parse does not load.

#![deny(missing_docs)]

mod access_analyzer;
mod access_groups;
mod access_table;
mod effective;
mod evaluation;
mod finding;
mod findings_doc;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod iam;
mod key;
mod last_use;
mod monitoring;
mod remediation;
mod scope;
mod snapshot;
mod strict;
#[cfg(feature = "fixtures")]
pub mod synthetic;
#[cfg(feature = "fixtures")]
pub mod synthetic_iam;
mod text;

pub use access_analyzer::{AccessAnalyzerRecord, Analyzer, AnalyzerFinding};
pub use access_groups::{AccessGroup, AccessGroupView, AccessGroups};
pub use access_table::{AccessTable, AccessTableBuilder};
pub use effective::{AccessEntry, AccessEntryView, AccessRow, AccessVerdict, Capability, Interner};
pub use evaluation::{
    AccountCoverage, Evaluation, FindingCounts, OutcomeRef, QuietOutcomes, RegionCoverage,
    ScopeCounts, ScopeSummary,
};
pub use finding::{
    ControlInfo, Details, Evidence, Finding, FrameworkInfo, ResourceType, RuleInfo, Severity,
    Status,
};
pub use findings_doc::{
    json_schemas, DocOutcome, DocQuiet, DocResource, FindingGroup, FindingsDocument, KeyLastUse,
    FINDINGS_SCHEMA_VERSION,
};
pub use iam::{
    IamGroup, IamPrincipal, IamPrincipalKind, IamRecord, InlinePolicy, ManagedPolicy, OrgPolicies,
    OrgPolicy, OrgPolicyKind,
};
pub use key::{
    Grant, GrantConstraints, KeyMetadata, KeyRecord, MultiRegionConfiguration, RotationStatus, Tag,
};
pub use last_use::{Idle, KeyEvent, KeyEvents, LastUse, LastUseState};
pub use monitoring::{
    AdvancedSelector, Alarm, BasicSelector, EventRule, FieldSelector, LogGroupFilters,
    MetricFilter, MetricName, MonitoringRecord, RegionAlarms, RegionMonitoring, Topic, Trail,
    TrailSelectors,
};
pub use remediation::{KeyRemediation, RuleChange};
pub use scope::{ScanScope, Shard, TagSource};
pub use snapshot::{
    AccountAccess, AccountRecord, CallerIdentity, Coverage, Issue, Organization, RegionAccess,
    RegionRecord, RegionSource, ScanMetadata, Setting, SettingSource, Snapshot,
};

pub use text::{for_terminal, is_display_control};

/// The time type of the model: an instant in UTC, RFC 3339 in JSON.
pub use jiff::Timestamp;

/// Version of the snapshot layout. Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Whether `v` is an AWS account id: exactly 12 ASCII digits.
pub fn is_account_id(v: &str) -> bool {
    v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())
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
    fn account_ids_are_twelve_digits() {
        assert!(is_account_id("111122223333"));
        assert!(!is_account_id("11112222333"));
        assert!(!is_account_id("11112222333a"));
        assert!(!is_account_id("１１１１２２２２３３３３"));
    }
}
