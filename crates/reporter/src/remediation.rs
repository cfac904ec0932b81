//! The pack's `remediation/` folder: per key whose policy fails a policy rule and has a checked
//! fix, `<stem>.json` (the proposed policy, exactly what the command applies) and `<stem>.diff`
//! (what it fixes and does not, the command, and the unified diff against the current policy).

use std::io::Write;
use std::path::Path;

use kmsaudit_model::{for_terminal, Evaluation, KeyRemediation};

use crate::hashing::Hashing;
use crate::{FileEntry, ReportError, Sink};

/// A stem the evaluator made: letters, digits and `-` only (checked again: it names a file).
fn safe_stem(stem: &str) -> bool {
    !stem.is_empty()
        && stem.len() <= 160
        && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The two files of one proposal, by pack name.
pub(crate) fn files(r: &KeyRemediation) -> Vec<(String, Vec<u8>)> {
    if !safe_stem(&r.stem) {
        return vec![];
    }
    let mut head = format!(
        "# kmsaudit: proposed key policy for {}\n# Checked by re-analysis: the findings below are gone, no finding is new, and every\n# principal that could change the key policy still can. Nothing was applied.\n",
        for_terminal(&r.key_arn)
    );
    for f in &r.fixed {
        head.push_str(&format!(
            "# fixes {}: {}\n",
            f.rule_id,
            for_terminal(&f.text)
        ));
    }
    for f in &r.refused {
        head.push_str(&format!(
            "# still fails {}: {}\n",
            f.rule_id,
            for_terminal(&f.text)
        ));
    }
    head.push_str(&format!(
        "# apply, from the pack's folder: {}\n",
        for_terminal(&r.command)
    ));
    vec![
        (
            format!("remediation/{}.json", r.stem),
            r.policy.as_bytes().to_vec(),
        ),
        (
            format!("remediation/{}.diff", r.stem),
            (head + &*r.diff).into_bytes(),
        ),
    ]
}

/// Writes every proposal's files into `sink`, adding their manifest entries.
pub(crate) fn write(
    evaluation: &Evaluation,
    sink: &mut impl Sink,
    entries: &mut Vec<FileEntry>,
) -> Result<(), ReportError> {
    for r in &evaluation.remediations {
        for (name, bytes) in files(r) {
            let mut w = Hashing::new(sink.open(&name)?);
            w.write_all(&bytes).map_err(|source| ReportError::Io {
                path: name.clone(),
                source,
            })?;
            entries.push(w.entry(&name));
            sink.close(&name, w.inner)?;
        }
    }
    if !evaluation.remediations.is_empty() {
        sink.sync_folder(crate::verify::REMEDIATION_DIR)?;
    }
    Ok(())
}

/// Flushes a folder's files and the folder itself. On Linux one `syncfs` flushes the whole file
/// system the folder is on (tens of thousands of small files: one call instead of one per file);
/// elsewhere each file was flushed as it was closed.
pub(crate) fn sync_folder(dir: &Path) -> Result<(), ReportError> {
    let sync = || -> std::io::Result<()> {
        let folder = std::fs::File::open(dir)?;
        #[cfg(target_os = "linux")]
        rustix::fs::syncfs(&folder)?;
        folder.sync_all()
    };
    sync().map_err(|source| ReportError::Io {
        path: dir.display().to_string(),
        source,
    })
}

/// Creates a pack's sub-folder (owner-only) unless it is there already as a real folder (a
/// symbolic link planted under its name is an error, never followed).
pub(crate) fn make_private_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && !m.file_type().is_symlink() => return Ok(()),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a folder",
            ))
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}
