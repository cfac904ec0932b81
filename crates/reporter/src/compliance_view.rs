//! The report's per-framework section: each control with its status, the rules that decide it,
//! the resource counts and the first findings behind it (compliance.csv has the same rows).

use kmsaudit_model::Evaluation;
use serde::Serialize;

use crate::controls::{control_rows, ControlRow};
use crate::view::anchor;

/// One framework: its controls' statuses counted, and the controls.
#[derive(Serialize)]
pub(crate) struct FrameworkSection {
    pub name: String,
    pub anchor: String,
    pub fail: usize,
    pub not_assessed: usize,
    pub muted: usize,
    pub pass: usize,
    pub not_applicable: usize,
    pub controls: Vec<ControlView>,
}

#[derive(Serialize)]
pub(crate) struct ControlView {
    pub id: String,
    pub title: String,
    pub sources: String,
    pub status: &'static str,
    pub rules: Vec<RuleLink>,
    pub pass: usize,
    pub fail: usize,
    pub muted: usize,
    pub not_assessed: usize,
    pub behind: Vec<Behind>,
    /// How many more findings are behind it than `behind` shows.
    pub more: usize,
}

#[derive(Serialize)]
pub(crate) struct RuleLink {
    pub id: String,
    pub anchor: String,
}

/// A finding behind a control's status.
#[derive(Serialize)]
pub(crate) struct Behind {
    pub status: &'static str,
    pub rule_id: String,
    pub rule_anchor: String,
    pub resource_name: String,
    pub account_id: String,
    pub region: String,
    pub message: String,
}

/// The sections, framework by framework in the mapping file's order.
pub(crate) fn framework_sections(evaluation: &Evaluation) -> Vec<FrameworkSection> {
    let mut out: Vec<FrameworkSection> = vec![];
    for row in control_rows(evaluation) {
        if out.last().is_none_or(|s| s.name != row.framework) {
            out.push(FrameworkSection {
                name: row.framework.to_string(),
                anchor: anchor("framework", row.framework),
                fail: 0,
                not_assessed: 0,
                muted: 0,
                pass: 0,
                not_applicable: 0,
                controls: vec![],
            });
        }
        let section = out.last_mut().expect("pushed above");
        match row.status {
            "FAIL" => section.fail += 1,
            "NOT_ASSESSED" => section.not_assessed += 1,
            "MUTED" => section.muted += 1,
            "PASS" => section.pass += 1,
            _ => section.not_applicable += 1,
        }
        section.controls.push(control_view(row));
    }
    out
}

fn control_view(row: ControlRow<'_>) -> ControlView {
    ControlView {
        id: row.control.to_string(),
        title: row.title.to_string(),
        sources: row.sources.join("; "),
        status: row.status,
        rules: row
            .rules
            .iter()
            .map(|r| RuleLink {
                id: r.to_string(),
                anchor: anchor("rule", r),
            })
            .collect(),
        pass: row.pass,
        fail: row.fail,
        muted: row.muted,
        not_assessed: row.not_assessed,
        more: row.behind_total - row.behind.len(),
        behind: row
            .behind
            .iter()
            .map(|f| Behind {
                status: f.status.as_str(),
                rule_id: f.rule_id.to_string(),
                rule_anchor: anchor("rule", &f.rule_id),
                resource_name: f.resource_name.to_string(),
                account_id: f.account_id.to_string(),
                region: f.region.to_string(),
                message: f.message.to_string(),
            })
            .collect(),
    }
}
