//! findings.ocsf.json: every outcome of the evaluation as an OCSF 1.x Compliance Finding
//! (class 2003), for security data lakes and SIEMs that read OCSF.
//!
//! The mapping, field by field: `compliance.status_id` is the verdict (PASS → Pass, FAIL → Fail,
//! NOT_ASSESSED → Unknown, NOT_APPLICABLE → Other), `status_code` kmsaudit's own status, and
//! `status_id` the finding's workflow (a muted finding is Suppressed, any other New);
//! `severity_id` the rule's (or the worse case's) severity; `finding_info.uid` is stable across
//! runs (`kmsaudit:<rule>:<resource>`), so a consumer updates instead of duplicating;
//! `resources` the key (ARN), account or account × region; `cloud` the account, region and
//! organization; `compliance` the rule as control with its frameworks' requirements;
//! `remediation` the rule's fix; `evidences` what decided the verdict. Outcomes that pass or do
//! not apply carry no message or evidence of their own (the evaluation keeps them compact).

use std::collections::BTreeMap;
use std::io::Write;

use kmsaudit_model::{
    Evaluation, Evidence, ResourceType, RuleInfo, Severity, Snapshot, Status, Timestamp,
};
use serde::Serialize;

/// The OCSF schema version the records follow.
pub(crate) const OCSF_VERSION: &str = "1.1.0";

const CLASS_COMPLIANCE_FINDING: u32 = 2003;
const CATEGORY_FINDINGS: u32 = 2;
const ACTIVITY_CREATE: u32 = 1;

#[derive(Serialize)]
struct Record<'a> {
    category_uid: u32,
    category_name: &'static str,
    class_uid: u32,
    class_name: &'static str,
    activity_id: u32,
    activity_name: &'static str,
    type_uid: u32,
    type_name: &'static str,
    time: i64,
    time_dt: String,
    severity_id: u8,
    severity: &'static str,
    status_id: u8,
    status: &'static str,
    status_code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    metadata: Metadata<'a>,
    finding_info: FindingInfo<'a>,
    cloud: Cloud<'a>,
    resources: [Resource<'a>; 1],
    compliance: Compliance<'a>,
    remediation: Remediation<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    evidences: Vec<EvidenceArtifact<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unmapped: Option<Unmapped<'a>>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    version: &'static str,
    product: Product<'a>,
    event_code: &'a str,
    profiles: [&'static str; 2],
}

#[derive(Serialize)]
struct Product<'a> {
    name: &'static str,
    vendor_name: &'static str,
    uid: &'static str,
    version: &'a str,
}

#[derive(Serialize)]
struct FindingInfo<'a> {
    uid: String,
    title: &'a str,
    desc: &'a str,
    types: [&'static str; 1],
    created_time: i64,
}

#[derive(Serialize)]
struct Cloud<'a> {
    provider: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    region: &'a str,
    account: Account<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org: Option<Org<'a>>,
}

#[derive(Serialize)]
struct Account<'a> {
    uid: &'a str,
    name: &'a str,
    type_id: u8,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Org<'a> {
    uid: &'a str,
}

#[derive(Serialize)]
struct Resource<'a> {
    uid: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    region: &'a str,
    cloud_partition: &'a str,
}

#[derive(Serialize)]
struct Compliance<'a> {
    control: &'a str,
    desc: &'a str,
    standards: Vec<&'a str>,
    requirements: Vec<String>,
    status_id: u8,
    status: &'static str,
}

#[derive(Serialize)]
struct Remediation<'a> {
    desc: &'a str,
}

#[derive(Serialize)]
struct EvidenceArtifact<'a> {
    name: &'static str,
    data: &'a Evidence,
}

#[derive(Serialize)]
struct Unmapped<'a> {
    muted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    mute_reason: Option<&'a str>,
}

/// One outcome, as the evaluation holds it (whole, or compact for PASS and NOT_APPLICABLE).
struct Outcome<'a> {
    rule: &'a RuleInfo,
    severity: Severity,
    status: Status,
    muted: bool,
    mute_reason: Option<&'a str>,
    account_id: &'a str,
    region: &'a str,
    resource_type: ResourceType,
    resource: &'a str,
    resource_name: &'a str,
    message: Option<&'a str>,
    evidence: Option<&'a Evidence>,
}

/// Writes every outcome of `evaluation` as a JSON array of OCSF Compliance Findings, one
/// record at a time.
pub(crate) fn write_ocsf(
    w: &mut dyn Write,
    snapshot: &Snapshot,
    evaluation: &Evaluation,
) -> Result<(), serde_json::Error> {
    let rules: BTreeMap<&str, &RuleInfo> = evaluation
        .rules
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    let names: BTreeMap<&str, &str> = snapshot
        .accounts
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_deref().unwrap_or(a.id.as_str())))
        .collect();
    let context = Context {
        started: snapshot.metadata.started_at,
        version: &snapshot.metadata.tool_version,
        partition: &snapshot.metadata.scope.partition,
        org: snapshot.organization.as_ref().map(|o| o.id.as_str()),
        names: &names,
    };
    let io = serde_json::Error::io;
    w.write_all(b"[").map_err(io)?;
    let mut first = true;
    let mut emit = |o: Outcome<'_>| -> Result<(), serde_json::Error> {
        w.write_all(if first { b"\n" } else { b",\n" })
            .map_err(io)?;
        first = false;
        serde_json::to_writer(&mut *w, &context.record(&o))
    };
    for f in &evaluation.findings {
        let Some(rule) = rules.get(&*f.rule_id) else {
            continue;
        };
        emit(Outcome {
            rule,
            severity: f.severity,
            status: f.status,
            muted: f.muted,
            mute_reason: f.mute_reason.as_deref(),
            account_id: &f.account_id,
            region: &f.region,
            resource_type: f.resource_type,
            resource: &f.resource,
            resource_name: &f.resource_name,
            message: Some(&f.message),
            evidence: Some(&f.evidence),
        })?;
    }
    for q in &evaluation.quiet {
        let quiet = q
            .pass
            .iter()
            .map(|&i| (i, Status::Pass))
            .chain(q.not_applicable.iter().map(|&i| (i, Status::NotApplicable)));
        for (index, status) in quiet {
            let Some(rule) = evaluation.rules.get(usize::from(index)) else {
                continue;
            };
            emit(Outcome {
                rule,
                severity: rule.severity,
                status,
                muted: false,
                mute_reason: None,
                account_id: &q.account_id,
                region: &q.region,
                resource_type: q.resource_type,
                resource: &q.resource,
                resource_name: &q.resource_name,
                message: None,
                evidence: None,
            })?;
        }
    }
    w.write_all(b"\n]\n").map_err(io)
}

/// What every record of one pack shares.
struct Context<'a> {
    started: Timestamp,
    version: &'a str,
    partition: &'a str,
    org: Option<&'a str>,
    names: &'a BTreeMap<&'a str, &'a str>,
}

impl<'a> Context<'a> {
    fn record<'o>(&'o self, o: &'o Outcome<'o>) -> Record<'o> {
        let time = self.started.as_millisecond();
        let (compliance_id, compliance_status) = match o.status {
            Status::Pass => (1, "Pass"),
            Status::Fail => (3, "Fail"),
            Status::NotAssessed => (0, "Unknown"),
            Status::NotApplicable => (99, "Not applicable"),
        };
        let (status_id, status) = if o.muted {
            (3, "Suppressed")
        } else {
            (1, "New")
        };
        let evidences = match o.evidence {
            Some(e) if *e != Evidence::default() => vec![EvidenceArtifact {
                name: "kmsaudit evidence",
                data: e,
            }],
            _ => vec![],
        };
        Record {
            category_uid: CATEGORY_FINDINGS,
            category_name: "Findings",
            class_uid: CLASS_COMPLIANCE_FINDING,
            class_name: "Compliance Finding",
            activity_id: ACTIVITY_CREATE,
            activity_name: "Create",
            type_uid: CLASS_COMPLIANCE_FINDING * 100 + ACTIVITY_CREATE,
            type_name: "Compliance Finding: Create",
            time,
            time_dt: self.started.to_string(),
            severity_id: severity_id(o.severity),
            severity: severity_name(o.severity),
            status_id,
            status,
            status_code: o.status.as_str(),
            status_detail: o.message,
            message: o.message,
            metadata: Metadata {
                version: OCSF_VERSION,
                product: Product {
                    name: "kmsaudit",
                    vendor_name: "kmsaudit",
                    uid: "kmsaudit",
                    version: self.version,
                },
                event_code: &o.rule.id,
                profiles: ["cloud", "datetime"],
            },
            finding_info: FindingInfo {
                uid: format!("kmsaudit:{}:{}", o.rule.id, o.resource),
                title: &o.rule.title,
                desc: &o.rule.rationale,
                types: ["AWS KMS"],
                created_time: time,
            },
            cloud: Cloud {
                provider: "AWS",
                region: o.region,
                account: Account {
                    uid: o.account_id,
                    name: self
                        .names
                        .get(o.account_id)
                        .copied()
                        .unwrap_or(o.account_id),
                    type_id: 10,
                    kind: "AWS Account",
                },
                org: self.org.map(|uid| Org { uid }),
            },
            resources: [Resource {
                uid: o.resource,
                name: o.resource_name,
                kind: o.resource_type.as_str(),
                region: o.region,
                cloud_partition: self.partition,
            }],
            compliance: Compliance {
                control: &o.rule.id,
                desc: &o.rule.title,
                standards: o.rule.compliance.keys().map(String::as_str).collect(),
                requirements: o.rule.control_refs(),
                status_id: compliance_id,
                status: compliance_status,
            },
            remediation: Remediation {
                desc: &o.rule.remediation,
            },
            evidences,
            unmapped: o.muted.then_some(Unmapped {
                muted: true,
                mute_reason: o.mute_reason,
            }),
        }
    }
}

fn severity_id(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "Informational",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}
