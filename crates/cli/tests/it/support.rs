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
