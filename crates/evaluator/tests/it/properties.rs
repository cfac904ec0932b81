//! Properties of the policy engine over generated policies, and robustness against hostile JSON.

use std::time::{Duration, Instant};

use kmsaudit_evaluator::{lint_policy, LintOptions, LintReport};
use proptest::prelude::*;
use serde_json::{json, Value};

fn options() -> LintOptions {
    LintOptions {
        key_account: Some("111122223333".into()),
        org_accounts: vec!["111122223333".into(), "222233334444".into()],
        org_id: Some("o-exampleorg".into()),
        config: Default::default(),
        key_arn: None,
        now: None,
    }
}

fn lint(policy: &Value) -> LintReport {
    lint_policy(&policy.to_string(), &options())
}

fn fired(report: &LintReport, rule: &str) -> usize {
    report.findings.iter().filter(|f| f.rule_id == rule).count()
}

/// The statements a rule fired on (a Deny may split one statement's finding in two: the
/// principals it exempts, and everyone else narrowed, but never make a new statement offend).
fn fired_statements(report: &LintReport, rule: &str) -> std::collections::BTreeSet<Option<usize>> {
    report
        .findings
        .iter()
        .filter(|f| f.rule_id == rule)
        .map(|f| f.statement_index)
        .collect()
}

fn principal() -> impl Strategy<Value = (String, Value)> {
    prop::sample::select(vec![
        json!("*"),
        json!({"AWS": "*"}),
        json!({"AWS": "arn:aws:iam::111122223333:root"}),
        json!({"AWS": "arn:aws:iam::111122223333:role/App"}),
        json!({"AWS": "999988887777"}),
        json!({"AWS": ["arn:aws:iam::222233334444:role/R", "*"]}),
        json!({"Service": "logs.amazonaws.com"}),
        json!({"AWS": "AROAEXAMPLEUNIQUEID"}),
    ])
    .prop_flat_map(|p| {
        prop_oneof![
            Just(("Principal".to_string(), p.clone())),
            Just(("NotPrincipal".to_string(), p))
        ]
    })
}

fn actions() -> impl Strategy<Value = (String, Value)> {
    let action = prop::sample::select(vec![
        "kms:*",
        "*",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:Create*",
        "kms:PutKeyPolicy",
        "kms:CreateGrant",
        "kms:Describe*",
        "s3:*",
        "KMS:reencrypt*",
    ]);
    (prop::collection::vec(action, 1..4), any::<bool>()).prop_map(|(a, not)| {
        (
            if not {
                "NotAction".to_string()
            } else {
                "Action".to_string()
            },
            json!(a),
        )
    })
}

fn condition() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop::sample::select(vec![
        json!({"StringEquals": {"aws:PrincipalOrgID": "o-exampleorg"}}),
        json!({"StringEquals": {"kms:CallerAccount": "999988887777"}}),
        json!({"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}),
        json!({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"}}),
        json!({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}),
        json!({"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-exampleorg"}}),
        json!({"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-exampleorg"}}),
        json!({"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
        json!({"Bool": {"aws:SecureTransport": "false"}}),
    ]))
}

fn statement() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("Allow"), Just("Deny")],
        principal(),
        actions(),
        condition(),
    )
        .prop_map(|(effect, (pk, p), (ak, a), c)| {
            let mut s = json!({"Effect": effect, "Resource": "*"});
            s[pk] = p;
            s[ak] = a;
            if let Some(c) = c {
                s["Condition"] = c;
            }
            s
        })
}

fn policy() -> impl Strategy<Value = Value> {
    prop::collection::vec(statement(), 1..6)
        .prop_map(|st| json!({"Version": "2012-10-17", "Statement": st}))
}

/// Arbitrary JSON, biased towards IAM element names so it reaches deep into the parser.
fn hostile() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "Version",
        "Statement",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "Condition",
        "AWS",
        "Service",
        "StringEquals",
        "ForAnyValue:StringLike",
        "aws:PrincipalOrgID",
        "Sid",
        "x",
    ])
    .prop_map(str::to_string);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "*",
            "Allow",
            "Deny",
            "kms:*",
            "2012-10-17",
            "",
            "arn:aws:iam::*:root",
            "o-exampleorg"
        ])
        .prop_map(|s| json!(s)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Hostile documents never panic, and anything that parses yields a verdict, never silence:
    /// either a parse error or the rules ran.
    #[test]
    fn hostile_json_never_panics(doc in hostile()) {
        let started = Instant::now();
        let report = lint(&doc);
        prop_assert!(started.elapsed() < Duration::from_secs(1));
        if report.parse_error.is_some() {
            prop_assert_eq!(report.findings.len(), 1);
            prop_assert_eq!(report.findings[0].rule_id.as_str(), "KMS-POLICY-UNPARSEABLE");
        }
    }

    /// Raw bytes: same.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = lint_policy(&text, &options());
    }

    /// Adding a Deny never widens access.
    #[test]
    fn deny_never_widens(p in policy(), extra in statement()) {
        let mut deny = extra;
        deny["Effect"] = json!("Deny");
        let before = lint(&p);
        let mut with_deny = p.clone();
        with_deny["Statement"].as_array_mut().unwrap().push(deny);
        let after = lint(&with_deny);
        prop_assert!(!after.summary.public || before.summary.public);
        // A Deny can turn "anyone from this network" into a named account: only policies that
        // name all their principals must keep their external set from growing.
        let names_everyone = p["Statement"].as_array().unwrap().iter().any(|s| {
            s["Effect"] == "Allow" && (s.get("NotPrincipal").is_some() || s["Principal"].to_string().contains('*'))
        });
        if !names_everyone {
            for account in &after.summary.external_accounts {
                prop_assert!(before.summary.external_accounts.contains(account));
            }
        }
        prop_assert!(!after.summary.separation_of_duties_violation || before.summary.separation_of_duties_violation);
        prop_assert!(fired(&after, "KMS-POLICY-PUBLIC") <= fired(&before, "KMS-POLICY-PUBLIC"), "KMS-POLICY-PUBLIC fired more after a Deny");
        let (wild_after, wild_before) = (fired_statements(&after, "KMS-POLICY-WILDCARD"), fired_statements(&before, "KMS-POLICY-WILDCARD"));
        prop_assert!(wild_after.is_subset(&wild_before), "KMS-POLICY-WILDCARD fired on a new statement after a Deny");
    }

    /// Pinning every Allow to the organization never leaves the policy public.
    #[test]
    fn pinning_never_makes_public(p in policy()) {
        let mut pinned = p.clone();
        for s in pinned["Statement"].as_array_mut().unwrap() {
            if s["Effect"] == "Allow" {
                let mut c = s.get("Condition").cloned().unwrap_or(json!({}));
                c["StringEquals"] = json!({"aws:PrincipalOrgID": "o-exampleorg"});
                s["Condition"] = c;
            }
        }
        let before = lint(&p);
        let after = lint(&pinned);
        prop_assert!(!after.summary.public);
        prop_assert!(fired(&after, "KMS-POLICY-PUBLIC") <= fired(&before, "KMS-POLICY-PUBLIC"));
    }

    /// An operator IAM does not have is never read as a pass: its statement is reported on its
    /// own, and while it may be an Allow no rule passes on the rest.
    #[test]
    fn unknown_operators_are_never_read_as_a_pass(p in policy(), op in "[A-Z][a-z]{3,10}Equalz") {
        let mut odd = p;
        odd["Statement"][0]["Condition"] = json!({ op: {"aws:PrincipalOrgID": "o-exampleorg"} });
        let report = lint(&odd);
        prop_assert!(
            report.parse_error.is_some()
                || report.findings.iter().any(|f| f.rule_id == "KMS-POLICY-UNPARSEABLE" && f.statement_index == Some(0))
        );
        if report.parse_error.is_none() && odd["Statement"][0]["Effect"] != "Deny" {
            for rule in ["KMS-POLICY-PUBLIC", "KMS-POLICY-EXTERNAL", "KMS-POLICY-SOD"] {
                prop_assert!(
                    fired(&report, rule) > 0 || report.not_assessed.iter().any(|n| n.starts_with(rule)),
                    "{} passes although statement 0 was left out", rule
                );
            }
        }
    }
}

#[test]
fn huge_policies_are_bounded() {
    let principals: Vec<String> = (0..20_000)
        .map(|i| format!("arn:aws:iam::111122223333:role/R{i}"))
        .collect();
    let statements: Vec<Value> = (0..1_000)
        .map(|i| json!({"Sid": format!("S{i}"), "Effect": if i % 3 == 0 { "Deny" } else { "Allow" }, "Principal": {"AWS": principals[i..i + 10].to_vec()}, "Action": ["kms:Decrypt", "kms:Create*"], "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-exampleorg"}}}))
        .collect();
    let policy = json!({"Version": "2012-10-17", "Statement": statements});
    let started = Instant::now();
    let report = lint(&policy);
    assert!(report.parse_error.is_none());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "kms:Decrypt", "Resource": "*"}]});
    let started = Instant::now();
    let report = lint(&wide);
    assert_eq!(
        report
            .findings
            .iter()
            .filter(|f| f.rule_id == "KMS-POLICY-PRINCIPALS-MANY")
            .count(),
        1
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// Issue 19, class 10: a network condition in an Allow and its negation in a Deny that leaves
/// the same origin as the only way in pin the caller alike (public in both or in neither).
#[test]
fn network_pins_are_judged_alike_in_allow_and_deny() {
    let pairs = [
        (
            "IpAddress",
            "NotIpAddress",
            "aws:SourceIp",
            json!("203.0.113.0/24"),
        ),
        (
            "IpAddress",
            "NotIpAddress",
            "aws:SourceIp",
            json!("203.0.113.7"),
        ),
        (
            "IpAddress",
            "NotIpAddress",
            "aws:SourceIp",
            json!("10.0.0.0/8"),
        ),
        (
            "IpAddress",
            "NotIpAddress",
            "aws:SourceIp",
            json!(["0.0.0.0/1", "128.0.0.0/1"]),
        ),
        (
            "IpAddress",
            "NotIpAddress",
            "aws:SourceIp",
            json!("2001:db8::/32"),
        ),
        ("IpAddress", "NotIpAddress", "aws:SourceIp", json!("::/0")),
        (
            "IpAddress",
            "NotIpAddress",
            "aws:VpcSourceIp",
            json!("10.0.0.0/16"),
        ),
        (
            "StringEquals",
            "StringNotEquals",
            "aws:SourceVpce",
            json!("vpce-1a2b"),
        ),
        (
            "StringEquals",
            "StringNotEquals",
            "aws:SourceVpc",
            json!("vpc-1a2b"),
        ),
        (
            "StringLike",
            "StringNotLike",
            "aws:SourceVpce",
            json!("vpce-*"),
        ),
        (
            "StringLike",
            "StringNotLike",
            "aws:SourceVpce",
            json!("vpce-1a2b3c*"),
        ),
        (
            "StringEquals",
            "StringNotEquals",
            "aws:SourceVpce",
            json!(["vpce-1", "vpce-2"]),
        ),
        (
            "StringEquals",
            "StringNotEquals",
            "aws:SourceIp",
            json!("203.0.113.7"),
        ),
    ];
    let mut differ = Vec::new();
    for (positive, negated, key, value) in pairs {
        let allow = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {positive: {key: value.clone()}}}]});
        let deny = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
             "Condition": {negated: {key: value.clone()}}}]});
        let (a, d) = (lint(&allow).summary.public, lint(&deny).summary.public);
        if a != d {
            differ.push(format!(
                "{positive}/{negated} {key} {value}: Allow public={a}, Deny public={d}"
            ));
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
}
