//! compliance.csv: the control view an auditor files. One row per (framework, control) the
//! catalog maps a rule to, with the rules that decide it and how many resources pass, fail, are
//! muted or could not be assessed. A resource counts once per control, by its worst outcome
//! under the control's rules (failing, then muted, then not assessed, then passing); outcomes
//! that do not apply are not counted. The control fails if any resource fails, is not assessed
//! if any resource could not be, is MUTED when its only failures are accepted exceptions
//! (muted findings), and passes only when everything it covers passed.

use std::collections::BTreeMap;
use std::io::Write;

use kmsaudit_model::{Evaluation, Status};
use rustc_hash::FxHashMap;

use crate::csv_out::{write, Row};

/// A resource's outcome under one control, worst last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Worst {
    Passing,
    NotAssessed,
    Muted,
    Failing,
}

pub(crate) fn compliance_csv(out: &mut dyn Write, evaluation: &Evaluation) -> std::io::Result<()> {
    // (framework, control) → the rules mapped to it.
    let mut controls: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for r in &evaluation.rules {
        for (framework, ids) in &r.compliance {
            for id in ids {
                controls.entry((framework, id)).or_default().push(&r.id);
            }
        }
    }
    let keys: Vec<(&str, &str)> = controls.keys().copied().collect();
    let mut by_rule: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
    for (i, rules) in controls.values().enumerate() {
        for r in rules {
            by_rule.entry(r).or_default().push(i);
        }
    }
    let mut worst: Vec<FxHashMap<&str, Worst>> = vec![FxHashMap::default(); keys.len()];
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
    let header = [
        "framework",
        "control",
        "status",
        "rules",
        "resources_passing",
        "resources_failing",
        "resources_muted",
        "resources_not_assessed",
    ];
    let rows = keys.iter().zip(controls.values()).zip(&worst).map(
        |(((framework, control), rules), resources)| {
            let count = |w: Worst| resources.values().filter(|v| **v == w).count();
            let (pass, fail, muted, na) = (
                count(Worst::Passing),
                count(Worst::Failing),
                count(Worst::Muted),
                count(Worst::NotAssessed),
            );
            let status = if fail > 0 {
                "FAIL"
            } else if na > 0 {
                "NOT_ASSESSED"
            } else if muted > 0 {
                "MUTED"
            } else if pass > 0 {
                "PASS"
            } else {
                "NOT_APPLICABLE"
            };
            Row::default()
                .text(framework)
                .text(control)
                .text(status)
                .text(rules.join(" "))
                .text(pass.to_string())
                .text(fail.to_string())
                .text(muted.to_string())
                .text(na.to_string())
        },
    );
    write(out, &header, rows)
}
