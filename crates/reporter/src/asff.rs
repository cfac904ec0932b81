//! findings.asff.json: the failing findings in the AWS Security Finding Format, as Security
//! Hub's BatchImportFindings takes them (`aws securityhub batch-import-findings --findings
//! file://findings.asff.json` imports a file of up to 100).
//!
//! One record per FAIL outcome, muted ones included with the workflow status SUPPRESSED. The
//! product is the importing account's custom integration
//! (`arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`), and that account is the
//! resource's own: with the default product, Security Hub only takes findings whose
//! `AwsAccountId` is the caller's. The `Id` is `kmsaudit/<rule>/<resource>`, the same on every
//! run, so that a re-import updates the finding instead of adding one.

use std::collections::BTreeMap;
use std::io::Write;

use kmsaudit_model::{Evaluation, Finding, ResourceType, RuleInfo, Severity, Snapshot, Status};
use serde::Serialize;

const SCHEMA_VERSION: &str = "2018-10-08";
const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Record<'a> {
    schema_version: &'static str,
    id: String,
    product_arn: String,
    product_name: &'static str,
    company_name: &'static str,
    region: &'a str,
    generator_id: String,
    aws_account_id: &'a str,
    types: [&'static str; 1],
    created_at: String,
    updated_at: String,
    severity: AsffSeverity,
    title: String,
    description: String,
    remediation: Remediation,
    product_fields: BTreeMap<&'static str, String>,
    resources: [Resource<'a>; 1],
    compliance: Compliance,
    record_state: &'static str,
    workflow: Workflow,
    finding_provider_fields: ProviderFields,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "PascalCase")]
struct AsffSeverity {
    label: &'static str,
    original: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Remediation {
    recommendation: Recommendation,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Recommendation {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Resource<'a> {
    #[serde(rename = "Type")]
    kind: &'static str,
    id: String,
    partition: &'a str,
    region: &'a str,
    details: Details<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Details<'a> {
    other: BTreeMap<&'static str, &'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Compliance {
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_requirements: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Workflow {
    status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderFields {
    severity: AsffSeverity,
    types: [&'static str; 1],
}

/// Where the findings are imported: Security Hub's region. The account is each finding's own.
#[derive(Debug, Clone)]
pub struct AsffTarget {
    pub region: String,
}

impl Default for AsffTarget {
    fn default() -> Self {
        AsffTarget {
            region: "us-east-1".into(),
        }
    }
}

/// The ASFF id of a finding of `rule` on `resource`: the same on every run.
pub fn asff_id(rule: &str, resource: &str) -> String {
    format!("kmsaudit/{rule}/{resource}")
}

/// The records of the failing findings, in the evaluation's order.
fn records<'a>(
    snapshot: &'a Snapshot,
    evaluation: &'a Evaluation,
    target: &'a AsffTarget,
) -> impl Iterator<Item = Record<'a>> + 'a {
    let rules: BTreeMap<&str, &RuleInfo> = evaluation
        .rules
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    let time = snapshot.metadata.started_at.to_string();
    let partition = snapshot.metadata.scope.partition.as_str();
    let version = snapshot.metadata.tool_version.as_str();
    evaluation
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .filter_map(move |f| {
            let rule = rules.get(&*f.rule_id)?;
            Some(record(f, rule, &time, partition, version, target))
        })
}

fn record<'a>(
    f: &'a Finding,
    rule: &RuleInfo,
    time: &str,
    partition: &'a str,
    version: &str,
    target: &'a AsffTarget,
) -> Record<'a> {
    let account = &*f.account_id;
    let region = if f.region.is_empty() {
        target.region.as_str()
    } else {
        &f.region
    };
    let severity = AsffSeverity {
        label: severity_label(f.severity),
        original: f.severity.as_str(),
    };
    let (kind, resource_id) = match f.resource_type {
        ResourceType::Key => ("AwsKmsKey", f.resource.to_string()),
        ResourceType::IamPolicy => iam_resource(&f.resource),
        _ => ("AwsAccount", format!("AWS::::Account:{account}")),
    };
    let mut product_fields = BTreeMap::from([
        ("ProviderName", "kmsaudit".to_string()),
        ("ProviderVersion", version.to_string()),
        ("kmsaudit/RuleId", f.rule_id.to_string()),
        ("kmsaudit/ResourceId", f.resource.to_string()),
    ]);
    if let Some(reason) = &f.mute_reason {
        product_fields.insert("kmsaudit/MuteReason", truncate(reason, 1000));
    }
    let mut requirements = rule.control_refs();
    requirements.truncate(32);
    Record {
        schema_version: SCHEMA_VERSION,
        id: asff_id(&f.rule_id, &f.resource),
        product_arn: format!(
            "arn:{partition}:securityhub:{}:{account}:product/{account}/default",
            target.region
        ),
        product_name: "kmsaudit",
        company_name: "kmsaudit",
        region: &target.region,
        generator_id: format!("kmsaudit/{}", f.rule_id),
        aws_account_id: account,
        types: [FINDING_TYPE],
        created_at: time.to_string(),
        updated_at: time.to_string(),
        severity: severity.clone(),
        title: truncate(&format!("{}: {}", f.rule_id, rule.title), 256),
        description: truncate(&f.message, 1024),
        remediation: Remediation {
            recommendation: Recommendation {
                text: truncate(&rule.remediation, 512),
            },
        },
        product_fields,
        resources: [Resource {
            kind,
            id: resource_id,
            partition,
            region,
            details: Details {
                other: BTreeMap::from([("Name", &*f.resource_name)]),
            },
        }],
        compliance: Compliance {
            status: "FAILED",
            related_requirements: requirements,
        },
        record_state: "ACTIVE",
        workflow: Workflow {
            status: if f.muted { "SUPPRESSED" } else { "NEW" },
        },
        finding_provider_fields: ProviderFields {
            severity,
            types: [FINDING_TYPE],
        },
    }
}

/// Writes the failing findings as a JSON array of ASFF records, one per line.
pub(crate) fn write_asff(
    w: &mut dyn Write,
    snapshot: &Snapshot,
    evaluation: &Evaluation,
    target: &AsffTarget,
) -> Result<(), serde_json::Error> {
    let io = serde_json::Error::io;
    w.write_all(b"[").map_err(io)?;
    for (i, r) in records(snapshot, evaluation, target).enumerate() {
        w.write_all(if i == 0 { b"\n" } else { b",\n" })
            .map_err(io)?;
        serde_json::to_writer(&mut *w, &r)?;
    }
    w.write_all(b"\n]\n").map_err(io)
}

/// The failing findings as ASFF records, by the account they are imported into.
pub fn asff_by_account(
    snapshot: &Snapshot,
    evaluation: &Evaluation,
    target: &AsffTarget,
) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut out: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for r in records(snapshot, evaluation, target) {
        let account = r.aws_account_id.to_string();
        let value = serde_json::to_value(&r).expect("an ASFF record serializes");
        out.entry(account).or_default().push(value);
    }
    out
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "INFORMATIONAL",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// At most `max` characters (ASFF's limits are in characters), with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).chain(['…']).collect()
    }
}

/// The ASFF resource of an IAM policy finding: the managed policy, or the user, role or group
/// that holds an inline policy (`OWNER-ARN#NAME`; `ARN#ACCOUNT` is an AWS managed policy).
fn iam_resource(id: &str) -> (&'static str, String) {
    let (arn, inline) = match id.split_once('#') {
        Some((arn, _)) => (arn, arn.split(':').nth(4) != Some("aws")),
        None => (id, false),
    };
    let kind = match arn.split(':').nth(5) {
        Some(r) if inline && r.starts_with("role/") => "AwsIamRole",
        Some(r) if inline && r.starts_with("user/") => "AwsIamUser",
        Some(r) if inline && r.starts_with("group/") => "AwsIamGroup",
        _ => "AwsIamPolicy",
    };
    (kind, arn.to_string())
}
