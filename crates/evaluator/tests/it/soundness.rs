//! Soundness of the analysis against the reference evaluator: generated policies (biased toward
//! the constructs IAM is subtle about) and, for each, a search over concrete requests from
//! outside the organization. Whenever IAM would allow one, the analysis must report the access.
//!
//! `KMSAUDIT_SOUNDNESS_CASES` sets the number of generated policies (default 1,500, the bounded
//! run of `cargo xtask test`; `cargo xtask bench soundness` runs millions).

use std::collections::BTreeMap;

use kmsaudit_evaluator::policy::parse_policy;
use kmsaudit_evaluator::policy::reference::{decide, Caller, Decision, Request};
use kmsaudit_evaluator::{lint_policy, LintOptions, LintReport};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

const KEY_ACCOUNT: &str = "111122223333";
const ORG_ACCOUNT: &str = "222233334444";
const OUTSIDE: &str = "999988887777";
/// An account no generated policy names: unrelated to everything.
const UNRELATED: &str = "555566667777";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn principal() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!("*"),
        json!({"AWS": "*"}),
        json!({"AWS": format!("arn:aws:iam::{KEY_ACCOUNT}:root")}),
        json!({"AWS": format!("arn:aws:iam::{KEY_ACCOUNT}:role/App")}),
        json!({"AWS": OUTSIDE}),
        json!({"AWS": format!("arn:aws:iam::{OUTSIDE}:role/Partner")}),
        json!({"AWS": format!("arn:aws:iam::{ORG_ACCOUNT}:role/R")}),
        json!({"AWS": ["arn:aws:iam::222233334444:role/R", "*"]}),
        json!({"AWS": [OUTSIDE, KEY_ACCOUNT]}),
        json!({"Service": "logs.amazonaws.com"}),
    ])
}

fn actions() -> impl Strategy<Value = (&'static str, Value)> {
    let action = prop::sample::select(vec![
        "kms:*",
        "*",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:Create*",
        "kms:PutKeyPolicy",
        "kms:CreateKey",
        "kms:Describe*",
        "KMS:decrypt",
    ]);
    (prop::collection::vec(action, 1..3), any::<bool>())
        .prop_map(|(a, not)| (if not { "NotAction" } else { "Action" }, json!(a)))
}

fn condition() -> impl Strategy<Value = (String, String, Value)> {
    prop::sample::select(vec![
        ("StringEquals", "aws:PrincipalOrgID", json!("o-exampleorg")),
        ("StringEquals", "aws:PrincipalOrgID", json!("o-otherorg01")),
        (
            "StringEqualsIgnoreCase",
            "aws:PrincipalOrgID",
            json!("O-EXAMPLEORG"),
        ),
        (
            "StringEqualsIfExists",
            "aws:PrincipalOrgID",
            json!("o-exampleorg"),
        ),
        (
            "ForAllValues:StringEquals",
            "aws:PrincipalOrgID",
            json!("o-exampleorg"),
        ),
        (
            "ForAnyValue:StringEquals",
            "aws:PrincipalOrgID",
            json!("o-exampleorg"),
        ),
        (
            "StringNotEquals",
            "aws:PrincipalOrgID",
            json!("o-exampleorg"),
        ),
        ("StringEquals", "kms:CallerAccount", json!(KEY_ACCOUNT)),
        ("StringEquals", "kms:CallerAccount", json!(OUTSIDE)),
        ("StringNotEquals", "kms:CallerAccount", json!(KEY_ACCOUNT)),
        (
            "StringEquals",
            "aws:PrincipalAccount",
            json!([KEY_ACCOUNT, ORG_ACCOUNT]),
        ),
        (
            "ArnLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::111122223333:*"),
        ),
        (
            "ArnLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::*:role/Partner"),
        ),
        ("StringEquals", "aws:SourceAccount", json!(KEY_ACCOUNT)),
        (
            "StringEquals",
            "kms:ViaService",
            json!("s3.us-east-1.amazonaws.com"),
        ),
        ("StringEquals", "aws:SourceVpce", json!("vpce-1")),
        ("StringNotEquals", "aws:SourceVpce", json!("vpce-1")),
        ("IpAddress", "aws:SourceIp", json!("10.0.0.0/8")),
        ("NotIpAddress", "aws:SourceIp", json!("10.0.0.0/8")),
        ("StringLike", "aws:userid", json!("AROAOUTSIDE*")),
        ("StringEquals", "aws:userid", json!(OUTSIDE)),
        (
            "ArnLike",
            "kms:EncryptionContext:aws:logs:arn",
            json!("arn:aws:logs:*:111122223333:log-group:*"),
        ),
        ("StringEquals", "aws:userid", json!(KEY_ACCOUNT)),
        ("StringLike", "kms:CallerAccount", json!("99998888777?")),
        ("StringLike", "kms:CallerAccount", json!("1111*")),
        ("StringLike", "aws:PrincipalOrgID", json!("o-other*")),
        (
            "StringNotEquals",
            "aws:PrincipalAccount",
            json!([KEY_ACCOUNT, ORG_ACCOUNT]),
        ),
        (
            "IpAddress",
            "aws:SourceIp",
            json!(["0.0.0.0/1", "128.0.0.0/1"]),
        ),
        ("StringEquals", "aws:username", json!("admin")),
        ("Null", "aws:PrincipalOrgID", json!("true")),
        ("Bool", "kms:GrantIsForAWSResource", json!("true")),
    ])
    .prop_map(|(op, key, value)| (op.to_string(), key.to_string(), value))
}

fn statement() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        principal(),
        any::<bool>(),
        actions(),
        prop::collection::vec(condition(), 0..3),
        prop::sample::select(vec![
            "*",
            "*",
            "*",
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:eu-west-1:111122223333:key/*",
            "arn:aws:kms:*:999988887777:key/*",
        ]),
    )
        .prop_map(
            |(allow, principal, not_principal, (action_key, action), conditions, resource)| {
                let mut st = json!({
                    "Effect": if allow { "Allow" } else { "Deny" },
                    "Resource": resource,
                });
                // NotPrincipal is only valid with Deny (AWS rejects it with Allow in key policies).
                let principal_key = if not_principal && !allow && principal != json!("*") {
                    "NotPrincipal"
                } else {
                    "Principal"
                };
                st[principal_key] = principal;
                st[action_key] = action;
                let mut cond = serde_json::Map::new();
                for (op, key, value) in conditions {
                    let block = cond.entry(op).or_insert_with(|| json!({}));
                    block[key] = value;
                }
                if !cond.is_empty() {
                    st["Condition"] = Value::Object(cond);
                }
                st
            },
        )
}

fn policy() -> impl Strategy<Value = Value> {
    prop::collection::vec(statement(), 1..5)
        .prop_map(|s| json!({"Version": "2012-10-17", "Statement": s}))
}

fn options() -> LintOptions {
    LintOptions {
        key_account: Some(KEY_ACCOUNT.into()),
        org_accounts: vec![KEY_ACCOUNT.into(), ORG_ACCOUNT.into()],
        org_id: Some("o-exampleorg".into()),
        config: Default::default(),
        key_arn: Some(KEY_ARN.into()),
    }
}

fn reports_outside_access(report: &LintReport) -> bool {
    report.summary.public
        || report
            .findings
            .iter()
            .any(|f| f.rule_id == "KMS-POLICY-EXTERNAL" || f.rule_id == "KMS-POLICY-PUBLIC")
}

/// Requests a principal outside the organization can make with no network pin: its own
/// account, organization and identity in the context, through a service or not.
fn outside_requests() -> Vec<Request> {
    let mut out = Vec::new();
    let callers = [
        (
            Caller::Iam {
                arn: format!("arn:aws:iam::{OUTSIDE}:role/Partner"),
                account: OUTSIDE.into(),
            },
            Some("o-otherorg01"),
        ),
        (
            Caller::Iam {
                arn: format!("arn:aws:iam::{OUTSIDE}:root"),
                account: OUTSIDE.into(),
            },
            None,
        ),
        (Caller::Service("logs.amazonaws.com".into()), None),
    ];
    for (caller, org) in callers {
        for via in [None, Some("s3.us-east-1.amazonaws.com")] {
            for action in ["kms:Decrypt", "kms:PutKeyPolicy", "kms:CreateGrant"] {
                let mut context: BTreeMap<String, Vec<String>> = BTreeMap::new();
                let mut set = |k: &str, v: &str| {
                    context.insert(k.into(), vec![v.into()]);
                };
                match &caller {
                    Caller::Iam { arn, account } => {
                        set("kms:calleraccount", account);
                        set("aws:principalaccount", account);
                        set("aws:principalarn", arn);
                        // The root user's aws:userid is its account id.
                        let userid = match arn.ends_with(":root") {
                            true => account.as_str(),
                            false => "AROAOUTSIDE:session",
                        };
                        set("aws:userid", userid);
                        if let Some(org) = org {
                            set("aws:principalorgid", org);
                        }
                    }
                    Caller::Service(_) => {
                        set("aws:sourceaccount", OUTSIDE);
                        // The service names the resource it acts for in the encryption context.
                        set(
                            "kms:encryptioncontext:aws:logs:arn",
                            &format!("arn:aws:logs:us-east-1:{OUTSIDE}:log-group:app"),
                        );
                    }
                    Caller::Anonymous => {}
                }
                if let Some(via) = via {
                    set("kms:viaservice", via);
                }
                out.push(Request {
                    caller: caller.clone(),
                    action: action.into(),
                    context,
                });
            }
        }
    }
    out
}

/// An IAM principal of an unrelated account, and an anonymous caller, with nothing that pins.
fn unpinned_requests() -> Vec<Request> {
    let mut context = BTreeMap::new();
    context.insert("kms:calleraccount".to_string(), vec![UNRELATED.to_string()]);
    context.insert(
        "aws:principalaccount".to_string(),
        vec![UNRELATED.to_string()],
    );
    [
        Caller::Iam {
            arn: format!("arn:aws:iam::{UNRELATED}:role/Anyone"),
            account: UNRELATED.into(),
        },
        Caller::Anonymous,
    ]
    .into_iter()
    .flat_map(|caller| {
        let context = if caller == Caller::Anonymous {
            BTreeMap::new()
        } else {
            context.clone()
        };
        ["kms:Decrypt", "kms:PutKeyPolicy"].map(|action| Request {
            caller: caller.clone(),
            action: action.into(),
            context: context.clone(),
        })
    })
    .collect()
}

/// Checks one generated policy; `Err` describes a counter-example.
pub fn check(policy: &Value) -> Result<(), String> {
    let text = policy.to_string();
    let Ok(parsed) = parse_policy(&text) else {
        return Ok(());
    };
    // Given the key's ARN, and (as `lint-policy --key-account` does) only its account.
    let account_only = LintOptions {
        key_arn: None,
        ..options()
    };
    for options in [options(), account_only] {
        let report = lint_policy(&text, &options);
        for request in outside_requests() {
            if decide(&parsed, KEY_ARN, &request) == Decision::Allow
                && !reports_outside_access(&report)
            {
                return Err(format!(
                    "IAM allows {request:?} but the analysis (key ARN given: {}) reports no outside access\npolicy: {text}\nfindings: {:?}",
                    options.key_arn.is_some(),
                    report.findings.iter().map(|f| &f.explanation).collect::<Vec<_>>()
                ));
            }
        }
        for request in unpinned_requests() {
            if decide(&parsed, KEY_ARN, &request) == Decision::Allow && !report.summary.public {
                return Err(format!(
                    "IAM allows {request:?}, which nothing pins, but the analysis (key ARN given: {}) does not report the key public\npolicy: {text}",
                    options.key_arn.is_some()
                ));
            }
        }
    }
    Ok(())
}

/// Runs `cases` generated policies; returns how many were checked.
pub fn run(cases: u32) -> Result<u32, String> {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&policy(), |p| {
            check(&p).map_err(proptest::test_runner::TestCaseError::fail)
        })
        .map(|()| cases)
        .map_err(|e| e.to_string())
}

#[test]
fn the_analysis_reports_every_access_iam_would_allow_from_outside() {
    let cases = std::env::var("KMSAUDIT_SOUNDNESS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500);
    let start = std::time::Instant::now();
    if let Err(e) = run(cases) {
        panic!("{e}");
    }
    println!(
        "soundness: {cases} generated policies, {} requests each, no counter-example, {:.1} s",
        outside_requests().len() + unpinned_requests().len(),
        start.elapsed().as_secs_f64()
    );
}

/// Exploration aid: prints the first distinct counter-examples without shrinking
/// (`KMSAUDIT_SOUNDNESS_EXPLORE=N cargo test ... soundness -- --ignored --nocapture`).
#[test]
#[ignore]
fn explore_counter_examples() {
    let n: usize = std::env::var("KMSAUDIT_SOUNDNESS_EXPLORE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut runner = TestRunner::new(Config::default());
    let strategy = policy();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..n {
        let p = strategy.new_tree(&mut runner).unwrap().current();
        if let Err(e) = check(&p) {
            let line = e.lines().nth(1).unwrap_or("").to_string();
            if seen.insert(line.clone()) && seen.len() <= 12 {
                println!("{}\n", e.lines().take(2).collect::<Vec<_>>().join("\n"));
            }
        }
    }
    println!("{} failing policies found", seen.len());
}
