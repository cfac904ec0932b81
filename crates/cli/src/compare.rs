//! `kmsaudit diff`: what changed between two audits.

use std::path::Path;

use anyhow::Context;
use kmsaudit_evaluator::EvalConfig;

use crate::snapshot_io::load_snapshot;
use crate::{exit, load_config, usage, DiffArgs};

pub(crate) fn diff(args: DiffArgs) -> anyhow::Result<u8> {
    let config = load_config(args.config.as_deref())?;
    let old = load_findings(&args.old, &config)?;
    let new = load_findings(&args.new, &config)?;
    let diff = kmsaudit_reporter::diff(&old, &new);
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut json = serde_json::to_vec_pretty(&diff).context("serializing the diff")?;
        json.push(b'\n');
        replace_file(&dir.join("diff.json"), &json)?;
        replace_file(&dir.join("diff.csv"), &kmsaudit_reporter::diff_csv(&diff)?)?;
    }
    let counts: Vec<String> = diff
        .counts
        .iter()
        .map(|(k, v)| format!("{} {v}", k.replace('_', " ")))
        .collect();
    out!(
        "diff {} -> {}: {}",
        diff.old_scan_started_at,
        diff.new_scan_started_at,
        counts.join(", ")
    );
    for e in diff
        .entries
        .iter()
        .filter(|e| e.change == kmsaudit_reporter::Change::New)
        .take(20)
    {
        out!(
            "  new {} {} {}: {}",
            e.severity,
            e.rule_id,
            e.resource,
            e.message
        );
    }
    for a in diff
        .access
        .iter()
        .filter(|a| a.change == "access_gained")
        .take(20)
    {
        out!(
            "  gained {} {} on {} via {}",
            a.principal,
            a.capability.as_str(),
            a.key_arn,
            a.via
        );
    }
    let gate = args.fail_on_new.0;
    let regressed = gate.is_some_and(|min| {
        diff.entries
            .iter()
            .any(|e| e.change == kmsaudit_reporter::Change::New && e.severity >= min)
    });
    Ok(if regressed { exit::FAILING } else { exit::OK })
}

/// Writes `path` whole or not at all: a new owner-only file beside it, flushed, then renamed
/// over it (a symbolic link at `path` is replaced, never written through).
fn replace_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let temp = path.with_file_name(format!(
        ".{}.kmsaudit-{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temp);
    let written = kmsaudit_reporter::create_new_file(&temp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

/// The findings document of a pack directory, a findings.json, or a snapshot evaluated here.
pub(crate) fn load_findings(
    path: &Path,
    config: &EvalConfig,
) -> anyhow::Result<kmsaudit_model::FindingsDocument<'static>> {
    let file = if path.is_dir() {
        path.join("findings.json")
    } else {
        path.to_path_buf()
    };
    let cannot_read = |e: std::io::Error| usage(format!("cannot read {}: {e}", file.display()));
    // A regular file only: a device or FIFO named here would be read without end.
    if !std::fs::metadata(&file).map_err(cannot_read)?.is_file() {
        return Err(usage(format!("{}: not a regular file", file.display())));
    }
    // Typed straight from the stream: a large organization's findings.json runs to gigabytes,
    // which a baseline or `diff` would otherwise hold whole beside what it reads from them.
    let reader = std::io::BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(&file).map_err(cannot_read)?,
    );
    let mut de = serde_json::Deserializer::from_reader(reader);
    if let Ok(doc) = <kmsaudit_model::FindingsDocument as serde::Deserialize>::deserialize(&mut de)
    {
        if de.end().is_ok() {
            return Ok(doc);
        }
    }
    drop(de);
    let (snapshot, _) = load_snapshot(&file)?;
    let evaluation = kmsaudit_evaluator::evaluate(&snapshot, config);
    let text = serde_json::to_vec(&kmsaudit_model::FindingsDocument::new(
        &snapshot,
        &evaluation,
    ))
    .context("serializing the findings")?;
    serde_json::from_slice(&text).context("re-reading the findings")
}

/// The baseline's last-use answers by key ARN, each marked settled when no use since can change
/// a verdict: a use less than `unused_days` (less a day's margin) before now keeps
/// KMS-KEY-UNUSED passing whatever happened since. Settled answers are carried instead of asked
/// again (while the key stays enabled); the others are asked again, and stand, marked as carried,
/// only for a key the scan does not reach in time. Answers that were not read are left out.
pub(crate) fn baseline_last_use(
    baseline: &kmsaudit_model::FindingsDocument<'_>,
    unused_days: i64,
) -> std::collections::HashMap<String, kmsaudit_scanner::BaselineLastUse> {
    use kmsaudit_model::LastUseState as S;
    let now = jiff::Timestamp::now();
    baseline
        .last_use
        .iter()
        .filter(|k| !matches!(k.last_use.state, S::NotAssessed { .. }))
        .map(|k| {
            let settled = match k.last_use.state {
                S::Used { at, .. } => (now.as_second() - at.as_second()) / 86_400 < unused_days - 1,
                _ => false,
            };
            let mut answer = k.last_use.clone().into_owned();
            answer.from_baseline = false;
            (
                k.key.to_string(),
                kmsaudit_scanner::BaselineLastUse { answer, settled },
            )
        })
        .collect()
}

/// A baseline read on a thread of its own beside the scan.
pub(crate) struct BaselineBeside {
    /// Its last-use answers, for the scan, once read.
    pub(crate) last_uses: kmsaudit_scanner::BaselineLastUses,
    failed: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<String>>>,
    reader: std::thread::JoinHandle<anyhow::Result<kmsaudit_model::FindingsDocument<'static>>>,
}

/// Starts reading the baseline at `path` beside the scan. A file that is not there (or not a
/// regular file) is a usage error now, before any AWS call.
pub(crate) fn read_beside(path: &Path, config: &EvalConfig) -> anyhow::Result<BaselineBeside> {
    let file = if path.is_dir() {
        path.join("findings.json")
    } else {
        path.to_path_buf()
    };
    let meta = std::fs::metadata(&file)
        .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
    if !meta.is_file() {
        return Err(usage(format!("{}: not a regular file", file.display())));
    }
    let (answers, arriving) = tokio::sync::oneshot::channel();
    let (failure, failed) = tokio::sync::oneshot::channel();
    let (path, config) = (path.to_path_buf(), config.clone());
    let reader = std::thread::spawn(move || match load_findings(&path, &config) {
        Ok(doc) => {
            let _ = answers.send(baseline_last_use(&doc, config.unused_days));
            Ok(doc)
        }
        Err(e) => {
            let _ = failure.send(format!("{e:#}"));
            Err(e)
        }
    });
    Ok(BaselineBeside {
        last_uses: kmsaudit_scanner::BaselineLastUses::arriving(arriving),
        failed: std::sync::Mutex::new(Some(failed)),
        reader,
    })
}

impl BaselineBeside {
    /// Resolves only if the baseline could not be read: the scan is then stopped, a usage error
    /// as it would have been before the scan.
    pub(crate) async fn failure(&self) -> anyhow::Error {
        let failed = self.failed.lock().expect("baseline lock").take();
        match failed {
            Some(failed) => match failed.await {
                Ok(message) => usage(message),
                Err(_) => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// The baseline's document, once read (waits for the reader).
    pub(crate) fn document(
        self,
    ) -> anyhow::Result<std::sync::Arc<kmsaudit_model::FindingsDocument<'static>>> {
        match self.reader.join() {
            Ok(doc) => Ok(std::sync::Arc::new(doc?)),
            Err(_) => Err(anyhow::anyhow!("reading the baseline panicked")),
        }
    }
}
