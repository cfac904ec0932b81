//! Access Analyzer coverage across accounts: what could not be read is NOT_ASSESSED, never a
//! FAIL (no analyzer) nor a PASS (no finding).

use kmsaudit_evaluator::{evaluate, EvalConfig};
use kmsaudit_model::fixtures::customer_key;
use kmsaudit_model::*;

const MANAGEMENT: &str = "111122223333";
const MEMBER: &str = "222233334444";
const KEY: &str = "arn:aws:kms:us-east-1:222233334444:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn account(id: &str, access: AccountAccess, aa: Option<AccessAnalyzerRecord>) -> AccountRecord {
    let keys = if id == MEMBER {
        let mut k = customer_key(KEY);
        k.policy = Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222233334444:root"},"Action":"kms:*","Resource":"*"}]}"#.into(),
        );
        k.grants = Some(vec![]);
        k.tags = Some(vec![]);
        vec![k]
    } else {
        vec![]
    };
    let regions = match access {
        AccountAccess::Scanned { .. } => vec![RegionRecord {
            region: "us-east-1".into(),
            access: RegionAccess::Scanned,
            aliases_error: None,
            keys,
            access_analyzer: aa,
        }],
        _ => vec![],
    };
    AccountRecord {
        id: id.into(),
        name: None,
        email: None,
        org_status: Some("ACTIVE".into()),
        access,
        regions_from: None,
        regions,
        iam: None,
        monitoring: None,
    }
}

fn org_analyzer() -> AccessAnalyzerRecord {
    AccessAnalyzerRecord {
        analyzers: vec![Analyzer {
            arn: "arn:aws:access-analyzer:us-east-1:111122223333:analyzer/org".into(),
            name: "org".into(),
            analyzer_type: "ORGANIZATION".into(),
            status: "ACTIVE".into(),
        }],
        ..Default::default()
    }
}

fn failed(operation: &str) -> Option<Issue> {
    Some(Issue::new(
        operation,
        "ThrottlingException",
        "Rate exceeded",
    ))
}

/// Status of `rule` on `resource` when the management account's Access Analyzer is `mgmt`.
fn status(management: AccountRecord, rule: &str, resource: &str) -> (Status, String) {
    let scanned = AccountAccess::Scanned {
        via: "caller".into(),
    };
    let snapshot = Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            started_at: "2026-11-23T00:00:00Z".parse().unwrap(),
            finished_at: "2026-11-23T00:01:00Z".parse().unwrap(),
            scope: ScanScope {
                access_analyzer: true,
                ..Default::default()
            },
            ..Default::default()
        },
        organization: Some(Organization {
            id: "o-exampleorg".into(),
            management_account_id: MANAGEMENT.into(),
            ..Default::default()
        }),
        accounts: vec![
            management,
            account(MEMBER, scanned, Some(AccessAnalyzerRecord::default())),
        ],
        aws_managed_policies: vec![],
    };
    let evaluation = evaluate(&snapshot, &EvalConfig::default());
    let f = evaluation
        .outcomes()
        .find(|f| f.rule_id == rule && f.resource == resource)
        .unwrap_or_else(|| panic!("no {rule} outcome on {resource}"));
    let message = evaluation
        .findings
        .iter()
        .find(|w| &*w.rule_id == rule && &*w.resource == resource)
        .map(|w| w.message.to_string())
        .unwrap_or_default();
    (f.status, message)
}

fn management(aa: Option<AccessAnalyzerRecord>) -> AccountRecord {
    account(
        MANAGEMENT,
        AccountAccess::Scanned {
            via: "caller".into(),
        },
        aa,
    )
}

#[test]
fn a_region_without_analyzer_fails_only_when_the_organization_is_known_not_to_cover_it() {
    let region = format!("account/{MEMBER}/region/us-east-1");
    let missing = |m| status(m, "AA-ANALYZER-MISSING", &region);
    assert_eq!(missing(management(Some(org_analyzer()))).0, Status::Pass);
    assert_eq!(
        missing(management(Some(AccessAnalyzerRecord::default()))).0,
        Status::Fail
    );
    let unknown = missing(management(Some(AccessAnalyzerRecord {
        error: failed("AccessAnalyzer.ListAnalyzers"),
        ..Default::default()
    })));
    assert_eq!(unknown.0, Status::NotAssessed, "{}", unknown.1);
    assert!(
        unknown.1.contains(MANAGEMENT),
        "names the account: {}",
        unknown.1
    );
    let not_entered = missing(account(
        MANAGEMENT,
        AccountAccess::NotAssessed {
            issue: Issue::new("STS.AssumeRole", "AccessDenied", "no"),
        },
        None,
    ));
    assert_eq!(not_entered.0, Status::NotAssessed, "{}", not_entered.1);
}

#[test]
fn no_finding_is_a_pass_only_when_every_listing_that_could_hold_one_was_read() {
    let active = |m| status(m, "AA-FINDING-ACTIVE", KEY);
    assert_eq!(active(management(Some(org_analyzer()))).0, Status::Pass);
    let findings_failed = AccessAnalyzerRecord {
        error: failed("AccessAnalyzer.ListFindings"),
        ..org_analyzer()
    };
    let (s, why) = active(management(Some(findings_failed)));
    assert_eq!(s, Status::NotAssessed, "{why}");
    let mut with_finding = org_analyzer();
    with_finding.findings.push(AnalyzerFinding {
        id: "f-1".into(),
        analyzer_arn: with_finding.analyzers[0].arn.clone(),
        resource: KEY.into(),
        resource_owner_account: MEMBER.into(),
        status: "ACTIVE".into(),
        ..Default::default()
    });
    assert_eq!(active(management(Some(with_finding))).0, Status::Fail);
}
