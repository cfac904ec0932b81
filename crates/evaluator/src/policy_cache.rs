//! Parsed and analyzed key policies shared by every key with the same policy text.
//!
//! Real organizations repeat a few policies thousands of times (the default policy differs only
//! by account), so each text is parsed once. Only analyses that cannot depend on the key (every
//! statement on `Resource: "*"`) are shared; the others are computed per key. The policy rules'
//! outcomes depend only on the analysis and the key's account, so they are shared too, per
//! (policy text, account).

use std::sync::Arc;

use kmsaudit_model::{AccountRecord, KeyRecord, RegionRecord};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::context::Ctx;
use crate::policy;
use crate::rules::{self, Outcome, PolicyState};

pub(crate) struct PolicyCache<'s> {
    by_text: FxHashMap<&'s str, Arc<PolicyState>>,
    outcomes: FxHashMap<(&'s str, &'s str), Arc<Vec<Outcome>>>,
    /// The organization and "now" every analysis of the scan is made for.
    org: Option<String>,
    now: kmsaudit_model::Timestamp,
}

impl<'s> PolicyCache<'s> {
    pub fn build(
        keys: &[(&AccountRecord, &RegionRecord, &'s KeyRecord)],
        ctx: &Ctx<'_>,
    ) -> PolicyCache<'s> {
        let pairs: FxHashSet<(&'s str, &'s str)> = keys
            .par_iter()
            .filter_map(|(_, _, k)| {
                Some((
                    k.policy.as_deref()?,
                    k.metadata.as_ref()?.aws_account_id.as_str(),
                ))
            })
            .fold(FxHashSet::default, |mut set, t| {
                set.insert(t);
                set
            })
            .reduce(FxHashSet::default, |mut a, b| {
                a.extend(b);
                a
            });
        let texts: FxHashSet<&'s str> = pairs.iter().map(|(t, _)| *t).collect();
        let by_text = texts
            .into_par_iter()
            .filter_map(|text| {
                let state = match policy::parse_policy(text) {
                    // Variables (`${aws:ResourceAccount}`) and principals of other partitions
                    // are read against the key: such texts are analysed per key.
                    Ok(p)
                        if p.statements
                            .iter()
                            .all(|s| s.resources.patterns.iter().any(|r| r == "*"))
                            && !text.contains("${")
                            && !text.contains("arn:aws-") =>
                    {
                        PolicyState::Analyzed(policy::analyze_in(
                            &p,
                            &scan_env(policy::KeyScope::Unknown, ctx),
                        ))
                    }
                    Ok(_) => return None,
                    Err(e) => PolicyState::Unparseable(e),
                };
                Some((text, Arc::new(state)))
            })
            .collect::<FxHashMap<_, _>>();
        let outcomes = pairs
            .into_par_iter()
            .filter_map(|(text, account)| {
                let state = by_text.get(text)?;
                Some((
                    (text, account),
                    Arc::new(policy_outcomes(state, account, ctx)),
                ))
            })
            .collect();
        PolicyCache {
            by_text,
            outcomes,
            org: ctx.zone.org_id.clone(),
            now: ctx.now,
        }
    }

    /// The shared policy-rule outcomes of this key's policy in its account, or computed now.
    pub fn outcomes(
        &self,
        key: &KeyRecord,
        account: &str,
        state: &PolicyState,
        ctx: &Ctx<'_>,
    ) -> Arc<Vec<Outcome>> {
        key.policy
            .as_deref()
            .and_then(|text| self.outcomes.get(&(text, account)))
            .cloned()
            .unwrap_or_else(|| Arc::new(policy_outcomes(state, account, ctx)))
    }

    /// The shared analysis of this key's policy, or one made for this key.
    pub fn state(&self, key: &KeyRecord) -> Arc<PolicyState> {
        match key.policy.as_deref().and_then(|t| self.by_text.get(t)) {
            Some(shared) => shared.clone(),
            None => Arc::new(analyzed_state(key, self.org.as_deref(), self.now)),
        }
    }
}

/// Rules whose PASS message carries the analysis's notes: what was left out of who can get in
/// (a closed time window, a principal of another partition) is said where the verdict is.
const NOTED_RULES: [&str; 2] = ["KMS-POLICY-PUBLIC", "KMS-POLICY-EXTERNAL"];

/// Every policy rule's outcome, in [`rules::policy_rules`] order.
fn policy_outcomes(state: &PolicyState, key_account: &str, ctx: &Ctx<'_>) -> Vec<Outcome> {
    let notes = match state {
        PolicyState::Analyzed(a) if !a.notes.is_empty() => Some(a.notes.join("; ")),
        _ => None,
    };
    rules::policy_rules()
        .map(|(rule, check)| {
            let mut outcome =
                rules::with_policy(state, key_account, |p| check(p, ctx).into_outcome());
            if let (Some(notes), kmsaudit_model::Status::Pass) = (&notes, outcome.status) {
                if NOTED_RULES.contains(&rule.def.id) {
                    outcome.message = format!("{} (notes: {notes})", outcome.message).into();
                }
            }
            outcome
        })
        .collect()
}

/// What an analysis in this scan knows: the key, the organization, the scan's start.
fn scan_env<'a>(key: policy::KeyScope<'a>, ctx: &'a Ctx<'_>) -> policy::AnalysisEnv<'a> {
    policy::AnalysisEnv {
        key,
        key_org: ctx.zone.org_id.as_deref(),
        now: Some(ctx.now),
    }
}

/// Reads and analyzes a key's policy for the scan of `ctx`, or says why it cannot be.
pub(crate) fn policy_state(key: &KeyRecord, ctx: &Ctx<'_>) -> PolicyState {
    analyzed_state(key, ctx.zone.org_id.as_deref(), ctx.now)
}

fn analyzed_state(
    key: &KeyRecord,
    org: Option<&str>,
    now: kmsaudit_model::Timestamp,
) -> PolicyState {
    let env = policy::AnalysisEnv {
        key: policy::KeyScope::Arn(&key.arn),
        key_org: org,
        now: Some(now),
    };
    match &key.policy {
        Some(text) => match policy::parse_policy(text) {
            Ok(p) => PolicyState::Analyzed(policy::analyze_in(&p, &env)),
            Err(e) => PolicyState::Unparseable(e),
        },
        None => PolicyState::Unread(match key.error_for("KMS.GetKeyPolicy") {
            Some(e) if e.code.contains("AccessDenied") => {
                format!("the key policy could not be read ({}: {}); the key policy may not allow the audit role", e.code, e.message)
            }
            Some(e) => format!(
                "the key policy could not be read ({}: {})",
                e.code, e.message
            ),
            None => "the key policy was not collected".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::{allow, ctx, test_key};

    #[test]
    fn a_scan_says_why_a_statement_grants_nothing_now() {
        let config = crate::config::EvalConfig::default();
        let ctx = ctx(&config);
        let mut key = test_key();
        key.policy = Some(
            allow(
                r#""*""#,
                r#""kms:Decrypt""#,
                r#"{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
            )
            .into(),
        );
        let state = policy_state(&key, &ctx);
        let outcomes = policy_outcomes(&state, "111122223333", &ctx);
        let public = rules::policy_rules()
            .position(|(r, _)| r.def.id == "KMS-POLICY-PUBLIC")
            .unwrap();
        assert_eq!(outcomes[public].status, kmsaudit_model::Status::Pass);
        assert!(
            outcomes[public]
                .message
                .contains("statement 0 grants nothing now: DateLessThan aws:CurrentTime"),
            "{}",
            outcomes[public].message
        );
    }
}
