//! findings.json: every outcome of an evaluation, compact and documented. Its JSON Schema,
//! generated from these types, is `schemas/findings.schema.json`.
//!
//! Each resource is listed once in `resources`, each rule once in `rules`; outcomes refer to
//! them by index. Findings that need attention (FAIL, NOT_ASSESSED, muted) are grouped by
//! identical verdict (rule, status, severity, muting, message and evidence), each group naming
//! the resources it holds for: the default key policy of an account gives one group, not one
//! finding per key. Every other outcome (PASS, NOT_APPLICABLE) is a rule index per resource.

use std::borrow::Cow;
use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    arn_account, AccessGroups, AccessRow, AccountCoverage, Evaluation, Evidence, Finding, LastUse,
    RegionCoverage, ResourceType, RuleInfo, ScopeSummary, Severity, Snapshot, Status, Timestamp,
};

/// Version of the findings.json layout. Bump on any incompatible change.
pub const FINDINGS_SCHEMA_VERSION: u32 = 2;

/// The whole of findings.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "kmsaudit findings.json")]
pub struct FindingsDocument<'a> {
    /// [`FINDINGS_SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The kmsaudit version that scanned.
    pub tool_version: Cow<'a, str>,
    /// When the scan started.
    pub scan_started_at: Timestamp,
    /// When the scan finished.
    pub scan_finished_at: Timestamp,
    /// The organization scanned, when it was read.
    pub organization_id: Option<Cow<'a, str>>,
    /// The rule catalog, in catalog order; outcomes refer to rules by index here.
    pub rules: Cow<'a, [RuleInfo]>,
    /// Every resource with an outcome, sorted by id; outcomes refer to resources by index here.
    pub resources: Vec<DocResource<'a>>,
    /// Findings that need attention, grouped by identical verdict, sorted by (rule id, first
    /// resource).
    pub findings: Vec<FindingGroup<'a>>,
    /// Every other outcome, per resource, in resource order.
    pub quiet: Vec<DocQuiet>,
    /// The scope, counted once.
    pub scope: Cow<'a, ScopeSummary>,
    /// One row per account.
    pub accounts: Cow<'a, [AccountCoverage]>,
    /// One row per account × region.
    pub regions: Cow<'a, [RegionCoverage]>,
    /// Configuration problems worth a look: expired or unmatched suppressions.
    pub warnings: Cow<'a, [String]>,
    /// Who can use or administer each key (allowed, conditional or not assessed), grouped by
    /// identical answer; absent when the scan did not read IAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessGroups<'a>>,
    /// Each customer managed key's last use, sorted by key ARN; empty when the scan did not
    /// read it. A later scan's `--baseline` reads it back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_use: Vec<KeyLastUse<'a>>,
}

/// One key's last use in findings.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyLastUse<'a> {
    /// The key's ARN.
    pub key: Cow<'a, str>,
    /// What GetKeyLastUsage said, and when.
    #[serde(flatten)]
    pub last_use: Cow<'a, LastUse>,
}

/// A resource outcomes are about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DocResource<'a> {
    /// Key ARN, or `account/<id>`, or `account/<id>/region/<region>`.
    pub id: Cow<'a, str>,
    /// What kind of resource `id` names.
    #[serde(rename = "type")]
    pub resource_type: ResourceType,
    /// The account the resource belongs to.
    pub account: Cow<'a, str>,
    /// The region; empty for account-wide resources.
    pub region: Cow<'a, str>,
    /// First alias or key id, for people.
    pub name: Cow<'a, str>,
}

/// Findings that need attention and share one verdict, on the resources listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FindingGroup<'a> {
    /// The rule that decided it.
    pub rule_id: Cow<'a, str>,
    /// The rule's severity, or a higher one for a worse case.
    pub severity: Severity,
    /// The verdict.
    pub status: Status,
    /// Suppressed by an unexpired suppression or an allow-listed alias; still listed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub muted: bool,
    /// Why it is muted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_reason: Option<Cow<'a, str>>,
    /// One human sentence: why this status.
    pub message: Cow<'a, str>,
    /// What decided the verdict.
    #[serde(default)]
    pub evidence: Cow<'a, Evidence>,
    /// Indices into `resources`, ascending.
    pub resources: Vec<u32>,
}

/// The outcomes of one resource that need no attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DocQuiet {
    /// Index into `resources`.
    pub resource: u32,
    /// Rules that passed: indices into `rules`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass: Vec<u16>,
    /// Rules that do not apply: indices into `rules`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applicable: Vec<u16>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One outcome of a findings document, as a reader sees it once expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocOutcome<'d> {
    /// The rule.
    pub rule_id: &'d str,
    /// The resource.
    pub resource: &'d DocResource<'d>,
    /// The verdict.
    pub status: Status,
    /// Muted (only findings needing attention are).
    pub muted: bool,
    /// The group it belongs to, for findings that need attention.
    pub group: Option<&'d FindingGroup<'d>>,
}

impl<'a> FindingsDocument<'a> {
    /// The document of `evaluation`, borrowing from it and from `snapshot`.
    pub fn new(snapshot: &'a Snapshot, evaluation: &'a Evaluation) -> Self {
        // Every resource once, sorted by id: findings and quiet outcomes name them.
        let resources = (evaluation.findings.iter().map(|f| resource(f)))
            .chain(evaluation.quiet.iter().map(|q| DocResource {
                id: Cow::Borrowed(&q.resource),
                resource_type: q.resource_type,
                account: Cow::Borrowed(&q.account_id),
                region: Cow::Borrowed(&q.region),
                name: Cow::Borrowed(&q.resource_name),
            }))
            // A key with access rows is a resource even when no rule judged it.
            .chain(
                (evaluation.access.iter())
                    .flat_map(|t| t.keys())
                    .map(key_resource),
            );
        // A resource's outcomes mostly come together: repeats in a row are left out at once.
        let mut all: Vec<DocResource<'a>> = Vec::new();
        for r in resources {
            if all.last().is_none_or(|last| last.id != r.id) {
                all.push(r);
            }
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all.dedup_by(|later, first| later.id == first.id);
        // Findings and quiet outcomes name a resource many times: the list grew to several
        // times what stays, and the access groups are built next, beside it.
        all.shrink_to_fit();
        let index: HashMap<&str, u32> = all
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_ref(), u32::try_from(i).expect("under 4G resources")))
            .collect();

        type Verdict<'f> = (
            &'f str,
            Severity,
            Status,
            bool,
            Option<&'f str>,
            &'f str,
            &'f Evidence,
        );
        let mut groups: Vec<FindingGroup<'a>> = Vec::new();
        let mut by_verdict: HashMap<Verdict<'a>, usize> = HashMap::new();
        for f in &evaluation.findings {
            let verdict = (
                &*f.rule_id,
                f.severity,
                f.status,
                f.muted,
                f.mute_reason.as_deref(),
                &*f.message,
                &*f.evidence,
            );
            let at = *by_verdict.entry(verdict).or_insert_with(|| {
                groups.push(FindingGroup {
                    rule_id: Cow::Borrowed(&f.rule_id),
                    severity: f.severity,
                    status: f.status,
                    muted: f.muted,
                    mute_reason: f.mute_reason.as_deref().map(Cow::Borrowed),
                    message: Cow::Borrowed(&f.message),
                    evidence: Cow::Borrowed(&f.evidence),
                    resources: Vec::new(),
                });
                groups.len() - 1
            });
            groups[at].resources.push(index[&*f.resource]);
        }
        for g in &mut groups {
            g.resources.sort_unstable();
        }
        let quiet = evaluation
            .quiet
            .iter()
            .map(|q| DocQuiet {
                resource: index[&*q.resource],
                pass: q.pass.clone(),
                not_applicable: q.not_applicable.clone(),
            })
            .collect();
        let access = evaluation
            .access
            .as_ref()
            .map(|table| AccessGroups::of_table(table, |arn| index[arn]));
        drop(index);
        // Resource indices follow id order, so the list stays sorted by id as it was.
        FindingsDocument {
            schema_version: FINDINGS_SCHEMA_VERSION,
            tool_version: Cow::Borrowed(&snapshot.metadata.tool_version),
            scan_started_at: snapshot.metadata.started_at,
            scan_finished_at: snapshot.metadata.finished_at,
            organization_id: snapshot
                .organization
                .as_ref()
                .map(|o| Cow::Borrowed(o.id.as_str())),
            rules: Cow::Borrowed(&evaluation.rules),
            resources: all,
            findings: groups,
            quiet,
            scope: Cow::Borrowed(&evaluation.scope),
            accounts: Cow::Borrowed(&evaluation.accounts),
            regions: Cow::Borrowed(&evaluation.regions),
            warnings: Cow::Borrowed(&evaluation.warnings),
            access,
            last_use: key_last_uses(snapshot),
        }
    }

    /// Every access row, expanded from the groups, in group order.
    pub fn access_rows(&self) -> impl Iterator<Item = AccessRow> + '_ {
        self.access
            .iter()
            .flat_map(AccessGroups::iter)
            .flat_map(move |g| {
                (g.keys.iter())
                    .filter_map(move |&k| Some(g.answer.row(&self.resources.get(k as usize)?.id)))
            })
    }

    /// Every outcome: the findings needing attention group by group, then the quiet ones.
    /// Indices out of range are skipped (a reader of a hand-edited file gets what is there).
    pub fn outcomes(&self) -> impl Iterator<Item = DocOutcome<'_>> + '_ {
        let whole = self.findings.iter().flat_map(move |g| {
            g.resources.iter().filter_map(move |&r| {
                Some(DocOutcome {
                    rule_id: &g.rule_id,
                    resource: self.resources.get(r as usize)?,
                    status: g.status,
                    muted: g.muted,
                    group: Some(g),
                })
            })
        });
        let quiet = self.quiet.iter().flat_map(move |q| {
            let pass = q.pass.iter().map(|&i| (i, Status::Pass));
            let na = q.not_applicable.iter().map(|&i| (i, Status::NotApplicable));
            pass.chain(na).filter_map(move |(i, status)| {
                Some(DocOutcome {
                    rule_id: &self.rules.get(usize::from(i))?.id,
                    resource: self.resources.get(q.resource as usize)?,
                    status,
                    muted: false,
                    group: None,
                })
            })
        });
        whole.chain(quiet)
    }
}

/// Every key's last use, sorted by ARN.
fn key_last_uses(snapshot: &Snapshot) -> Vec<KeyLastUse<'_>> {
    let mut all: Vec<KeyLastUse<'_>> = (snapshot.accounts.iter())
        .flat_map(|a| a.regions.iter())
        .flat_map(|r| r.keys.iter())
        .filter_map(|k| {
            Some(KeyLastUse {
                key: Cow::Borrowed(&k.arn),
                last_use: Cow::Borrowed(k.last_use.as_ref()?),
            })
        })
        .collect();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all
}

/// A key known only by its ARN.
fn key_resource(arn: &str) -> DocResource<'_> {
    let mut parts = arn.split(':');
    let region = parts.nth(3).unwrap_or_default();
    DocResource {
        id: Cow::Borrowed(arn),
        resource_type: ResourceType::Key,
        account: Cow::Borrowed(arn_account(arn).unwrap_or_default()),
        region: Cow::Borrowed(region),
        name: Cow::Borrowed(arn.rsplit('/').next().unwrap_or(arn)),
    }
}

fn resource(f: &Finding) -> DocResource<'_> {
    DocResource {
        id: Cow::Borrowed(&f.resource),
        resource_type: f.resource_type,
        account: Cow::Borrowed(&f.account_id),
        region: Cow::Borrowed(&f.region),
        name: Cow::Borrowed(&f.resource_name),
    }
}

/// The JSON Schemas of the project's two documents, generated from their serde types:
/// `(file name, schema)` for `schemas/`.
pub fn json_schemas() -> [(&'static str, serde_json::Value); 2] {
    let value = |s: schemars::Schema| s.to_value();
    [
        (
            "findings.schema.json",
            value(schemars::schema_for!(FindingsDocument<'static>)),
        ),
        (
            "snapshot.schema.json",
            value(schemars::schema_for!(Snapshot)),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessTable, AccessVerdict, Capability};

    #[test]
    fn evidence_leaves_out_what_is_empty() {
        let e = Evidence::default().detail("k", "v");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"details":{"k":"v"}}"#
        );
        let back: Evidence = serde_json::from_str("{}").unwrap();
        assert_eq!(back, Evidence::default());
    }

    fn row(key: &str, principal: &str, capability: Capability, via: &str) -> AccessRow {
        AccessRow {
            key_arn: key.into(),
            principal: principal.into(),
            principal_account: arn_account(principal).map(str::to_string),
            capability,
            verdict: AccessVerdict::Allowed,
            via: via.into(),
            conditions: vec![],
        }
    }

    #[test]
    fn access_rows_are_grouped_by_answer_and_read_back_whole() {
        let k1 = "arn:aws:kms:eu-west-1:111122223333:key/k1";
        let k2 = "arn:aws:kms:eu-west-1:111122223333:key/k2";
        let admin = "arn:aws:iam::111122223333:role/Admin";
        let rows = vec![
            row(k1, admin, Capability::Decrypt, "key policy → Admin policy"),
            row(k1, admin, Capability::Policy, "key policy → Admin policy"),
            row(k2, admin, Capability::Decrypt, "key policy → Admin policy"),
            row(k2, admin, Capability::Policy, "grant g1"),
        ];
        let evaluation = Evaluation {
            findings: vec![],
            quiet: vec![],
            rules: vec![],
            frameworks: vec![],
            remediations: vec![],
            scope: ScopeSummary::default(),
            accounts: vec![],
            regions: vec![],
            warnings: vec![],
            access: Some(AccessTable::from_rows(rows.clone())),
        };
        let snapshot = Snapshot {
            schema_version: crate::SCHEMA_VERSION,
            metadata: crate::ScanMetadata::default(),
            organization: None,
            accounts: vec![],
            aws_managed_policies: vec![],
        };
        let doc = FindingsDocument::new(&snapshot, &evaluation);
        let groups: Vec<_> = doc.access.as_ref().unwrap().iter().collect();
        assert_eq!(groups.len(), 3, "{groups:#?}");
        assert_eq!(groups[0].keys, [0, 1], "one group holds both keys");
        assert_eq!(
            doc.resources.len(),
            2,
            "keys no rule judged are resources too"
        );
        assert_eq!(doc.resources[1].region, "eu-west-1");
        let text = serde_json::to_string(&doc).unwrap();
        let back: FindingsDocument<'_> = serde_json::from_str(&text).unwrap();
        let mut read: Vec<AccessRow> = back.access_rows().collect();
        read.sort_by(|a, b| (&a.key_arn, a.capability).cmp(&(&b.key_arn, b.capability)));
        assert_eq!(read, rows);
        // A scan that read no IAM writes no `access` at all.
        let none = Evaluation {
            access: None,
            ..evaluation
        };
        assert!(
            !serde_json::to_string(&FindingsDocument::new(&snapshot, &none))
                .unwrap()
                .contains("\"access\"")
        );
    }
}
