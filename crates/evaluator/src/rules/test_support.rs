//! The one place rule unit tests call the engine through.

use kmsaudit_model::Status;

use super::{Check, Ctx, PolicyInput, RULES};
use crate::config::EvalConfig;
use crate::context::TrustZone;
use crate::policy::{analyze, parse_policy};

pub(crate) const KEY_ACCOUNT: &str = "111122223333";
pub(crate) const ORG_ACCOUNT: &str = "222233334444";
pub(crate) const ORG_ID: &str = "o-exampleorg";
pub(crate) const KEY_ARN: &str =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

pub(crate) fn ctx(config: &EvalConfig) -> Ctx<'_> {
    let zone = TrustZone::new(
        Some(ORG_ID.into()),
        [KEY_ACCOUNT.to_string(), ORG_ACCOUNT.to_string()],
        config,
    );
    Ctx::new(config, zone, "2026-11-23T00:00:00Z".parse().unwrap())
}

/// Runs the policy rule `rule_id` on `policy` with `config`; returns status and explanations.
#[track_caller]
pub(crate) fn check_policy_with(
    rule_id: &str,
    policy: &str,
    config: &EvalConfig,
) -> (Status, Vec<String>) {
    let check = RULES
        .iter()
        .find_map(|r| match r.check {
            Check::Policy(check) if r.def.id == rule_id => Some(check),
            _ => None,
        })
        .expect("unknown policy rule");
    let policy = parse_policy(policy).expect("test policy must parse");
    let analysis = analyze(&policy, crate::policy::KeyScope::Arn(KEY_ARN));
    let input = PolicyInput {
        analysis: &analysis,
        key_account: Some(KEY_ACCOUNT),
    };
    let verdict = check(&input, &ctx(config));
    let explanations = match &verdict {
        super::PolicyVerdict::Offenses(o, _) => o.iter().map(|o| o.explanation.clone()).collect(),
        super::PolicyVerdict::NotApplicable(why) => vec![why.clone()],
    };
    (verdict.into_outcome().status, explanations)
}

#[track_caller]
pub(crate) fn check_policy(rule_id: &str, policy: &str) -> Status {
    check_policy_with(rule_id, policy, &EvalConfig::default()).0
}

/// A one-statement Allow policy.
pub(crate) fn allow(principal: &str, actions: &str, condition: &str) -> String {
    let condition = if condition.is_empty() {
        String::new()
    } else {
        format!(r#","Condition":{condition}"#)
    };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"S","Effect":"Allow","Principal":{principal},"Action":{actions},"Resource":"*"{condition}}}]}}"#
    )
}

/// A customer-managed symmetric key, enabled, rotation on, no grants, no tags, default-like policy.
pub(crate) fn test_key() -> kmsaudit_model::KeyRecord {
    use kmsaudit_model::*;
    KeyRecord {
        policy: Some(std::sync::Arc::from(allow(
            r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
            r#""kms:*""#,
            "",
        ))),
        rotation: Some(RotationStatus {
            enabled: true,
            period_days: Some(365),
            next_rotation_date: None,
        }),
        grants: Some(vec![]),
        aliases: vec!["alias/test".into()],
        tags: Some(vec![]),
        ..fixtures::customer_key(KEY_ARN)
    }
}

/// Runs the key rule `rule_id` on `key` (policy analyzed as the evaluator would).
#[track_caller]
pub(crate) fn check_key_with(
    rule_id: &str,
    key: &kmsaudit_model::KeyRecord,
    aa: Option<&kmsaudit_model::AccessAnalyzerRecord>,
    config: &EvalConfig,
) -> super::Outcome {
    check_key_guarded(rule_id, key, aa, config, None)
}

/// [`check_key`] with what guards the key's deletion worked out as `guard` says.
pub(crate) fn check_key_deletion_guarded(
    rule_id: &str,
    key: &kmsaudit_model::KeyRecord,
    guard: crate::effective::DeletionGuard,
) -> super::Outcome {
    check_key_in(
        rule_id,
        key,
        None,
        &EvalConfig::default(),
        None,
        Some(guard),
    )
}

/// [`check_key_with`] in a scan that read IAM, the key's account guarded by RCPs as `guard`
/// says.
pub(crate) fn check_key_guarded(
    rule_id: &str,
    key: &kmsaudit_model::KeyRecord,
    aa: Option<&kmsaudit_model::AccessAnalyzerRecord>,
    config: &EvalConfig,
    guard: Option<crate::effective::RcpGuard>,
) -> super::Outcome {
    check_key_in(rule_id, key, aa, config, guard, None)
}

fn check_key_in(
    rule_id: &str,
    key: &kmsaudit_model::KeyRecord,
    aa: Option<&kmsaudit_model::AccessAnalyzerRecord>,
    config: &EvalConfig,
    guard: Option<crate::effective::RcpGuard>,
    deletion: Option<crate::effective::DeletionGuard>,
) -> super::Outcome {
    let check = RULES
        .iter()
        .find_map(|r| match r.check {
            Check::Key(check) if r.def.id == rule_id => Some(check),
            _ => None,
        })
        .expect("unknown key rule");
    let mut ctx = ctx(config);
    if let Some(guard) = guard {
        let guards = [(KEY_ACCOUNT.to_string(), guard)].into();
        ctx.access = Some(crate::context::AccessIndex::new(Default::default(), guards));
    }
    if let Some(deletion) = deletion {
        ctx.deletion_guards.insert(&key.arn, deletion);
    }
    let policy = crate::policy_cache::policy_state(key, &ctx);
    let input = super::KeyInput {
        key,
        meta: key.metadata.as_ref().unwrap(),
        region: "us-east-1",
        policy: &policy,
        access_analyzer: aa,
    };
    for f in aa.iter().flat_map(|aa| &aa.findings) {
        ctx.analyzers
            .findings
            .entry(f.resource.clone())
            .or_default()
            .push(f.clone());
    }
    check(&input, &ctx)
}

#[track_caller]
pub(crate) fn check_key(rule_id: &str, key: &kmsaudit_model::KeyRecord) -> Status {
    check_key_with(rule_id, key, None, &EvalConfig::default()).status
}

/// The key account's own ACTIVE account analyzer in the key's region, with these findings.
pub(crate) fn account_analyzer(
    findings: Vec<kmsaudit_model::AnalyzerFinding>,
) -> kmsaudit_model::AccessAnalyzerRecord {
    kmsaudit_model::AccessAnalyzerRecord {
        analyzers: vec![kmsaudit_model::Analyzer {
            arn: "arn:aws:access-analyzer:us-east-1:111122223333:analyzer/a".into(),
            name: "a".into(),
            analyzer_type: "ACCOUNT".into(),
            status: "ACTIVE".into(),
        }],
        findings,
        error: None,
    }
}

/// Runs the effective-access rule `rule_id` on `rows` of the test key.
#[track_caller]
pub(crate) fn check_access(rule_id: &str, rows: &[kmsaudit_model::AccessEntry]) -> super::Outcome {
    check_access_with(rule_id, rows, &EvalConfig::default())
}

/// [`check_access`] under `config`.
#[track_caller]
pub(crate) fn check_access_with(
    rule_id: &str,
    rows: &[kmsaudit_model::AccessEntry],
    config: &EvalConfig,
) -> super::Outcome {
    let check = RULES
        .iter()
        .find_map(|r| match r.check {
            Check::Access(check) if r.def.id == rule_id => Some(check),
            _ => None,
        })
        .expect("unknown access rule");
    let ctx = ctx(config);
    let key = kmsaudit_model::fixtures::customer_key(KEY_ARN);
    let policy = crate::policy_cache::policy_state(&key, &ctx);
    let input = super::KeyInput {
        key: &key,
        meta: key.metadata.as_ref().unwrap(),
        region: "us-east-1",
        policy: &policy,
        access_analyzer: None,
    };
    let rows: Vec<kmsaudit_model::AccessEntryView<'_>> = rows.iter().map(|r| r.view()).collect();
    check(&rows, &input, &ctx)
}

/// One access row of the test key: `principal capability verdict`.
pub(crate) fn access_row(line: &str) -> kmsaudit_model::AccessEntry {
    use kmsaudit_model::{AccessVerdict, Capability};
    let words: Vec<&str> = line.split_whitespace().collect();
    let capability = Capability::ALL
        .into_iter()
        .find(|c| c.as_str() == words[1])
        .expect("capability");
    let verdict = [
        AccessVerdict::Allowed,
        AccessVerdict::Conditional,
        AccessVerdict::NotAssessed,
    ]
    .into_iter()
    .find(|v| v.as_str() == words[2])
    .expect("verdict");
    kmsaudit_model::AccessEntry {
        principal: words[0].into(),
        principal_account: kmsaudit_model::arn_account(words[0]).map(std::sync::Arc::from),
        capability,
        verdict,
        via: "key policy Sid Test".into(),
        conditions: if verdict == AccessVerdict::Allowed {
            vec![].into()
        } else {
            vec!["StringEquals kms:ViaService = s3.us-east-1.amazonaws.com".into()].into()
        },
    }
}

/// The management account of [`monitored_org`], which holds the trail's key.
pub(crate) const MONITOR_MANAGEMENT: &str = "111111111111";
/// Its member, holding one key in us-east-1.
pub(crate) const MONITOR_MEMBER: &str = "222222222222";
/// The key [`org_trail`] encrypts its logs with: enabled, rotated, root-only policy.
pub(crate) const TRAIL_KEY: &str = "arn:aws:kms:us-east-1:111111111111:key/trail";

/// A healthy organization trail of the management account, multi-Region, delivering to
/// `/trail/org` in us-east-1.
pub(crate) fn org_trail() -> kmsaudit_model::Trail {
    kmsaudit_model::Trail {
        arn: format!("arn:aws:cloudtrail:us-east-1:{MONITOR_MANAGEMENT}:trail/org"),
        name: "org".into(),
        home_region: "us-east-1".into(),
        multi_region: true,
        organization_trail: true,
        log_file_validation: true,
        kms_key_id: Some(TRAIL_KEY.into()),
        log_group_arn: Some(format!(
            "arn:aws:logs:us-east-1:{MONITOR_MANAGEMENT}:log-group:/trail/org:*"
        )),
        logging: Some(true),
        selectors: Some(kmsaudit_model::TrailSelectors::Basic { selectors: vec![] }),
        error: None,
    }
}

/// The monitoring of one account that lists `trails` in us-east-1 (and holds them).
pub(crate) fn monitoring_of(
    trails: Vec<kmsaudit_model::Trail>,
) -> kmsaudit_model::MonitoringRecord {
    kmsaudit_model::MonitoringRecord {
        regions: vec![kmsaudit_model::RegionMonitoring {
            region: "us-east-1".into(),
            trails: trails.iter().map(|t| t.arn.clone()).collect(),
            ..Default::default()
        }],
        trails,
        ..Default::default()
    }
}

/// An organization of [`MONITOR_MANAGEMENT`] and [`MONITOR_MEMBER`] with these monitoring
/// records, read.
pub(crate) fn monitored_org(
    management: Option<kmsaudit_model::MonitoringRecord>,
    member: Option<kmsaudit_model::MonitoringRecord>,
) -> kmsaudit_model::Snapshot {
    use kmsaudit_model::*;
    let mut trail_key = test_key();
    trail_key.arn = TRAIL_KEY.into();
    trail_key.metadata.as_mut().unwrap().arn = TRAIL_KEY.into();
    trail_key.metadata.as_mut().unwrap().aws_account_id = MONITOR_MANAGEMENT.into();
    let member_key =
        fixtures::customer_key(&format!("arn:aws:kms:us-east-1:{MONITOR_MEMBER}:key/k"));
    let mut accounts = vec![
        fixtures::scanned_account(MONITOR_MANAGEMENT, true, vec![trail_key], None),
        fixtures::scanned_account(MONITOR_MEMBER, true, vec![member_key], None),
    ];
    accounts[0].monitoring = management;
    accounts[1].monitoring = member;
    Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            started_at: "2026-11-23T00:00:00Z".parse().unwrap(),
            scope: ScanScope {
                monitoring: true,
                ..Default::default()
            },
            ..Default::default()
        },
        organization: Some(Organization {
            id: ORG_ID.into(),
            management_account_id: MONITOR_MANAGEMENT.into(),
            ..Default::default()
        }),
        accounts,
        aws_managed_policies: vec![],
    }
}

/// Runs the account × region rule `rule_id` on us-east-1 of `account` in `snapshot`.
pub(crate) fn check_monitored(
    rule_id: &str,
    snapshot: &kmsaudit_model::Snapshot,
    account: &str,
) -> Option<super::Outcome> {
    let check = RULES
        .iter()
        .find_map(|r| match r.check {
            Check::AccountRegion(check) if r.def.id == rule_id => Some(check),
            _ => None,
        })
        .expect("unknown account × region rule");
    let config = EvalConfig::default();
    let ctx = Ctx::for_snapshot(snapshot, &config);
    let a = snapshot.accounts.iter().find(|a| a.id == account).unwrap();
    check(a, &a.regions[0], &ctx)
}
