//! The evidence pack against the local AWS stand-in: scan settings from the config file and
//! their record in the manifest; a pack signed with a KMS key, verified offline and online,
//! and every kind of tampering detected.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use crate::e2e::{tempdir, Spec};
use crate::support::{kmsaudit, read, run, stdout};

/// Flags beat `KMSAUDIT_*` variables, which beat the config file's `[scan]`, which beats the
/// defaults; the manifest records every effective setting and its source, never a secret.
#[test]
fn scan_settings_come_from_the_config_file_and_the_manifest_records_them() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let config = dir.path().join("kmsaudit.toml");
    let mut text = match spec.raw["config"].as_str() {
        Some(path) => String::from_utf8(read(Path::new(path))).unwrap(),
        None => String::new(),
    };
    text.push_str(
        "\n[scan]\nconcurrency = 4\nregions = [\"us-east-1\"]\nno_access_analyzer = true\n\
         role_session_name = \"from-config\"\nexternal_id = \"s3cr3t-external-id\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let out = dir.path().join("pack");
    let mut cmd = kmsaudit();
    cmd.args(["scan", "--quiet", "--config"])
        .arg(&config)
        .args(["--regions", "us-east-1,eu-west-1", "--out"])
        .arg(&out)
        .env("KMSAUDIT_CONCURRENCY", "3");
    spec.aws_env(&mut cmd, None);
    let o = run(&mut cmd);
    assert!(
        matches!(o.status.code(), Some(3 | 4)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let manifest: Value = serde_json::from_slice(&read(&out.join("manifest.json"))).unwrap();
    let setting = |name: &str| {
        let s = &manifest["settings"][name];
        (
            s["value"].as_str().unwrap_or("<absent>").to_string(),
            s["source"].as_str().unwrap_or("<absent>").to_string(),
        )
    };
    let pair = |v: &str, s: &str| (v.to_string(), s.to_string());
    assert_eq!(setting("concurrency"), pair("3", "env"));
    assert_eq!(setting("regions"), pair("us-east-1,eu-west-1", "flag"));
    assert_eq!(setting("no_access_analyzer"), pair("true", "config"));
    assert_eq!(setting("role_session_name"), pair("from-config", "config"));
    assert_eq!(setting("external_id"), pair("(given)", "config"));
    assert_eq!(
        setting("role_name"),
        pair("OrganizationAccountAccessRole", "default")
    );
    let everything = String::from_utf8(read(&out.join("manifest.json"))).unwrap()
        + &String::from_utf8(read(&out.join("snapshot.json"))).unwrap();
    assert!(
        !everything.contains("s3cr3t"),
        "the ExternalId reached the pack"
    );
    // The settings took effect: Access Analyzer off, only the two regions read.
    let snapshot: Value = serde_json::from_slice(&read(&out.join("snapshot.json"))).unwrap();
    assert_eq!(snapshot["metadata"]["scope"]["access_analyzer"], false);
    assert_eq!(
        snapshot["metadata"]["scope"]["regions"],
        serde_json::json!(["us-east-1", "eu-west-1"])
    );
    assert_eq!(snapshot["metadata"]["scope"]["external_id_used"], true);
}

/// The outside account's signing keys, from the stand-in's seeding.
struct SigningKeys {
    env: [(String, String); 3],
    ecc: (String, Vec<u8>),
    rsa: (String, Vec<u8>),
}

impl SigningKeys {
    fn load(spec: &Spec) -> SigningKeys {
        let e = &spec.raw["seeded"]["evidence"];
        let key = |spec: &str| {
            let k = &e["signing_keys"][spec];
            let der = base64::engine::general_purpose::STANDARD
                .decode(k[1].as_str().unwrap())
                .unwrap();
            (k[0].as_str().unwrap().to_string(), der)
        };
        let s = |f: &str| e[f].as_str().expect("evidence account seeded").to_string();
        SigningKeys {
            env: [
                ("AWS_ACCESS_KEY_ID".into(), s("access_key_id")),
                ("AWS_SECRET_ACCESS_KEY".into(), s("secret_access_key")),
                ("AWS_SESSION_TOKEN".into(), s("session_token")),
            ],
            ecc: key("ECC_NIST_P256"),
            rsa: key("RSA_2048"),
        }
    }

    /// `cmd` as the outside account, against the stand-in.
    fn as_signer<'c>(&self, spec: &Spec, cmd: &'c mut Command) -> &'c mut Command {
        spec.aws_env(cmd, None);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
    }
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

fn copy_pack(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_pack(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// `kmsaudit verify DIR ARGS...`: the exit code and stdout.
fn verify(dir: &Path, args: &[&std::ffi::OsStr]) -> (i32, String) {
    let o = run(kmsaudit().arg("verify").arg(dir).args(args));
    (o.status.code().unwrap(), stdout(&o))
}

/// Rewrites the SHA256SUMS line of `name` to the file's current hash, as a forger would.
fn forge_sums(dir: &Path, name: &str) {
    let hash = {
        use std::process::Stdio;
        let o = Command::new("sha256sum")
            .arg(dir.join(name))
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()[..64].to_string()
    };
    let sums = String::from_utf8(read(&dir.join("SHA256SUMS"))).unwrap();
    let forged: String = sums
        .lines()
        .map(|l| {
            if l.ends_with(&format!("  {name}")) {
                format!("{hash}  {name}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.join("SHA256SUMS"), forged).unwrap();
}

fn tamper(path: &Path, from: &str, to: &str) {
    let text = String::from_utf8(read(path)).unwrap();
    assert!(text.contains(from), "{} holds no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// A pack of the demo organization signed with a KMS key (KMS Sign, in the stand-in) verifies
/// offline with the public key as DER or PEM and online with the key's ARN; a changed file, a
/// changed file with SHA256SUMS forged to match, a changed manifest, a changed signature, a
/// signature by another key and a removed signature are each detected.
#[test]
fn a_signed_pack_verifies_and_every_tampering_is_detected() {
    let Some(spec) = Spec::load() else { return };
    let keys = SigningKeys::load(&spec);
    let dir = tempdir();
    let scanned = dir.path().join("scanned");
    spec.scan(&scanned, None, &["--regions", "us-east-1"]);
    // Signed as it is rendered: by the outside account's ECC key, with the pack's own config.
    let signed = dir.path().join("signed");
    let o = run(keys
        .as_signer(&spec, &mut kmsaudit())
        .arg("report")
        .arg(scanned.join("snapshot.json"))
        .arg("--out")
        .arg(&signed)
        .arg("--sign-with")
        .arg(&keys.ecc.0));
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let record: Value = serde_json::from_slice(&read(&signed.join("SIGNATURE.json"))).unwrap();
    assert_eq!(record["key_arn"], keys.ecc.0.as_str());
    assert_eq!(record["signing_algorithm"], "ECDSA_SHA_256");

    let der = dir.path().join("ecc.der");
    std::fs::write(&der, &keys.ecc.1).unwrap();
    let pem_file = dir.path().join("ecc.pem");
    std::fs::write(&pem_file, pem(&keys.ecc.1)).unwrap();
    let rsa_der = dir.path().join("rsa.der");
    std::fs::write(&rsa_der, &keys.rsa.1).unwrap();
    let with_key = |p: &PathBuf| vec![std::ffi::OsString::from("--public-key"), p.into()];
    let os = |v: &[std::ffi::OsString]| v.to_vec();
    let check = |pack: &Path, args: Vec<std::ffi::OsString>| {
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        verify(pack, &refs)
    };

    for args in [with_key(&der), with_key(&pem_file)] {
        let (code, out) = check(&signed, args);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("signature valid (ECDSA_SHA_256"), "{out}");
    }
    // Online: the public key fetched with GetPublicKey, the signer checked against the ARN.
    let o = run(keys
        .as_signer(&spec, &mut kmsaudit())
        .arg("verify")
        .arg(&signed)
        .arg("--key-arn")
        .arg(&keys.ecc.0));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = run(keys
        .as_signer(&spec, &mut kmsaudit())
        .arg("verify")
        .arg(&signed)
        .arg("--key-arn")
        .arg(&keys.rsa.0));
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("does not verify"), "{}", stdout(&o));

    // A file changed.
    let case = dir.path().join("file");
    copy_pack(&signed, &case);
    tamper(&case.join("findings.csv"), "FAIL", "PASS");
    let (code, out) = check(&case, with_key(&der));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("findings.csv: content changed"), "{out}");

    // The remediation folder: a proposal changed, a file slipped in, the folder swapped for a
    // link.
    let proposal = std::fs::read_dir(signed.join("remediation"))
        .expect("the demo pack holds checked fixes")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".json"))
        .unwrap();
    let case = dir.path().join("remediation-changed");
    copy_pack(&signed, &case);
    tamper(
        &case.join("remediation").join(&proposal),
        "\"Allow\"",
        "\"Deny\"",
    );
    std::fs::write(case.join("remediation/extra.json"), "{}").unwrap();
    let (code, out) = check(&case, with_key(&der));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("remediation/{proposal}: content changed")),
        "{out}"
    );
    assert!(
        out.contains("remediation/extra.json: not part of the pack"),
        "{out}"
    );
    let case = dir.path().join("remediation-link");
    copy_pack(&signed, &case);
    std::fs::rename(case.join("remediation"), dir.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), case.join("remediation")).unwrap();
    let (code, out) = check(&case, with_key(&der));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("remediation/{proposal}: ")), "{out}");

    // A file changed and SHA256SUMS forged to match: the manifest still names the old hash.
    let case = dir.path().join("forged-sums");
    copy_pack(&signed, &case);
    tamper(&case.join("findings.csv"), "FAIL", "PASS");
    forge_sums(&case, "findings.csv");
    let (code, out) = check(&case, with_key(&der));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("findings.csv: content differs from manifest.json"),
        "{out}"
    );
    assert!(
        !out.contains("SHA-256 differs"),
        "SHA256SUMS was forged to match: {out}"
    );

    // The file, SHA256SUMS and the manifest all forged: only the signature catches it.
    let case = dir.path().join("forged-manifest");
    copy_pack(&signed, &case);
    let manifest = String::from_utf8(read(&case.join("manifest.json"))).unwrap();
    let old_hash = {
        let m: Value = serde_json::from_str(&manifest).unwrap();
        m["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == "findings.csv")
            .unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    };
    tamper(&case.join("findings.csv"), "FAIL", "PASS");
    forge_sums(&case, "findings.csv");
    let new_hash = String::from_utf8(read(&case.join("SHA256SUMS")))
        .unwrap()
        .lines()
        .find(|l| l.ends_with("  findings.csv"))
        .unwrap()[..64]
        .to_string();
    let csv_len = read(&case.join("findings.csv")).len();
    let m: Value = serde_json::from_str(&manifest).unwrap();
    let old_len = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "findings.csv")
        .unwrap()["bytes"]
        .as_u64()
        .unwrap();
    let forged = manifest.replace(&old_hash, &new_hash).replace(
        &format!("\"bytes\": {old_len},\n      \"sha256\": \"{new_hash}\""),
        &format!("\"bytes\": {csv_len},\n      \"sha256\": \"{new_hash}\""),
    );
    std::fs::write(case.join("manifest.json"), forged).unwrap();
    forge_sums(&case, "manifest.json");
    let (code, out) = check(&case, os(&[]));
    assert_eq!(
        code, 1,
        "even without a key, a manifest changed since signing: {out}"
    );
    assert!(
        out.contains("manifest.json: changed since it was signed"),
        "{out}"
    );
    let (code, out) = check(&case, with_key(&der));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("changed since it was signed"), "{out}");

    // The signature changed.
    let case = dir.path().join("signature");
    copy_pack(&signed, &case);
    let mut record = record.clone();
    let sig = record["signature"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}{}",
        &sig[..10],
        if &sig[10..11] == "A" { "B" } else { "A" },
        &sig[11..]
    );
    record["signature"] = Value::String(flipped);
    std::fs::write(
        case.join("SIGNATURE.json"),
        serde_json::to_vec_pretty(&record).unwrap(),
    )
    .unwrap();
    let (code, out) = check(&case, with_key(&der));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not verify"), "{out}");

    // Re-signed by another key (the forger's): the given public key does not verify it.
    let case = dir.path().join("other-key");
    copy_pack(&signed, &case);
    std::fs::remove_file(case.join("SIGNATURE.json")).unwrap();
    let o = run(keys
        .as_signer(&spec, &mut kmsaudit())
        .arg("report")
        .arg(case.join("snapshot.json"))
        .arg("--out")
        .arg(&case)
        .arg("--sign-with")
        .arg(&keys.rsa.0));
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (code, out) = check(&case, with_key(&rsa_der));
    assert_eq!(code, 0, "the RSA signature itself is sound: {out}");
    assert!(out.contains("RSASSA_PKCS1_V1_5_SHA_256"), "{out}");
    let (code, out) = check(&case, with_key(&der));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not verify"), "{out}");

    // The signature removed, where one is required.
    let case = dir.path().join("unsigned");
    copy_pack(&signed, &case);
    std::fs::remove_file(case.join("SIGNATURE.json")).unwrap();
    let (code, out) = check(&case, with_key(&der));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("SIGNATURE.json: missing"), "{out}");
}
