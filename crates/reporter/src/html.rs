//! report.html: one self-contained file, rendered by tera with autoescape on, with a strict
//! Content-Security-Policy that allows only our own inline style and script, by hash.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;

use crate::access_view::key_access_view;
use crate::scope_view;
use crate::view::{
    anchor, coverage_css, finding_view, pretty_policy, severity_chart, status_css, AccountView,
    BaselineView, Count, DiffEntryView, KeyView, RegionIssueView, RegionView, RuleView, View,
};
use kmsaudit_model::{Coverage, Evaluation, Finding, Severity, Snapshot, Status};
use sha2::{Digest, Sha256};

const TEMPLATE: &str = include_str!("../../../templates/report.html");
const STYLE: &str = include_str!("../../../templates/report.css");
const SCRIPT: &str = include_str!("../../../templates/report.js");
/// Run in <head>, before the body parses: marks the page as scripted so that the findings table
/// lays out one page of rows, not every row, until report.js takes over.
const HEAD_SCRIPT: &str = "document.documentElement.classList.add(\"js\")";

/// `'sha256-…'` source expression of an inline block.
fn csp_hash(content: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(content.as_bytes()))
    )
}

/// The Content-Security-Policy of the report: nothing loads, nothing connects; only our inline
/// stylesheet and script run.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {} {}; img-src data:; base-uri 'none'; form-action 'none'; connect-src 'none'",
        csp_hash(STYLE),
        csp_hash(HEAD_SCRIPT),
        csp_hash(SCRIPT)
    )
}

/// Findings needing attention rendered in report.html (most severe first); the rest are counted.
const MAX_RENDERED_FINDINGS: usize = 5_000;
/// Keys detailed in report.html (with their policy).
const MAX_RENDERED_KEYS: usize = 1_000;

/// Renders report.html.
pub fn render_html(
    snapshot: &Snapshot,
    evaluation: &Evaluation,
    diff: Option<&crate::Diff>,
) -> Result<String, tera::Error> {
    let m = &snapshot.metadata;
    let scope = &evaluation.scope;
    let mut fails_per_account: BTreeMap<&str, usize> = BTreeMap::new();
    for f in evaluation
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail && !f.muted)
    {
        *fails_per_account.entry(&*f.account_id).or_default() += 1;
    }
    let accounts = evaluation
        .accounts
        .iter()
        .map(|a| AccountView {
            row: a,
            fails: fails_per_account
                .get(a.account_id.as_str())
                .copied()
                .unwrap_or(0),
        })
        .collect();
    let region_issues = evaluation
        .regions
        .iter()
        .filter(|r| r.coverage != Coverage::Assessed)
        .map(|r| RegionIssueView {
            account_id: r.account_id.clone(),
            region: r.region.clone(),
            coverage: coverage_css(r.coverage),
            reason: r.reason.clone().unwrap_or_default(),
        })
        .collect();
    let counts = evaluation.counts();
    let status_counts: Vec<Count> = [
        (Status::Fail.as_str(), counts.fail, status_css(Status::Fail)),
        (
            Status::NotAssessed.as_str(),
            counts.not_assessed,
            status_css(Status::NotAssessed),
        ),
        (Status::Pass.as_str(), counts.pass, status_css(Status::Pass)),
        (
            Status::NotApplicable.as_str(),
            counts.not_applicable,
            status_css(Status::NotApplicable),
        ),
        ("MUTED", counts.muted, "muted"),
    ]
    .into_iter()
    .map(|(label, count, css)| Count {
        label: label.into(),
        count: count as u64,
        css: css.into(),
    })
    .collect();
    let failing = evaluation.failing_by_severity();
    let severity_counts = Severity::ALL
        .iter()
        .map(|s| Count {
            label: s.as_str().into(),
            count: failing.get(s).copied().unwrap_or(0) as u64,
            css: format!("sev-{}", s.as_str()),
        })
        .collect();
    // One pass over every outcome: (rule, status, muted) → count.
    let mut tally: BTreeMap<(&str, Status, bool), usize> = BTreeMap::new();
    for o in evaluation.outcomes() {
        *tally.entry((o.rule_id, o.status, o.muted)).or_insert(0) += 1;
    }
    let rules = evaluation
        .rules
        .iter()
        .map(|r| {
            let of = |s: Status| tally.get(&(r.id.as_str(), s, false)).copied().unwrap_or(0);
            RuleView {
                id: r.id.clone(),
                anchor: anchor("rule", &r.id),
                severity: r.severity.as_str(),
                title: r.title.clone(),
                rationale: r.rationale.clone(),
                remediation: r.remediation.clone(),
                compliance: r.compliance_refs(),
                frameworks: r
                    .compliance
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join("|"),
                fail: of(Status::Fail),
                pass: of(Status::Pass),
                not_assessed: of(Status::NotAssessed),
                not_applicable: of(Status::NotApplicable),
                muted: tally
                    .iter()
                    .filter(|((rule, _, muted), _)| *rule == r.id && *muted)
                    .map(|(_, n)| n)
                    .sum(),
            }
        })
        .collect();
    let frameworks = crate::compliance_view::framework_sections(evaluation);
    let by_region = region_summary(snapshot, evaluation);
    let mut attention: Vec<&Finding> = evaluation
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::NotAssessed) || f.muted)
        .collect();
    attention.sort_by(|a, b| {
        (a.muted, b.severity, &a.rule_id, &a.resource).cmp(&(
            b.muted,
            a.severity,
            &b.rule_id,
            &b.resource,
        ))
    });
    // The report grows with what needs attention, not with the number of keys, and stays a
    // file a browser opens: the most severe findings are rendered up to a cap (the rest are
    // counted, and all are in findings.csv), and per-key detail is given for the keys they name
    // (matrix.csv has every key × rule).
    let attention_total = attention.len();
    attention.truncate(MAX_RENDERED_FINDINGS);
    let mut by_key: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in attention.iter().copied() {
        by_key.entry(&*f.resource).or_default().push(f);
    }
    let customer_keys = snapshot
        .keys()
        .filter(|(_, _, k)| k.metadata.is_none() || k.is_customer_managed())
        .count();
    let rendered: BTreeSet<&str> = snapshot
        .keys()
        .filter(|(_, _, k)| by_key.contains_key(k.arn.as_str()))
        .map(|(_, _, k)| k.arn.as_str())
        .take(MAX_RENDERED_KEYS)
        .collect();
    let keys = snapshot
        .keys()
        .filter(|(_, _, k)| rendered.contains(k.arn.as_str()))
        .map(|(a, r, k)| {
            let m = k.metadata.clone().unwrap_or_default();
            let mut findings: Vec<&Finding> =
                by_key.get(k.arn.as_str()).cloned().unwrap_or_default();
            findings.sort_by(|a, b| {
                (a.status, b.severity, &a.rule_id).cmp(&(b.status, a.severity, &b.rule_id))
            });
            KeyView {
                anchor: anchor("key", &k.arn),
                arn: k.arn.clone(),
                account_id: a.id.clone(),
                region: r.region.clone(),
                name: k.display_name().to_string(),
                aliases: k.aliases.join(", "),
                description: m.description.clone(),
                state: m.key_state.clone(),
                spec: format!("{} / {}", m.key_spec, m.key_usage),
                origin: m.origin.clone(),
                rotation: match &k.rotation {
                    Some(r) if r.enabled => match r.period_days {
                        Some(days) => format!("enabled, every {days} days"),
                        None => "enabled (period not reported)".into(),
                    },
                    Some(_) => "disabled".into(),
                    None => "not applicable or not read".into(),
                },
                grants: k
                    .grants
                    .as_ref()
                    .map(|g| g.len().to_string())
                    .unwrap_or_else(|| "not read".into()),
                last_use: k
                    .last_use
                    .as_ref()
                    .map(|u| {
                        let read = u.read_at.strftime("%Y-%m-%d %H:%M UTC");
                        let from = if u.from_baseline {
                            " (carried from the baseline)"
                        } else {
                            ""
                        };
                        format!("{}; read {read}{from}", u.state.describe())
                    })
                    .unwrap_or_default(),
                tags: k.tags_text(", ").unwrap_or_else(|| "not read".into()),
                errors: k.errors.iter().map(|e| e.to_string()).collect(),
                policy: pretty_policy(k),
                findings: findings
                    .into_iter()
                    .map(|f| finding_view(f, &rendered))
                    .collect(),
                access: evaluation
                    .access
                    .as_ref()
                    .map(|table| key_access_view(&table.of(&k.arn))),
            }
        })
        .collect::<Vec<_>>();
    let view = View {
        csp: content_security_policy(),
        style: STYLE,
        script: SCRIPT,
        head_script: HEAD_SCRIPT,
        baseline: diff.map(baseline_view),
        effective_access: evaluation.access.is_some(),
        last_use_summary: scope_view::last_use_summary(snapshot),
        monitoring: scope_view::monitoring_rows(snapshot, evaluation),
        by_region,
        frameworks,
        tool_version: m.tool_version.clone(),
        started_at: m.started_at.to_string(),
        finished_at: m.finished_at.to_string(),
        caller: m.caller.as_ref().map(|c| c.arn.clone()).unwrap_or_default(),
        organization: snapshot
            .organization
            .as_ref()
            .map(|o| o.id.clone())
            .unwrap_or_else(|| "(no organization)".into()),
        management_account: snapshot
            .organization
            .as_ref()
            .map(|o| o.management_account_id.clone())
            .unwrap_or_default(),
        role_name: m.scope.role_name.clone(),
        regions_requested: m
            .scope
            .regions
            .as_ref()
            .map(|r| r.join(", "))
            .unwrap_or_else(|| scope_view::regions_source(snapshot)),
        scope,
        accounts,
        region_issues,
        status_counts,
        severity_counts,
        chart: severity_chart(&failing),
        rules,
        findings: attention
            .into_iter()
            .map(|f| finding_view(f, &rendered))
            .collect(),
        keys,
        customer_keys,
        attention_total,
        warnings: evaluation.warnings.clone(),
        api_calls: m
            .api_calls
            .iter()
            .map(|(k, v)| Count {
                label: k.clone(),
                count: *v,
                css: String::new(),
            })
            .collect(),
        total_calls: m.total_api_calls(),
        calls_per_key: format!(
            "{:.1}",
            m.total_api_calls() as f64 / scope.keys_judged.max(1) as f64
        ),
    };
    let mut tera = tera::Tera::new();
    tera.autoescape_on(vec![".html"]);
    tera.set_escape_fn(crate::html_escape::escape_html);
    tera.add_raw_template("report.html", TEMPLATE)?;
    tera.render("report.html", &tera::Context::from_serialize(&view)?)
}

/// Per region: customer-managed keys, and unmuted FAIL and NOT_ASSESSED findings.
fn region_summary(snapshot: &Snapshot, evaluation: &Evaluation) -> Vec<RegionView> {
    /// The region's row; a String is made only for a region not seen yet (once, not per key).
    fn entry<'m>(out: &'m mut BTreeMap<String, RegionView>, region: &str) -> &'m mut RegionView {
        if !out.contains_key(region) {
            let row = RegionView {
                region: region.to_string(),
                ..RegionView::default()
            };
            out.insert(region.to_string(), row);
        }
        out.get_mut(region).expect("just inserted")
    }
    let mut out = BTreeMap::new();
    for (_, r, k) in snapshot.keys() {
        if k.metadata.is_none() || k.is_customer_managed() {
            entry(&mut out, &r.region).keys += 1;
        }
    }
    for f in evaluation.findings.iter().filter(|f| !f.muted) {
        let region = if f.region.is_empty() {
            "(account-wide)"
        } else {
            &*f.region
        };
        match f.status {
            Status::Fail => entry(&mut out, region).fail += 1,
            Status::NotAssessed => entry(&mut out, region).not_assessed += 1,
            _ => {}
        }
    }
    out.into_values().collect()
}

/// At most this many new and fixed findings are listed at the top; diff.csv has them all.
const MAX_RENDERED_CHANGES: usize = 200;

/// What changed since the baseline, for the top of the report.
fn baseline_view(diff: &crate::Diff) -> BaselineView {
    let entries = |change: crate::Change| -> (usize, Vec<DiffEntryView>) {
        let all: Vec<&crate::Entry> = diff.entries.iter().filter(|e| e.change == change).collect();
        let shown = all
            .iter()
            .take(MAX_RENDERED_CHANGES)
            .map(|e| DiffEntryView {
                severity: e.severity.as_str(),
                rule_id: e.rule_id.clone(),
                rule_anchor: anchor("rule", &e.rule_id),
                resource: e.resource.clone(),
                account_id: e.account_id.clone(),
                region: e.region.clone(),
                old_status: e.old_status.clone().unwrap_or_else(|| "(absent)".into()),
                new_status: e.new_status.clone().unwrap_or_else(|| "(absent)".into()),
                message: e.message.clone(),
            })
            .collect();
        (all.len(), shown)
    };
    let (new_total, new) = entries(crate::Change::New);
    let (fixed_total, fixed) = entries(crate::Change::Fixed);
    BaselineView {
        since: diff.old_scan_started_at.clone(),
        counts: diff
            .counts
            .iter()
            .map(|(label, n)| Count {
                label: label.replace('_', " "),
                count: *n as u64,
                css: String::new(),
            })
            .collect(),
        new,
        new_total,
        fixed,
        fixed_total,
    }
}
