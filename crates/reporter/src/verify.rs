//! Checking a pack's files: against SHA256SUMS and against the manifest's own list, confined to
//! the pack folder.
//!
//! Only plain files directly in the folder are opened: a listed name holding a path separator,
//! `..` or an absolute path, and a symbolic link, device, FIFO or folder under a listed name are
//! reported as such without being opened or followed. Each file is read once, and no more than
//! its listed size plus one byte, so a pack of many files costs one pass and a hostile file
//! cannot stall the check.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use kmsaudit_model::for_terminal;
use sha2::{Digest, Sha256};

use crate::{hex, Hashing, ReportError, SIGNATURE_FILE};

/// manifest.json and SHA256SUMS larger than this are not a pack's.
pub(crate) const MAX_LISTING: u64 = 256 << 20;

/// Why a listed name was not read as a pack file.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Not a name directly in the folder (separator, `..`, absolute, empty).
    NotAName,
    Missing,
    Symlink,
    /// A device, FIFO, socket or folder.
    NotAFile,
    Unreadable(std::io::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotAName => f.write_str(
                "not a file name in the pack (a path separator, `..` or an absolute path); not opened",
            ),
            Refused::Missing => f.write_str("missing"),
            Refused::Symlink => f.write_str("a symbolic link; not followed"),
            Refused::NotAFile => {
                f.write_str("not a plain file (a device, FIFO, socket or folder); not opened")
            }
            Refused::Unreadable(e) => write!(f, "cannot read: {e}"),
        }
    }
}

/// Whether `name` names a file directly in a folder.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !Path::new(name).is_absolute()
}

/// The one folder a pack holds files in: `remediation/<name>`.
pub(crate) const REMEDIATION_DIR: &str = "remediation";

/// Opens `name` in `dir` if it is a plain file there (or in the pack's `remediation` folder,
/// itself a real folder): no symbolic link is followed and no device or FIFO opened (checked
/// before opening, and again on the open file).
pub(crate) fn open_confined(dir: &Path, name: &str) -> Result<std::fs::File, Refused> {
    if let Some(inner) = name.strip_prefix("remediation/") {
        let sub = dir.join(REMEDIATION_DIR);
        match std::fs::symlink_metadata(&sub) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refused::Missing),
            Err(e) => return Err(Refused::Unreadable(e)),
            Ok(m) if m.file_type().is_symlink() => return Err(Refused::Symlink),
            Ok(m) if !m.is_dir() => return Err(Refused::NotAFile),
            Ok(_) => {}
        }
        return open_confined(&sub, inner).and_then(|f| {
            // Not itself a folder name: one level only.
            if is_plain_name(inner) {
                Ok(f)
            } else {
                Err(Refused::NotAName)
            }
        });
    }
    if !is_plain_name(name) {
        return Err(Refused::NotAName);
    }
    let path = dir.join(name);
    let meta = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refused::Missing),
        Err(e) => return Err(Refused::Unreadable(e)),
        Ok(m) => m,
    };
    if meta.file_type().is_symlink() {
        return Err(Refused::Symlink);
    }
    if !meta.is_file() {
        return Err(Refused::NotAFile);
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Swapped for a link or a FIFO since the check: the open fails instead of following or
    // blocking.
    #[cfg(target_os = "linux")]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
    );
    let file = options.open(&path).map_err(Refused::Unreadable)?;
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(file),
        Ok(_) => Err(Refused::NotAFile),
        Err(e) => Err(Refused::Unreadable(e)),
    }
}

/// A pack file's bytes, at most `limit`; an error names the file and what failed.
pub(crate) fn read_confined(dir: &Path, name: &str, limit: u64) -> Result<Vec<u8>, String> {
    let file = open_confined(dir, name).map_err(|r| format!("{name}: {r}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: cannot read: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{name}: larger than {limit} bytes; not a pack's"));
    }
    Ok(bytes)
}

/// SHA-256 and size of a pack file, reading at most `limit + 1` bytes.
fn hash_confined(dir: &Path, name: &str, limit: u64) -> Result<(String, u64), Refused> {
    let file = open_confined(dir, name)?;
    let mut hashing = Hashing {
        inner: std::io::sink(),
        hasher: Sha256::new(),
        bytes: 0,
    };
    std::io::copy(&mut file.take(limit.saturating_add(1)), &mut hashing)
        .map_err(Refused::Unreadable)?;
    Ok((hex(&hashing.hasher.finalize()), hashing.bytes as u64))
}

/// Checks a pack against its SHA256SUMS and its manifest: the files that are missing, changed,
/// unlisted or refused. The manifest's own list catches a file changed together with
/// SHA256SUMS; a signature over the manifest ([`crate::check_signature`]) catches a manifest
/// changed too. Names in the problems are escaped for a terminal.
pub fn verify_pack(dir: &Path) -> Result<Vec<String>, ReportError> {
    let meta = std::fs::metadata(dir).map_err(|source| ReportError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ReportError::Read {
            path: dir.display().to_string(),
            source: std::io::Error::other("not a folder"),
        });
    }
    let mut problems: Vec<(String, String)> = Vec::new();
    let sums = match read_confined(dir, "SHA256SUMS", MAX_LISTING) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            problems.push(("SHA256SUMS".into(), e));
            String::new()
        }
    };
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    for line in sums.lines() {
        let Some((hash, name)) = line.split_once("  ") else {
            problems.push((
                "SHA256SUMS".into(),
                format!("SHA256SUMS: malformed line `{}`", for_terminal(line)),
            ));
            continue;
        };
        listed.insert(name.to_string(), hash.to_string());
    }
    let manifest = match read_confined(dir, "manifest.json", MAX_LISTING) {
        Ok(bytes) => parse_manifest(&bytes).map_err(|e| format!("manifest.json: unreadable: {e}")),
        Err(e) => Err(e),
    };
    let manifest: BTreeMap<String, crate::FileEntry> = match manifest {
        Ok(files) => files.into_iter().map(|f| (f.path.clone(), f)).collect(),
        Err(e) => {
            problems.push(("manifest.json".into(), e));
            BTreeMap::new()
        }
    };
    // Each name once: hashed (bounded by the manifest's size when it gives one), then compared
    // with both lists.
    let names: std::collections::BTreeSet<&String> = listed.keys().chain(manifest.keys()).collect();
    for name in names {
        let shown = for_terminal(name);
        let limit = manifest.get(name).map_or(u64::MAX - 1, |e| e.bytes as u64);
        let actual = hash_confined(dir, name, limit);
        let (hash, _) = match actual {
            Ok(found) => found,
            Err(refused) => {
                problems.push((name.clone(), format!("{shown}: {refused}")));
                continue;
            }
        };
        match listed.get(name) {
            Some(sum) if *sum == hash => {}
            Some(_) => problems.push((
                name.clone(),
                format!("{shown}: content changed (SHA-256 differs)"),
            )),
            None => problems.push((
                name.clone(),
                format!("{shown}: in manifest.json but not in SHA256SUMS"),
            )),
        }
        match manifest.get(name) {
            Some(entry) if entry.sha256 == hash => {}
            Some(_) => problems.push((
                name.clone(),
                format!("{shown}: content differs from manifest.json's SHA-256"),
            )),
            None if name == "manifest.json" => {}
            None if !manifest.is_empty() => problems.push((
                name.clone(),
                format!("{shown}: in SHA256SUMS but not in manifest.json"),
            )),
            None => {}
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|source| ReportError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let mut present: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // The remediation folder's files, by their pack names.
    let sub = dir.join(REMEDIATION_DIR);
    if std::fs::symlink_metadata(&sub).is_ok_and(|m| m.is_dir()) {
        present.retain(|n| n != REMEDIATION_DIR);
        if let Ok(inner) = std::fs::read_dir(&sub) {
            present.extend(
                inner
                    .filter_map(|e| e.ok())
                    .map(|e| format!("{REMEDIATION_DIR}/{}", e.file_name().to_string_lossy())),
            );
        }
    }
    let mut extra: Vec<(String, String)> = present
        .into_iter()
        .filter(|n| {
            n != "SHA256SUMS"
                && n != SIGNATURE_FILE
                && !listed.contains_key(n)
                && !manifest.contains_key(n)
        })
        .map(|n| {
            let text = format!("{}: not part of the pack", for_terminal(&n));
            (n, text)
        })
        .collect();
    extra.sort();
    problems.extend(extra);
    // One problem per file: the first found.
    let mut seen = std::collections::BTreeSet::new();
    problems.retain(|(name, _)| seen.insert(name.clone()));
    Ok(problems.into_iter().map(|(_, text)| text).collect())
}

fn parse_manifest(bytes: &[u8]) -> Result<Vec<crate::FileEntry>, String> {
    #[derive(serde::Deserialize)]
    struct Listing {
        files: Vec<crate::FileEntry>,
    }
    serde_json::from_slice::<Listing>(bytes)
        .map(|l| l.files)
        .map_err(|e| e.to_string())
}

/// The files manifest.json lists, with their sizes and SHA-256 (read confined to the folder).
pub fn manifest_files(dir: &Path) -> Result<Vec<crate::FileEntry>, String> {
    let bytes = read_confined(dir, "manifest.json", MAX_LISTING)?;
    parse_manifest(&bytes)
}
