//! The demo pack's control view, per framework: compliance.csv and the report's section.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{muted, outcomes};

/// For one control of each framework that a single rule decides: the rule it names and the
/// resource counts, recomputed from findings.json. For every row: the status rule (failing
/// wins, then not assessed, then muted, then passing). And the report shows each framework's
/// section with the same statuses.
pub(crate) fn check_compliance(pack: &Path, doc: &Value) {
    let compliance = std::fs::read_to_string(pack.join("compliance.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(compliance.trim_start_matches('\u{feff}').as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "framework",
            "control",
            "title",
            "status",
            "rules",
            "resources_passing",
            "resources_failing",
            "resources_muted",
            "resources_not_assessed"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let control = |fw: &str, id: &str| {
        rows.iter()
            .find(|r| &r[0] == fw && &r[1] == id)
            .unwrap_or_else(|| panic!("no row for {fw} {id}"))
            .clone()
    };
    let cw7 = control("AWS Foundational Security Best Practices", "CloudWatch.7");
    assert_eq!(
        (&cw7[3], &cw7[4], &cw7[5], &cw7[6]),
        ("FAIL", "KMS-MONITORING-ALERT", "2", "5"),
        "{cw7:?}"
    );
    // Per rule: (pass, fail unmuted, fail muted, not assessed), from findings.json.
    let muted_outcomes = muted(doc);
    let mut counts: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for [rule, resource, status, _, _] in outcomes(doc) {
        let is_muted = muted_outcomes.contains(&(rule.clone(), resource));
        let slot = match (status.as_str(), is_muted) {
            ("PASS", _) => 0,
            ("FAIL", false) => 1,
            ("FAIL", true) => 2,
            ("NOT_ASSESSED", _) => 3,
            _ => continue,
        };
        counts.entry(rule).or_default()[slot] += 1;
    }
    for (framework, id, rule) in [
        ("CIS AWS Foundations v3.0", "3.6", "KMS-ROTATION-DISABLED"),
        ("CIS AWS Foundations v5.0", "3.6", "KMS-ROTATION-DISABLED"),
        ("CIS AWS Foundations v6.0", "4.6", "KMS-ROTATION-DISABLED"),
        ("CIS AWS Foundations v6.0", "5.7", "KMS-MONITORING-ALERT"),
        ("CIS AWS Foundations v5.0", "1.19", "AA-ANALYZER-MISSING"),
        (
            "AWS Foundational Security Best Practices",
            "KMS.5",
            "KMS-POLICY-PUBLIC",
        ),
        ("NIST SP 800-53 Rev. 5", "SC-28", "KMS-ROTATION-DISABLED"),
        ("NIST CSF 2.0", "PR.PS-04", "KMS-MONITORING-TRAIL"),
        ("PCI DSS v4.0.1", "12.5.1", "KMS-TAGS-REQUIRED"),
        (
            "SOC 2 (2017 TSC)",
            "CC7.2",
            "KMS-MONITORING-TRAIL KMS-MONITORING-ALERT",
        ),
        ("ISO/IEC 27001:2022", "A.8.8", "SCAN-NOT-ASSESSED"),
        ("HIPAA Security Rule", "164.312(b)", "KMS-MONITORING-TRAIL"),
    ] {
        let row = control(framework, id);
        assert_eq!(&row[4], rule, "{row:?}");
        assert!(!row[2].is_empty(), "{framework} {id} has no title");
        if !rule.contains(' ') {
            let [pass, fail, muted, na] = counts.get(rule).copied().unwrap_or_default();
            let got: Vec<usize> = (5..9).map(|i| row[i].parse().unwrap()).collect();
            assert_eq!(got, [pass, fail, muted, na], "{framework} {id}");
        }
    }
    // Every framework the issue names has rows.
    let frameworks: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(frameworks.len(), 10, "{frameworks:?}");
    for r in &rows {
        let n = |i: usize| r[i].parse::<usize>().unwrap();
        let want = match (n(6), n(8), n(7), n(5)) {
            (f, _, _, _) if f > 0 => "FAIL",
            (_, na, _, _) if na > 0 => "NOT_ASSESSED",
            (_, _, m, _) if m > 0 => "MUTED",
            (_, _, _, p) if p > 0 => "PASS",
            _ => "NOT_APPLICABLE",
        };
        assert_eq!(&r[3], want, "{r:?}");
    }
    assert!(rows.iter().any(|r| &r[3] == "NOT_ASSESSED"), "{rows:?}");

    // The report: a section per framework, each control's row with the status compliance.csv
    // gives it.
    let html = std::fs::read_to_string(pack.join("report.html")).unwrap();
    let section = &html[html
        .find("<section id=\"compliance\">")
        .expect("compliance section")..];
    let section = &section[..section.find("</section>").unwrap()];
    for framework in &frameworks {
        assert!(
            section.contains(&format!("<strong>{}</strong>", escaped(framework))),
            "{framework} has no part in the report"
        );
    }
    for r in rows.iter().filter(|r| &r[0] == "CIS AWS Foundations v6.0") {
        let at = section
            .find(&format!("<tr data-control=\"{}\">", &r[1]))
            .unwrap_or_else(|| panic!("no report row for CIS v6.0 {}", &r[1]));
        let row = &section[at..at + section[at..].find("</tr>").unwrap()];
        assert!(
            row.contains(&format!("class=\"st-{0}\">{0}</td>", &r[3])),
            "{row}"
        );
        assert!(row.contains(&escaped(&r[2])), "title of {} in {row}", &r[1]);
    }
    // The findings behind a failing control are named.
    assert!(
        section.contains("FAIL <a href=\"#rule-"),
        "no finding named"
    );
}

/// Text as the report escapes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2F;")
}

/// The demo pack's checked fixes: a proposal for the public key's policy that lint-policy,
/// run on it, no longer finds public; its diff file names the command; the failing findings say
/// where the fix is (or why there is none); non-policy findings carry their CLI command; and the
/// pack, remediation folder included, verifies.
pub(crate) fn check_remediation(pack: &Path, doc: &Value) {
    let findings = doc["findings"].as_array().unwrap();
    // findings.json names a finding's resources by index.
    let resource = |f: &Value| &doc["resources"][f["resources"][0].as_u64().unwrap() as usize];
    let detail = |f: &Value, k: &str| f["evidence"]["details"][k].as_str().map(str::to_string);
    let public: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule_id"] == "KMS-POLICY-PUBLIC" && f["status"] == "FAIL")
        .collect();
    assert!(!public.is_empty());
    let mut checked = 0;
    for f in &public {
        let fix = detail(f, "fix").unwrap_or_else(|| panic!("no fix said for {f}"));
        let Some(rest) = fix.strip_prefix("checked fix in remediation/") else {
            assert!(fix.starts_with("no checked fix: "), "{fix}");
            continue;
        };
        let stem = rest.split(".json").next().unwrap();
        let policy = pack.join(format!("remediation/{stem}.json"));
        let key_arn = resource(f)["id"].as_str().unwrap();
        let o = crate::support::run(
            crate::support::kmsaudit()
                .arg("lint-policy")
                .arg(&policy)
                .args([
                    "--key-arn",
                    key_arn,
                    "--format",
                    "json",
                    "--fail-on",
                    "none",
                ]),
        );
        let report: Value = serde_json::from_slice(&o.stdout).unwrap();
        let rules: Vec<&str> = report["documents"][0]["report"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["rule_id"].as_str())
            .collect();
        assert!(
            !rules.contains(&"KMS-POLICY-PUBLIC"),
            "{key_arn}: {rules:?}"
        );
        let diff = std::fs::read_to_string(pack.join(format!("remediation/{stem}.diff"))).unwrap();
        assert!(diff.contains("# fixes KMS-POLICY-PUBLIC: "), "{diff}");
        assert!(
            diff.contains(&format!(
                "aws kms put-key-policy --key-id {key_arn} --policy-name default --policy file://remediation/{stem}.json"
            )),
            "{diff}"
        );
        assert!(diff.contains("\n--- current\n+++ proposed\n"), "{diff}");
        checked += 1;
    }
    assert!(checked > 0, "no public key got a checked fix");
    // Every failing policy-rule finding says what was proposed for it.
    for f in findings.iter().filter(|f| {
        f["status"] == "FAIL"
            && resource(f)["type"] == "AWS::KMS::Key"
            && f["rule_id"].as_str().unwrap().starts_with("KMS-POLICY-")
            && f["rule_id"] != "KMS-POLICY-UNPARSEABLE"
    }) {
        assert!(detail(f, "fix").is_some(), "no fix said for {f}");
    }
    // Non-policy findings: the exact command.
    let rotation = findings
        .iter()
        .find(|f| {
            f["rule_id"] == "KMS-ROTATION-DISABLED" && f["status"] == "FAIL" && f["muted"].is_null()
        })
        .expect("the demo has a key without rotation");
    let command = detail(rotation, "command").unwrap();
    assert_eq!(
        command,
        format!(
            "aws kms enable-key-rotation --key-id {} --rotation-period-in-days 365 --region {}",
            resource(rotation)["id"].as_str().unwrap(),
            resource(rotation)["region"].as_str().unwrap()
        )
    );
    let o = crate::support::run(crate::support::kmsaudit().arg("verify").arg(pack));
    assert!(o.status.success(), "{}", crate::support::stdout(&o));
}
