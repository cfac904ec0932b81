//! Effective access on the demo organization: the access.csv rows the fixture declares (an
//! access only an AWS managed policy gives, one only role trust gives, one only a grant gives,
//! an SCP keeping deletion to the key administrators), and the organization's SCPs and RCPs in
//! the snapshot.

use std::collections::BTreeSet;

use crate::e2e::{tempdir, Spec};
use crate::support::read;

type Row = (String, String, String, String);

/// (key ARN, principal, capability, verdict) of every access.csv row.
fn access_rows(pack: &std::path::Path) -> BTreeSet<Row> {
    let bytes = read(&pack.join("access.csv"));
    let text = String::from_utf8(bytes).unwrap();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "key_arn",
            "principal",
            "principal_account",
            "capability",
            "verdict",
            "via",
            "conditions"
        ]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].into(), r[1].into(), r[3].into(), r[4].into())
        })
        .collect()
}

fn pairs(spec: &Spec, field: &str) -> Vec<(String, Vec<String>)> {
    spec.raw[field]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| {
            let words = p[1]
                .as_str()
                .unwrap()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            (p[0].as_str().unwrap().to_string(), words)
        })
        .collect()
}

#[test]
fn demo_org_access_is_what_the_fixture_declares() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let out = dir.path().join("pack");
    spec.scan(&out, None, &[]);
    let rows = access_rows(&out);
    assert!(
        rows.iter()
            .all(|r| ["allowed", "conditional", "not_assessed"].contains(&r.3.as_str())),
        "access.csv holds only allowed, conditional or not assessed rows"
    );
    let find = |key: &str, who: &str, cap: &str| {
        rows.iter()
            .filter(|r| r.0 == key && r.1.ends_with(who) && r.2 == cap)
            .map(|r| r.3.clone())
            .collect::<Vec<_>>()
    };
    let mut problems = vec![];
    for (key, words) in pairs(&spec, "access_present") {
        let found = find(&key, &words[0], &words[1]);
        if found != [words[2].clone()] {
            problems.push(format!("{key}: expected {words:?}, found {found:?}"));
        }
    }
    for (key, words) in pairs(&spec, "access_absent") {
        let found = find(&key, &words[0], &words[1]);
        if !found.is_empty() {
            problems.push(format!("{key}: expected no {words:?}, found {found:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // findings.json carries the same rows, grouped.
    let doc: kmsaudit_model::FindingsDocument =
        serde_json::from_slice(&read(&out.join("findings.json"))).unwrap();
    let from_json: BTreeSet<Row> = doc
        .access_rows()
        .map(|r| {
            let (cap, verdict) = (r.capability.as_str(), r.verdict.as_str());
            (r.key_arn, r.principal, cap.into(), verdict.into())
        })
        .collect();
    assert_eq!(from_json, rows, "findings.json and access.csv differ");
    assert!(
        doc.access.as_ref().unwrap().len() < rows.len(),
        "rows sharing an answer are grouped"
    );

    // report.html says who can decrypt and administer the keys it details, and once that
    // session and VPC endpoint policies make it an upper bound.
    let html = String::from_utf8(read(&out.join("report.html"))).unwrap();
    assert_eq!(html.matches("cannot be seen at rest").count(), 1);
    for side in ["Who can decrypt (", "Who can administer ("] {
        assert!(html.contains(side), "report.html lacks {side}");
    }
    let declared: BTreeSet<String> = pairs(&spec, "access_present")
        .into_iter()
        // The key id: report.html escapes the ARN's slash.
        .map(|(key, _)| key.rsplit('/').next().unwrap().to_string())
        .collect();
    let detailed: Vec<&str> = html
        .split("<details id=\"key-")
        .skip(1)
        .filter(|s| declared.iter().any(|k| s.contains(k.as_str())))
        .collect();
    assert!(
        !detailed.is_empty(),
        "no key with declared access is detailed"
    );
    assert!(
        detailed
            .iter()
            .all(|s| s.contains("<details class=\"paths\">")),
        "a detailed key with access shows no paths"
    );

    // The organization's policies were read: the SCP on the workloads OU, the RCP on dev.
    let snapshot: kmsaudit_model::Snapshot =
        serde_json::from_slice(&read(&out.join("snapshot.json"))).unwrap();
    let policies = snapshot
        .organization
        .and_then(|o| o.policies)
        .expect("SCPs and RCPs read");
    assert!(policies.errors.is_empty(), "{:?}", policies.errors);
    let names: BTreeSet<&str> = policies.policies.iter().map(|p| p.name.as_str()).collect();
    assert!(
        names.contains("ProtectKeys") && names.contains("OrgOnlyKeys"),
        "{names:?}"
    );
    let prod = spec.raw["seeded"]["accounts"]["prod"].as_str().unwrap();
    let path = policies.path_to(prod).expect("prod is in the tree");
    assert_eq!(path.len(), 3, "root, workloads, prod: {path:?}");
}
