//! Checked fixes for key policy findings. For each policy rule the policy fails, the smallest
//! edits (`edits.rs`) are tried in order, and a candidate is kept only when the engine, run
//! again on the edited policy, finds that:
//!
//! 1. the rule's findings are gone (and those of rules fixed before stay gone);
//! 2. no finding appears that the current policy does not have (same rule and principal), and
//!    no rule becomes unassessable;
//! 3. every principal that can change the key policy today (`kms:PutKeyPolicy`) still can,
//!    except those the finding itself is about (a principal outside the organization, or a
//!    non-administrator holding administration).
//!
//! A rule no candidate passes is refused, with the reason of each candidate. Nothing here is
//! ever applied: the proposal is a document and a command for a person.

mod commands;
mod edits;
mod remediate;

pub(crate) use commands::annotate as annotate_commands;
pub(crate) use remediate::remediate;

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::lint::{lint_analysed, LintOptions, LintReport};
use crate::policy::{ActionSet, Analysis, Who};
use edits::{candidates, no_edit_reason, Target};

/// A proposed key policy, and what it fixes and does not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyFix {
    /// Rules whose findings the proposal removes, with the change made for each.
    pub fixed: Vec<FixedRule>,
    /// Rules the proposal leaves failing, with why.
    pub refused: Vec<RefusedRule>,
    /// The proposed policy (pretty JSON); `None` when no rule could be fixed.
    pub proposed: Option<String>,
    /// The current policy as pretty JSON, the form the diff is made against.
    pub current: String,
    /// Unified diff of `current` against `proposed`.
    pub diff: Option<String>,
}

/// A rule the proposal fixes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixedRule {
    pub rule_id: String,
    /// What was changed, in words.
    pub change: String,
}

/// A rule the proposal does not fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusedRule {
    pub rule_id: String,
    pub why: String,
}

/// What one run of the engine says of a policy, for comparing.
struct Judged {
    report: LintReport,
    /// (rule, principal) of every finding.
    findings: BTreeSet<(String, String)>,
    /// Rules not assessed.
    not_assessed: BTreeSet<String>,
    /// Principals that can change the key policy.
    policy_changers: BTreeSet<String>,
}

fn judge(text: &str, options: &LintOptions) -> Judged {
    let (report, analysis) = lint_analysed(text, options);
    let findings = report
        .findings
        .iter()
        .map(|f| (f.rule_id.clone(), principal_key(f.principal.as_deref())))
        .collect();
    let not_assessed = report
        .not_assessed
        .iter()
        .map(|n| n.split(':').next().unwrap_or_default().to_string())
        .collect();
    Judged {
        findings,
        not_assessed,
        policy_changers: analysis.as_ref().map(policy_changers).unwrap_or_default(),
        report,
    }
}

/// A finding's principal as compared: its first word, so that `*` narrowed by a pin (`*
/// restricted to organization o-1`) is the same principal as `*`.
fn principal_key(principal: Option<&str>) -> String {
    principal
        .and_then(|p| p.split_whitespace().next())
        .unwrap_or_default()
        .to_string()
}

/// Named principals an Allow gives `kms:PutKeyPolicy` (after Denies).
fn policy_changers(analysis: &Analysis) -> BTreeSet<String> {
    analysis
        .accesses
        .iter()
        .filter(|a| a.actions.overlaps(ActionSet::policy_change()))
        .filter(|a| matches!(a.who, Who::Named(_)))
        .map(|a| principal_key(Some(&a.who.describe())))
        .collect()
}

/// Whether the candidate meets the three checks; else why not.
fn check(
    rule_id: &str,
    after: &Judged,
    before: &Judged,
    fixed: &[FixedRule],
    exempt: &BTreeSet<String>,
) -> Result<(), String> {
    if let Some(e) = &after.report.parse_error {
        return Err(format!("the edited policy would not parse: {e}"));
    }
    for r in std::iter::once(rule_id).chain(fixed.iter().map(|f| f.rule_id.as_str())) {
        if let Some((_, who)) = after.findings.iter().find(|(id, _)| id == r) {
            return Err(format!("{r} still fails (for {})", or_policy(who)));
        }
    }
    if let Some((id, who)) = after.findings.difference(&before.findings).next() {
        return Err(format!(
            "it would add a finding: {id} for {}",
            or_policy(who)
        ));
    }
    if let Some(id) = after.not_assessed.difference(&before.not_assessed).next() {
        return Err(format!("{id} could no longer be assessed"));
    }
    let lost: Vec<&String> = before
        .policy_changers
        .difference(&after.policy_changers)
        .filter(|p| !exempt.contains(*p))
        .collect();
    if let Some(p) = lost.first() {
        return Err(format!(
            "{p} could no longer change the key policy (a lockout)"
        ));
    }
    Ok(())
}

fn or_policy(who: &str) -> &str {
    if who.is_empty() {
        "the policy"
    } else {
        who
    }
}

/// Principals the rule's findings are about, who may lose `kms:PutKeyPolicy` by the fix.
fn exempt_principals(rule_id: &str, judged: &Judged) -> BTreeSet<String> {
    match rule_id {
        "KMS-POLICY-ADMIN-ALLOWLIST" | "KMS-POLICY-PUTPOLICY" | "KMS-POLICY-EXTERNAL" => judged
            .findings
            .iter()
            .filter(|(id, _)| id == rule_id)
            .map(|(_, who)| who.clone())
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn pretty(policy: &Value) -> String {
    serde_json::to_string_pretty(policy).expect("a JSON value serializes") + "\n"
}

/// The proposal for the policy `text`, checked by re-analysis (see the module's doc).
pub fn propose_policy_fix(text: &str, options: &LintOptions) -> PolicyFix {
    let before = judge(text, options);
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let current = parsed
        .as_ref()
        .map(pretty)
        .unwrap_or_else(|| text.to_string());
    let mut fix = PolicyFix {
        fixed: vec![],
        refused: vec![],
        proposed: None,
        current,
        diff: None,
    };
    let mut rules: Vec<&str> = vec![];
    for f in &before.report.findings {
        if !rules.contains(&f.rule_id.as_str()) {
            rules.push(&f.rule_id);
        }
    }
    let (Some(mut working), None) = (parsed, &before.report.parse_error) else {
        fix.refused = rules
            .iter()
            .map(|r| RefusedRule {
                rule_id: r.to_string(),
                why: no_edit_reason("KMS-POLICY-UNPARSEABLE").into(),
            })
            .collect();
        return fix;
    };
    let target = Target {
        org_id: options.org_id.as_deref(),
        key_account: before.report.key_account.as_deref(),
        external_accounts: &before.report.summary.external_accounts,
    };
    // The engine's answer on the policy edited so far (`None`: not edited yet, `before`).
    let mut current: Option<Judged> = None;
    for rule_id in rules {
        let tries = candidates(rule_id);
        if tries.is_empty() {
            fix.refused.push(RefusedRule {
                rule_id: rule_id.into(),
                why: no_edit_reason(rule_id).into(),
            });
            continue;
        }
        // The rule's statements, as the engine finds them on the policy edited so far.
        let now = current.as_ref().unwrap_or(&before);
        if !now.findings.iter().any(|(id, _)| id == rule_id) {
            fix.fixed.push(FixedRule {
                rule_id: rule_id.into(),
                change: "fixed by the edits above".into(),
            });
            continue;
        }
        let mut indices: Vec<usize> = now
            .report
            .findings
            .iter()
            .filter(|f| f.rule_id == rule_id)
            .filter_map(|f| f.statement_index)
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let exempt = exempt_principals(rule_id, &before);
        let mut reasons = vec![];
        let mut accepted = None;
        for (name, edit) in tries {
            let Some((edited, change)) = edit(&working, &indices, &target) else {
                reasons.push(format!("{name}: nothing in the policy for it to change"));
                continue;
            };
            let after = judge(&pretty(&edited), options);
            match check(rule_id, &after, &before, &fix.fixed, &exempt) {
                Ok(()) => {
                    accepted = Some((edited, change, after));
                    break;
                }
                Err(why) => reasons.push(format!("{name}: {why}")),
            }
        }
        match accepted {
            Some((edited, change, after)) => {
                working = edited;
                current = Some(after);
                fix.fixed.push(FixedRule {
                    rule_id: rule_id.into(),
                    change,
                });
            }
            None => fix.refused.push(RefusedRule {
                rule_id: rule_id.into(),
                why: format!("no edit passed the checks: {}", reasons.join("; ")),
            }),
        }
    }
    if !fix.fixed.is_empty() {
        let proposed = pretty(&working);
        fix.diff = Some(unified_diff(&fix.current, &proposed));
        fix.proposed = Some(proposed);
    }
    fix
}

/// A unified diff, `current` against `proposed`.
fn unified_diff(current: &str, proposed: &str) -> String {
    similar::TextDiff::from_lines(current, proposed)
        .unified_diff()
        .context_radius(3)
        .header("current", "proposed")
        .to_string()
}

#[cfg(test)]
mod tests;
