//! Running the built `kmsaudit` binary.

use std::path::Path;
use std::process::{Command, Output};

pub fn kmsaudit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kmsaudit"));
    c.env_remove("AWS_PROFILE");
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("running kmsaudit")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A file of `crates/cli/tests/data`.
pub fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Every outcome of a pack's findings.json as (rule, resource, status, account, region): the
/// findings needing attention, whole, and the other outcomes listed by rule index.
pub fn outcomes(doc: &serde_json::Value) -> Vec<[String; 5]> {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut out: Vec<[String; 5]> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            [
                s(&f["rule_id"]),
                s(&f["resource"]),
                s(&f["status"]),
                s(&f["account_id"]),
                s(&f["region"]),
            ]
        })
        .collect();
    let rules = doc["rules"].as_array().unwrap();
    for o in doc["quiet"].as_array().unwrap() {
        for (list, status) in [("pass", "PASS"), ("not_applicable", "NOT_APPLICABLE")] {
            for i in o[list].as_array().into_iter().flatten() {
                out.push([
                    s(&rules[i.as_u64().unwrap() as usize]["id"]),
                    s(&o["resource"]),
                    status.to_string(),
                    s(&o["account_id"]),
                    s(&o["region"]),
                ]);
            }
        }
    }
    out
}
