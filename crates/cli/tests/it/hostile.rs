//! Hostile key policies in a snapshot: evaluating them (as a scan does, through `kmsaudit
//! report`) must not grow the process's memory past the evaluator's targets (issue 8: 20 MB per
//! 32 KB policy analysed; two analyses run at once on the 2-core machine).

use crate::support::{data, read, run, stdout};

/// The largest key policy KMS accepts.
const MAX_KEY_POLICY: usize = 32 * 1024;
const KEYS: usize = 24;

/// Statements while the document stays within 32 KB.
fn fill(first: Vec<String>, next: impl Fn(usize) -> String) -> String {
    let doc = |s: &[String]| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            s.join(",")
        )
    };
    let mut statements = first;
    for i in 0.. {
        statements.push(next(i));
        if doc(&statements).len() > MAX_KEY_POLICY {
            statements.pop();
            break;
        }
    }
    doc(&statements)
}

/// Many principals and a pinned `*`, then as many pinning Denies on different action subsets
/// as fit (each splits what the previous ones left). `seed` makes every policy distinct, so
/// no analysis is shared between keys.
fn hostile(seed: usize) -> String {
    let roles: Vec<String> = (0..60)
        .map(|i| format!(r#""arn:aws:iam::111122223333:role/r{seed}-{i}""#))
        .collect();
    let actions = [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:CreateGrant",
        "kms:PutKeyPolicy",
    ];
    fill(
        vec![
            format!(r#"{{"Effect":"Allow","Principal":{{"AWS":[{}]}},"Action":"kms:*","Resource":"*"}}"#, roles.join(",")),
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-exampleorg"}}}"#.into(),
        ],
        |i| {
            let subset: Vec<&str> = actions
                .iter()
                .enumerate()
                .filter(|(j, _)| (i >> j) & 1 == 1 || j % 3 == i % 3)
                .map(|(_, a)| *a)
                .collect();
            format!(
                r#"{{"Effect":"Deny","Principal":"*","Action":{subset:?},"Resource":"*","Condition":{{"StringNotEquals":{{"aws:SourceVpce":"vpce-{seed:04x}{i:06x}"}}}}}}"#
            )
        },
    )
}

/// As large, and cheap to analyse: one Allow to the root per statement.
fn benign(seed: usize) -> String {
    fill(vec![], |i| {
        format!(
            r#"{{"Sid":"S{seed}x{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:Decrypt","Resource":"*"}}"#
        )
    })
}

/// The test snapshot's one key, repeated with each policy.
fn snapshot(policies: &[String]) -> String {
    let mut snap: serde_json::Value =
        serde_json::from_slice(&read(&data("snapshot-expired-material.json"))).unwrap();
    let region = &mut snap["accounts"][0]["regions"][0];
    let template = region["keys"][0].clone();
    let keys: Vec<serde_json::Value> = policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut key = template.clone();
            let id = format!("0f0f0f0f-1111-2222-3333-{i:012}");
            let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{id}");
            key["arn"] = arn.clone().into();
            key["key_id"] = id.clone().into();
            key["metadata"]["arn"] = arn.into();
            key["metadata"]["key_id"] = id.into();
            key["aliases"] = serde_json::json!([]);
            key["policy"] = p.clone().into();
            key
        })
        .collect();
    region["keys"] = keys.into();
    snap.to_string()
}

/// Runs `kmsaudit report` on `snapshot` under GNU time; returns its peak RSS in KiB.
fn report_peak_rss_kib(snapshot: &std::path::Path, out: &std::path::Path) -> u64 {
    let o = run(std::process::Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib %M"])
        .arg(env!("CARGO_BIN_EXE_kmsaudit"))
        .args(["report", "--fail-on", "none", "--out"])
        .arg(out)
        .arg(snapshot));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{}{stderr}", stdout(&o));
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from GNU time: {stderr}"))
}

#[test]
fn hostile_policies_do_not_grow_memory_past_the_evaluator_targets() {
    let dir = tempfile::tempdir().unwrap();
    let mut peaks = Vec::new();
    for (name, make) in [
        ("benign", benign as fn(usize) -> String),
        ("hostile", hostile),
    ] {
        let policies: Vec<String> = (0..KEYS).map(make).collect();
        assert!(policies.iter().all(|p| p.len() > MAX_KEY_POLICY - 512));
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, snapshot(&policies)).unwrap();
        peaks.push(report_peak_rss_kib(&path, &dir.path().join(name)) as i64);
    }
    let growth_mb = (peaks[1] - peaks[0]) as f64 / 1024.0;
    println!(
        "{KEYS} keys with 32 KB policies: peak RSS benign {:.1} MB, hostile {:.1} MB, growth {growth_mb:.1} MB",
        peaks[0] as f64 / 1024.0,
        peaks[1] as f64 / 1024.0
    );
    assert!(
        growth_mb <= 40.0,
        "hostile policies grew peak RSS by {growth_mb:.1} MB (target: 20 MB per analysis, 2 at once)"
    );
    // The hostile keys were analysed, not refused.
    let findings: serde_json::Value =
        serde_json::from_slice(&read(&dir.path().join("hostile/findings.json"))).unwrap();
    let outcomes = crate::support::outcomes(&findings);
    let statuses = |rule: &str| -> Vec<String> {
        outcomes
            .iter()
            .filter(|o| o[0] == rule)
            .map(|o| o[2].clone())
            .collect()
    };
    assert_eq!(statuses("KMS-POLICY-UNPARSEABLE"), vec!["PASS"; KEYS]);
    assert_eq!(statuses("KMS-POLICY-EXTERNAL"), vec!["FAIL"; KEYS]);
}
