//! Rule outcomes into findings: every rule that applies, on every key, account and region,
//! each run the way its [`Check`] says.

use std::sync::{Arc, LazyLock};

use rustc_hash::FxHashMap;

use kmsaudit_model::{AccountRecord, Finding, KeyRecord, RegionRecord, ResourceType, Snapshot};

use crate::context::Ctx;
use crate::effective::PolicyOrigin;
use crate::policy_cache::PolicyCache;
use crate::rules::{self, Check, KeyInput, Outcome, Rule, RuleDef};

/// Where a finding is about: the names every finding on the resource shares.
struct Place {
    account_id: Arc<str>,
    region: Arc<str>,
    resource_type: ResourceType,
    resource: Arc<str>,
    resource_name: Arc<str>,
}

/// Each rule id once, shared by every finding of the rule.
fn shared_rule_id(id: &'static str) -> Arc<str> {
    static IDS: LazyLock<FxHashMap<&'static str, Arc<str>>> =
        LazyLock::new(|| rules::catalog().map(|r| (r.id, Arc::from(r.id))).collect());
    IDS.get(id).cloned().unwrap_or_else(|| Arc::from(id))
}

fn finding(def: &RuleDef, place: &Place, outcome: Outcome) -> Finding {
    Finding {
        rule_id: shared_rule_id(def.id),
        severity: outcome.severity.unwrap_or(def.severity),
        status: outcome.status,
        muted: false,
        mute_reason: None,
        account_id: place.account_id.clone(),
        region: place.region.clone(),
        resource_type: place.resource_type,
        resource: place.resource.clone(),
        resource_name: place.resource_name.clone(),
        message: outcome.message,
        evidence: outcome.evidence,
    }
}

/// Every rule's verdict on one key. AWS-managed keys get only the reach check: their policies
/// and rotation are AWS's, and no other rule of the catalog applies to them. A key that could
/// not be described gets NOT_ASSESSED from every key and policy rule.
pub(crate) fn key_findings(
    account: &AccountRecord,
    region: &RegionRecord,
    key: &KeyRecord,
    ctx: &Ctx<'_>,
    cache: &PolicyCache<'_>,
    rules: &[&'static Rule],
) -> Vec<Finding> {
    let place = Place {
        account_id: account.id.as_str().into(),
        region: region.region.as_str().into(),
        resource_type: ResourceType::Key,
        resource: key.arn.as_str().into(),
        resource_name: key.display_name().into(),
    };
    let mut out = Vec::new();
    for rule in rules {
        if let Check::Reach { key: reach, .. } = rule.check {
            if let Some(o) = reach(key) {
                out.push(finding(rule.def, &place, o));
            }
        }
    }
    let judged = || {
        rules
            .iter()
            .filter(|r| matches!(r.check, Check::Policy(_) | Check::Key(_) | Check::Access(_)))
    };
    let Some(meta) = &key.metadata else {
        let why = match key.error_for("KMS.DescribeKey") {
            Some(e) => format!("the key could not be described ({}: {})", e.code, e.message),
            None => "the key was not described".to_string(),
        };
        for rule in judged() {
            out.push(finding(
                rule.def,
                &place,
                Outcome::not_assessed(why.clone()),
            ));
        }
        return out;
    };
    if !meta.is_customer_managed() {
        return out;
    }
    let policy = cache.state(key);
    let input = KeyInput {
        key,
        meta,
        region: &region.region,
        policy: &policy,
        access_analyzer: region.access_analyzer.as_ref(),
    };
    // Policy-rule outcomes are shared per (policy, account), in `policy_rules` order; no policy
    // rule needs Access Analyzer, so all of them run (a catalog test holds that).
    let outcomes: Arc<Vec<Outcome>> = cache.outcomes(key, &meta.aws_account_id, &policy, ctx);
    for ((rule, _), outcome) in rules::policy_rules().zip(outcomes.iter()) {
        out.push(finding(rule.def, &place, outcome.clone()));
    }
    for rule in rules {
        match (rule.check, &ctx.access) {
            (Check::Key(check), _) => out.push(finding(rule.def, &place, check(&input, ctx))),
            (Check::Access(check), Some(access)) => out.push(finding(
                rule.def,
                &place,
                check(&access.of(&key.arn), &input, ctx),
            )),
            _ => {}
        }
    }
    out
}

/// The verdicts on accounts and account × regions.
pub(crate) fn scope_findings(
    snapshot: &Snapshot,
    ctx: &Ctx<'_>,
    rules: &[&'static Rule],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for account in &snapshot.accounts {
        let account_place = Place {
            account_id: account.id.as_str().into(),
            region: "".into(),
            resource_type: ResourceType::Account,
            resource: format!("account/{}", account.id).into(),
            resource_name: account.name.as_deref().unwrap_or(&account.id).into(),
        };
        for rule in rules {
            match rule.check {
                Check::Reach { account: reach, .. } => {
                    out.push(finding(rule.def, &account_place, reach(account)));
                }
                Check::Account(check) => {
                    if let Some(o) = check(account, ctx) {
                        out.push(finding(rule.def, &account_place, o));
                    }
                }
                _ => {}
            }
        }
        for region in &account.regions {
            let place = Place {
                account_id: account_place.account_id.clone(),
                region: region.region.as_str().into(),
                resource_type: ResourceType::AccountRegion,
                resource: format!("account/{}/region/{}", account.id, region.region).into(),
                resource_name: format!("{} {}", account_place.resource_name, region.region).into(),
            };
            for rule in rules {
                let outcome = match rule.check {
                    Check::Reach { region: reach, .. } => reach(region),
                    Check::Region(check) => check(region, ctx),
                    Check::AccountRegion(check) => check(account, region, ctx),
                    Check::Policy(_)
                    | Check::Key(_)
                    | Check::Access(_)
                    | Check::Account(_)
                    | Check::IamPolicy(_) => None,
                };
                if let Some(o) = outcome {
                    out.push(finding(rule.def, &place, o));
                }
            }
        }
    }
    // IAM identity policies where they are used.
    let policies = ctx.access.iter().flat_map(|a| &a.iam_policies);
    for policy in policies {
        let place = Place {
            account_id: policy.account.as_str().into(),
            region: "".into(),
            resource_type: match policy.origin {
                PolicyOrigin::UnreadAccount => ResourceType::Account,
                _ => ResourceType::IamPolicy,
            },
            resource: policy.id.as_str().into(),
            resource_name: policy.name.as_str().into(),
        };
        for rule in rules {
            if let Check::IamPolicy(check) = rule.check {
                out.push(finding(rule.def, &place, check(policy, ctx)));
            }
        }
    }
    out
}
