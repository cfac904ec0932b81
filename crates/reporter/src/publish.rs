//! How a pack reaches its folder: whole or not at all.
//!
//! The pack is rendered into a new sibling folder (`.NAME.kmsaudit-staging-PID`, owner-only),
//! every file flushed to disk, then swapped with the destination in one step (Linux's
//! `renameat2(RENAME_EXCHANGE)`; elsewhere the old pack is renamed aside first), and the old
//! pack, now in the staging name, is removed last. A kill at any moment leaves the old pack or
//! the new one at `--out`, plus at most a folder named `.NAME.kmsaudit-*`, which the next run
//! removes. The destination is kmsaudit's only when it is missing, empty, or a pack (its
//! manifest.json says `"tool": "kmsaudit"` and it holds nothing the manifest does not name);
//! anything else needs `force`, which replaces the folder whole.

use std::path::{Path, PathBuf};

/// Why a pack cannot be written to a folder.
#[derive(Debug, thiserror::Error)]
pub enum PackDirError {
    /// The folder holds files that are not a kmsaudit pack's.
    #[error(
        "{dir} is not empty and is not a kmsaudit evidence pack ({why}); refusing to replace it: \
         give a new or empty folder, or --force to replace the folder and everything in it"
    )]
    Foreign { dir: String, why: String },
    /// The destination exists and is not a folder.
    #[error("{dir} exists and is not a folder")]
    NotAFolder { dir: String },
    /// A file-system operation failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> PackDirError + 'p {
    move |source| PackDirError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// Files a pack folder holds besides those its manifest lists.
const PACK_OWN: [&str; 3] = ["manifest.json", "SHA256SUMS", crate::SIGNATURE_FILE];
/// A manifest larger than this is not a pack's (a pack's manifest is a few kilobytes per
/// account).
const MAX_MANIFEST: u64 = 64 << 20;

/// Checks that a pack may be written to `out` (see the module's documentation).
pub fn check_out_dir(out: &Path, force: bool) -> Result<(), PackDirError> {
    let meta = match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("read", out)(e)),
        Ok(meta) => meta,
    };
    let foreign = |why: String| PackDirError::Foreign {
        dir: out.display().to_string(),
        why,
    };
    if meta.file_type().is_symlink() {
        return if force {
            Ok(())
        } else {
            Err(foreign("it is a symbolic link".into()))
        };
    }
    if !meta.is_dir() {
        return Err(PackDirError::NotAFolder {
            dir: out.display().to_string(),
        });
    }
    if force {
        return Ok(());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(out).map_err(io("read", out))? {
        let entry = entry.map_err(io("read", out))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    if names.is_empty() {
        return Ok(());
    }
    let manifest = out.join("manifest.json");
    let listed = match read_manifest(&manifest) {
        Ok(listed) => listed,
        Err(why) => return Err(foreign(why)),
    };
    // A pack's remediation folder: its files are listed by their pack names.
    let sub = out.join(crate::verify::REMEDIATION_DIR);
    if names.iter().any(|n| n == crate::verify::REMEDIATION_DIR)
        && std::fs::symlink_metadata(&sub).is_ok_and(|m| m.is_dir())
    {
        names.retain(|n| n != crate::verify::REMEDIATION_DIR);
        for entry in std::fs::read_dir(&sub).map_err(io("read", &sub))? {
            let entry = entry.map_err(io("read", &sub))?;
            names.push(format!(
                "{}/{}",
                crate::verify::REMEDIATION_DIR,
                entry.file_name().to_string_lossy()
            ));
        }
    }
    let mut strangers: Vec<String> = names
        .into_iter()
        .filter(|n| !PACK_OWN.contains(&n.as_str()) && !listed.contains(n))
        .collect();
    if strangers.is_empty() {
        return Ok(());
    }
    strangers.sort();
    let more = strangers.len().saturating_sub(5);
    strangers.truncate(5);
    let mut why = format!(
        "it holds files its manifest does not name: {}",
        strangers
            .iter()
            .map(|n| kmsaudit_model::for_terminal(n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if more > 0 {
        why.push_str(&format!(" and {more} more"));
    }
    Err(foreign(why))
}

/// The files a kmsaudit manifest names, or why the file is not one.
fn read_manifest(path: &Path) -> Result<std::collections::BTreeSet<String>, String> {
    #[derive(serde::Deserialize)]
    struct Listing {
        tool: String,
        files: Vec<crate::FileEntry>,
    }
    let meta =
        std::fs::symlink_metadata(path).map_err(|_| "it has no manifest.json".to_string())?;
    if !meta.is_file() || meta.len() > MAX_MANIFEST {
        return Err("its manifest.json is not a plain file of a pack".into());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("its manifest.json is unreadable: {e}"))?;
    let listing: Listing = serde_json::from_slice(&bytes)
        .map_err(|_| "its manifest.json is not a kmsaudit manifest".to_string())?;
    if listing.tool != "kmsaudit" {
        return Err("its manifest.json is not a kmsaudit manifest".into());
    }
    Ok(listing.files.into_iter().map(|f| f.path).collect())
}

/// A pack being written: its staging folder, and where it goes.
#[derive(Debug)]
pub struct PackDir {
    out: PathBuf,
    staging: PathBuf,
    published: bool,
    leftovers: Vec<String>,
}

/// The prefix of every temporary folder of packs written to `out`.
fn temp_prefix(out: &Path) -> String {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pack".into());
    format!(".{name}.kmsaudit-")
}

fn parent_of(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl PackDir {
    /// Checks `out` ([`check_out_dir`]), removes the temporary folders of earlier runs that
    /// were killed, and creates an empty staging folder (mode 0700) beside `out`.
    pub fn begin(out: &Path, force: bool) -> Result<PackDir, PackDirError> {
        check_out_dir(out, force)?;
        let parent = parent_of(out);
        std::fs::create_dir_all(&parent).map_err(io("create", &parent))?;
        let leftovers = remove_leftovers(out);
        let staging = parent.join(format!(
            "{}staging-{}",
            temp_prefix(out),
            std::process::id()
        ));
        // Left by a run of this process id that did not finish: not ours to keep.
        if std::fs::symlink_metadata(&staging).is_ok() {
            remove_any(&staging).map_err(io("remove", &staging))?;
        }
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&staging).map_err(io("create", &staging))?;
        Ok(PackDir {
            out: out.to_path_buf(),
            staging,
            published: false,
            leftovers,
        })
    }

    /// The folder the pack is rendered into.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// The temporary folders of killed runs that [`PackDir::begin`] removed.
    pub fn leftovers_removed(&self) -> &[String] {
        &self.leftovers
    }

    /// Where the pack goes.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Moves the rendered pack into place in one step, then removes the old pack.
    pub fn publish(mut self) -> Result<(), PackDirError> {
        sync_dir(&self.staging).map_err(io("flush", &self.staging))?;
        let out_exists = std::fs::symlink_metadata(&self.out).is_ok();
        if !out_exists {
            std::fs::rename(&self.staging, &self.out).map_err(io("move the pack to", &self.out))?;
        } else if exchange(&self.staging, &self.out).is_err() {
            // No atomic exchange here: the old pack goes aside first, then the new one in.
            let aside = parent_of(&self.out).join(format!(
                "{}old-{}",
                temp_prefix(&self.out),
                std::process::id()
            ));
            std::fs::rename(&self.out, &aside).map_err(io("move aside", &self.out))?;
            std::fs::rename(&self.staging, &self.out).map_err(io("move the pack to", &self.out))?;
            self.published = true;
            let _ = sync_dir(&parent_of(&self.out));
            return remove_any(&aside).map_err(io("remove the old pack", &aside));
        }
        self.published = true;
        let _ = sync_dir(&parent_of(&self.out));
        if out_exists {
            // The staging name now holds the old pack (or what `--force` replaced).
            remove_any(&self.staging).map_err(io("remove the old pack", &self.staging))?;
        }
        Ok(())
    }
}

impl Drop for PackDir {
    fn drop(&mut self) {
        if !self.published {
            let _ = remove_any(&self.staging);
        }
    }
}

/// Removes a folder (not following symbolic links in it) or a file or link.
fn remove_any(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

/// Removes `.NAME.kmsaudit-*` folders beside `out` whose process is gone; returns their names.
fn remove_leftovers(out: &Path) -> Vec<String> {
    let prefix = temp_prefix(out);
    let parent = parent_of(out);
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(&parent) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| p != std::process::id() && process_alive(p));
        if !alive && remove_any(&entry.path()).is_ok() {
            removed.push(name);
        }
    }
    removed
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Unknown: keep the folder rather than remove another run's work.
        true
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Swaps two directory entries in one step.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "no atomic exchange",
    ))
}
