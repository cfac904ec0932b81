//! The evaluation's fixes: a checked policy proposal for each key whose policy fails a policy
//! rule, and the exact CLI command for the other findings that have one. Each failing finding
//! says what was proposed for it, or why nothing was.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kmsaudit_model::{Evidence, Finding, KeyRemediation, RuleChange, Snapshot, Status};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{propose_policy_fix, PolicyFix};
use crate::config::EvalConfig;
use crate::lint::LintOptions;

/// The key's policy, and whether the proposal depends on the key's ARN.
struct Subject<'s> {
    arn: &'s str,
    key_id: &'s str,
    account: &'s str,
    region: &'s str,
    policy: &'s str,
}

/// What a proposal depends on: the policy, the key's account and, when the policy names keys,
/// the key.
type Memo<'s> = (&'s str, &'s str, Option<&'s str>);

/// A proposal's policy and diff, shared by the keys it serves.
type Texts = (Arc<str>, Arc<str>);

/// Whether every statement applies to `Resource: "*"`: the analysis then does not depend on
/// which key of the account holds the policy, and one proposal serves them all.
fn any_key(policy: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(policy) else {
        return true;
    };
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    statements
        .iter()
        .all(|st| st.get("Resource").is_none_or(|r| r == "*"))
}

/// A file-name part: letters, digits and `-` only.
fn plain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Proposes the fixes and writes what was proposed (or why not) into the failing findings.
pub(crate) fn remediate(
    snapshot: &Snapshot,
    config: &EvalConfig,
    findings: &mut [Finding],
) -> Vec<KeyRemediation> {
    let policy_rules: BTreeSet<&str> = crate::policy_rule_ids().into_iter().collect();
    let failing: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f.status == Status::Fail && policy_rules.contains(&*f.rule_id))
        .map(|f| &*f.resource)
        .collect();
    if failing.is_empty() {
        return vec![];
    }
    let subjects: Vec<Subject<'_>> = snapshot
        .keys()
        .filter(|(_, _, k)| failing.contains(k.arn.as_str()))
        .filter_map(|(a, r, k)| {
            Some(Subject {
                arn: &k.arn,
                key_id: &k.key_id,
                account: &a.id,
                region: &r.region,
                policy: k.policy.as_deref()?,
            })
        })
        .collect();
    let org_accounts: Vec<String> = snapshot.accounts.iter().map(|a| a.id.clone()).collect();
    let org_id = snapshot.organization.as_ref().map(|o| o.id.clone());
    // One proposal per (policy, account), or per key when the policy names keys.
    let mut independent: FxHashMap<&str, bool> = FxHashMap::default();
    let memo: Vec<Memo<'_>> = subjects
        .iter()
        .map(|s| {
            let any = *independent
                .entry(s.policy)
                .or_insert_with(|| any_key(s.policy));
            (s.policy, s.account, (!any).then_some(s.arn))
        })
        .collect();
    let mut distinct: BTreeMap<Memo<'_>, &Subject<'_>> = BTreeMap::new();
    for (s, m) in subjects.iter().zip(&memo) {
        distinct.entry(*m).or_insert(s);
    }
    let fixes: FxHashMap<_, Arc<PolicyFix>> = distinct
        .into_par_iter()
        .map(|(memo, s)| {
            let options = LintOptions {
                key_account: Some(s.account.to_string()),
                key_arn: Some(s.arn.to_string()),
                org_accounts: org_accounts.clone(),
                org_id: org_id.clone(),
                config: config.clone(),
                now: Some(snapshot.metadata.started_at),
            };
            (memo, Arc::new(propose_policy_fix(s.policy, &options)))
        })
        .collect();
    // The texts once per proposal, shared by the keys it serves.
    let texts: FxHashMap<Memo<'_>, Texts> = fixes
        .iter()
        .filter_map(|(m, f)| {
            Some((
                *m,
                (
                    Arc::from(f.proposed.as_deref()?),
                    Arc::from(f.diff.as_deref()?),
                ),
            ))
        })
        .collect();
    // File stems: the key id where it is plain and unique among the proposals.
    let mut proposals: Vec<(&Subject<'_>, &PolicyFix, &Texts)> = subjects
        .iter()
        .zip(&memo)
        .filter_map(|(s, m)| Some((s, &*fixes[m], texts.get(m)?)))
        .collect();
    proposals.sort_by_key(|(s, _, _)| s.arn);
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (s, _, _) in &proposals {
        *ids.entry(s.key_id).or_default() += 1;
    }
    let mut out = Vec::with_capacity(proposals.len());
    let mut stems: FxHashMap<&str, String> = FxHashMap::default();
    for (n, (s, fix, (policy, diff))) in proposals.iter().enumerate() {
        let stem = if plain(s.key_id) && ids[s.key_id] == 1 {
            s.key_id.to_string()
        } else if plain(s.key_id) && plain(s.account) && plain(s.region) {
            format!("{}-{}-{}", s.key_id, s.account, s.region)
        } else {
            format!("key-{}", n + 1)
        };
        stems.insert(s.arn, stem.clone());
        let command = format!(
            "aws kms put-key-policy --key-id {} --policy-name default --policy file://remediation/{stem}.json --region {}",
            s.arn, s.region
        );
        let change = |list: &[super::FixedRule]| {
            list.iter()
                .map(|f| RuleChange {
                    rule_id: f.rule_id.clone(),
                    text: f.change.clone(),
                })
                .collect()
        };
        out.push(KeyRemediation {
            key_arn: s.arn.into(),
            account_id: s.account.into(),
            region: s.region.into(),
            stem,
            fixed: change(&fix.fixed),
            refused: fix
                .refused
                .iter()
                .map(|r| RuleChange {
                    rule_id: r.rule_id.clone(),
                    text: r.why.clone(),
                })
                .collect(),
            policy: policy.clone(),
            diff: diff.clone(),
            command,
        });
    }
    let by_arn: FxHashMap<&str, &PolicyFix> = subjects
        .iter()
        .zip(&memo)
        .map(|(s, m)| (s.arn, &*fixes[m]))
        .collect();
    findings.par_iter_mut().for_each(|f| {
        if f.status != Status::Fail || !policy_rules.contains(&*f.rule_id) {
            return;
        }
        let Some(fix) = by_arn.get(&*f.resource) else {
            return;
        };
        let said = match (
            fix.fixed.iter().find(|x| *x.rule_id == *f.rule_id),
            fix.refused.iter().find(|x| *x.rule_id == *f.rule_id),
        ) {
            (Some(done), _) => format!(
                "checked fix in remediation/{}.json: {}",
                stems[&*f.resource], done.change
            ),
            (None, Some(refused)) => format!("no checked fix: {}", refused.why),
            (None, None) => return,
        };
        f.evidence = Arc::new(Evidence::clone(&f.evidence).detail("fix", said));
    });
    out
}
