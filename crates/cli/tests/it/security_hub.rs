//! `scan --security-hub` against the local AWS stand-in (moto serves BatchImportFindings and
//! GetFindings; its `/moto-api/data.json` shows what Security Hub holds).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::e2e::{tempdir, ureq_get, Spec};
use crate::support::{read, stdout};

/// Every finding the stand-in's Security Hub holds, by id.
fn hub_findings(spec: &Spec) -> BTreeMap<String, Value> {
    let data = ureq_get(&format!("{}/moto-api/data.json", spec.str("proxy_url")));
    data["securityhub"]["Finding"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|f| (f["id"].as_str().unwrap().to_string(), f["data"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn asff(pack: &std::path::Path) -> Vec<Value> {
    serde_json::from_slice(&read(&pack.join("findings.asff.json"))).expect("findings.asff.json")
}

/// The first scan imports every failing finding into its own account's custom integration;
/// a second scan updates them (same ids, CreatedAt kept) instead of adding any; a third, with
/// no admin allowlist and only us-east-1 read, resolves the fixed findings of us-east-1 and
/// leaves those of the regions it did not read alone; an account whose import is denied is
/// reported, counted and fails the run, and the pack is still complete.
#[test]
fn security_hub_import_updates_resolves_and_counts_failures() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let first = dir.path().join("first");
    let code = spec.scan(
        &first,
        None,
        &["--security-hub", "--output-formats", "json"],
    );
    assert_eq!(code, 3);
    let records = asff(&first);
    assert!(records.len() > 10, "{} failing findings", records.len());
    for r in &records {
        let account = r["AwsAccountId"].as_str().unwrap();
        assert_eq!(
            r["ProductArn"],
            format!("arn:aws:securityhub:us-east-1:{account}:product/{account}/default")
        );
        assert!(r["Id"].as_str().unwrap().starts_with("kmsaudit/"));
        assert_eq!(r["Compliance"]["Status"], "FAILED");
        assert_eq!(r["SchemaVersion"], "2018-10-08");
        // The same control ids as compliance.csv: `Framework id`, one per control, at most 32.
        let required = r["Compliance"]["RelatedRequirements"].as_array().unwrap();
        assert!(!required.is_empty() && required.len() <= 32, "{r}");
    }
    let public = records
        .iter()
        .find(|r| r["GeneratorId"] == "kmsaudit/KMS-POLICY-PUBLIC")
        .expect("the demo's public key fails KMS-POLICY-PUBLIC");
    let required = &public["Compliance"]["RelatedRequirements"];
    for id in [
        "AWS Foundational Security Best Practices KMS.5",
        "PCI DSS v4.0.1 3.6.1",
        "SOC 2 (2017 TSC) CC6.6",
        "ISO/IEC 27001:2022 A.8.3",
    ] {
        assert!(
            required.as_array().unwrap().iter().any(|v| v == id),
            "{id} not in {required}"
        );
    }
    let held = hub_findings(&spec);
    let ours: BTreeMap<&String, &Value> = held
        .iter()
        .filter(|(id, _)| id.starts_with("kmsaudit/"))
        .collect();
    assert_eq!(
        ours.len(),
        records.len(),
        "every failing finding imported once"
    );
    for r in &records {
        let held = &ours[&r["Id"].as_str().unwrap().to_string()];
        assert_eq!(*held, r, "imported exactly as findings.asff.json holds it");
    }
    let first_time = records[0]["CreatedAt"].as_str().unwrap().to_string();

    // Again: updated in place, not duplicated; CreatedAt kept, UpdatedAt the new scan's.
    let second = dir.path().join("second");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(spec.scan(&second, None, &["--security-hub"]), 3);
    let held = hub_findings(&spec);
    let ours: Vec<&Value> = held
        .iter()
        .filter(|(id, _)| id.starts_with("kmsaudit/"))
        .map(|(_, f)| f)
        .collect();
    assert_eq!(ours.len(), records.len(), "a re-import duplicated findings");
    for f in &ours {
        assert_eq!(f["CreatedAt"], first_time.as_str());
        assert_ne!(f["UpdatedAt"], first_time.as_str());
    }

    // No admin allowlist, only us-east-1 read: its KMS-POLICY-ADMIN-ALLOWLIST findings no
    // longer apply, so they are fixed; those of eu-west-1, not read, are not.
    let config = dir.path().join("no-allowlist.toml");
    let text = String::from_utf8(read(std::path::Path::new(
        spec.raw["config"].as_str().unwrap(),
    )))
    .unwrap()
    .replace(
        "admin_allowlist = [\"arn:aws:iam::*:role/KeyAdmin\", \"AROAOTTER*\"]",
        "admin_allowlist = []",
    );
    assert!(
        text.contains("admin_allowlist = []"),
        "the demo config changed"
    );
    std::fs::write(&config, text).unwrap();
    let mut cmd = crate::support::kmsaudit();
    cmd.args([
        "scan",
        "--quiet",
        "--security-hub",
        "--regions",
        "us-east-1",
        "--config",
    ])
    .arg(&config)
    .arg("--out")
    .arg(dir.path().join("third"));
    spec.aws_env(&mut cmd, None);
    let o = crate::support::run(&mut cmd);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let admin: Vec<&Value> = records
        .iter()
        .filter(|r| r["GeneratorId"] == "kmsaudit/KMS-POLICY-ADMIN-ALLOWLIST")
        .collect();
    let in_region = |r: &&&Value| r["Resources"][0]["Region"] == "us-east-1";
    assert!(
        admin.iter().any(|r| in_region(&r)) && !admin.iter().all(|r| in_region(&r)),
        "the fixture has keys failing the admin allowlist in and outside us-east-1"
    );
    let held = hub_findings(&spec);
    let mut resolved = 0;
    for r in &admin {
        let f = &held[r["Id"].as_str().unwrap()];
        if r["Resources"][0]["Region"] == "us-east-1" {
            assert_eq!(f["Compliance"]["Status"], "PASSED", "{f}");
            assert_eq!(f["RecordState"], "ARCHIVED", "{f}");
            assert_eq!(f["Workflow"]["Status"], "RESOLVED", "{f}");
            resolved += 1;
        } else {
            assert_eq!(
                f["Compliance"]["Status"], "FAILED",
                "not read, not resolved: {f}"
            );
            assert_eq!(f["RecordState"], "ACTIVE", "{f}");
        }
    }
    let summary = stdout(&o);
    let said: usize = summary
        .split(" resolved, 0 rejected")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no import summary: {summary}"));
    assert!(said >= resolved && resolved > 0, "{summary}");

    // One account's import denied: named, counted, exit 1; the others imported, pack whole.
    let denied = spec.raw["seeded"]["accounts"]["prod"]
        .as_str()
        .unwrap()
        .to_string();
    let fourth = dir.path().join("fourth");
    let mut cmd = crate::support::kmsaudit();
    cmd.args(["scan", "--quiet", "--security-hub", "--out"])
        .arg(&fourth);
    if let Some(config) = spec.raw["config"].as_str() {
        cmd.arg("--config").arg(config);
    }
    spec.aws_env(&mut cmd, Some(&format!("deny_import_account={denied}")));
    let o = crate::support::run(&mut cmd);
    assert_eq!(o.status.code(), Some(1));
    let in_prod = asff(&fourth)
        .iter()
        .filter(|r| r["AwsAccountId"] == denied.as_str())
        .count();
    assert!(in_prod > 0);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.matches("not imported: AccessDeniedException").count(),
        in_prod,
        "every finding of the denied account is named: {err}"
    );
    assert!(
        stdout(&o).contains(&format!("{in_prod} rejected")),
        "{}",
        stdout(&o)
    );
    let v = run_verify(&fourth);
    assert!(v.status.success(), "{}", stdout(&v));
}

fn run_verify(pack: &std::path::Path) -> std::process::Output {
    crate::support::run(crate::support::kmsaudit().arg("verify").arg(pack))
}
