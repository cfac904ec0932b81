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
    let doc: kmsaudit_model::FindingsDocument =
        serde_json::from_value(doc.clone()).expect("findings.json follows its schema");
    doc.outcomes()
        .map(|o| {
            [
                o.rule_id.to_string(),
                o.resource.id.to_string(),
                o.status.as_str().to_string(),
                o.resource.account.to_string(),
                o.resource.region.to_string(),
            ]
        })
        .collect()
}

/// (rule, resource) of every muted outcome in findings.json.
pub fn muted(doc: &serde_json::Value) -> Vec<(String, String)> {
    let doc: kmsaudit_model::FindingsDocument =
        serde_json::from_value(doc.clone()).expect("findings.json follows its schema");
    doc.outcomes()
        .filter(|o| o.muted)
        .map(|o| (o.rule_id.to_string(), o.resource.id.to_string()))
        .collect()
}
