//! Scans of the demo organization served by the local AWS stand-in (`cargo xtask test` starts
//! it and names it in KMSAUDIT_E2E_SPEC). Without the stand-in these tests say so and return;
//! under CI (`CI` set) a missing stand-in is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{kmsaudit, outcomes, read, run, stdout};

pub(crate) struct Spec {
    pub(crate) raw: Value,
}

impl Spec {
    pub(crate) fn load() -> Option<Spec> {
        let Ok(path) = std::env::var("KMSAUDIT_E2E_SPEC") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but the AWS stand-in is not: run the tests with `cargo xtask test`"
            );
            eprintln!("skipping: no AWS stand-in (run `cargo xtask test`)");
            return None;
        };
        let raw = serde_json::from_slice(&read(Path::new(&path))).expect("e2e spec is JSON");
        Some(Spec { raw })
    }

    pub(crate) fn str(&self, field: &str) -> String {
        self.raw[field].as_str().unwrap_or_default().to_string()
    }

    fn triples(&self, field: &str) -> BTreeSet<(String, String, String)> {
        self.raw[field]
            .as_array()
            .expect("list")
            .iter()
            .map(|e| {
                (
                    e["rule"].as_str().unwrap().into(),
                    e["resource"].as_str().unwrap().into(),
                    e["status"].as_str().unwrap().into(),
                )
            })
            .collect()
    }

    fn account(&self, name: &str) -> String {
        self.raw["seeded"]["accounts"][name]
            .as_str()
            .expect("seeded account")
            .to_string()
    }

    /// Points `cmd` at the stand-in (through the fault profile, if any: KMS and Access
    /// Analyzer calls then meet its faults), with test credentials and no user AWS config.
    pub(crate) fn aws_env<'c>(
        &self,
        cmd: &'c mut std::process::Command,
        profile: Option<&str>,
    ) -> &'c mut std::process::Command {
        let with_profile = |url: String| match profile {
            Some(p) => format!("{url}/_faults/{p}"),
            None => url,
        };
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", with_profile(self.str("proxy_url")))
            .env(
                "AWS_ENDPOINT_URL_ACCESSANALYZER",
                with_profile(self.str("access_analyzer_url")),
            )
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    }

    /// Runs `kmsaudit scan` against the stand-in, through the fault profile if any.
    pub(crate) fn scan(&self, out: &Path, profile: Option<&str>, extra: &[&str]) -> i32 {
        let mut cmd = kmsaudit();
        cmd.args(["scan", "--quiet", "--out"]).arg(out).args(extra);
        self.aws_env(&mut cmd, profile);
        if let Some(config) = self.raw["config"].as_str() {
            cmd.arg("--config").arg(config);
        }
        let o = run(&mut cmd);
        assert!(
            matches!(o.status.code(), Some(0 | 3 | 4)),
            "scan failed: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        o.status.code().unwrap()
    }
}

pub(crate) fn findings(dir: &Path) -> Value {
    serde_json::from_slice(&read(&dir.join("findings.json"))).expect("findings.json")
}

fn non_passing(doc: &Value) -> BTreeSet<(String, String, String)> {
    all(doc)
        .into_iter()
        .filter(|(_, _, s)| s == "FAIL" || s == "NOT_ASSESSED")
        .collect()
}

fn all(doc: &Value) -> BTreeSet<(String, String, String)> {
    outcomes(doc)
        .into_iter()
        .map(|[rule, resource, status, _, _]| (rule, resource, status))
        .collect()
}

pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn demo_org_findings_are_exactly_what_the_fixture_declares() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let out = dir.path().join("pack");
    let code = spec.scan(&out, None, &[]);
    assert_eq!(
        code, 3,
        "failing findings exist, so exit code 3 (over 4 for incomplete)"
    );
    let doc = findings(&out);
    let got = non_passing(&doc);
    let want = spec.triples("exact");
    let missing: Vec<_> = want.difference(&got).collect();
    let unexpected: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing: {missing:#?}\nunexpected: {unexpected:#?}"
    );
    let everything = all(&doc);
    let absent: Vec<_> = spec
        .triples("present")
        .into_iter()
        .filter(|t| !everything.contains(t))
        .collect();
    assert!(absent.is_empty(), "expected findings absent: {absent:#?}");

    // The scope section shows monitoring per account × region holding keys: 7 in the demo,
    // with why each fails and whether CloudWatch.7's exact text is there.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("Monitoring coverage per account × region holding keys (7)"),
        "the scope section lists monitoring"
    );
    assert!(html.contains("metric filter kms-look-alike matches none of the three events"));
    assert!(html.contains("present: CloudWatch.7 would pass on the text"));
    crate::e2e_compliance::check_compliance(&out, &doc);
    crate::e2e_compliance::check_remediation(&out, &doc);

    // CloudTrail LookupEvents names who still calls the keys pending deletion or disabled.
    let destroy: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "KMS-KEY-DESTROY-IN-USE")
        .filter_map(|f| f["message"].as_str())
        .collect();
    assert!(
        destroy
            .iter()
            .any(|m| m.contains("still being called") && m.contains("orders-batch")),
        "{destroy:?}"
    );
    assert!(
        destroy
            .iter()
            .any(|m| m.contains("KMSInvalidStateException") && m.contains("billing-app")),
        "{destroy:?}"
    );

    // Every listed account appears once, with the right coverage; discovered = assessed + not.
    let accounts = doc["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 6);
    let coverage = |name: &str| {
        let id = spec.account(name);
        accounts
            .iter()
            .find(|a| a["account_id"] == id.as_str())
            .unwrap()["coverage"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(coverage("legacy"), "NOT_ASSESSED");
    assert_eq!(coverage("closed"), "SKIPPED");
    assert_eq!(coverage("prod"), "PARTIAL");
    assert_eq!(coverage("security"), "ASSESSED");
    for r in doc["regions"].as_array().unwrap() {
        let (d, a, n) = (
            r["keys_discovered"].as_u64().unwrap(),
            r["keys_assessed"].as_u64().unwrap(),
            r["keys_not_assessed"].as_u64().unwrap(),
        );
        assert_eq!(d, a + n, "{r}");
    }
    let skipped: Vec<&Value> = doc["regions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["coverage"] == "SKIPPED")
        .collect();
    assert_eq!(
        skipped.len(),
        1,
        "prod's af-south-1 is the only region not enabled"
    );
    assert_eq!(skipped[0]["region"], "af-south-1");
    // The stand-in serves ListRegions (paged at 20): the regions came from it, the disabled one
    // was skipped on its word, without a ListKeys probe.
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("account:ListRegions: DISABLED"),
        "{}",
        skipped[0]
    );
    let snapshot: kmsaudit_model::Snapshot =
        serde_json::from_slice(&read(&out.join("snapshot.json"))).unwrap();
    for a in &snapshot.accounts {
        if matches!(a.access, kmsaudit_model::AccountAccess::Scanned { .. }) {
            assert_eq!(
                a.regions_from,
                Some(kmsaudit_model::RegionSource::ListRegions),
                "{}",
                a.id
            );
            assert_eq!(
                a.regions.len(),
                kmsaudit_scanner::partition_regions("aws").len()
            );
        }
    }
    // One page of up to 50 regions per scanned account (paging is the scanner's unit tests').
    assert!(snapshot.metadata.api_calls["Account.ListRegions"] >= 4);

    // Muting: the allow-listed key and the unexpired suppression; the expired one is reported.
    let muted = crate::support::muted(&doc);
    assert_eq!(muted.len(), 2, "{muted:#?}");
    assert!(doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("expired on 2020-01-01")));

    // The pack verifies, and re-rendering the saved snapshot gives the same bytes.
    let o = run(kmsaudit().arg("verify").arg(&out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let again = dir.path().join("again");
    // No --config: the pack's own config.json (suppressions and allowlists included) is used.
    let mut report = kmsaudit();
    report
        .arg("report")
        .arg(out.join("snapshot.json"))
        .arg("--out")
        .arg(&again);
    assert_eq!(run(&mut report).status.code(), Some(3));
    let manifest: Value = serde_json::from_slice(&read(&out.join("manifest.json"))).unwrap();
    assert_eq!(
        manifest["config_sha256"].as_str().unwrap(),
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == "config.json")
            .expect("config.json is part of the pack")["sha256"]
            .as_str()
            .unwrap()
    );
    for file in [
        "config.json",
        "report.html",
        "findings.csv",
        "compliance.csv",
        "rules.csv",
        "matrix.csv",
        "keys.csv",
        "grants.csv",
        "findings.json",
        "snapshot.json",
        "manifest.json",
        "SHA256SUMS",
    ] {
        assert!(
            read(&out.join(file)) == read(&again.join(file)),
            "{file} differs after re-rendering"
        );
    }

    // Hostile text from AWS: escaped in HTML, neutralised in CSV.
    let html = String::from_utf8(read(&out.join("report.html"))).unwrap();
    assert!(
        !html.contains("<script>alert"),
        "key description reached the HTML unescaped"
    );
    assert!(
        !html.contains("<img src=x"),
        "tag value reached the HTML unescaped"
    );
    assert!(html.contains("&lt;script&gt;alert"));
    let keys_csv = read(&out.join("keys.csv"));
    let mut reader = csv::Reader::from_reader(keys_csv.as_slice());
    let headers = reader.headers().unwrap().clone();
    let description = headers.iter().position(|h| h == "description").unwrap();
    let hostile: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[description].to_string())
        .filter(|d| d.contains("HYPERLINK"))
        .collect();
    assert_eq!(hostile.len(), 1);
    assert!(hostile[0].starts_with("'="), "{}", hostile[0]);
    check_last_use(&spec, &keys_csv, &html, &doc);

    validate_against_schemas(&out);
    validate_ocsf(&out);
}

/// A CSV file with its `last_use_read_at` cells emptied (when a scan asked, not what it read).
fn without_read_times(csv_text: &str) -> String {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let Some(column) = headers.iter().position(|h| h == "last_use_read_at") else {
        return csv_text.to_string();
    };
    let mut out = csv::Writer::from_writer(vec![]);
    out.write_record(&headers).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        let cells = record
            .iter()
            .enumerate()
            .map(|(i, cell)| if i == column { "" } else { cell });
        out.write_record(cells).unwrap();
    }
    String::from_utf8(out.into_inner().unwrap()).unwrap()
}

/// Each demo key's last use, as the fixture declares it, in keys.csv, findings.json and the
/// report: the four states, the operation and CloudTrail event id of a use, and the scope line.
fn check_last_use(spec: &Spec, keys_csv: &[u8], html: &str, doc: &serde_json::Value) {
    let arn = |name: &str| {
        spec.raw["seeded"]["keys"][name][0]
            .as_str()
            .expect("seeded key")
            .to_string()
    };
    let mut reader = csv::Reader::from_reader(keys_csv);
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (key, state, operation, event) = (
        column("key_arn"),
        column("last_use_state"),
        column("last_use_operation"),
        column("last_use_cloudtrail_event_id"),
    );
    let rows: BTreeMap<String, csv::StringRecord> = reader
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[key].to_string(), r))
        .collect();
    for (name, want, op) in [
        ("mgmt-standard", "used", "Decrypt"),
        ("mgmt-aws-default", "used", "GenerateDataKey"),
        ("mgmt-pending-deletion", "used", "Decrypt"),
        ("mgmt-no-rotation", "never_used", ""),
        ("mgmt-hmac", "no_recorded_use", ""),
        ("prod-policy-denied", "not_assessed", ""),
    ] {
        let row = &rows[&arn(name)];
        assert_eq!(&row[state], want, "{name}");
        assert_eq!(&row[operation], op, "{name}");
        assert_eq!(row[event].is_empty(), op.is_empty(), "{name}");
    }
    let listed = doc["last_use"]
        .as_array()
        .expect("findings.json lists last use");
    let customer = rows
        .values()
        .filter(|r| &r[column("key_manager")] == "CUSTOMER")
        .count();
    assert_eq!(listed.len(), customer);
    assert!(
        html.contains("Last use (GetKeyLastUsage) of"),
        "the scope says how last use was read"
    );
    assert!(html.contains("<dt>Last use</dt><dd>last used by Decrypt on"));
}

/// findings.ocsf.json, asked for with `--output-formats ocsf`, holds every outcome of the pack
/// (PASS included), and each record validates against the published OCSF models (Prowler's
/// `py-ocsf-models`, in the stand-in's venv) as a Compliance Finding, with no field that neither
/// the model nor a profile the record declares (`cloud`, validated as the Cloud object) knows.
fn validate_ocsf(pack: &Path) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempdir();
    let o = run(kmsaudit()
        .arg("report")
        .arg(pack.join("snapshot.json"))
        .arg("--out")
        .arg(dir.path())
        .args(["--output-formats", "ocsf", "--fail-on", "none"])
        .args(["--frameworks", "fsbp,soc2"]));
    // 4: the demo holds what could not be assessed, by design.
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    assert!(
        !dir.path().join("findings.json").exists(),
        "only what was asked"
    );
    let ocsf = dir.path().join("findings.ocsf.json");
    let script = "import json, sys\n\
        from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding\n\
        from py_ocsf_models.objects.cloud import Cloud\n\
        records = json.load(open(sys.argv[1]))\n\
        known = set(ComplianceFinding.model_fields)\n\
        for r in records:\n\
        \x20   ComplianceFinding.model_validate(r)\n\
        \x20   if 'cloud' in r['metadata']['profiles']: Cloud.model_validate(r['cloud']); known.add('cloud')\n\
        \x20   unknown = set(r) - known\n\
        \x20   if unknown: sys.exit('fields neither the model nor a declared profile knows: %s' % sorted(unknown))\n\
        print(len(records))\n";
    let o = run(std::process::Command::new(root.join(".venv/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(&ocsf));
    assert!(
        o.status.success(),
        "OCSF validation failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let records: Vec<Value> = serde_json::from_slice(&read(&ocsf)).unwrap();
    assert_eq!(records.len(), all(&findings(pack)).len(), "every outcome");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        records.len().to_string()
    );
    let public = records
        .iter()
        .find(|r| r["compliance"]["control"] == "KMS-POLICY-PUBLIC" && r["status_code"] == "FAIL")
        .expect("the demo's public key fails KMS-POLICY-PUBLIC");
    assert_eq!(public["compliance"]["status_id"], 3);
    assert_eq!(public["severity_id"], 5);
    assert_eq!(public["class_uid"], 2003);
    assert_eq!(public["type_uid"], 200301);
    assert_eq!(public["cloud"]["account"]["type_id"], 10);
    assert!(public["resources"][0]["uid"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:kms:"));
    assert!(public["evidences"][0]["data"]["principal"].is_string());
    // --frameworks chose which frameworks the findings carry, each control as compliance.csv
    // names it.
    assert_eq!(
        public["compliance"]["requirements"],
        serde_json::json!([
            "AWS Foundational Security Best Practices KMS.5",
            "SOC 2 (2017 TSC) CC6.1",
            "SOC 2 (2017 TSC) CC6.6"
        ])
    );
    assert_eq!(
        public["compliance"]["standards"],
        serde_json::json!([
            "AWS Foundational Security Best Practices",
            "SOC 2 (2017 TSC)"
        ])
    );
    assert!(records.iter().any(|r| r["compliance"]["status_id"] == 1));
}

/// The demo's findings.json and snapshot.json validate against the shipped JSON Schemas, checked
/// by an independent validator: Python's `jsonschema`, which the stand-in's venv carries.
fn validate_against_schemas(pack: &Path) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = "import json, sys\n\
        from jsonschema.validators import validator_for\n\
        for doc, schema in zip(sys.argv[1::2], sys.argv[2::2]):\n\
        \x20   s = json.load(open(schema))\n\
        \x20   cls = validator_for(s)\n\
        \x20   cls.check_schema(s)\n\
        \x20   errors = list(cls(s).iter_errors(json.load(open(doc))))\n\
        \x20   for e in errors[:5]: print(doc, list(e.absolute_path), e.message)\n\
        \x20   if errors: sys.exit(1)\n";
    let o = run(std::process::Command::new(root.join(".venv/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(pack.join("findings.json"))
        .arg(root.join("schemas/findings.schema.json"))
        .arg(pack.join("snapshot.json"))
        .arg(root.join("schemas/snapshot.schema.json")));
    assert!(
        o.status.success(),
        "schema validation failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn throttling_and_server_errors_lose_nothing() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let clean = dir.path().join("clean");
    spec.scan(&clean, None, &["--no-access-analyzer"]);
    let faulty = dir.path().join("faulty");
    spec.scan(
        &faulty,
        Some("throttle=0.08,error5xx=0.04,seed=7"),
        &["--no-access-analyzer", "--max-attempts", "12"],
    );
    assert_eq!(
        all(&findings(&clean)),
        all(&findings(&faulty)),
        "a fault changed a verdict"
    );
    let calls = |dir: &PathBuf| -> u64 {
        let snap: Value = serde_json::from_slice(&read(&dir.join("snapshot.json"))).unwrap();
        snap["metadata"]["api_calls"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    assert!(
        calls(&faulty) > calls(&clean),
        "retries must show in the call counts"
    );
}

/// (rule, resource) → (status, account, region) of every finding of a pack.
fn verdicts(doc: &Value) -> BTreeMap<(String, String), (String, String, String)> {
    outcomes(doc)
        .into_iter()
        .map(|[rule, resource, status, account, region]| {
            ((rule, resource), (status, account, region))
        })
        .collect()
}

/// Heavy faults on KMS, Access Analyzer, IAM and the organization's tree and policies (60%
/// throttling, 20% 5xx, 3 attempts) may only turn
/// verdicts into NOT_ASSESSED: no PASS becomes FAIL, no FAIL becomes PASS, and a verdict that
/// disappears belongs to an account or region the faulty scan reports as not read.
#[test]
fn faults_only_ever_turn_verdicts_into_not_assessed() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let clean = dir.path().join("clean");
    spec.scan(&clean, None, &[]);
    let faulty = dir.path().join("faulty");
    spec.scan(
        &faulty,
        Some("throttle=0.6,error5xx=0.2,seed=3,iam=1"),
        &["--max-attempts", "3"],
    );
    let clean = verdicts(&findings(&clean));
    let faulty = verdicts(&findings(&faulty));
    let not_read = |resource: &str| {
        faulty
            .get(&("SCAN-NOT-ASSESSED".to_string(), resource.to_string()))
            .is_some_and(|(s, ..)| s == "NOT_ASSESSED")
    };
    let mut flips = Vec::new();
    let mut now_unknown = 0;
    for ((rule, resource), (was, account, region)) in &clean {
        match faulty.get(&(rule.clone(), resource.clone())) {
            Some((is, ..)) if is == was => {}
            Some((is, ..)) if is == "NOT_ASSESSED" => now_unknown += 1,
            Some((is, ..)) => flips.push(format!("{rule} on {resource}: {was} -> {is}")),
            None if not_read(&format!("account/{account}/region/{region}"))
                || not_read(&format!("account/{account}")) => {}
            // An IAM policy of an account whose IAM the faulty scan could not read.
            None if faulty
                .get(&(rule.clone(), format!("account/{account}")))
                .is_some_and(|(s, ..)| s == "NOT_ASSESSED") => {}
            None => flips.push(format!("{rule} on {resource}: {was} -> missing")),
        }
    }
    for ((rule, resource), (is, ..)) in &faulty {
        if !clean.contains_key(&(rule.clone(), resource.clone())) && is != "NOT_ASSESSED" {
            flips.push(format!("{rule} on {resource}: new {is}"));
        }
    }
    assert!(flips.is_empty(), "faults changed verdicts: {flips:#?}");
    assert!(
        now_unknown > 0,
        "the faults should have left something unknown"
    );
    let moved = |rule: &str| {
        clean.iter().any(|((r, res), (was, ..))| {
            r == rule
                && was != "NOT_ASSESSED"
                && faulty
                    .get(&(r.clone(), res.clone()))
                    .is_some_and(|(is, ..)| is == "NOT_ASSESSED")
        })
    };
    assert!(
        moved("AA-ANALYZER-MISSING") || moved("AA-FINDING-ACTIVE"),
        "the faults should have reached Access Analyzer"
    );
}

#[test]
fn concurrency_bound_holds() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let profile = "latency_ms=3,seed=4242";
    spec.scan(
        &dir.path().join("pack"),
        Some(profile),
        &[
            "--no-access-analyzer",
            "--concurrency",
            "4",
            "--regions",
            "us-east-1,eu-west-1",
        ],
    );
    let stats: Value = ureq_get(&format!("{}/_proxy/stats", spec.str("proxy_url")));
    let max = stats["max_in_flight"][format!("{profile}|ALL")]
        .as_u64()
        .expect("profile counted");
    assert!(max <= 4, "{max} calls in flight with --concurrency 4");
    assert!(
        max >= 2,
        "the scan should run calls concurrently, saw at most {max}"
    );
}

/// A GET over a plain TCP socket (the stand-in speaks HTTP/1.1 on loopback).
pub(crate) fn ureq_get(url: &str) -> Value {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let body = buf.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("stats body {body}: {e}"))
}

/// Three shards of the demo organization, scanned one after another and merged, give the same
/// findings as one unsharded scan: the same CSV bytes, the same outcomes and evidence in
/// findings.json. Run through deploy/local-shards.sh, which sets the variables a Kubernetes
/// Indexed Job sets. A missing shard leaves its accounts NOT_ASSESSED with the reason, never
/// absent; a shard given twice is refused.
#[test]
fn sharded_scans_merged_equal_one_unsharded_scan() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let whole = dir.path().join("whole");
    spec.scan(&whole, None, &[]);

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shards = dir.path().join("shards");
    let mut script = std::process::Command::new("sh");
    script
        .arg(root.join("deploy/local-shards.sh"))
        .args(["3"])
        .arg(&shards)
        .args(["kubernetes", "--", "--quiet"])
        .env("KMSAUDIT", env!("CARGO_BIN_EXE_kmsaudit"));
    spec.aws_env(&mut script, None);
    // The rule configuration reaches the shards and the merge as it reaches engines' steps.
    if let Some(config) = spec.raw["config"].as_str() {
        script.env("KMSAUDIT_CONFIG", config);
    }
    let o = run(&mut script);
    assert_eq!(
        o.status.code(),
        Some(3),
        "the merge fails on the demo's findings\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let merged = shards.join("pack");
    let _ = std::process::Command::new("cp")
        .arg("-r")
        .arg(dir.path())
        .arg("/tmp/shard-debug")
        .status();
    for file in [
        "findings.csv",
        "matrix.csv",
        "keys.csv",
        "grants.csv",
        "rules.csv",
        "compliance.csv",
    ] {
        let (x, y) = (read(&whole.join(file)), read(&merged.join(file)));
        let (x, y) = (String::from_utf8_lossy(&x), String::from_utf8_lossy(&y));
        // When each scan read a key's last use is its own: the answers must agree.
        let (x, y) = (without_read_times(&x), without_read_times(&y));
        let differing: Vec<(&str, &str)> = x
            .lines()
            .zip(y.lines())
            .filter(|(a, b)| a != b)
            .take(3)
            .collect();
        assert!(
            x == y,
            "{file} differs between the unsharded scan and the merged shards: {differing:#?}"
        );
    }
    let doc = |dir: &Path| -> kmsaudit_model::FindingsDocument<'static> {
        serde_json::from_slice(&read(&dir.join("findings.json"))).unwrap()
    };
    let (a, b) = (doc(&whole), doc(&merged));
    assert_eq!(a.resources, b.resources);
    assert_eq!(a.findings, b.findings);
    assert_eq!(a.quiet, b.quiet);
    assert_eq!(a.scope, b.scope);
    let snapshot = |dir: &Path| -> kmsaudit_model::Snapshot {
        serde_json::from_slice(&read(&dir.join("snapshot.json"))).unwrap()
    };
    assert_eq!(snapshot(&merged).metadata.scope.shard, None);
    for i in 1..=3 {
        let dir = shards.join(format!("shard-{i}"));
        assert!(
            !dir.join("report.html").exists() && dir.join("findings.json").exists(),
            "a shard writes its snapshot and findings.json only"
        );
        let shard = snapshot(&dir);
        assert_eq!(
            shard.metadata.scope.shard.map(|s| s.to_string()),
            Some(format!("{i}/3"))
        );
    }

    // Shard 1 missing: its accounts are NOT_ASSESSED, naming the shard.
    let partial = dir.path().join("partial");
    let o = run(kmsaudit()
        .arg("merge")
        .arg(shards.join("shard-2"))
        .arg(shards.join("shard-3"))
        .arg("--out")
        .arg(&partial));
    assert!(
        matches!(o.status.code(), Some(3 | 4)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let merged_partial = snapshot(&partial);
    let whole_snapshot = snapshot(&whole);
    assert_eq!(merged_partial.accounts.len(), whole_snapshot.accounts.len());
    let in_shard_1: Vec<_> = whole_snapshot
        .accounts
        .iter()
        .filter(|a| kmsaudit_model::Shard { index: 1, count: 3 }.covers(&a.id))
        .map(|a| a.id.clone())
        .collect();
    assert!(
        !in_shard_1.is_empty(),
        "the management account 123456789012 is in shard 1/3"
    );
    for a in &merged_partial.accounts {
        let missing = matches!(&a.access, kmsaudit_model::AccountAccess::NotAssessed { issue } if issue.code == "ShardMissing" && issue.message.contains("shard 1/3"));
        assert_eq!(
            missing,
            in_shard_1.contains(&a.id),
            "{}: {:?}",
            a.id,
            a.access
        );
    }

    // The same shard twice is refused.
    let o = run(kmsaudit()
        .arg("merge")
        .arg(shards.join("shard-2"))
        .arg(shards.join("shard-2"))
        .arg("--out")
        .arg(dir.path().join("twice")));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard 2/3 is given twice"));
}

/// Where stderr is not a terminal (cron, CI), a scan logs one progress line at most every
/// KMSAUDIT_PROGRESS_INTERVAL seconds and one at the end, so the log shows it advancing.
#[test]
fn progress_is_logged_line_by_line_when_stderr_is_not_a_terminal() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let mut cmd = kmsaudit();
    cmd.args(["scan", "--fail-on", "none", "--out"])
        .arg(dir.path().join("pack"))
        .env("KMSAUDIT_PROGRESS_INTERVAL", "0");
    let o = run(spec.aws_env(&mut cmd, None));
    assert!(matches!(o.status.code(), Some(0 | 4)), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("kmsaudit: progress: "))
        .collect();
    assert!(
        lines.len() > 10,
        "one line per event at interval 0: {stderr}"
    );
    let last = lines.last().unwrap();
    assert!(last.ends_with("(done)"), "{last}");
    assert!(last.contains("accounts 5/5 (1 not assessed)"), "{last}");
}
