//! Checking a pack's files: against SHA256SUMS and against the manifest's own list.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{hex, Hashing, ReportError, SIGNATURE_FILE};

/// A file's SHA-256, read in chunks (a pack's snapshot can be hundreds of megabytes).
pub(crate) fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut hashing = Hashing {
        inner: std::io::sink(),
        hasher: Sha256::new(),
        bytes: 0,
    };
    std::io::copy(&mut std::fs::File::open(path)?, &mut hashing)?;
    Ok(hex(&hashing.hasher.finalize()))
}

/// Checks a pack against its SHA256SUMS and its manifest: the files that are missing, changed
/// or unlisted. The manifest's own list catches a file changed together with SHA256SUMS; a
/// signature over the manifest ([`check_signature`]) catches a manifest changed too.
pub fn verify_pack(dir: &Path) -> Result<Vec<String>, ReportError> {
    let io = |path: &Path, source| ReportError::Io {
        path: path.display().to_string(),
        source,
    };
    let sums_path = dir.join("SHA256SUMS");
    let sums = std::fs::read_to_string(&sums_path).map_err(|e| io(&sums_path, e))?;
    let mut problems = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for line in sums.lines() {
        let Some((hash, name)) = line.split_once("  ") else {
            problems.push(format!("SHA256SUMS: malformed line `{line}`"));
            continue;
        };
        listed.insert(name.to_string());
        match file_sha256(&dir.join(name)) {
            Ok(actual) if actual == hash => {}
            Ok(_) => problems.push(format!("{name}: content changed (SHA-256 differs)")),
            Err(_) => problems.push(format!("{name}: missing")),
        }
    }
    problems.extend(check_manifest(dir, &listed));
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    let mut extra: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS" && n != SIGNATURE_FILE && !listed.contains(n))
        .map(|n| format!("{n}: not part of the pack"))
        .collect();
    extra.sort();
    problems.extend(extra);
    // One problem per file: the first found (SHA256SUMS's, then the manifest's).
    let mut seen = std::collections::BTreeSet::new();
    problems.retain(|p| seen.insert(p.split(": ").next().unwrap_or_default().to_string()));
    Ok(problems)
}

/// The manifest's list of files against the files and SHA256SUMS.
fn check_manifest(dir: &Path, listed: &std::collections::BTreeSet<String>) -> Vec<String> {
    let files = match manifest_files(dir) {
        Ok(files) => files,
        Err(e) => return vec![format!("manifest.json: unreadable: {e}")],
    };
    let mut problems = Vec::new();
    for entry in &files {
        if !listed.contains(&entry.path) {
            problems.push(format!(
                "{}: in manifest.json but not in SHA256SUMS",
                entry.path
            ));
        }
        match file_sha256(&dir.join(&entry.path)) {
            Ok(actual) if actual == entry.sha256 => {}
            Ok(_) => problems.push(format!(
                "{}: content differs from manifest.json's SHA-256",
                entry.path
            )),
            Err(_) => problems.push(format!("{}: missing", entry.path)),
        }
    }
    for name in listed {
        if name != "manifest.json" && !files.iter().any(|e| &e.path == name) {
            problems.push(format!("{name}: in SHA256SUMS but not in manifest.json"));
        }
    }
    problems
}

/// The files manifest.json lists, with their sizes and SHA-256.
pub fn manifest_files(dir: &Path) -> Result<Vec<crate::FileEntry>, String> {
    #[derive(serde::Deserialize)]
    struct Listing {
        files: Vec<crate::FileEntry>,
    }
    let bytes = std::fs::read(dir.join("manifest.json")).map_err(|e| e.to_string())?;
    serde_json::from_slice::<Listing>(&bytes)
        .map(|l| l.files)
        .map_err(|e| e.to_string())
}
