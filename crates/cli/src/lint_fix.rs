//! `lint-policy --fix`: the checked proposal for a policy, as text (what is fixed and where,
//! what is not and why, and the unified diff) or as JSON.

use kmsaudit_evaluator::{LintReport, PolicyFix};

use crate::policy::Linted;

/// Where the findings a fixed rule had are in the file: `file:line:column` per statement.
fn places(l: &Linted, report: &LintReport, rule_id: &str) -> Vec<String> {
    let mut at: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.rule_id == rule_id)
        .map(|f| l.at(f.statement_index))
        .collect();
    at.dedup();
    at
}

/// Whether the diff's lines are the file's own: the document is the whole file, already in
/// the form the diff is made against.
fn diff_is_against_the_file(l: &Linted, fix: &PolicyFix) -> bool {
    l.document.text.as_deref() == Some(fix.current.as_str())
}

pub(crate) fn print_fix(l: &Linted, report: &LintReport, fix: &PolicyFix) {
    let doc = &l.document.name;
    for f in &fix.fixed {
        out!(
            "{}: FIX {} {doc} (at {}): {}",
            l.at(None),
            f.rule_id,
            places(l, report, &f.rule_id).join(", "),
            f.change
        );
    }
    for r in &fix.refused {
        out!("{}: NO FIX {} {doc}: {}", l.at(None), r.rule_id, r.why);
    }
    if let Some(diff) = &fix.diff {
        let against = if diff_is_against_the_file(l, fix) {
            "the file's lines"
        } else {
            "the policy written out as indented JSON"
        };
        out!(
            "{}: proposed {doc}, checked by re-analysis (diff against {against}; nothing written):",
            l.at(None)
        );
        if report.key_account.as_deref() == Some(crate::lint_input::STACK_ACCOUNT) {
            out!(
                "{}: NOTE {doc}: {} in the diff is the stack's own account (AWS::AccountId)",
                l.at(None),
                crate::lint_input::STACK_ACCOUNT
            );
        }
        out_raw!("{diff}");
    }
}

pub(crate) fn fix_json(l: &Linted, fix: &PolicyFix) -> serde_json::Value {
    let mut value = serde_json::to_value(fix).expect("a fix serializes");
    value["diff_against_file"] = diff_is_against_the_file(l, fix).into();
    value
}
