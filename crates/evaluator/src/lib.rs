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
use std::sync::Arc;

use kmsaudit_model::{
    Evaluation, Evidence, Finding, QuietOutcomes, RuleInfo, Severity, Snapshot, Status,
};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

mod compliance;
mod config;
mod context;
mod coverage;
mod effective;
mod findings;
mod fix;
mod lint;
mod monitor;
#[deny(missing_docs)]
pub mod policy;
mod policy_cache;
mod rules;
mod suppress;

pub use compliance::frameworks;
pub use config::{ConfigError, ConfigErrors, EvalConfig, Suppression};
pub use effective::{effective_access, MAX_ASSUME_DEPTH};
pub use fix::{propose_policy_fix, FixedRule, PolicyFix, RefusedRule};
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
    let mut ctx = Ctx::for_snapshot(snapshot, config);
    let active: Vec<_> = rules::active_rules(rules::ScanReads {
        access_analyzer: snapshot.metadata.scope.access_analyzer,
        effective_access: ctx.access.is_some(),
        last_use: snapshot.metadata.scope.last_use,
        monitoring: snapshot.metadata.scope.monitoring,
    })
    .collect();
    let keys: Vec<_> = snapshot.keys().collect();
    let cache = PolicyCache::build(&keys, &ctx);
    let rules: Vec<RuleInfo> = rules::catalog()
        .map(|r| r.info_for(&config.frameworks))
        .collect();
    let index: FxHashMap<&str, u16> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i as u16))
        .collect();
    // Each key's outcomes are split as they are made: only what needs attention stays whole.
    // Each worker folds its keys into one part; the parts are joined once, at their exact size
    // (merging them pairwise would reallocate the largest vectors over and over).
    let parts: Vec<Split> = keys
        .par_iter()
        .fold(Split::default, |mut split, (a, r, k)| {
            split.add(
                findings::key_findings(a, r, k, &ctx, &cache, &active),
                &index,
            );
            split
        })
        .collect();
    drop(cache);
    let mut findings = Vec::with_capacity(parts.iter().map(|p| p.findings.len()).sum());
    let mut quiet = Vec::with_capacity(parts.iter().map(|p| p.quiet.len()).sum());
    // Shared across the workers' parts too.
    let mut verdicts = Verdicts::default();
    for part in parts {
        let (f, q) = part.into_parts();
        findings.extend(f.into_iter().map(|mut f| {
            verdicts.share(&mut f);
            f
        }));
        quiet.extend(q);
    }
    drop(verdicts);
    let mut scope_split = Split::default();
    scope_split.add(findings::scope_findings(snapshot, &ctx, &active), &index);
    let (scope_findings, scope_quiet) = scope_split.into_parts();
    findings.extend(scope_findings);
    quiet.extend(scope_quiet);
    // Only FAIL and NOT_ASSESSED findings are muted: all of them are whole.
    let warnings = suppress::apply_mutes(&mut findings, snapshot, &ctx);
    let remediations = fix::remediate(snapshot, config, &mut findings);
    fix::annotate_commands(&mut findings, config);
    // (rule, resource) names one finding: unstable sorting orders alike and, unlike the stable
    // sort, needs no copy of the whole vector on the side.
    findings.par_sort_unstable_by(|a, b| (&a.rule_id, &a.resource).cmp(&(&b.rule_id, &b.resource)));
    quiet.par_sort_by(|a, b| a.resource.cmp(&b.resource));
    quiet.dedup_by(|later, first| {
        let same = later.resource == first.resource;
        if same {
            first.pass.append(&mut later.pass);
            first.not_applicable.append(&mut later.not_applicable);
        }
        same
    });
    for q in &mut quiet {
        q.pass.sort_unstable();
        q.not_applicable.sort_unstable();
    }
    let (scope, accounts, regions) = coverage::scope(snapshot, &findings);
    let access = ctx.access.take().map(|index| index.table);
    Evaluation {
        findings,
        quiet,
        rules,
        frameworks: compliance::frameworks(&config.frameworks),
        remediations,
        scope,
        accounts,
        regions,
        warnings,
        access,
    }
}

/// Outcomes split as they are made: findings needing attention whole, the others compact.
#[derive(Default)]
struct Split {
    findings: Vec<Finding>,
    quiet: Vec<QuietOutcomes>,
    verdicts: Verdicts,
}

/// Each message and evidence once: keys alike get the same verdict, written anew for each
/// key by the rules that read its access (at 1,000 accounts, a quarter of a million findings
/// in a few thousand verdicts).
#[derive(Default)]
struct Verdicts(std::collections::HashSet<(Arc<str>, Arc<Evidence>)>);

impl Verdicts {
    /// `f` with the message and evidence of an equal verdict seen before, if any.
    fn share(&mut self, f: &mut Finding) {
        let verdict = (f.message.clone(), f.evidence.clone());
        match self.0.get(&verdict) {
            Some((message, evidence)) => {
                f.message = message.clone();
                f.evidence = evidence.clone();
            }
            None => {
                self.0.insert(verdict);
            }
        }
    }
}

impl Split {
    fn add(&mut self, outcomes: impl IntoIterator<Item = Finding>, index: &FxHashMap<&str, u16>) {
        for mut f in outcomes {
            if f.needs_attention() {
                self.verdicts.share(&mut f);
                self.findings.push(f);
                continue;
            }
            let rule = index[&*f.rule_id];
            let entry = match self.quiet.last_mut() {
                Some(q) if q.resource == f.resource => q,
                _ => {
                    self.quiet.push(QuietOutcomes {
                        resource: f.resource,
                        resource_type: f.resource_type,
                        account_id: f.account_id,
                        region: f.region,
                        resource_name: f.resource_name,
                        pass: vec![],
                        not_applicable: vec![],
                    });
                    self.quiet.last_mut().expect("just pushed")
                }
            };
            match f.status {
                Status::Pass => entry.pass.push(rule),
                _ => entry.not_applicable.push(rule),
            }
        }
    }

    fn into_parts(self) -> (Vec<Finding>, Vec<QuietOutcomes>) {
        (self.findings, self.quiet)
    }
}

/// Counts of key findings per status, computed key by key without keeping the findings: the
/// evaluation's hot path, for benchmarks over snapshots too large to hold every finding.
pub fn evaluate_counts(
    snapshot: &Snapshot,
    config: &EvalConfig,
) -> BTreeMap<(Status, Severity), u64> {
    let ctx = Ctx::for_snapshot(snapshot, config);
    let active: Vec<_> = rules::active_rules(rules::ScanReads {
        access_analyzer: snapshot.metadata.scope.access_analyzer,
        effective_access: ctx.access.is_some(),
        last_use: snapshot.metadata.scope.last_use,
        monitoring: snapshot.metadata.scope.monitoring,
    })
    .collect();
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

#[cfg(test)]
mod tests {
    use kmsaudit_model::fixtures::{customer_key, scanned_account};
    use kmsaudit_model::RotationStatus;

    use super::*;

    #[test]
    fn keys_with_the_same_verdict_share_its_message_and_evidence() {
        let key = |id: &str| {
            let mut k = customer_key(&format!("arn:aws:kms:us-east-1:111122223333:key/{id}"));
            k.rotation = Some(RotationStatus::default());
            k
        };
        let snapshot = Snapshot {
            schema_version: kmsaudit_model::SCHEMA_VERSION,
            metadata: Default::default(),
            organization: None,
            accounts: vec![scanned_account(
                "111122223333",
                false,
                vec![key("k1"), key("k2")],
                None,
            )],
            aws_managed_policies: vec![],
        };
        let config = EvalConfig {
            required_tags: vec!["owner".into()],
            ..EvalConfig::default()
        };
        let evaluation = evaluate(&snapshot, &config);
        let of = |rule: &str| -> Vec<&Finding> {
            evaluation
                .findings
                .iter()
                .filter(|f| &*f.rule_id == rule)
                .collect()
        };
        let tags = of("KMS-TAGS-REQUIRED");
        assert_eq!(tags.len(), 2, "{:#?}", evaluation.findings);
        assert_ne!(tags[0].resource, tags[1].resource);
        assert!(Arc::ptr_eq(&tags[0].message, &tags[1].message));
        assert!(Arc::ptr_eq(&tags[0].evidence, &tags[1].evidence));
        // A finding with a command to fix it names its own key: only the message is shared.
        let rotation = of("KMS-ROTATION-DISABLED");
        assert!(Arc::ptr_eq(&rotation[0].message, &rotation[1].message));
        let command = |f: &Finding| f.evidence.details.get("command").unwrap().to_string();
        assert!(command(rotation[0]).contains(&*rotation[0].resource));
        assert_ne!(command(rotation[0]), command(rotation[1]));
    }
}
