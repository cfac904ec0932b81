//! kmsaudit's evaluator: a pure function from a [`Snapshot`] (and rule configuration) to an
//! [`Evaluation`]. It never touches the network, the file system, the environment or the
//! clock: "now" is the scan's start time. It cannot fail as a whole: a key whose data could not
//! be read or understood yields NOT_ASSESSED findings with the reason, never a PASS.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

use kmsaudit_model::{
    AccountCoverage, AccountRecord, Coverage, Evaluation, Finding, KeyRecord, RegionCoverage,
    RegionRecord, RuleInfo, Severity, Snapshot, Status,
};
use rayon::prelude::*;

mod config;
mod lint;
pub mod policy;
mod rules;

pub use config::{ConfigError, EvalConfig, Suppression};
pub use lint::{lint_policy, LintFinding, LintOptions, LintReport, LintSummary};

use rules::{Ctx, KeyInput, Outcome, PolicyState, RuleDef, TrustZone, KEY_RULES, POLICY_RULES};

/// The rule catalog, in catalog order.
pub fn rule_catalog() -> Vec<RuleInfo> {
    rules::catalog().into_iter().map(RuleDef::info).collect()
}

pub(crate) fn policy_is_account_id(v: &str) -> bool {
    v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())
}

/// Parsed and analyzed key policies shared by every key with the same policy text. Real
/// organizations repeat a few policies thousands of times (the default policy differs only by
/// account), so each text is parsed once. Only analyses that cannot depend on the key (every
/// statement on `Resource: "*"`) are shared; the others are computed per key.
/// The policy rules' outcomes depend only on the analysis and the key's account, so they are
/// shared too, per (policy text, account).
struct PolicyCache<'s> {
    by_text: FxHashMap<&'s str, Arc<PolicyState>>,
    outcomes: FxHashMap<(&'s str, &'s str), Arc<Vec<Outcome>>>,
}

impl<'s> PolicyCache<'s> {
    fn build(
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
                    Ok(p)
                        if p.statements
                            .iter()
                            .all(|s| s.resources.patterns.iter().any(|r| r == "*")) =>
                    {
                        PolicyState::Analyzed(policy::analyze(&p, None))
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
        PolicyCache { by_text, outcomes }
    }

    fn outcomes(&self, key: &KeyRecord, account: &str) -> Option<Arc<Vec<Outcome>>> {
        self.outcomes
            .get(&(key.policy.as_deref()?, account))
            .cloned()
    }

    fn state(&self, key: &KeyRecord) -> Arc<PolicyState> {
        match key.policy.as_deref().and_then(|t| self.by_text.get(t)) {
            Some(shared) => shared.clone(),
            None => Arc::new(policy_state(key)),
        }
    }
}

/// Every policy rule's outcome, in [`POLICY_RULES`] order.
fn policy_outcomes(state: &PolicyState, key_account: &str, ctx: &Ctx<'_>) -> Vec<Outcome> {
    POLICY_RULES
        .iter()
        .map(|rule| rules::with_policy(state, key_account, |p| (rule.check)(p, ctx).into_outcome()))
        .collect()
}

/// Reads and analyzes a key's policy, or says why it cannot be.
pub(crate) fn policy_state(key: &KeyRecord) -> PolicyState {
    match &key.policy {
        Some(text) => match policy::parse_policy(text) {
            Ok(p) => PolicyState::Analyzed(policy::analyze(&p, Some(&key.arn))),
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

fn build_ctx<'a>(snapshot: &Snapshot, config: &'a EvalConfig) -> Ctx<'a> {
    let org_accounts: BTreeSet<String> = snapshot.accounts.iter().map(|a| a.id.clone()).collect();
    let mut org_analyzer_regions = BTreeSet::new();
    let mut aa_findings: BTreeMap<String, Vec<kmsaudit_model::AnalyzerFinding>> = BTreeMap::new();
    for account in &snapshot.accounts {
        for region in &account.regions {
            let Some(aa) = &region.access_analyzer else {
                continue;
            };
            if aa
                .analyzers
                .iter()
                .any(|a| a.analyzer_type == "ORGANIZATION" && a.status == "ACTIVE")
            {
                org_analyzer_regions.insert(region.region.clone());
            }
            for f in aa.findings.iter().filter(|f| f.status == "ACTIVE") {
                let list = aa_findings.entry(f.resource.clone()).or_default();
                if !list.iter().any(|g| g.id == f.id) {
                    list.push(f.clone());
                }
            }
        }
    }
    let now = snapshot
        .metadata
        .started_at
        .parse()
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    Ctx {
        config,
        zone: TrustZone {
            org_id: snapshot.organization.as_ref().map(|o| o.id.clone()),
            // Without Organizations (accounts named by hand) only the scanned accounts are known.
            org_accounts,
            trusted_accounts: config.trusted_accounts.iter().cloned().collect(),
        },
        now,
        org_analyzer_regions,
        aa_findings,
    }
}

/// Where a finding is about.
struct Place<'a> {
    account_id: &'a str,
    region: &'a str,
    resource: String,
    resource_name: String,
}

fn finding(def: &RuleDef, place: &Place<'_>, outcome: Outcome) -> Finding {
    Finding {
        id: format!("{}:{}", def.id, place.resource),
        rule_id: def.id.to_string(),
        severity: outcome.severity.unwrap_or(def.severity),
        status: outcome.status,
        muted: false,
        mute_reason: None,
        account_id: place.account_id.to_string(),
        region: place.region.to_string(),
        resource: place.resource.clone(),
        resource_name: place.resource_name.clone(),
        message: outcome.message,
        evidence: outcome.evidence,
    }
}

/// Every rule's verdict on one key. AWS-managed keys get none: their policies and rotation are
/// AWS's, and no rule of the catalog applies to them.
fn evaluate_key(
    account: &kmsaudit_model::AccountRecord,
    region: &kmsaudit_model::RegionRecord,
    key: &KeyRecord,
    ctx: &Ctx<'_>,
    cache: &PolicyCache<'_>,
    aa_collected: bool,
) -> Vec<Finding> {
    let place = Place {
        account_id: &account.id,
        region: &region.region,
        resource: key.arn.clone(),
        resource_name: key.display_name().to_string(),
    };
    let mut out = Vec::new();
    if let Some(o) = rules::scan_not_assessed::key(key) {
        out.push(finding(&rules::scan_not_assessed::RULE, &place, o));
    }
    let is_aa = |def: &RuleDef| def.id.starts_with("AA-");
    let Some(meta) = &key.metadata else {
        let why = match key.error_for("KMS.DescribeKey") {
            Some(e) => format!("the key could not be described ({}: {})", e.code, e.message),
            None => "the key was not described".to_string(),
        };
        for def in POLICY_RULES
            .iter()
            .map(|r| r.def)
            .chain(KEY_RULES.iter().map(|r| r.def))
        {
            if aa_collected || !is_aa(def) {
                out.push(finding(def, &place, Outcome::not_assessed(why.clone())));
            }
        }
        return out;
    };
    if meta.key_manager != "CUSTOMER" {
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
    let outcomes = cache
        .outcomes(key, &meta.aws_account_id)
        .unwrap_or_else(|| Arc::new(policy_outcomes(&policy, &meta.aws_account_id, ctx)));
    for (rule, outcome) in POLICY_RULES.iter().zip(outcomes.iter()) {
        out.push(finding(rule.def, &place, outcome.clone()));
    }
    for rule in KEY_RULES {
        if !aa_collected && is_aa(rule.def) {
            continue;
        }
        out.push(finding(rule.def, &place, (rule.check)(&input, ctx)));
    }
    out
}

fn scope_findings(snapshot: &Snapshot, ctx: &Ctx<'_>, aa_collected: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    for account in &snapshot.accounts {
        let place = Place {
            account_id: &account.id,
            region: "",
            resource: format!("account/{}", account.id),
            resource_name: account.name.clone().unwrap_or_else(|| account.id.clone()),
        };
        out.push(finding(
            &rules::scan_not_assessed::RULE,
            &place,
            rules::scan_not_assessed::account(account),
        ));
        for region in &account.regions {
            let place = Place {
                account_id: &account.id,
                region: &region.region,
                resource: format!("account/{}/region/{}", account.id, region.region),
                resource_name: format!("{} {}", place.resource_name, region.region),
            };
            if let Some(o) = rules::scan_not_assessed::region(region) {
                out.push(finding(&rules::scan_not_assessed::RULE, &place, o));
            }
            if aa_collected {
                if let Some(o) = rules::aa_analyzer_missing::check(region, ctx) {
                    out.push(finding(&rules::aa_analyzer_missing::RULE, &place, o));
                }
            }
        }
    }
    out
}

/// Marks findings of allow-listed keys and suppressed findings MUTED; reports suppressions that
/// expired or matched nothing.
fn apply_mutes(
    findings: &mut [Finding],
    snapshot: &Snapshot,
    ctx: &Ctx<'_>,
    warnings: &mut Vec<String>,
) {
    let config = ctx.config;
    let aliases: BTreeMap<&str, &[String]> = snapshot
        .keys()
        .map(|(_, _, k)| (k.arn.as_str(), k.aliases.as_slice()))
        .collect();
    let today = ctx.now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut used = vec![false; config.suppressions.len()];
    for f in findings
        .iter_mut()
        .filter(|f| matches!(f.status, Status::Fail | Status::NotAssessed))
    {
        if let Some(pattern) = aliases.get(f.resource.as_str()).and_then(|a| {
            config
                .key_allowlist
                .iter()
                .find(|p| a.iter().any(|alias| policy::wildcard_match(p, alias)))
        }) {
            f.muted = true;
            f.mute_reason = Some(format!("key allow-listed by alias pattern `{pattern}`"));
            continue;
        }
        for (i, s) in config.suppressions.iter().enumerate() {
            if !policy::wildcard_match(&s.rule, &f.rule_id)
                || !policy::wildcard_match(&s.resource, &f.resource)
            {
                continue;
            }
            used[i] = true;
            if s.expires >= today {
                f.muted = true;
                f.mute_reason = Some(format!(
                    "suppressed until {}: {}",
                    s.expires, s.justification
                ));
                break;
            }
            f.message.push_str(&format!(
                " (a suppression of this finding expired on {})",
                s.expires
            ));
        }
    }
    for (i, s) in config.suppressions.iter().enumerate() {
        if s.expires < today {
            warnings.push(format!(
                "suppression {} (`{}` on `{}`) expired on {}: it no longer mutes anything",
                i + 1,
                s.rule,
                s.resource,
                s.expires
            ));
        } else if !used[i] {
            warnings.push(format!(
                "suppression {} (`{}` on `{}`) matched no finding",
                i + 1,
                s.rule,
                s.resource
            ));
        }
    }
}

fn coverage_tables(snapshot: &Snapshot) -> (Vec<AccountCoverage>, Vec<RegionCoverage>) {
    let mut accounts = Vec::new();
    let mut regions = Vec::new();
    for a in &snapshot.accounts {
        let reason = match &a.access {
            kmsaudit_model::AccountAccess::Scanned { .. } => None,
            kmsaudit_model::AccountAccess::NotAssessed { issue } => Some(issue.to_string()),
            kmsaudit_model::AccountAccess::Skipped { reason } => Some(reason.clone()),
        };
        let count = |c: Coverage| a.regions.iter().filter(|r| r.coverage() == c).count();
        accounts.push(AccountCoverage {
            account_id: a.id.clone(),
            name: a.name.clone(),
            coverage: a.coverage(),
            reason,
            regions_scanned: a
                .regions
                .iter()
                .filter(|r| matches!(r.access, kmsaudit_model::RegionAccess::Scanned))
                .count(),
            regions_skipped: count(Coverage::Skipped),
            regions_not_assessed: count(Coverage::NotAssessed),
            keys_discovered: a.regions.iter().map(|r| r.keys_discovered()).sum(),
            keys_assessed: a.regions.iter().map(|r| r.keys_assessed()).sum(),
            keys_not_assessed: a.regions.iter().map(|r| r.keys_not_assessed()).sum(),
        });
        for r in &a.regions {
            let reason = match (&r.access, &r.aliases_error) {
                (kmsaudit_model::RegionAccess::Skipped { reason }, _) => Some(reason.clone()),
                (kmsaudit_model::RegionAccess::NotAssessed { issue }, _) => Some(issue.to_string()),
                (_, Some(issue)) => Some(issue.to_string()),
                _ if r.keys_not_assessed() > 0 => {
                    Some(format!("{} key(s) not fully read", r.keys_not_assessed()))
                }
                _ => None,
            };
            regions.push(RegionCoverage {
                account_id: a.id.clone(),
                region: r.region.clone(),
                coverage: r.coverage(),
                keys_discovered: r.keys_discovered(),
                keys_assessed: r.keys_assessed(),
                keys_not_assessed: r.keys_not_assessed(),
                reason,
            });
        }
    }
    (accounts, regions)
}

/// Evaluates every rule over every key, account and region of the snapshot.
pub fn evaluate(snapshot: &Snapshot, config: &EvalConfig) -> Evaluation {
    let ctx = build_ctx(snapshot, config);
    let aa_collected = snapshot.metadata.scope.access_analyzer;
    let keys: Vec<_> = snapshot.keys().collect();
    let cache = PolicyCache::build(&keys, &ctx);
    let mut findings: Vec<Finding> = keys
        .par_iter()
        .flat_map_iter(|(a, r, k)| evaluate_key(a, r, k, &ctx, &cache, aa_collected))
        .collect();
    findings.extend(scope_findings(snapshot, &ctx, aa_collected));
    let mut warnings = Vec::new();
    apply_mutes(&mut findings, snapshot, &ctx, &mut warnings);
    findings.par_sort_by(|a, b| (&a.rule_id, &a.resource).cmp(&(&b.rule_id, &b.resource)));
    let (accounts, regions) = coverage_tables(snapshot);
    Evaluation {
        findings,
        rules: rule_catalog(),
        accounts,
        regions,
        warnings,
    }
}

/// Counts of findings per status, computed key by key without keeping the findings: the
/// evaluation's hot path, for benchmarks over snapshots too large to hold every finding.
pub fn evaluate_counts(
    snapshot: &Snapshot,
    config: &EvalConfig,
) -> BTreeMap<(Status, Severity), u64> {
    let ctx = build_ctx(snapshot, config);
    let aa_collected = snapshot.metadata.scope.access_analyzer;
    let keys: Vec<_> = snapshot.keys().collect();
    let cache = PolicyCache::build(&keys, &ctx);
    keys.par_iter()
        .fold(
            BTreeMap::new,
            |mut acc: BTreeMap<(Status, Severity), u64>, (a, r, k)| {
                for f in evaluate_key(a, r, k, &ctx, &cache, aa_collected) {
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
