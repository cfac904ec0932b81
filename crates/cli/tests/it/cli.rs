//! The CLI on local files: lint-policy, rules, verify, report.

use crate::support::{examples, kmsaudit, run, stdout};

#[test]
fn lint_policy_json_summary() {
    let o = run(kmsaudit()
        .args([
            "lint-policy",
            "--format",
            "json",
            "--key-account",
            "111122223333",
        ])
        .arg(examples().join("policies/public-bad.json")));
    assert_eq!(o.status.code(), Some(0), "default --fail-on none");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["summary"]["public"], true);
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule_id"] == "KMS-POLICY-PUBLIC" && f["statement_index"] == 1));
}

#[test]
fn lint_policy_fail_on_and_bad_input() {
    let o = run(kmsaudit()
        .args(["lint-policy", "--fail-on", "high"])
        .arg(examples().join("policies/public-bad.json")));
    assert_eq!(o.status.code(), Some(1));
    let o = run(kmsaudit()
        .args([
            "lint-policy",
            "--fail-on",
            "high",
            "--key-account",
            "111122223333",
        ])
        .arg(examples().join("policies/console-default.json")));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = run(kmsaudit().args(["lint-policy", "does-not-exist.json"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(kmsaudit()
        .args(["lint-policy", "--fail-on", "sometimes"])
        .arg(examples().join("policies/public-bad.json")));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn lint_policy_reads_stdin_and_reports_parse_position() {
    use std::io::Write;
    let mut child = kmsaudit()
        .args(["lint-policy", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"Statement\": [\n  {\"Effect\": \"Allow\",")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert!(stdout(&o).contains("KMS-POLICY-UNPARSEABLE"));
}

#[test]
fn rules_lists_the_catalog() {
    let o = run(kmsaudit().args(["rules", "--format", "json"]));
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for id in [
        "KMS-POLICY-PUBLIC",
        "KMS-ROTATION-DISABLED",
        "AA-DISAGREEMENT",
        "SCAN-NOT-ASSESSED",
        "KMS-POLICY-UNPARSEABLE",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
}
