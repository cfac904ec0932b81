//! Tidy tests (rust-analyzer style): the invariants ARCHITECTURE.md states, checked on the tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::project_root;

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The source files of the crates and the xtask (not their `tests/` or `examples/`).
fn source_files() -> Vec<PathBuf> {
    let root = project_root();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        files.extend(rust_files(&entry.unwrap().path().join("src")));
    }
    files.extend(rust_files(&root.join("xtask/src")));
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(project_root())
        .unwrap()
        .display()
        .to_string()
}

fn metadata() -> Value {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1"])
        .current_dir(project_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Names of the packages `package` depends on to build (not dev or build dependencies),
/// directly (`transitive = false`) or through any path.
fn normal_dependencies(meta: &Value, package: &str, transitive: bool) -> BTreeSet<String> {
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let name_of = |id: &str| -> String {
        meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["name"].as_str().unwrap().to_string())
            .unwrap()
    };
    let start = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == package)
        .unwrap_or_else(|| panic!("no package {package}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    let mut names = BTreeSet::new();
    while let Some(id) = todo.pop() {
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap();
        for dep in node["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap().to_string();
            if normal && seen.insert(dep_id.clone()) {
                names.insert(name_of(&dep_id));
                if transitive {
                    todo.push(dep_id);
                }
            }
        }
    }
    names
}

#[test]
fn crates_depend_only_on_what_their_layer_allows() {
    let meta = metadata();
    let model = normal_dependencies(&meta, "kmsaudit-model", false);
    // schemars and serde_json: the JSON Schemas of findings.json and snapshot.json are
    // generated from the model's own types.
    let allowed: BTreeSet<String> = ["serde", "serde_json", "schemars", "jiff"]
        .map(String::from)
        .into();
    assert!(
        model.is_subset(&allowed),
        "kmsaudit-model may depend on serde, serde_json, schemars and jiff only, found {model:?}"
    );
    for pure in ["kmsaudit-evaluator", "kmsaudit-reporter"] {
        let deps = normal_dependencies(&meta, pure, true);
        let forbidden: Vec<&String> = deps
            .iter()
            .filter(|d| {
                // aws-lc-rs is crypto (offline signature checks), not an AWS service.
                (d.starts_with("aws-") && !d.starts_with("aws-lc-"))
                    || d.starts_with("kmsaudit-scanner")
                    || ["tokio", "mio", "hyper", "reqwest", "ureq", "socket2", "h2"]
                        .contains(&d.as_str())
            })
            .collect();
        assert!(
            forbidden.is_empty(),
            "{pure} must not touch AWS, tokio or the network, but depends on {forbidden:?}"
        );
    }
}

#[test]
fn sdk_types_stay_in_the_scanner() {
    let sdk = [
        "aws_sdk_",
        "aws_config",
        "aws_smithy",
        "aws_types",
        "aws_credential_types",
    ];
    let root = project_root();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.ends_with("scanner") {
            continue;
        }
        files.extend(rust_files(&dir));
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if let Some(word) = sdk.iter().find(|w| line.contains(*w)) {
                panic!(
                    "{}:{}: `{word}` outside crates/scanner: {line}",
                    relative(&file),
                    n + 1
                );
            }
        }
    }
}

/// Lines of a file before its `#[cfg(test)] mod tests` (tests beside the code do not count).
fn lines_outside_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod tests"))
        .unwrap_or(lines.len());
    end
}

#[test]
fn no_source_file_is_over_450_lines() {
    let mut long = Vec::new();
    for file in source_files() {
        let name = relative(&file);
        let is_test = file
            .file_name()
            .is_some_and(|n| n == "tests.rs" || n == "test_support.rs");
        if is_test || name == "xtask/src/standin.rs" {
            continue;
        }
        let n = lines_outside_tests(&std::fs::read_to_string(&file).unwrap());
        if n > 450 {
            long.push(format!("{name}: {n} lines"));
        }
    }
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn architecture_md_names_every_source_file() {
    let doc = std::fs::read_to_string(project_root().join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for file in source_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        // Module roots are named by their directory; rule modules by the catalog's own tidy
        // test; unit tests live beside what they test.
        let exempt = name == "mod.rs" || name == "tests.rs" || text.starts_with("//! Rule: ");
        if !exempt && !doc.contains(&format!("`{name}`")) {
            missing.push(relative(&file));
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name {missing:?}"
    );
}
