//! The CLI on local files: lint-policy, rules, verify, report.

use std::path::Path;

use crate::support::{data, examples, kmsaudit, read, run, stdout};

#[test]
fn lint_policy_json_summary() {
    let o = run(kmsaudit()
        .args([
            "lint-policy",
            "--format",
            "json",
            "--fail-on",
            "none",
            "--key-account",
            "111122223333",
        ])
        .arg(examples().join("policies/public-bad.json")));
    assert_eq!(o.status.code(), Some(0), "--fail-on none");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let report = &v["documents"][0]["report"];
    assert_eq!(report["summary"]["public"], true);
    assert_eq!(report["key_account_source"], "given");
    let public = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "KMS-POLICY-PUBLIC" && f["statement_index"] == 1)
        .expect("the public statement");
    assert!(public["line"].as_u64().unwrap() > 1, "{public}");
}

/// Exit codes as `scan`'s: 3 for a finding at or above --fail-on (info by default), 4 when a
/// policy could not be assessed, 2 for what the user must fix, 0 otherwise.
#[test]
fn lint_policy_fail_on_and_bad_input() {
    let o = run(kmsaudit()
        .args(["lint-policy", "--fail-on", "high"])
        .arg(examples().join("policies/public-bad.json")));
    assert_eq!(o.status.code(), Some(3));
    let o = run(kmsaudit()
        .args(["lint-policy"])
        .arg(examples().join("policies/public-bad.json")));
    assert_eq!(
        o.status.code(),
        Some(3),
        "--fail-on info by default, as scan"
    );
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
    let o = run(kmsaudit().args(["lint-policy", "'no-such-dir/*.json'"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(kmsaudit()
        .args(["lint-policy", "--fail-on", "sometimes"])
        .arg(examples().join("policies/public-bad.json")));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn lint_policy_reads_stdin_and_reports_parse_position() {
    use std::io::Write;
    for (fail_on, code) in [("info", 3), ("none", 4)] {
        let mut child = kmsaudit()
            .args(["lint-policy", "--fail-on", fail_on, "-"])
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
        assert_eq!(o.status.code(), Some(code), "--fail-on {fail_on}");
        let out = stdout(&o);
        assert!(out.contains("KMS-POLICY-UNPARSEABLE"), "{out}");
        assert!(out.contains("line 2"), "{out}");
    }
}

/// Every AWS::KMS::Key of a YAML template: findings at the line and column of the statement,
/// the root given with `!Sub` and `!Join` of pseudo parameters read as the stack's own account
/// (not as an outsider), `!GetAtt` in a principal reported as hiding a value (the rules it
/// could change NOT_ASSESSED), a key without KeyPolicy noted, other resources ignored.
#[test]
fn lint_policy_reads_cloudformation_yaml_with_positions() {
    let file = data("lint/cfn-keys.yaml");
    let o = run(kmsaudit()
        .args(["lint-policy", "--fail-on", "none"])
        .arg(&file));
    assert_eq!(o.status.code(), Some(4), "a hidden principal: not assessed");
    let out = stdout(&o);
    let f = file.display().to_string();
    let open = "Resources.OpenKey.Properties.KeyPolicy";
    assert!(
        out.contains(&format!(
            "{f}:24:13: CRITICAL KMS-POLICY-PUBLIC {open} statement 1 (Sid Everyone)"
        )),
        "{out}"
    );
    assert!(
        !out.contains("HIGH KMS-POLICY-EXTERNAL"),
        "the stack's root is not external: {out}"
    );
    assert!(
        out.contains("key account the stack's own account (AWS::AccountId"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{f}:43:13: HIGH KMS-POLICY-UNPARSEABLE Resources.AdminKey.Properties.KeyPolicy statement 1"
        )) && out.contains("`Fn::GetAtt` \"AdminRole.Arn\" is a CloudFormation intrinsic function"),
        "{out}"
    );
    assert!(out.contains("NOT_ASSESSED Resources.AdminKey.Properties.KeyPolicy: KMS-POLICY-PUBLIC"));
    assert!(
        out.contains("Resources.DefaultKey.Properties.KeyPolicy: no KeyPolicy"),
        "{out}"
    );
    assert!(
        out.ends_with("3 key policies in 1 file: 4 findings\n"),
        "{out}"
    );
}

/// A JSON template and a Terraform plan in one run, through a glob: the external account of the
/// template's statement, the plan's public statement at its `policy` attribute, a policy known
/// only after apply noted, a child module's aws_kms_key_policy read; with --key-account given.
#[test]
fn lint_policy_reads_json_templates_and_terraform_plans_through_globs() {
    let pattern = format!("{}/*.json", data("lint").display());
    let o = run(kmsaudit().args(["lint-policy", "--key-account", "111122223333", &pattern]));
    assert_eq!(o.status.code(), Some(3));
    let out = stdout(&o);
    let dir = data("lint").display().to_string();
    for want in [
        format!("{dir}/cfn-key.json:17:13: HIGH KMS-POLICY-EXTERNAL Resources.SharedKey.Properties.KeyPolicy statement 1 (Sid Vendor)"),
        format!("{dir}/tfplan.json:15:23: CRITICAL KMS-POLICY-PUBLIC aws_kms_key.orders statement 1 (Sid Public)"),
        format!("{dir}/tfplan.json:25:23: NOTE aws_kms_key.later: the policy is known only after apply"),
        format!("{dir}/tfplan.json:40:27: LOW KMS-POLICY-IAM-DELEGATION module.billing.aws_kms_key_policy.billing"),
    ] {
        assert!(out.contains(&want), "missing `{want}` in:\n{out}");
    }
    assert!(out.contains("4 key policies in 2 files"), "{out}");
}

/// Without --key-account, the key's account is read from the policy (the account whose root
/// it grants) and said; that account's own roles are then not outsiders.
#[test]
fn lint_policy_infers_the_key_account_from_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
   "Action": "kms:*", "Resource": "*"},
  {"Sid": "App", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"},
   "Action": "kms:Decrypt", "Resource": "*"},
  {"Sid": "Vendor", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:role/V"},
   "Action": "kms:Decrypt", "Resource": "*"}
]}"#,
    )
    .unwrap();
    let o = run(kmsaudit()
        .args(["lint-policy", "--format", "json"])
        .arg(&policy));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let report = &v["documents"][0]["report"];
    assert_eq!(report["key_account"], "111122223333");
    assert_eq!(report["key_account_source"], "inferred: root granted");
    assert_eq!(
        report["summary"]["external_accounts"],
        serde_json::json!(["444455556666"]),
        "only the vendor is outside"
    );
    let o = run(kmsaudit().arg("lint-policy").arg(&policy));
    assert!(
        stdout(&o).contains("key account 111122223333, inferred: root granted"),
        "{}",
        stdout(&o)
    );
}

/// `--format sarif` validates against the published SARIF 2.1.0 schema (OASIS's
/// sarif-schema-2.1.0.json, in tests/data, checked by Python's jsonschema from the stand-in's
/// venv), and its results point at the statements.
#[test]
fn lint_policy_sarif_validates_against_the_sarif_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the venv is not: run `cargo xtask test`"
        );
        eprintln!("skipping: no .venv (run `cargo xtask test`)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = run(kmsaudit()
        .args(["lint-policy", "--format", "sarif"])
        .arg(data("lint/cfn-keys.yaml"))
        .arg(data("lint/tfplan.json")));
    assert_eq!(o.status.code(), Some(3));
    let sarif = dir.path().join("lint.sarif");
    std::fs::write(&sarif, &o.stdout).unwrap();
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        log = json.load(open(sys.argv[2]))\n\
        jsonschema.Draft7Validator.check_schema(schema)\n\
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(log))\n\
        for e in errors[:10]: print(list(e.absolute_path), e.message)\n\
        sys.exit(1 if errors else 0)\n";
    let v = run(std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(data("sarif-schema-2.1.0.json"))
        .arg(&sarif));
    assert!(
        v.status.success(),
        "SARIF does not validate:\n{}{}",
        stdout(&v),
        String::from_utf8_lossy(&v.stderr)
    );
    let log: serde_json::Value = serde_json::from_slice(&read(&sarif)).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let public = results
        .iter()
        .find(|r| {
            r["ruleId"] == "KMS-POLICY-PUBLIC"
                && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .ends_with("cfn-keys.yaml")
        })
        .expect("the template's public statement");
    assert_eq!(public["level"], "error");
    assert_eq!(
        public["locations"][0]["physicalLocation"]["region"]["startLine"],
        24
    );
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let index = public["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "KMS-POLICY-PUBLIC");
    assert!(
        log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["message"]["text"]
                .as_str()
                .unwrap()
                .contains("known only after apply"))
    );
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

/// A snapshot whose times do not parse is refused, naming the field: an unreadable "now" must
/// never become 1970 and let expired key material PASS.
#[test]
fn report_refuses_a_snapshot_whose_times_do_not_parse() {
    let text = String::from_utf8(read(&data("snapshot-expired-material.json"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(&good, &text).unwrap();
    let o = run(kmsaudit()
        .args(["report", "--out"])
        .arg(dir.path().join("pack"))
        .arg(&good));
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let findings: serde_json::Value =
        serde_json::from_slice(&read(&dir.path().join("pack/findings.json"))).unwrap();
    let expiry = crate::support::outcomes(&findings)
        .into_iter()
        .find(|o| o[0] == "KMS-IMPORTED-EXPIRY")
        .expect("the rule ran");
    assert_eq!(expiry[2], "FAIL");

    for (field, bad) in [
        (
            "metadata.started_at",
            text.replace("\"2026-11-23T10:00:00Z\"", "\"23/11/2026 10:00\""),
        ),
        (
            "metadata.finished_at",
            text.replace("\"2026-11-23T10:00:05Z\"", "\"soon\""),
        ),
        (
            "accounts[0].regions[0].keys[0].metadata.valid_to",
            text.replace("\"2025-06-01T00:00:00Z\"", "\"2025-13-45\""),
        ),
    ] {
        let path = dir.path().join("bad.json");
        std::fs::write(&path, bad).unwrap();
        let out = dir.path().join("bad-pack");
        let o = run(kmsaudit().args(["report", "--out"]).arg(&out).arg(&path));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{field}: {err}");
        assert!(err.contains(field), "the error names `{field}`: {err}");
        assert!(
            !out.exists(),
            "no pack is written from an unreadable snapshot"
        );
    }
}

/// `--key-arn`: a Deny scoped to the key's ARN pattern applies; a malformed ARN is a usage error.
#[test]
fn lint_policy_reads_arn_scoped_denies_with_the_key_arn() {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"arn:aws:kms:eu-west-1:111122223333:key/*"}]}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(&path, policy).unwrap();
    let public = |extra: &[&str]| {
        let o = run(kmsaudit()
            .args(["lint-policy", "--format", "json", "--fail-on", "none"])
            .args(extra)
            .arg(&path));
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["documents"][0]["report"]["summary"]["public"]
            .as_bool()
            .unwrap()
    };
    assert!(public(&["--key-account", "111122223333"]));
    assert!(!public(&[
        "--key-arn",
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ]));
    let o = run(kmsaudit()
        .args(["lint-policy", "--key-arn", "arn:aws:s3:::bucket"])
        .arg(&path));
    assert_eq!(o.status.code(), Some(2));
}

/// The snapshot can be kept gzip-compressed: `report` reads either form, keeps the form it read
/// (so re-rendering a compressed pack gives the same bytes), and `verify` checks the pack.
#[test]
fn a_compressed_snapshot_renders_and_verifies_like_a_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let pack = |name: &str, input: &Path, extra: &[&str]| {
        let out = dir.path().join(name);
        let o = run(kmsaudit()
            .arg("report")
            .arg(input)
            .args(["--fail-on", "none", "--out"])
            .arg(&out)
            .args(extra));
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        out
    };
    let plain = pack("plain", &data("snapshot-expired-material.json"), &[]);
    let gz = pack(
        "gz",
        &plain.join("snapshot.json"),
        &["--snapshot-format", "gzip"],
    );
    assert!(!gz.join("snapshot.json").exists());
    let compressed = read(&gz.join("snapshot.json.gz"));
    assert_eq!(&compressed[..2], &[0x1f, 0x8b], "gzip");
    let (mut reader, was_compressed) =
        kmsaudit_reporter::snapshot_reader(&gz.join("snapshot.json.gz"), Default::default())
            .unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut text).unwrap();
    assert!(was_compressed);
    assert_eq!(
        text,
        read(&plain.join("snapshot.json")),
        "the same snapshot, compressed"
    );
    let again = pack("again", &gz.join("snapshot.json.gz"), &[]);
    for name in [
        "snapshot.json.gz",
        "findings.json",
        "findings.csv",
        "report.html",
        "manifest.json",
        "SHA256SUMS",
    ] {
        assert!(
            read(&gz.join(name)) == read(&again.join(name)),
            "{name} differs"
        );
    }
    // Only the snapshot's form differs from the plain pack.
    for name in ["findings.json", "matrix.csv", "report.html"] {
        assert!(read(&plain.join(name)) == read(&gz.join(name)), "{name}");
    }
    let o = run(kmsaudit().arg("verify").arg(&gz));
    assert!(o.status.success(), "{}", stdout(&o));
    // Back to plain JSON in the same directory: the compressed file goes.
    pack(
        "gz",
        &gz.join("snapshot.json.gz"),
        &["--snapshot-format", "json"],
    );
    assert!(!gz.join("snapshot.json.gz").exists());
    let o = run(kmsaudit().arg("verify").arg(&gz));
    assert!(o.status.success(), "{}", stdout(&o));
    // A corrupt compressed snapshot is an input error, named.
    let broken = dir.path().join("broken.json.gz");
    std::fs::write(&broken, &compressed[..compressed.len() / 2]).unwrap();
    let o = run(kmsaudit()
        .arg("report")
        .arg(&broken)
        .arg("--out")
        .arg(dir.path().join("x")));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("broken.json.gz"));
}

/// Shell completions and the man page are generated from the same command definition, so they
/// name every subcommand; `--log-format json` gives one JSON object per log line, and `-v`
/// shows kmsaudit's own lines only.
#[test]
fn completions_man_page_and_json_logs() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run(kmsaudit().args(["completions", shell]));
        assert!(o.status.success(), "{shell}");
        let script = stdout(&o);
        for sub in ["scan", "report", "merge", "lint-policy", "verify"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let o = run(kmsaudit().arg("man"));
    let man = stdout(&o);
    assert!(man.contains(".TH kmsaudit 1"), "{man}");
    assert!(
        man.contains("merge") && man.contains("lint\\-policy"),
        "{man}"
    );

    let dir = tempfile::tempdir().unwrap();
    let o = run(kmsaudit()
        .args([
            "-v",
            "--log-format",
            "json",
            "report",
            "--fail-on",
            "none",
            "--out",
        ])
        .arg(dir.path().join("pack"))
        .arg(data("snapshot-expired-material.json"))
        .env_remove("RUST_LOG"));
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("`{l}`: {e}")))
        .collect();
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "evidence pack written"));
    assert!(lines
        .iter()
        .all(|l| l["level"] == "INFO" || l["level"] == "WARN"));
}

/// Settings come from KMSAUDIT_* variables too, and a flag wins over its variable.
#[test]
fn settings_come_from_the_environment_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let report = |extra: &[&str]| {
        run(kmsaudit()
            .arg("report")
            .args(extra)
            .arg("--out")
            .arg(dir.path().join("pack"))
            .arg(data("snapshot-expired-material.json"))
            .env("KMSAUDIT_FAIL_ON", "none")
            .env("KMSAUDIT_SNAPSHOT_FORMAT", "gzip"))
    };
    let o = report(&[]);
    assert_eq!(o.status.code(), Some(0), "KMSAUDIT_FAIL_ON=none");
    assert!(dir.path().join("pack/snapshot.json.gz").exists());
    let o = report(&["--fail-on", "info", "--snapshot-format", "json"]);
    assert_eq!(o.status.code(), Some(3), "the flag wins");
    assert!(dir.path().join("pack/snapshot.json").exists());
    assert!(!dir.path().join("pack/snapshot.json.gz").exists());
}

/// A CA bundle that cannot be used is refused before any call, naming the file.
#[test]
fn an_unusable_ca_bundle_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("proxy-ca.pem");
    std::fs::write(&bundle, "not a certificate").unwrap();
    for (path, want) in [
        (bundle.clone(), "holds no PEM certificate"),
        (dir.path().join("missing.pem"), "cannot read the CA bundle"),
    ] {
        let o = run(kmsaudit()
            .args(["scan", "--quiet", "--out"])
            .arg(dir.path().join("pack"))
            .env("AWS_CA_BUNDLE", &path)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9"));
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(want) && err.contains(&*path.to_string_lossy()),
            "{err}"
        );
    }
}

/// `kmsaudit diff`: a key policy made public is a new finding, expired imported material
/// replaced is fixed, a key created is added; `--fail-on-new` gates on the new ones only, and
/// the old and new audits can be a pack or a snapshot.
#[test]
fn diff_names_new_fixed_and_added_and_gates_on_regressions() {
    let dir = tempfile::tempdir().unwrap();
    let old_pack = dir.path().join("old");
    let o = run(kmsaudit()
        .args(["report", "--fail-on", "none", "--out"])
        .arg(&old_pack)
        .arg(data("snapshot-expired-material.json")));
    assert_eq!(o.status.code(), Some(0));

    let mut snapshot: serde_json::Value =
        serde_json::from_slice(&read(&data("snapshot-expired-material.json"))).unwrap();
    let keys = &mut snapshot["accounts"][0]["regions"][0]["keys"];
    let mut added = keys[0].clone();
    let key = &mut keys[0];
    key["policy"] = serde_json::Value::String(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}"#.into(),
    );
    key["metadata"]["valid_to"] = serde_json::Value::Null;
    key["metadata"]["expiration_model"] = "KEY_MATERIAL_DOES_NOT_EXPIRE".into();
    let arn = "arn:aws:kms:us-east-1:111122223333:key/99999999-1111-2222-3333-444455556666";
    added["arn"] = arn.into();
    added["key_id"] = "99999999-1111-2222-3333-444455556666".into();
    added["metadata"]["arn"] = arn.into();
    added["metadata"]["key_id"] = "99999999-1111-2222-3333-444455556666".into();
    added["aliases"] = serde_json::json!([]);
    keys.as_array_mut().unwrap().push(added);
    let new_snapshot = dir.path().join("new.json");
    std::fs::write(&new_snapshot, serde_json::to_vec(&snapshot).unwrap()).unwrap();

    let out = dir.path().join("diff");
    let o = run(kmsaudit()
        .arg("diff")
        .arg(&old_pack)
        .arg(&new_snapshot)
        .args(["--fail-on-new", "high", "--out"])
        .arg(&out));
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("new critical KMS-POLICY-PUBLIC"),
        "{}",
        stdout(&o)
    );
    let diff: serde_json::Value = serde_json::from_slice(&read(&out.join("diff.json"))).unwrap();
    let of = |change: &str| -> Vec<String> {
        diff["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["change"] == change)
            .map(|e| e["rule_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        of("new").contains(&"KMS-POLICY-PUBLIC".to_string()),
        "{diff:#}"
    );
    assert!(
        of("fixed").contains(&"KMS-IMPORTED-EXPIRY".to_string()),
        "{diff:#}"
    );
    assert_eq!(diff["keys_added"], serde_json::json!([arn]));
    assert_eq!(diff["keys_removed"], serde_json::json!([]));
    let csv = String::from_utf8(read(&out.join("diff.csv"))).unwrap();
    assert!(csv.contains("new,KMS-POLICY-PUBLIC,critical"), "{csv}");
    assert!(
        csv.contains(&format!("key_added,,,111122223333,us-east-1,{arn}")),
        "{csv}"
    );

    // Gated on critical only it still fails; with no gate it does not; the same audit twice
    // has no change at all.
    let gate = |level: &str| {
        run(kmsaudit()
            .arg("diff")
            .arg(&old_pack)
            .arg(&new_snapshot)
            .args(["--fail-on-new", level]))
        .status
        .code()
    };
    assert_eq!(gate("critical"), Some(3));
    assert_eq!(gate("none"), Some(0));
    let o = run(kmsaudit()
        .arg("diff")
        .arg(&old_pack)
        .arg(old_pack.join("findings.json"))
        .args(["--fail-on-new", "info"]));
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("new 0, newly muted 0, newly not assessed 0, still failing"),
        "{}",
        stdout(&o)
    );

    // A pack rendered against the baseline carries the diff, verifies, and opens with it;
    // --fail-on-new replaces --fail-on's judgement.
    let pack = dir.path().join("against-baseline");
    let render = |gate: &str| {
        run(kmsaudit()
            .arg("report")
            .arg(&new_snapshot)
            .arg("--baseline")
            .arg(&old_pack)
            .args(["--fail-on-new", gate, "--out"])
            .arg(&pack))
        .status
        .code()
    };
    assert_eq!(render("high"), Some(3));
    assert_eq!(
        render("none"),
        Some(0),
        "no regression gate: complete, so 0"
    );
    assert_eq!(
        read(&pack.join("diff.csv")),
        read(&out.join("diff.csv")),
        "the same diff as `kmsaudit diff`"
    );
    let o = run(kmsaudit().arg("verify").arg(&pack));
    assert!(o.status.success(), "{}", stdout(&o));
    let html = String::from_utf8(read(&pack.join("report.html"))).unwrap();
    let top = &html[html.find("<main>").unwrap()..html.find("id=\"scope\"").unwrap()];
    assert!(
        top.contains("Since the baseline of 2026-11-23T10:00:00Z"),
        "{top}"
    );
    let count = |change: &str| diff["counts"][change].as_u64().unwrap();
    assert!(top.contains(&format!("New failing findings ({})", count("new"))));
    assert!(top.contains("KMS-POLICY-PUBLIC"));
    assert!(top.contains(&format!("Fixed ({})", count("fixed"))));
}

/// `--output-formats` chooses what is written; the snapshot, manifest and SHA256SUMS always are,
/// files of an earlier run that this one leaves out go, and the pack verifies.
#[test]
fn output_formats_choose_the_files_and_the_pack_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("pack");
    let report = |formats: &[&str]| {
        let o = run(kmsaudit()
            .args(["report", "--fail-on", "none", "--out"])
            .arg(&pack)
            .args(formats)
            .arg(data("snapshot-expired-material.json")));
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        let mut names: Vec<String> = std::fs::read_dir(&pack)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let o = run(kmsaudit().arg("verify").arg(&pack));
        assert!(o.status.success(), "{}", stdout(&o));
        names
    };
    assert_eq!(
        report(&[]).len(),
        12,
        "everything but OCSF and ASFF by default"
    );
    assert_eq!(
        report(&["--output-formats", "json,asff"]),
        vec![
            "SHA256SUMS",
            "config.json",
            "findings.asff.json",
            "findings.json",
            "manifest.json",
            "snapshot.json"
        ]
    );
    assert_eq!(
        report(&["--output-formats", "html,csv"]),
        vec![
            "SHA256SUMS",
            "compliance.csv",
            "config.json",
            "findings.csv",
            "grants.csv",
            "keys.csv",
            "manifest.json",
            "matrix.csv",
            "report.html",
            "rules.csv",
            "snapshot.json"
        ]
    );
    let o = run(kmsaudit()
        .args(["report", "--output-formats", "pdf", "--out"])
        .arg(&pack)
        .arg(data("snapshot-expired-material.json")));
    assert_eq!(o.status.code(), Some(2));
}

/// A few kilobytes of nesting (`- - - ...` in YAML, `[[[...` in JSON) are refused by the depth
/// cap before the parser recurses: an error naming the depth, never a stack overflow.
#[test]
fn lint_policy_refuses_deep_nesting_without_overflowing_its_stack() {
    let dir = tempfile::tempdir().unwrap();
    let deep = |open: &str, close: &str| format!("{}{}", open.repeat(50_000), close.repeat(50_000));
    for (name, text, code, says) in [
        (
            "deep.yaml",
            format!("{}x\n", "- ".repeat(25_000)),
            2,
            "nested deeper than 200 levels",
        ),
        ("deep.json", deep("[", "]"), 2, "recursion limit"),
        // A policy: read, then reported as unparseable (the policy's own finding).
        (
            "deep-policy.json",
            format!("{{\"Statement\": {}}}", deep("[", "]")),
            3,
            "recursion limit exceeded",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let o = run(kmsaudit().arg("lint-policy").arg(&path));
        let all = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(code), "{name}: {all}");
        assert!(all.contains(says), "{name}: {all}");
    }
}

/// A scan whose endpoint refuses connections fails within seconds (a bounded retry of the first
/// call, not the scan's full budget), names the endpoint and the error, writes no pack, and its
/// progress line does not say "done".
#[test]
fn a_scan_against_an_unreachable_endpoint_fails_fast_naming_it() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pack");
    let started = std::time::Instant::now();
    let o = run(kmsaudit()
        .args(["scan", "--endpoint-url", &endpoint, "--out"])
        .arg(&out)
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "example")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        started.elapsed().as_secs() < 15,
        "{:?}: {err}",
        started.elapsed()
    );
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&endpoint) && err.contains("Connection refused"),
        "{err}"
    );
    assert!(!err.contains("(done)"), "{err}");
    assert!(!out.exists());
}

/// `lint-policy` holds a large file in a small multiple of its size (issue target: at most 10x),
/// measured as a process by GNU time: a 64 MB JSON policy (just under the file cap) and a 16 MB
/// YAML one.
#[test]
fn lint_policy_holds_a_large_file_in_a_small_multiple_of_its_size() {
    if !std::path::Path::new("/usr/bin/time").exists() {
        assert!(std::env::var_os("CI").is_none(), "GNU time is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let statement = |i: usize| {
        format!(
            r#"{{"Sid":"s{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:role/r{i}"}},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}}}}"#
        )
    };
    let yaml_statement = |i: usize| {
        format!(
            "  - Sid: s{i}\n    Effect: Allow\n    Principal:\n      AWS: arn:aws:iam::111122223333:role/r{i}\n    Action: [kms:Decrypt, kms:Encrypt]\n    Resource: '*'\n    Condition:\n      StringEquals:\n        kms:ViaService: s3.us-east-1.amazonaws.com\n"
        )
    };
    let json = {
        let mut parts = Vec::new();
        let mut size = 0;
        while size < 63 << 20 {
            let s = statement(parts.len());
            size += s.len() + 1;
            parts.push(s);
        }
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            parts.join(",")
        )
    };
    let yaml = {
        let mut text = String::from("Version: '2012-10-17'\nStatement:\n");
        let mut i = 0;
        while text.len() < 16 << 20 {
            text.push_str(&yaml_statement(i));
            i += 1;
        }
        text
    };
    for (name, text) in [("big.json", json), ("big.yaml", yaml)] {
        let path = dir.path().join(name);
        std::fs::write(&path, &text).unwrap();
        let o = run(std::process::Command::new("/usr/bin/time")
            .args(["-f", "peak-rss-kib %M"])
            .arg(env!("CARGO_BIN_EXE_kmsaudit"))
            .args(["lint-policy", "--format", "json", "--fail-on", "none"])
            .arg(&path));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(matches!(o.status.code(), Some(0 | 4)), "{name}: {stderr}");
        let peak: u64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak-rss-kib "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak RSS from GNU time: {stderr}"));
        let ratio = (peak * 1024) as f64 / text.len() as f64;
        println!(
            "{name}: {} MB, peak {} MB, {ratio:.1}x",
            text.len() >> 20,
            peak >> 10
        );
        assert!(ratio <= 10.0, "{name}: {ratio:.1}x its size");
    }
}

/// `lint-policy --fix`: in a template, the public statement is pinned and the diff shown,
/// with the statement's line; the rules without a safe edit are refused with a reason; the JSON
/// form's proposal, linted again, is no longer public; nothing is written to the file.
#[test]
fn lint_policy_fix_proposes_a_checked_policy_and_refuses_with_reasons() {
    let file = data("lint/cfn-keys.yaml");
    let before = read(&file);
    let o = run(kmsaudit()
        .args(["lint-policy", "--fix", "--fail-on", "none"])
        .arg(&file));
    let out = stdout(&o);
    let f = file.display().to_string();
    assert!(
        out.contains(&format!(
            "FIX KMS-POLICY-PUBLIC Resources.OpenKey.Properties.KeyPolicy (at {f}:24:13): pinned the statements open to anyone to the key account"
        )),
        "{out}"
    );
    assert!(out.contains("NO FIX KMS-POLICY-IAM-DELEGATION"), "{out}");
    assert!(out.contains("--- current\n+++ proposed\n"), "{out}");
    assert!(
        out.contains("+          \"aws:PrincipalAccount\": \"000000000000\""),
        "{out}"
    );
    assert!(
        out.contains("is the stack's own account (AWS::AccountId)"),
        "{out}"
    );
    assert_eq!(read(&file), before, "nothing written");

    let policy = examples().join("policies/public-bad.json");
    let o = run(kmsaudit()
        .args([
            "lint-policy",
            "--fix",
            "--format",
            "json",
            "--fail-on",
            "none",
        ])
        .args(["--org-id", "o-exampleorgid"])
        .arg(&policy));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let fix = &doc["documents"][0]["fix"];
    assert!(
        fix["fixed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "KMS-POLICY-PUBLIC"),
        "{fix}"
    );
    let dir = tempfile::tempdir().unwrap();
    let proposed = dir.path().join("proposed.json");
    std::fs::write(&proposed, fix["proposed"].as_str().unwrap()).unwrap();
    let o = run(kmsaudit()
        .args(["lint-policy", "--format", "json", "--fail-on", "none"])
        .args(["--org-id", "o-exampleorgid"])
        .arg(&proposed));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules: Vec<&str> = again["documents"][0]["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule_id"].as_str())
        .collect();
    assert!(!rules.contains(&"KMS-POLICY-PUBLIC"), "{rules:?}");
}

/// `--frameworks` chooses the frameworks, and an unknown one is refused naming the known ones;
/// `rules --frameworks` lists each framework's controls with their sources.
#[test]
fn frameworks_are_chosen_by_key_and_listed_with_their_sources() {
    let snapshot = data("snapshot-expired-material.json");
    let dir = tempfile::tempdir().unwrap();
    let o = run(kmsaudit()
        .arg("report")
        .arg(&snapshot)
        .arg("--out")
        .arg(dir.path().join("bad"))
        .args(["--frameworks", "cis6,sox"]));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`sox` in frameworks is not a framework; known: cis3, cis5, cis6, fsbp"),
        "{err}"
    );
    let out = dir.path().join("pack");
    let o = run(kmsaudit()
        .arg("report")
        .arg(&snapshot)
        .arg("--out")
        .arg(&out)
        .args(["--frameworks", "pci,iso27001", "--fail-on", "none"]));
    assert!(matches!(o.status.code(), Some(0 | 4)), "{}", stdout(&o));
    let csv = String::from_utf8(read(&out.join("compliance.csv"))).unwrap();
    let frameworks: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        frameworks.into_iter().collect::<Vec<_>>(),
        ["ISO/IEC 27001:2022", "PCI DSS v4.0.1"],
        "{csv}"
    );
    let o = run(kmsaudit().args(["rules", "--frameworks"]));
    let listed = stdout(&o);
    assert!(
        listed.contains("cis6  CIS AWS Foundations v6.0"),
        "{listed}"
    );
    assert!(
        listed.contains(
            "4.6                    Ensure rotation for customer-created symmetric CMKs is enabled"
        ),
        "{listed}"
    );
    assert!(
        listed.contains("source: CIS Amazon Web Services Foundations Benchmark v6.0.0"),
        "{listed}"
    );
}
