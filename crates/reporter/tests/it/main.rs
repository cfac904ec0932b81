//! The reporter on a hostile snapshot: escaping, CSP, CSV neutralisation, determinism,
//! tamper detection. No network: the snapshot is built here.

use kmsaudit_model::*;

const PAYLOADS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(2)>",
    "</script><script>alert(3)</script>",
    "javascript:alert(4)",
    "{{7*7}} {% raw %}",
    "=cmd|' /C calc'!A0",
    "+SUM(1,1)",
    "-2+3",
    "@HYPERLINK(\"http://evil.example\")",
    "\u{2028}line\u{2029}separator \u{202e}override",
];

fn hostile_snapshot() -> Snapshot {
    let mut keys = Vec::new();
    for (i, p) in PAYLOADS.iter().enumerate() {
        let arn = format!("arn:aws:kms:us-east-1:111122223333:key/k{i}");
        let mut key = kmsaudit_model::fixtures::customer_key(&arn);
        if let Some(m) = key.metadata.as_mut() {
            m.description = p.to_string();
        }
        keys.push(KeyRecord {
            policy: Some(format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Sid":{},"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":{}}}}}}}]}}"#,
                serde_json::to_string(p).unwrap(),
                serde_json::to_string(p).unwrap()
            ).into()),
            rotation: Some(RotationStatus { enabled: false, period_days: None, next_rotation_date: None }),
            grants: Some(vec![Grant { grant_id: p.to_string(), name: Some(p.to_string()), grantee_principal: Some(p.to_string()), operations: vec!["Decrypt".into()], ..Default::default() }]),
            aliases: vec![format!("alias/{p}")],
            tags: Some(vec![Tag { key: "owner".into(), value: p.to_string() }]),
            errors: vec![],
            ..key
        });
    }
    Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            tool_name: "kmsaudit".into(),
            tool_version: "0.1.0".into(),
            started_at: "2026-11-23T10:00:00Z".parse().unwrap(),
            finished_at: "2026-11-23T10:00:05Z".parse().unwrap(),
            scope: ScanScope {
                role_name: PAYLOADS[0].into(),
                ..Default::default()
            },
            ..Default::default()
        },
        organization: Some(Organization {
            id: "o-<b>bold</b>".into(),
            ..Default::default()
        }),
        accounts: vec![
            AccountRecord {
                id: "111122223333".into(),
                name: Some(PAYLOADS[1].into()),
                email: Some(PAYLOADS[0].into()),
                org_status: Some("ACTIVE".into()),
                access: AccountAccess::Scanned {
                    via: "caller".into(),
                },
                regions_from: None,
                regions: vec![RegionRecord {
                    region: "us-east-1".into(),
                    access: RegionAccess::Scanned,
                    aliases_error: None,
                    keys,
                    access_analyzer: None,
                }],
                iam: None,
                monitoring: None,
            },
            AccountRecord {
                id: "222233334444".into(),
                name: Some("denied".into()),
                email: None,
                org_status: Some("ACTIVE".into()),
                access: AccountAccess::NotAssessed {
                    issue: Issue::new("STS.AssumeRole", "AccessDenied", PAYLOADS[2]),
                },
                regions_from: None,
                regions: vec![],
                iam: None,
                monitoring: None,
            },
        ],
        aws_managed_policies: vec![],
    }
}

fn render(snapshot: &Snapshot) -> Vec<(String, Vec<u8>)> {
    let evaluation = kmsaudit_evaluator::evaluate(snapshot, &Default::default());
    kmsaudit_reporter::render_all(snapshot, &evaluation, Default::default()).unwrap()
}

/// (rule, resource, status, muted) of every outcome of the evaluation, sorted.
fn every_outcome(
    evaluation: &kmsaudit_model::Evaluation,
) -> Vec<(String, String, kmsaudit_model::Status, bool)> {
    let mut all: Vec<_> = evaluation
        .outcomes()
        .map(|o| {
            (
                o.rule_id.to_string(),
                o.resource.to_string(),
                o.status,
                o.muted,
            )
        })
        .collect();
    all.sort();
    all
}

fn file<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &files.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn html_escapes_every_payload_and_carries_a_strict_csp() {
    let files = render(&hostile_snapshot());
    let html = String::from_utf8(file(&files, "report.html").to_vec()).unwrap();
    for bad in [
        "<script>alert",
        "<img src=x",
        "</script><script>",
        "<b>bold</b>",
    ] {
        assert!(!html.contains(bad), "`{bad}` reached the HTML unescaped");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;"));
    assert!(
        html.contains("{{7*7}}"),
        "template syntax in data must be printed, not evaluated"
    );
    assert!(!html.contains(">49<"));
    // The CSP is the first element of <head> and allows our inline blocks by hash only.
    let head = &html[html.find("<head>").unwrap() + 6..];
    assert!(head
        .trim_start()
        .starts_with("<meta http-equiv=\"Content-Security-Policy\""));
    let csp = kmsaudit_reporter::content_security_policy();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("connect-src 'none'")
            && !csp.contains("unsafe")
    );
    let decoded = html
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/");
    assert!(
        decoded.contains(&format!("content=\"{csp}\"")),
        "CSP meta content"
    );
    // The hashes in the CSP are those of the inline blocks as rendered.
    use base64::Engine;
    use sha2::Digest;
    for (open, close) in [("<style>", "</style>"), ("<script>", "</script>")] {
        for (at, _) in html.match_indices(open) {
            let start = at + open.len();
            let end = start + html[start..].find(close).unwrap();
            let hash = base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(&html.as_bytes()[start..end]));
            assert!(
                csp.contains(&format!("'sha256-{hash}'")),
                "{open} block at {at} does not match its CSP hash"
            );
        }
    }
    // No external resource: nothing loads from a URL.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "@import", "url("] {
        assert!(!html.contains(attr), "external reference `{attr}`");
    }
    // Exactly our inline blocks: the style, the marker script in <head>, report.js.
    assert_eq!(html.matches("<script>").count(), 2);
    assert_eq!(html.matches("<style>").count(), 1);
}

#[test]
fn csv_cells_are_neutralised_and_round_trip() {
    let files = render(&hostile_snapshot());
    for name in [
        "findings.csv",
        "keys.csv",
        "grants.csv",
        "rules.csv",
        "matrix.csv",
        "compliance.csv",
    ] {
        let bytes = file(&files, name);
        assert!(
            bytes.starts_with(b"\xEF\xBB\xBF"),
            "{name} starts with a UTF-8 BOM for Excel"
        );
        let mut reader = csv::Reader::from_reader(&bytes[3..]);
        let headers = reader.headers().unwrap().clone();
        let numeric = [
            "statement_index",
            "rotation_period_days",
            "grants",
            "failing_findings",
            "not_assessed_findings",
        ];
        for record in reader.records() {
            let record = record.unwrap();
            for (h, cell) in headers.iter().zip(record.iter()) {
                if numeric.contains(&h) {
                    assert!(
                        cell.is_empty() || cell.parse::<i64>().is_ok(),
                        "{name}.{h} = {cell:?} is not a number"
                    );
                    continue;
                }
                let first = cell.trim_start_matches(' ').chars().next();
                assert!(
                    !matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r')),
                    "{name}.{h} = {cell:?} would run as a formula"
                );
            }
        }
    }
    let keys = String::from_utf8(file(&files, "keys.csv").to_vec()).unwrap();
    assert!(keys.contains("'=cmd|"));
}

#[test]
fn output_is_deterministic_whatever_the_snapshot_order() {
    let snapshot = hostile_snapshot();
    let a = render(&snapshot);
    let mut shuffled = snapshot.clone();
    shuffled.accounts.reverse();
    shuffled
        .accounts
        .iter_mut()
        .for_each(|a| a.regions.iter_mut().for_each(|r| r.keys.reverse()));
    shuffled.normalize();
    let b = render(&shuffled);
    assert_eq!(a, b);
    let again = render(&snapshot);
    assert_eq!(a, again);
}

#[test]
fn manifest_hashes_verify_and_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = hostile_snapshot();
    let evaluation = kmsaudit_evaluator::evaluate(&snapshot, &Default::default());
    kmsaudit_reporter::write_reports(&snapshot, &evaluation, dir.path(), Default::default())
        .unwrap();
    assert_eq!(
        kmsaudit_reporter::verify_pack(dir.path()).unwrap(),
        Vec::<String>::new()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let (fixes, outputs): (Vec<&str>, Vec<&str>) =
        files.iter().partition(|p| p.starts_with("remediation/"));
    assert_eq!(
        outputs.len(),
        12,
        "every output and config.json: {outputs:?}"
    );
    // Two files per checked fix: the policy and its diff.
    assert!(!evaluation.remediations.is_empty());
    assert_eq!(fixes.len(), 2 * evaluation.remediations.len(), "{fixes:?}");
    let proposal = fixes
        .iter()
        .find(|p| p.ends_with(".json"))
        .unwrap()
        .to_string();
    assert_eq!(
        manifest["coverage"]["complete"], false,
        "one account was not assessed"
    );

    let mut csv = std::fs::read(dir.path().join("findings.csv")).unwrap();
    csv[10] ^= 1;
    std::fs::write(dir.path().join("findings.csv"), csv).unwrap();
    std::fs::remove_file(dir.path().join("grants.csv")).unwrap();
    std::fs::write(dir.path().join("extra.txt"), "x").unwrap();
    std::fs::write(dir.path().join(&proposal), "{}").unwrap();
    std::fs::write(dir.path().join("remediation/planted.json"), "{}").unwrap();
    let problems = kmsaudit_reporter::verify_pack(dir.path()).unwrap();
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("findings.csv")));
    assert!(problems.iter().any(|p| p.starts_with("grants.csv")));
    assert!(problems.iter().any(|p| p.starts_with("extra.txt")));
    assert!(problems
        .iter()
        .any(|p| p.starts_with(&format!("{proposal}: "))));
    assert!(problems
        .iter()
        .any(|p| p == "remediation/planted.json: not part of the pack"));
}

/// Debian's `chromium` (`.ci/run` installs it). Without one the test says so and is skipped;
/// under CI a missing browser is a failure.
fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium is missing (.ci/run installs it)"
        );
        eprintln!("skipping: no chromium");
    }
    found
}

/// The DOM of `url` after its scripts ran, and the browser's log.
fn dump_dom(browser: &str, url: &str, profile: &std::path::Path) -> (String, String) {
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("running chromium");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Opens the hostile report in headless Chromium: the payloads stay text in the DOM, and the
/// browser reports no CSP violation, so our own inline style and scripts match their hashes.
#[test]
fn a_real_browser_renders_payloads_as_text_and_sees_no_csp_violation() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let snapshot = hostile_snapshot();
    let evaluation = kmsaudit_evaluator::evaluate(&snapshot, &Default::default());
    kmsaudit_reporter::write_reports(&snapshot, &evaluation, dir.path(), Default::default())
        .unwrap();
    let url = format!("file://{}", dir.path().join("report.html").display());
    let (dom, log) = dump_dom(browser, &url, &dir.path().join("profile"));
    assert!(
        dom.contains("Findings that need attention"),
        "the report did not render: {log}"
    );
    for injected in ["<img src=\"x\"", "<script>alert", "<b>bold</b>"] {
        assert!(
            !dom.contains(injected),
            "`{injected}` became markup in the browser"
        );
    }
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "payload shown as text"
    );
    assert!(
        !log.contains("Content Security Policy"),
        "CSP violation: {log}"
    );
}

/// The findings rows of a report's DOM: (class, data-severity, data-rule), in DOM order.
fn finding_rows(dom: &str) -> Vec<(String, String, String)> {
    let attr = |tag: &str, name: &str| -> String {
        let key = format!("{name}=\"");
        tag.find(&key)
            .map(|at| {
                let rest = &tag[at + key.len()..];
                rest[..rest.find('"').unwrap()].to_string()
            })
            .unwrap_or_default()
    };
    dom.match_indices("<tr ")
        .map(|(at, _)| &dom[at..at + dom[at..].find('>').unwrap()])
        .filter(|tag| tag.contains("data-severity="))
        .map(|tag| {
            (
                attr(tag, "class"),
                attr(tag, "data-severity"),
                attr(tag, "data-rule"),
            )
        })
        .collect()
}

/// A report larger than one page, opened in headless Chromium: 100 rows shown of the thousands
/// rendered, a filter given in the address shows only its rows, a sort given there orders
/// severities by severity (not alphabetically), and the script raises no error.
#[test]
fn a_large_report_pages_filters_and_sorts_in_a_real_browser() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let snapshot = kmsaudit_model::synthetic::synthetic_org(3_000);
    let evaluation = kmsaudit_evaluator::evaluate(&snapshot, &Default::default());
    kmsaudit_reporter::write_reports(&snapshot, &evaluation, dir.path(), Default::default())
        .unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let rendered = finding_rows(&html);
    assert!(rendered.len() > 1_000, "{} rows", rendered.len());
    let url = format!("file://{}", dir.path().join("report.html").display());
    let profile = dir.path().join("profile");

    let (dom, log) = dump_dom(browser, &url, &profile);
    assert!(!log.contains("Uncaught"), "script error: {log}");
    let rows = finding_rows(&dom);
    assert_eq!(rows.len(), rendered.len(), "every row stays in the DOM");
    let shown: Vec<_> = rows.iter().filter(|r| r.0.contains("shown")).collect();
    assert_eq!(shown.len(), 100, "one page");
    let pages = rendered.len().div_ceil(100);
    assert!(
        dom.contains(&format!(
            "Rows 1\u{2013}100 of {} (page 1 of {pages})",
            rendered.len()
        )),
        "pager"
    );

    // Filtered by severity and rule from the address.
    let (dom, log) = dump_dom(
        browser,
        &format!("{url}#findings?severity=high&rule=KMS-POLICY-EXTERNAL"),
        &profile,
    );
    assert!(!log.contains("Uncaught"), "script error: {log}");
    let rows = finding_rows(&dom);
    let want = rendered
        .iter()
        .filter(|r| r.1 == "high" && r.2 == "KMS-POLICY-EXTERNAL")
        .count();
    assert!(want > 0);
    let shown: Vec<_> = rows.iter().filter(|r| r.0.contains("shown")).collect();
    assert_eq!(shown.len(), want.min(100));
    assert!(shown
        .iter()
        .all(|r| r.1 == "high" && r.2 == "KMS-POLICY-EXTERNAL"));
    assert!(
        dom.contains(&format!("of {want} matching")),
        "pager counts the matches"
    );

    // Sorted by severity, ascending, from the address: info first, critical last; alphabetical
    // order would put critical first.
    let (dom, _) = dump_dom(browser, &format!("{url}#findings?sort=0.asc"), &profile);
    const RANK: [&str; 5] = ["info", "low", "medium", "high", "critical"];
    let ranks: Vec<usize> = finding_rows(&dom)
        .iter()
        .map(|r| RANK.iter().position(|s| *s == r.1).unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "sorted by severity");
    assert_ne!(ranks.first(), ranks.last(), "several severities");
}

/// Printed (to PDF, by headless Chromium), the report carries the evidence that the screen
/// pages and collapses: every rendered findings row, not only the first page, and every key
/// policy, though each sits in a closed section. Reads the PDF with poppler's `pdftotext`
/// (`.ci/run` installs it).
#[test]
fn printing_carries_every_row_and_every_collapsed_policy() {
    let Some(browser) = chromium() else { return };
    if !std::path::Path::new("/usr/bin/pdftotext").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but pdftotext is missing (.ci/run installs poppler-utils)"
        );
        eprintln!("skipping: no pdftotext");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let snapshot = kmsaudit_model::synthetic::synthetic_org(300);
    let evaluation = kmsaudit_evaluator::evaluate(&snapshot, &Default::default());
    kmsaudit_reporter::write_reports(&snapshot, &evaluation, dir.path(), Default::default())
        .unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let rows = finding_rows(&html).len();
    assert!(rows > 100, "more than one page: {rows}");
    let pdf = dir.path().join("report.pdf");
    let status = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!(
            "file://{}",
            dir.path().join("report.html").display()
        ))
        .output()
        .unwrap();
    assert!(pdf.exists(), "no PDF: {status:?}");
    let text = std::process::Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap()
        .stdout;
    let text = String::from_utf8_lossy(&text);
    // A severity label, in capitals, starts each findings row and each rule of the catalog.
    let labels = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"].contains(w))
        .count();
    assert_eq!(labels, rows + evaluation.rules.len(), "every row printed");
    let policies = snapshot
        .keys()
        .filter(|(_, _, k)| k.policy.is_some())
        .count();
    assert_eq!(
        text.matches("\"Statement\"").count(),
        policies,
        "every collapsed policy printed"
    );
}

/// findings.csv holds what needs attention, rules.csv the catalog once, and matrix.csv every
/// key × rule status, so that nothing is lost: every key outcome of the evaluation is in one of
/// them, PASS and NOT_APPLICABLE in the matrix only.
#[test]
fn csv_outputs_split_attention_catalog_and_matrix() {
    let snapshot = hostile_snapshot();
    let evaluation = kmsaudit_evaluator::evaluate(&snapshot, &Default::default());
    let files = render(&snapshot);
    let records = |name: &str| -> (csv::StringRecord, Vec<csv::StringRecord>) {
        let bytes = file(&files, name);
        let mut reader = csv::Reader::from_reader(&bytes[3..]);
        let headers = reader.headers().unwrap().clone();
        (headers, reader.records().map(Result::unwrap).collect())
    };
    let (fh, findings) = records("findings.csv");
    let status = fh.iter().position(|h| h == "status").unwrap();
    let muted = fh.iter().position(|h| h == "muted").unwrap();
    assert!(!fh.iter().any(|h| h == "remediation" || h == "title"));
    assert!(evaluation.findings.iter().all(|f| f.needs_attention()));
    assert_eq!(findings.len(), evaluation.findings.len());
    assert!(findings
        .iter()
        .all(|r| matches!(&r[status], "FAIL" | "NOT_ASSESSED") || &r[muted] == "true"));

    let (rh, rules) = records("rules.csv");
    assert_eq!(rules.len(), evaluation.rules.len());
    assert!(rh.iter().any(|h| h.starts_with("NIST SP 800-53")));

    let (mh, matrix) = records("matrix.csv");
    let mut cells = 0;
    for o in evaluation
        .outcomes()
        .filter(|o| o.resource_type == kmsaudit_model::ResourceType::Key)
    {
        let col = mh
            .iter()
            .position(|h| h == o.rule_id)
            .expect("a column per key rule");
        let row = matrix
            .iter()
            .find(|r| &r[2] == o.resource)
            .expect("a row per key");
        assert!(
            row[col].ends_with(o.status.as_str()),
            "{} {}",
            o.rule_id,
            o.resource
        );
        cells += 1;
    }
    assert_eq!(
        cells,
        matrix.len() * (mh.len() - 4),
        "every cell holds an outcome"
    );
}

/// findings.json keeps every outcome: each resource and rule text once, the findings needing
/// attention grouped by identical verdict, the others by rule index; and it reads back into
/// the published types.
#[test]
fn findings_json_is_compact_and_complete() {
    let snapshot = hostile_snapshot();
    let evaluation = kmsaudit_evaluator::evaluate(&snapshot, &Default::default());
    let bytes = file(&render(&snapshot), "findings.json").to_vec();
    let doc: kmsaudit_model::FindingsDocument = serde_json::from_slice(&bytes).unwrap();
    let mut got: Vec<_> = doc
        .outcomes()
        .map(|o| {
            (
                o.rule_id.to_string(),
                o.resource.id.to_string(),
                o.status,
                o.muted,
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, every_outcome(&evaluation), "every outcome, once");
    assert_eq!(doc.rules.len(), evaluation.rules.len());
    let ids: Vec<&str> = doc.resources.iter().map(|r| r.id.as_ref()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "each resource once, sorted"
    );
    // Whole findings keep their message and evidence.
    for f in &evaluation.findings {
        let group = doc
            .outcomes()
            .find(|o| o.rule_id == &*f.rule_id && *o.resource.id == *f.resource)
            .and_then(|o| o.group)
            .unwrap();
        assert_eq!(*group.message, *f.message);
        assert_eq!(*group.evidence, *f.evidence);
        assert_eq!(group.severity, f.severity);
        assert_eq!(group.mute_reason.as_deref(), f.mute_reason.as_deref());
    }
    assert!(
        doc.findings.len() < evaluation.findings.len(),
        "identical verdicts share a group"
    );
    // A second serialization of what was read gives the same bytes.
    let mut again = serde_json::to_vec(&doc).unwrap();
    again.push(b'\n');
    assert_eq!(again, bytes);
}

#[test]
fn ocsf_holds_every_outcome_with_its_verdict() {
    let snapshot = hostile_snapshot();
    let evaluation = kmsaudit_evaluator::evaluate(&snapshot, &Default::default());
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(file(&render(&snapshot), "findings.ocsf.json")).unwrap();
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    let mut got: Vec<_> = records
        .iter()
        .map(|r| {
            (
                text(&r["compliance"]["control"]),
                text(&r["resources"][0]["uid"]),
                text(&r["status_code"])
                    .parse::<kmsaudit_model::Status>()
                    .unwrap(),
                r["status_id"] == 3,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        every_outcome(&evaluation),
        "every outcome, once, muted ones suppressed"
    );
    for r in &records {
        let verdict = match r["status_code"].as_str().unwrap() {
            "PASS" => 1,
            "FAIL" => 3,
            "NOT_ASSESSED" => 0,
            _ => 99,
        };
        assert_eq!(r["compliance"]["status_id"], verdict, "{r}");
        assert_eq!(
            (&r["class_uid"], &r["type_uid"]),
            (&2003.into(), &200301.into())
        );
        assert_eq!(
            text(&r["finding_info"]["uid"]),
            format!(
                "kmsaudit:{}:{}",
                text(&r["compliance"]["control"]),
                text(&r["resources"][0]["uid"])
            )
        );
    }
    assert!(records.iter().any(|r| r["status_code"] == "FAIL"));
    assert!(records.iter().any(|r| r["status_code"] == "PASS"));
}
