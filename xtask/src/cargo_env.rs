//! What `cargo run` set for the xtask itself, kept from every cargo the xtask starts.
//!
//! ring's build script reruns when CARGO_MANIFEST_DIR or CARGO_PKG_* change in cargo's own
//! environment: a build started from the xtask (them set to the xtask's) and one started from
//! a shell (unset) rebuilt ring, rustls and every SDK crate over each other.

/// Removes them from `cmd`'s environment.
pub(crate) fn remove_from(cmd: &mut std::process::Command) {
    for name in set_by_cargo_run() {
        cmd.env_remove(name);
    }
}

fn set_by_cargo_run() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| {
            let name = name.to_string_lossy();
            name.starts_with("CARGO_PKG_")
                || matches!(
                    &*name,
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                )
        })
        .collect()
}
