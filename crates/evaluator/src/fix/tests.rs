use proptest::prelude::*;

use super::*;

const ACCOUNT: &str = "111122223333";

fn options() -> LintOptions {
    LintOptions {
        key_account: Some(ACCOUNT.into()),
        org_accounts: vec![ACCOUNT.into(), "444455556666".into()],
        org_id: Some("o-exampleorgid".into()),
        ..LintOptions::default()
    }
}

fn policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

const ROOT: &str = r#"{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#;

fn failing(text: &str) -> BTreeSet<String> {
    crate::lint_policy(text, &options())
        .findings
        .into_iter()
        .map(|f| f.rule_id)
        .collect()
}

fn fixed(fix: &PolicyFix) -> Vec<&str> {
    fix.fixed.iter().map(|f| f.rule_id.as_str()).collect()
}

#[test]
fn a_public_statement_is_pinned_to_the_organization() {
    let text = policy(&format!(
        r#"{ROOT},{{"Sid":"Public","Effect":"Allow","Principal":"*","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#
    ));
    assert!(failing(&text).contains("KMS-POLICY-PUBLIC"));
    let fix = propose_policy_fix(&text, &options());
    assert_eq!(fixed(&fix), ["KMS-POLICY-PUBLIC"], "{fix:#?}");
    let proposed = fix.proposed.as_deref().unwrap();
    assert!(proposed.contains(r#""aws:PrincipalOrgID": "o-exampleorgid""#));
    assert!(!failing(proposed).contains("KMS-POLICY-PUBLIC"));
    let diff = fix.diff.unwrap();
    assert!(diff.starts_with("--- current\n+++ proposed\n"), "{diff}");
    assert!(diff.contains("+        \"StringEquals\": {"), "{diff}");
    // Without the organization's id, the key account is the pin.
    let mut no_org = options();
    no_org.org_id = None;
    let fix = propose_policy_fix(&text, &no_org);
    assert!(fix
        .proposed
        .unwrap()
        .contains(r#""aws:PrincipalAccount": "111122223333""#));
}

#[test]
fn an_outside_account_is_dropped_and_a_deny_naming_it_stays() {
    let text = policy(&format!(
        r#"{ROOT},{{"Sid":"Partner","Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::999988887777:root","arn:aws:iam::444455556666:role/App"]}},"Action":"kms:Decrypt","Resource":"*"}},{{"Sid":"NoPartnerDelete","Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::999988887777:root"}},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}}"#
    ));
    let fix = propose_policy_fix(&text, &options());
    assert_eq!(fixed(&fix), ["KMS-POLICY-EXTERNAL"], "{fix:#?}");
    let proposed: Value = serde_json::from_str(fix.proposed.as_deref().unwrap()).unwrap();
    assert_eq!(
        proposed["Statement"][1]["Principal"]["AWS"],
        "arn:aws:iam::444455556666:role/App"
    );
    assert_eq!(
        proposed["Statement"][2]["Effect"], "Deny",
        "the Deny is kept"
    );
    assert!(fix.fixed[0].change.contains("999988887777"));
}

#[test]
fn kms_star_to_an_administrator_is_narrowed_and_the_administrator_keeps_the_policy() {
    let text = policy(&format!(
        r#"{ROOT},{{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:role/Admin"}},"Action":"kms:*","Resource":"*"}}"#
    ));
    let before = failing(&text);
    assert!(before.contains("KMS-POLICY-WILDCARD"), "{before:?}");
    let fix = propose_policy_fix(&text, &options());
    assert!(fixed(&fix).contains(&"KMS-POLICY-WILDCARD"), "{fix:#?}");
    let proposed = fix.proposed.as_deref().unwrap();
    assert!(!failing(proposed).contains("KMS-POLICY-WILDCARD"));
    let after = judge(proposed, &options());
    assert!(
        after
            .policy_changers
            .iter()
            .any(|p| p.contains("role/Admin")),
        "{:?}",
        after.policy_changers
    );
}

#[test]
fn create_grant_is_constrained_to_aws_resources() {
    let text = policy(&format!(
        r#"{ROOT},{{"Sid":"App","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:role/App"}},"Action":["kms:Decrypt","kms:CreateGrant"],"Resource":"*"}}"#
    ));
    assert!(failing(&text).contains("KMS-POLICY-GRANT-UNCONSTRAINED"));
    let fix = propose_policy_fix(&text, &options());
    assert_eq!(fixed(&fix), ["KMS-POLICY-GRANT-UNCONSTRAINED"], "{fix:#?}");
    let proposed: Value = serde_json::from_str(fix.proposed.as_deref().unwrap()).unwrap();
    assert_eq!(
        proposed["Statement"][1]["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
        "true"
    );
}

/// The lockout check itself: an edit that takes kms:PutKeyPolicy from the only principal who
/// has it is refused, unless the finding being fixed is about that principal.
#[test]
fn losing_the_only_policy_changer_is_a_lockout() {
    let admin = r#"{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Admin"},"Action":["kms:PutKeyPolicy","kms:DescribeKey"],"Resource":"*"}"#;
    let reader = r#"{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Admin"},"Action":["kms:DescribeKey"],"Resource":"*"}"#;
    let before = judge(&policy(admin), &options());
    let after = judge(&policy(reader), &options());
    let why = check("KMS-POLICY-SOD", &after, &before, &[], &BTreeSet::new()).unwrap_err();
    assert!(
        why.contains("role/Admin could no longer change the key policy"),
        "{why}"
    );
    let exempt: BTreeSet<String> = before.policy_changers.clone();
    assert_eq!(
        check("KMS-POLICY-SOD", &after, &before, &[], &exempt),
        Ok(())
    );
    // And an edit whose result fails the rule it fixes is refused, naming it.
    let why = check(
        "KMS-POLICY-GRANT-UNCONSTRAINED",
        &before,
        &before,
        &[],
        &exempt,
    );
    assert_eq!(why, Ok(()), "the rule does not fail here");
    let public = judge(
        &policy(r#"{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}"#),
        &options(),
    );
    let why = check("KMS-POLICY-PUBLIC", &public, &public, &[], &exempt).unwrap_err();
    assert!(why.starts_with("KMS-POLICY-PUBLIC still fails"), "{why}");
}

#[test]
fn what_has_no_safe_edit_is_refused_with_a_reason() {
    let text = policy(ROOT);
    let before = failing(&text);
    let fix = propose_policy_fix(&text, &options());
    assert!(fix.proposed.is_none() && fix.diff.is_none());
    assert_eq!(
        fix.refused
            .iter()
            .map(|r| r.rule_id.as_str())
            .collect::<BTreeSet<_>>(),
        before.iter().map(String::as_str).collect()
    );
    assert!(fix.refused.iter().all(|r| !r.why.is_empty()));
    // Not a policy at all.
    let fix = propose_policy_fix("{not json", &options());
    assert!(fix.proposed.is_none());
    assert_eq!(fix.refused[0].rule_id, "KMS-POLICY-UNPARSEABLE");
}

// Generated policies: every proposal written meets the three checks, judged afresh.

fn principal() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        r#""*""#,
        r#"{"AWS":"*"}"#,
        r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
        r#"{"AWS":"arn:aws:iam::111122223333:role/Admin"}"#,
        r#"{"AWS":"arn:aws:iam::444455556666:role/App"}"#,
        r#"{"AWS":["arn:aws:iam::999988887777:root","arn:aws:iam::111122223333:role/Ops"]}"#,
        r#"{"Service":"logs.amazonaws.com"}"#,
    ])
}

fn actions() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        r#""kms:*""#,
        r#""*""#,
        r#"["kms:Encrypt","kms:Decrypt"]"#,
        r#"["kms:PutKeyPolicy","kms:Decrypt"]"#,
        r#"["kms:CreateGrant","kms:ListGrants"]"#,
        r#"["kms:Describe*","kms:Put*","kms:ScheduleKeyDeletion"]"#,
        r#""kms:ReEncrypt*""#,
    ])
}

fn condition() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "",
        r#","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-exampleorgid"}}"#,
        r#","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}"#,
        r#","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#,
    ])
}

fn statement() -> impl Strategy<Value = String> {
    (
        prop::bool::weighted(0.85),
        principal(),
        actions(),
        condition(),
    )
        .prop_map(|(allow, p, a, c)| {
            let effect = if allow { "Allow" } else { "Deny" };
            format!(r#"{{"Effect":"{effect}","Principal":{p},"Action":{a},"Resource":"*"{c}}}"#)
        })
}

/// Runs the property over generated policies and counts the proposals written, so that the
/// property cannot hold by never proposing anything.
#[test]
fn every_proposal_written_meets_the_three_checks() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let written = AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let result = runner.run(&prop::collection::vec(statement(), 1..5), |statements| {
        let text = policy(&statements.join(","));
        if meets_the_three_checks(&text)? {
            written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let written = written.into_inner();
    assert!(
        written >= 40,
        "only {written} of 200 generated policies got a proposal"
    );
}

/// Whether a proposal was written; an error when it breaks a check.
fn meets_the_three_checks(text: &str) -> Result<bool, TestCaseError> {
    let fix = propose_policy_fix(text, &options());
    let rules_before = failing(text);
    // Every failing rule is fixed or refused with a reason.
    let answered: BTreeSet<String> = fix
        .fixed
        .iter()
        .map(|f| f.rule_id.clone())
        .chain(fix.refused.iter().map(|r| r.rule_id.clone()))
        .collect();
    prop_assert_eq!(&answered, &rules_before);
    prop_assert!(fix.refused.iter().all(|r| !r.why.trim().is_empty()));
    let Some(proposed) = fix.proposed.as_deref() else {
        prop_assert!(fix.fixed.is_empty());
        return Ok(false);
    };
    let before = judge(text, &options());
    let after = judge(proposed, &options());
    // 1. What it fixes is gone.
    for f in &fix.fixed {
        prop_assert!(
            !after.findings.iter().any(|(id, _)| *id == f.rule_id),
            "{} still fails:\n{}",
            f.rule_id,
            proposed
        );
    }
    // 2. Nothing new.
    let new: Vec<_> = after.findings.difference(&before.findings).collect();
    prop_assert!(new.is_empty(), "new findings {:?}:\n{}", new, proposed);
    prop_assert!(after.not_assessed.is_subset(&before.not_assessed));
    // 3. Nobody who could change the policy loses it, but the principals a fixed finding is
    // about.
    let exempt: BTreeSet<String> = fix
        .fixed
        .iter()
        .flat_map(|f| exempt_principals(&f.rule_id, &before))
        .collect();
    for p in before.policy_changers.difference(&after.policy_changers) {
        prop_assert!(exempt.contains(p), "{} locked out:\n{}", p, proposed);
    }
    Ok(true)
}
