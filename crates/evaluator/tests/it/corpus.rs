//! Runs every case of `tests/data/*.toml` through the public API: `lint_policy` for policy
//! verdicts, `evaluate` on a one-key snapshot when a case describes the key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kmsaudit_evaluator::{evaluate, lint_policy, policy_rule_ids, EvalConfig, LintOptions};
use kmsaudit_model::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// Where the policy comes from (AWS documentation page, seed, issue).
    #[serde(default)]
    source: String,
    policy: String,
    #[serde(default = "key_account")]
    key_account: String,
    /// The key's ARN, for lint-policy (`--key-arn`): ARN-scoped statements then apply exactly.
    #[serde(default)]
    key_arn: Option<String>,
    #[serde(default = "org_accounts")]
    org_accounts: Vec<String>,
    #[serde(default = "org_id")]
    org_id: String,
    #[serde(default)]
    config: Option<EvalConfig>,
    /// Rule id → `FAIL` / `PASS` (lint), or any status when `key` is given (full evaluation).
    #[serde(default)]
    expect: BTreeMap<String, String>,
    /// The policy must not parse.
    #[serde(default)]
    unparseable: bool,
    #[serde(default)]
    summary: Option<Summary>,
    /// Rule id → text its (lint) finding's explanation must contain: verdicts name what decided them.
    #[serde(default)]
    explain: BTreeMap<String, String>,
    /// Evaluate as a key in a snapshot instead of linting.
    #[serde(default)]
    key: Option<KeyCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Summary {
    public: Option<bool>,
    external_accounts: Option<Vec<String>>,
    wildcard_admin: Option<bool>,
    separation_of_duties_violation: Option<bool>,
    iam_policies_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCase {
    #[serde(default = "enabled")]
    state: String,
    #[serde(default)]
    aliases: Vec<String>,
    /// Rules whose findings must be muted.
    #[serde(default)]
    muted: Vec<String>,
    /// GetKeyLastUsage's answer (`{ state = "used", operation = ..., at = ... }`); the scan then
    /// read last use.
    #[serde(default)]
    last_use: Option<LastUseState>,
    /// The deletion date of a key pending deletion.
    #[serde(default)]
    deletion_date: Option<Timestamp>,
    /// The key's tags (`{ env = "prod" }`).
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// The organization's SCPs and RCPs as read (absent: not read). Both types are enabled,
    /// `FullAWSAccess` sits on the root and the key's account, and these are attached to the key's account.
    #[serde(default)]
    org_policies: Option<OrgCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgCase {
    #[serde(default)]
    scps: Vec<String>,
    #[serde(default)]
    rcps: Vec<String>,
}

/// The organization's policies a case declares, as the scan reads them.
fn org_policies(case: &Case, org: &OrgCase) -> OrgPolicies {
    let policy = |i: usize, kind, text: &str, target: &str| OrgPolicy {
        id: format!("p-{i}"),
        name: match kind {
            OrgPolicyKind::ServiceControlPolicy => format!("scp{i}"),
            _ => format!("rcp{i}"),
        },
        kind,
        document: text.into(),
        targets: vec![target.to_string()],
    };
    let full =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let mut policies = vec![OrgPolicy {
        targets: vec!["r-root".into(), case.key_account.clone()],
        ..policy(0, OrgPolicyKind::ServiceControlPolicy, full, "r-root")
    }];
    let declared = org
        .scps
        .iter()
        .map(|t| (OrgPolicyKind::ServiceControlPolicy, t))
        .chain(
            org.rcps
                .iter()
                .map(|t| (OrgPolicyKind::ResourceControlPolicy, t)),
        );
    for (i, (kind, text)) in declared.enumerate() {
        policies.push(policy(i + 1, kind, text, &case.key_account));
    }
    OrgPolicies {
        root_id: "r-root".into(),
        enabled: vec![
            OrgPolicyKind::ServiceControlPolicy,
            OrgPolicyKind::ResourceControlPolicy,
        ],
        parents: case
            .org_accounts
            .iter()
            .map(|a| (a.clone(), "r-root".to_string()))
            .collect(),
        policies,
        errors: vec![],
    }
}

/// The corpus's scan start: "now" of every time condition, in lint-policy and in a scan.
fn scan_start() -> Timestamp {
    "2026-11-23T00:00:00Z".parse().unwrap()
}
fn key_account() -> String {
    "111122223333".into()
}
fn org_accounts() -> Vec<String> {
    vec!["111122223333".into(), "222233334444".into()]
}
fn org_id() -> String {
    "o-exampleorg".into()
}
fn enabled() -> String {
    "Enabled".into()
}

/// The ARN of the case's key: its `key_arn`, or a key of its `key_account`.
fn case_key_arn(case: &Case) -> String {
    case.key_arn
        .clone()
        .unwrap_or_else(|| format!("arn:aws:kms:us-east-1:{}:key/0000-case", case.key_account))
}

fn one_key_snapshot(case: &Case, key: &KeyCase) -> Snapshot {
    let arn = case_key_arn(case);
    let record = KeyRecord {
        arn: arn.clone(),
        key_id: "0000-case".into(),
        metadata: Some(KeyMetadata {
            key_id: "0000-case".into(),
            arn,
            aws_account_id: case.key_account.clone(),
            enabled: key.state == "Enabled",
            key_state: key.state.clone(),
            deletion_date: key.deletion_date,
            key_usage: "ENCRYPT_DECRYPT".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_manager: "CUSTOMER".into(),
            origin: "AWS_KMS".into(),
            ..Default::default()
        }),
        policy: Some(case.policy.as_str().into()),
        rotation: Some(RotationStatus {
            enabled: true,
            period_days: Some(365),
            next_rotation_date: None,
        }),
        grants: Some(vec![]),
        aliases: key.aliases.clone(),
        tags: Some(
            key.tags
                .iter()
                .map(|(k, v)| Tag {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        ),
        last_use: key.last_use.clone().map(|state| LastUse {
            state,
            read_at: scan_start(),
            from_baseline: false,
        }),
        errors: vec![],
        recent_events: None,
    };
    let accounts = case
        .org_accounts
        .iter()
        .map(|id| AccountRecord {
            id: id.clone(),
            name: None,
            email: None,
            org_status: Some("ACTIVE".into()),
            access: AccountAccess::Scanned { via: "test".into() },
            regions_from: None,
            regions: if *id == case.key_account {
                vec![RegionRecord {
                    region: "us-east-1".into(),
                    access: RegionAccess::Scanned,
                    aliases_error: None,
                    keys: vec![record.clone()],
                    access_analyzer: None,
                }]
            } else {
                vec![]
            },
            iam: None,
            monitoring: None,
        })
        .collect();
    Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            started_at: scan_start(),
            scope: ScanScope {
                last_use: key.last_use.is_some(),
                ..Default::default()
            },
            ..Default::default()
        },
        organization: Some(Organization {
            id: case.org_id.clone(),
            management_account_id: "999999999999".into(),
            policies: key.org_policies.as_ref().map(|o| org_policies(case, o)),
            ..Default::default()
        }),
        accounts,
        aws_managed_policies: vec![],
    }
}

/// Checks one case; returns what went wrong.
fn check(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let config = case.config.clone().unwrap_or_default();
    if let Some(key) = &case.key {
        let snapshot = one_key_snapshot(case, key);
        let evaluation = evaluate(&snapshot, &config);
        for (rule, want) in &case.expect {
            let got: Vec<_> = evaluation
                .outcomes()
                .filter(|f| f.rule_id == rule && f.resource.starts_with("arn:"))
                .collect();
            let message = |f: &kmsaudit_model::OutcomeRef<'_>| {
                evaluation
                    .findings
                    .iter()
                    .find(|w| &*w.rule_id == f.rule_id && &*w.resource == f.resource)
                    .map(|w| w.message.to_string())
                    .unwrap_or_default()
            };
            match got.as_slice() {
                [f] if f.status.as_str() == want => {}
                [f] => problems.push(format!(
                    "{rule}: expected {want}, got {} ({})",
                    f.status,
                    message(f)
                )),
                other => {
                    problems.push(format!("{rule}: expected one finding, got {}", other.len()))
                }
            }
        }
        for rule in &key.muted {
            if !evaluation
                .findings
                .iter()
                .any(|f| *f.rule_id == **rule && f.muted)
            {
                problems.push(format!("{rule}: expected a muted finding"));
            }
        }
        return problems;
    }
    let options = LintOptions {
        key_account: Some(case.key_account.clone()),
        org_accounts: case.org_accounts.clone(),
        org_id: Some(case.org_id.clone()),
        config,
        key_arn: case.key_arn.clone(),
        now: Some(scan_start()),
    };
    let report = lint_policy(&case.policy, &options);
    if case.unparseable != report.parse_error.is_some() {
        problems.push(format!(
            "unparseable: expected {}, parse error: {:?}",
            case.unparseable, report.parse_error
        ));
    }
    for (rule, want) in &case.expect {
        let fired: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| &f.rule_id == rule)
            .map(|f| f.explanation.as_str())
            .collect();
        let got = if fired.is_empty() { "PASS" } else { "FAIL" };
        if got != want {
            problems.push(format!("{rule}: expected {want}, got {got} {fired:?}"));
        }
    }
    for (rule, needle) in &case.explain {
        if !report
            .findings
            .iter()
            .any(|f| &f.rule_id == rule && f.explanation.contains(needle.as_str()))
        {
            problems.push(format!("{rule}: no explanation names `{needle}`"));
        }
    }
    if let Some(s) = &case.summary {
        let r = &report.summary;
        let mut cmp = |what: &str, want: Option<String>, got: String| {
            if let Some(w) = want {
                if w != got {
                    problems.push(format!("summary.{what}: expected {w}, got {got}"));
                }
            }
        };
        cmp(
            "public",
            s.public.map(|b| b.to_string()),
            r.public.to_string(),
        );
        cmp(
            "external_accounts",
            s.external_accounts.as_ref().map(|v| format!("{v:?}")),
            format!("{:?}", r.external_accounts),
        );
        cmp(
            "wildcard_admin",
            s.wildcard_admin.map(|b| b.to_string()),
            r.wildcard_admin.to_string(),
        );
        cmp(
            "separation_of_duties_violation",
            s.separation_of_duties_violation.map(|b| b.to_string()),
            r.separation_of_duties_violation.to_string(),
        );
        cmp(
            "iam_policies_enabled",
            s.iam_policies_enabled.map(|b| b.to_string()),
            r.iam_policies_enabled.to_string(),
        );
    }
    problems
}

#[test]
fn policy_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut total = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let file: File =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in &file.case {
            total += 1;
            assert!(
                !case.expect.is_empty() || case.unparseable || case.summary.is_some(),
                "{}: case `{}` checks nothing",
                path.display(),
                case.name
            );
            let problems = check(case);
            if !problems.is_empty() {
                failures.push(format!(
                    "{} / {} ({}):\n  {}",
                    path.file_name().unwrap().to_string_lossy(),
                    case.name,
                    case.source,
                    problems.join("\n  ")
                ));
            }
        }
    }
    assert!(
        total >= 80,
        "the corpus must hold at least 80 cases, found {total}"
    );
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// For every policy of the corpus, lint-policy given the key's ARN and organization fails the
/// same policy rules as the evaluation of a scan holding that key.
#[test]
fn lint_and_scan_agree_on_every_corpus_policy() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let policy_rules = policy_rule_ids();
    let mut disagreements = Vec::new();
    let mut compared = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let file: File = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in file
            .case
            .iter()
            .filter(|c| c.key.is_none() && !c.unparseable)
        {
            let config = case.config.clone().unwrap_or_default();
            let lint = lint_policy(
                &case.policy,
                &LintOptions {
                    key_account: Some(case.key_account.clone()),
                    org_accounts: case.org_accounts.clone(),
                    org_id: Some(case.org_id.clone()),
                    config: config.clone(),
                    key_arn: Some(case_key_arn(case)),
                    now: Some(scan_start()),
                },
            );
            let linted: BTreeSet<&str> = lint.findings.iter().map(|f| &*f.rule_id).collect();
            let key = KeyCase {
                state: enabled(),
                aliases: vec![],
                muted: vec![],
                last_use: None,
                deletion_date: None,
                tags: BTreeMap::new(),
                org_policies: None,
            };
            let evaluation = evaluate(&one_key_snapshot(case, &key), &config);
            let policy_rule =
                |id: &str| policy_rules.contains(&id) || id == "KMS-POLICY-UNPARSEABLE";
            let scanned: BTreeSet<&str> = evaluation
                .findings
                .iter()
                .filter(|f| f.status == Status::Fail && policy_rule(&f.rule_id))
                .map(|f| &*f.rule_id)
                .collect();
            let scan_not_assessed: BTreeSet<&str> = evaluation
                .findings
                .iter()
                .filter(|f| f.status == Status::NotAssessed && policy_rule(&f.rule_id))
                .map(|f| &*f.rule_id)
                .collect();
            let lint_not_assessed: BTreeSet<&str> = lint
                .not_assessed
                .iter()
                .filter_map(|n| n.split(':').next())
                .collect();
            compared += 1;
            if linted != scanned || lint_not_assessed != scan_not_assessed {
                disagreements.push(format!(
                    "{}: lint fails {linted:?} and cannot assess {lint_not_assessed:?}, the scan fails {scanned:?} and cannot assess {scan_not_assessed:?}",
                    case.name
                ));
            }
        }
    }
    assert!(compared > 100, "only {compared} policies compared");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

/// Every corpus policy that fails a policy rule gets, for each such rule, a checked fix or a
/// reason; each proposal, linted afresh, no longer fails the rules it fixes and fails nothing
/// the policy did not. Prints per rule how many policies got a proposal (`--nocapture`).
#[test]
fn every_failing_corpus_policy_gets_a_checked_fix_or_a_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    // rule → (policies failing it, fixed, refused)
    let mut tally: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    let mut problems = vec![];
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let file: File = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in file.case.iter().filter(|c| c.key.is_none()) {
            let options = LintOptions {
                key_account: Some(case.key_account.clone()),
                org_accounts: case.org_accounts.clone(),
                org_id: Some(case.org_id.clone()),
                config: case.config.clone().unwrap_or_default(),
                key_arn: Some(case_key_arn(case)),
                now: Some(scan_start()),
            };
            let before = lint_policy(&case.policy, &options);
            let failing: BTreeSet<&str> = before.findings.iter().map(|f| &*f.rule_id).collect();
            if failing.is_empty() {
                continue;
            }
            let fix = kmsaudit_evaluator::propose_policy_fix(&case.policy, &options);
            for rule in &failing {
                let slot = tally.entry(rule.to_string()).or_default();
                slot[0] += 1;
                if fix.fixed.iter().any(|f| f.rule_id == *rule) {
                    slot[1] += 1;
                } else if fix
                    .refused
                    .iter()
                    .any(|r| r.rule_id == *rule && !r.why.trim().is_empty())
                {
                    slot[2] += 1;
                } else {
                    problems.push(format!("{}: {rule} neither fixed nor refused", case.name));
                }
            }
            let Some(proposed) = &fix.proposed else {
                continue;
            };
            let pairs = |r: &kmsaudit_evaluator::LintReport| -> BTreeSet<(String, String)> {
                r.findings
                    .iter()
                    .map(|f| (f.rule_id.clone(), f.principal.clone().unwrap_or_default()))
                    .collect()
            };
            let after = lint_policy(proposed, &options);
            for f in &fix.fixed {
                if after.findings.iter().any(|a| a.rule_id == f.rule_id) {
                    problems.push(format!("{}: {} still fails", case.name, f.rule_id));
                }
            }
            for new in pairs(&after).difference(&pairs(&before)) {
                problems.push(format!("{}: the proposal adds {new:?}", case.name));
            }
            let diff = fix.diff.as_deref().unwrap_or_default();
            if !diff.starts_with("--- current\n+++ proposed\n") {
                problems.push(format!("{}: no diff", case.name));
            }
        }
    }
    eprintln!(
        "rule: corpus policies failing it, fixed by a checked proposal, refused with a reason"
    );
    for (rule, [n, fixed, refused]) in &tally {
        eprintln!("{rule}: {n} failing, {fixed} fixed, {refused} refused");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let fixed: usize = tally.values().map(|t| t[1]).sum();
    assert!(fixed >= 20, "only {fixed} fixes over the corpus: {tally:?}");
}
