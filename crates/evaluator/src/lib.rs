//! kmsaudit's evaluator: a pure function from a [`Snapshot`] (and rule configuration) to an
//! [`Evaluation`]. It never touches the network, the file system, the environment or the
//! clock: "now" is the scan's start time. It cannot fail as a whole: a key whose data could not
//! be read or understood yields NOT_ASSESSED findings with the reason, never a PASS.
//!
//! `policy/` is the key policy engine; `rules/` the catalog; `context.rs` what every rule may
//! read; `policy_cache.rs` shares policy analyses; `findings.rs` runs the rules on keys,
//! accounts and regions; `suppress.rs` mutes; `coverage.rs` counts the scope; `lint.rs` is
//! `lint-policy`.

use std::collections::BTreeMap;

use kmsaudit_model::{Evaluation, Finding, RuleInfo, Severity, Snapshot, Status};
use rayon::prelude::*;

mod config;
mod context;
mod coverage;
mod findings;
mod lint;
#[deny(missing_docs)]
pub mod policy;
mod policy_cache;
mod rules;
mod suppress;

pub use config::{ConfigError, ConfigErrors, EvalConfig, Suppression};
pub use lint::{lint_policy, LintFinding, LintOptions, LintReport, LintSummary};

use context::Ctx;
use policy_cache::PolicyCache;

/// The rule catalog, in catalog order.
pub fn rule_catalog() -> Vec<RuleInfo> {
    rules::catalog().map(rules::RuleDef::info).collect()
}

/// The ids of the rules that read only the key policy: the rules `lint_policy` runs.
pub fn policy_rule_ids() -> Vec<&'static str> {
    rules::policy_rules().map(|(r, _)| r.def.id).collect()
}

/// Evaluates every rule over every key, account and region of the snapshot.
pub fn evaluate(snapshot: &Snapshot, config: &EvalConfig) -> Evaluation {
    let ctx = Ctx::for_snapshot(snapshot, config);
    let active: Vec<_> = rules::active_rules(snapshot.metadata.scope.access_analyzer).collect();
    let keys: Vec<_> = snapshot.keys().collect();
    let cache = PolicyCache::build(&keys, &ctx);
    let mut findings: Vec<Finding> = keys
        .par_iter()
        .flat_map_iter(|(a, r, k)| findings::key_findings(a, r, k, &ctx, &cache, &active))
        .collect();
    findings.extend(findings::scope_findings(snapshot, &ctx, &active));
    let warnings = suppress::apply_mutes(&mut findings, snapshot, &ctx);
    findings.par_sort_by(|a, b| (&a.rule_id, &a.resource).cmp(&(&b.rule_id, &b.resource)));
    let (scope, accounts, regions) = coverage::scope(snapshot, &findings);
    Evaluation {
        findings,
        rules: rule_catalog(),
        scope,
        accounts,
        regions,
        warnings,
    }
}

/// Counts of key findings per status, computed key by key without keeping the findings: the
/// evaluation's hot path, for benchmarks over snapshots too large to hold every finding.
pub fn evaluate_counts(
    snapshot: &Snapshot,
    config: &EvalConfig,
) -> BTreeMap<(Status, Severity), u64> {
    let ctx = Ctx::for_snapshot(snapshot, config);
    let active: Vec<_> = rules::active_rules(snapshot.metadata.scope.access_analyzer).collect();
    let keys: Vec<_> = snapshot.keys().collect();
    let cache = PolicyCache::build(&keys, &ctx);
    keys.par_iter()
        .fold(
            BTreeMap::new,
            |mut acc: BTreeMap<(Status, Severity), u64>, (a, r, k)| {
                for f in findings::key_findings(a, r, k, &ctx, &cache, &active) {
                    *acc.entry((f.status, f.severity)).or_insert(0) += 1;
                }
                acc
            },
        )
        .reduce(BTreeMap::new, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_insert(0) += v;
            }
            a
        })
}
