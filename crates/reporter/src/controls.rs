//! The control view: one row per (framework, control) the catalog maps a rule to, with the
//! rules that decide it and how many resources pass, fail, are muted or could not be assessed.
//! compliance.csv and the report's framework section are both made from it.
//!
//! A resource counts once per control, by its worst outcome under the control's rules
//! (failing, then muted, then not assessed, then passing); outcomes that do not apply are not
//! counted. The control fails if any resource fails, is not assessed if any resource could not
//! be, is MUTED when its only failures are accepted exceptions (muted findings), and passes only
//! when everything it covers passed.

use std::collections::BTreeMap;

use kmsaudit_model::{Evaluation, Finding, Status};
use rustc_hash::FxHashMap;

/// A resource's outcome under one control, worst last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Worst {
    Passing,
    NotAssessed,
    Muted,
    Failing,
}

/// How many findings behind a control the report names; compliance.csv counts them all.
pub(crate) const FINDINGS_SHOWN: usize = 5;

/// One (framework, control).
pub(crate) struct ControlRow<'e> {
    pub framework: &'e str,
    pub control: &'e str,
    /// Empty when the evaluation predates control titles.
    pub title: &'e str,
    pub sources: &'e [String],
    pub rules: Vec<&'e str>,
    pub status: &'static str,
    pub pass: usize,
    pub fail: usize,
    pub muted: usize,
    pub not_assessed: usize,
    /// The first [`FINDINGS_SHOWN`] unmuted findings behind the status: failing ones first,
    /// then those not assessed.
    pub behind: Vec<&'e Finding>,
    /// How many unmuted failing or not assessed findings are behind it in all.
    pub behind_total: usize,
}

/// Every control, framework by framework in the mapping file's order.
pub(crate) fn control_rows(evaluation: &Evaluation) -> Vec<ControlRow<'_>> {
    // (framework, control) → the rules mapped to it.
    let mut rules_of: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for r in &evaluation.rules {
        for (framework, ids) in &r.compliance {
            for id in ids {
                rules_of.entry((framework, id)).or_default().push(&r.id);
            }
        }
    }
    // The file's order and titles; an evaluation without them keeps the rules' own order.
    let mut order: Vec<(&str, &str, &str, &[String])> = vec![];
    for f in &evaluation.frameworks {
        for c in &f.controls {
            if rules_of.contains_key(&(f.name.as_str(), c.id.as_str())) {
                order.push((&f.name, &c.id, &c.title, &c.sources));
            }
        }
    }
    if order.is_empty() {
        order = rules_of
            .keys()
            .map(|(f, c)| (*f, *c, "", &[][..]))
            .collect();
    }
    let mut by_rule: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
    for (i, (f, c, _, _)) in order.iter().enumerate() {
        for r in &rules_of[&(*f, *c)] {
            by_rule.entry(r).or_default().push(i);
        }
    }
    let mut worst: Vec<FxHashMap<&str, Worst>> = vec![FxHashMap::default(); order.len()];
    for o in evaluation.outcomes() {
        let w = match (o.status, o.muted) {
            (Status::Fail, true) => Worst::Muted,
            (Status::Fail, false) => Worst::Failing,
            (Status::NotAssessed, _) => Worst::NotAssessed,
            (Status::Pass, _) => Worst::Passing,
            (Status::NotApplicable, _) => continue,
        };
        for &i in by_rule.get(o.rule_id).into_iter().flatten() {
            let slot = worst[i].entry(o.resource).or_insert(w);
            *slot = (*slot).max(w);
        }
    }
    let mut findings_of: FxHashMap<&str, Vec<&Finding>> = FxHashMap::default();
    for f in evaluation.findings.iter().filter(|f| !f.muted) {
        findings_of.entry(&f.rule_id).or_default().push(f);
    }
    order
        .into_iter()
        .zip(worst)
        .map(|((framework, control, title, sources), resources)| {
            let count = |w: Worst| resources.values().filter(|v| **v == w).count();
            let (pass, fail, muted, not_assessed) = (
                count(Worst::Passing),
                count(Worst::Failing),
                count(Worst::Muted),
                count(Worst::NotAssessed),
            );
            let status = if fail > 0 {
                "FAIL"
            } else if not_assessed > 0 {
                "NOT_ASSESSED"
            } else if muted > 0 {
                "MUTED"
            } else if pass > 0 {
                "PASS"
            } else {
                "NOT_APPLICABLE"
            };
            let rules = rules_of[&(framework, control)].clone();
            let mut behind = vec![];
            for wanted in [Status::Fail, Status::NotAssessed] {
                for r in &rules {
                    let of_rule = findings_of.get(r).map(Vec::as_slice).unwrap_or_default();
                    behind.extend(
                        of_rule
                            .iter()
                            .filter(|f| f.status == wanted)
                            .take(FINDINGS_SHOWN - behind.len().min(FINDINGS_SHOWN)),
                    );
                }
            }
            behind.truncate(FINDINGS_SHOWN);
            let behind_total = rules
                .iter()
                .flat_map(|r| findings_of.get(r).into_iter().flatten())
                .filter(|f| matches!(f.status, Status::Fail | Status::NotAssessed))
                .count();
            ControlRow {
                framework,
                control,
                title,
                sources,
                rules,
                status,
                pass,
                fail,
                muted,
                not_assessed,
                behind,
                behind_total,
            }
        })
        .collect()
}
