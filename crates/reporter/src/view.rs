//! The view model of report.html: what the template reads, already formatted, with every
//! AWS string left for tera to escape.

use std::collections::{BTreeMap, BTreeSet};

use kmsaudit_model::{
    AccountCoverage, Coverage, Finding, KeyRecord, ResourceType, ScopeSummary, Severity, Status,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Serialize)]
pub(crate) struct View<'a> {
    pub csp: String,
    pub style: &'static str,
    pub script: &'static str,
    pub head_script: &'static str,
    pub baseline: Option<BaselineView>,
    /// The scan read IAM: effective access is shown per key.
    /// How each customer managed key's last use was read, when the scan read it.
    pub last_use_summary: Option<String>,
    /// Monitoring coverage per account × region holding keys, when the scan read it.
    pub monitoring: Option<Vec<crate::scope_view::MonitoringRow>>,
    pub effective_access: bool,
    pub by_region: Vec<RegionView>,
    pub frameworks: Vec<crate::compliance_view::FrameworkSection>,
    pub tool_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub caller: String,
    pub organization: String,
    pub management_account: String,
    pub role_name: String,
    pub regions_requested: String,
    pub scope: &'a ScopeSummary,
    pub accounts: Vec<AccountView<'a>>,
    pub region_issues: Vec<RegionIssueView>,
    pub status_counts: Vec<Count>,
    pub severity_counts: Vec<Count>,
    pub chart: String,
    pub rules: Vec<RuleView>,
    pub findings: Vec<FindingView>,
    /// Keys with a finding that needs attention.
    pub keys: Vec<KeyView>,
    /// Every customer-managed key (or key not described) of the scan.
    pub customer_keys: usize,
    /// Findings needing attention, rendered or not (`findings` holds the most severe).
    pub attention_total: usize,
    pub warnings: Vec<String>,
    pub api_calls: Vec<Count>,
    pub total_calls: u64,
    pub calls_per_key: String,
}

/// One account's scope row as the evaluator counted it, with its failing findings.
#[derive(Serialize)]
pub(crate) struct AccountView<'a> {
    #[serde(flatten)]
    pub row: &'a AccountCoverage,
    pub fails: usize,
}

#[derive(Serialize)]
pub(crate) struct RegionIssueView {
    pub account_id: String,
    pub region: String,
    pub coverage: &'static str,
    pub reason: String,
}

#[derive(Serialize)]
pub(crate) struct BaselineView {
    pub since: String,
    pub counts: Vec<Count>,
    pub new: Vec<DiffEntryView>,
    pub new_total: usize,
    pub fixed: Vec<DiffEntryView>,
    pub fixed_total: usize,
}

#[derive(Serialize)]
pub(crate) struct DiffEntryView {
    pub severity: &'static str,
    pub rule_id: String,
    pub rule_anchor: String,
    pub resource: String,
    pub account_id: String,
    pub region: String,
    pub old_status: String,
    pub new_status: String,
    pub message: String,
}

#[derive(Serialize, Default)]
pub(crate) struct RegionView {
    pub region: String,
    pub keys: usize,
    pub fail: usize,
    pub not_assessed: usize,
}

#[derive(Serialize)]
pub(crate) struct Count {
    pub label: String,
    pub count: u64,
    pub css: String,
}

#[derive(Serialize)]
pub(crate) struct RuleView {
    pub id: String,
    pub anchor: String,
    pub severity: &'static str,
    pub title: String,
    pub rationale: String,
    pub remediation: String,
    pub compliance: Vec<String>,
    /// Framework names joined by `|`, for the report's framework filter.
    pub frameworks: String,
    pub fail: usize,
    pub pass: usize,
    pub not_assessed: usize,
    pub not_applicable: usize,
    pub muted: usize,
}

#[derive(Serialize)]
pub(crate) struct FindingView {
    pub rule_id: String,
    pub rule_anchor: String,
    pub severity: &'static str,
    /// 0 (info) to 4 (critical): sorts severities by severity.
    pub severity_rank: u8,
    pub status: &'static str,
    pub status_css: &'static str,
    pub muted: bool,
    pub mute_reason: String,
    pub account_id: String,
    pub region: String,
    pub resource: String,
    pub resource_name: String,
    pub key_anchor: String,
    pub message: String,
    pub evidence: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct KeyView {
    pub anchor: String,
    pub arn: String,
    pub account_id: String,
    pub region: String,
    pub name: String,
    pub aliases: String,
    pub description: String,
    pub state: String,
    pub spec: String,
    pub origin: String,
    pub rotation: String,
    pub grants: String,
    /// GetKeyLastUsage's answer in words, with when it was read; empty when not read.
    pub last_use: String,
    pub tags: String,
    pub errors: Vec<String>,
    pub policy: String,
    pub findings: Vec<FindingView>,
    /// Who can decrypt and administer it, when the scan read IAM.
    pub access: Option<crate::access_view::KeyAccessView>,
}

pub(crate) fn anchor(prefix: &str, text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

pub(crate) fn coverage_css(c: Coverage) -> &'static str {
    c.as_str()
}

pub(crate) fn status_css(s: Status) -> &'static str {
    match s {
        Status::Fail => "fail",
        Status::Pass => "pass",
        Status::NotAssessed => "na",
        Status::NotApplicable => "skip",
    }
}

/// `rendered`: ARNs of the keys that have a detail section to link to.
pub(crate) fn finding_view(f: &Finding, rendered: &BTreeSet<&str>) -> FindingView {
    let mut evidence = Vec::new();
    let e = &f.evidence;
    if let Some(i) = e.statement_index {
        evidence.push(format!(
            "statement {i}{}",
            e.sid
                .as_ref()
                .map(|s| format!(" (Sid {s})"))
                .unwrap_or_default()
        ));
    }
    if let Some(p) = &e.principal {
        evidence.push(format!("principal: {p}"));
    }
    if !e.actions.is_empty() {
        let shown: Vec<&str> = e.actions.iter().take(8).map(String::as_str).collect();
        let more = if e.actions.len() > 8 {
            format!(" and {} more", e.actions.len() - 8)
        } else {
            String::new()
        };
        evidence.push(format!("actions: {}{more}", shown.join(", ")));
    }
    if let Some(c) = &e.condition {
        evidence.push(format!("condition: {c}"));
    }
    for (k, v) in e.details.iter() {
        evidence.push(format!("{k}: {v}"));
    }
    FindingView {
        rule_id: f.rule_id.to_string(),
        rule_anchor: anchor("rule", &f.rule_id),
        severity: f.severity.as_str(),
        severity_rank: f.severity as u8,
        status: f.status.as_str(),
        status_css: status_css(f.status),
        muted: f.muted,
        mute_reason: f.mute_reason.clone().unwrap_or_default(),
        account_id: f.account_id.to_string(),
        region: f.region.to_string(),
        resource: f.resource.to_string(),
        resource_name: f.resource_name.to_string(),
        key_anchor: if f.resource_type == ResourceType::Key && rendered.contains(&*f.resource) {
            anchor("key", &f.resource)
        } else {
            String::new()
        },
        message: f.message.to_string(),
        evidence,
    }
}

pub(crate) fn pretty_policy(k: &KeyRecord) -> String {
    match &k.policy {
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_string()),
            Err(_) => text.to_string(),
        },
        None => "(not read)".into(),
    }
}

/// A horizontal bar chart of failing findings per severity, as inline SVG built from numbers
/// only (no AWS text), so it is safe to insert unescaped.
pub(crate) fn severity_chart(counts: &BTreeMap<Severity, usize>) -> String {
    let max = counts.values().copied().max().unwrap_or(0).max(1);
    let mut svg = String::from(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="420" height="130" role="img" aria-label="failing findings by severity">"#,
    );
    for (i, sev) in Severity::ALL.iter().enumerate() {
        let n = counts.get(sev).copied().unwrap_or(0);
        let y = 5 + i * 24;
        let w = 300 * n / max;
        svg.push_str(&format!(
            r#"<text x="0" y="{}" font-size="12">{}</text><rect class="bar-{}" x="70" y="{}" width="{}" height="16"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            y + 13,
            sev.as_str(),
            sev.as_str(),
            y,
            w,
            75 + w,
            y + 13,
            n
        ));
    }
    svg.push_str("</svg>");
    svg
}
