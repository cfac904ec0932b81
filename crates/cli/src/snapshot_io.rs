//! Snapshots from and to disk: read streamed (plain or gzip), the scan's round trip through
//! JSON, and the memory checkpoints of the phases that hold them.

use std::path::Path;

use anyhow::Context;
use kmsaudit_model::Snapshot;

use crate::usage;

/// A snapshot file, plain or gzip, and whether it was compressed; errors name the file.
pub(crate) fn load_snapshot(path: &Path) -> anyhow::Result<(Snapshot, bool)> {
    let cannot_read = |e: std::io::Error| usage(format!("cannot read {}: {e}", path.display()));
    let limits = inflate_limits()?;
    let (_, compressed) = kmsaudit_reporter::snapshot_reader(path, limits).map_err(cannot_read)?;
    let snapshot =
        read_snapshot(|| kmsaudit_reporter::snapshot_reader(path, limits).map(|(r, _)| r))
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    Ok((snapshot, compressed))
}

/// The decompression limits, from `KMSAUDIT_MAX_INFLATED_BYTES` and
/// `KMSAUDIT_MAX_INFLATE_RATIO` over the defaults.
fn inflate_limits() -> anyhow::Result<kmsaudit_reporter::InflateLimits> {
    let mut limits = kmsaudit_reporter::InflateLimits::default();
    for (name, field) in [
        ("KMSAUDIT_MAX_INFLATED_BYTES", &mut limits.max_bytes),
        ("KMSAUDIT_MAX_INFLATE_RATIO", &mut limits.max_ratio),
    ] {
        if let Ok(v) = std::env::var(name) {
            *field = v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| usage(format!("{name}={v}: not a positive whole number")))?;
        }
    }
    Ok(limits)
}

/// A snapshot.json of this schema version; an error names the field that does not read
/// (`metadata.started_at: ...`), so unreadable input never becomes a default.
fn read_snapshot<R: std::io::Read>(
    open: impl Fn() -> std::io::Result<R>,
) -> anyhow::Result<Snapshot> {
    // Typed straight from the stream (a generic JSON value of a large snapshot costs several
    // times its size, and the whole text beside the records would too). Only when that fails,
    // or reads another version, is the version looked at on its own, so that a snapshot of
    // another schema is named as such.
    let mut de = serde_json::Deserializer::from_reader(open()?);
    let typed: Result<Snapshot, _> = serde_path_to_error::deserialize(&mut de);
    // Nothing but whitespace after the snapshot: trailing data is not part of any evidence.
    let typed = match typed {
        Ok(s) => match de.end() {
            Ok(()) => Ok(s),
            Err(e) => return Err(anyhow::anyhow!("data after the snapshot's end: {e}")),
        },
        Err(e) => Err(e),
    };
    let version_error = |found: Option<u64>| {
        anyhow::anyhow!(
            "snapshot schema version {}, this kmsaudit reads version {}",
            found
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(none)".into()),
            kmsaudit_model::SCHEMA_VERSION
        )
    };
    match typed {
        Ok(mut s) if s.schema_version == kmsaudit_model::SCHEMA_VERSION => {
            // Sorted as written; normalizing also returns what the parser's growth left over.
            s.normalize();
            s.check_consistency().map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(s)
        }
        Ok(s) => Err(version_error(Some(u64::from(s.schema_version)))),
        // A read that failed (a limit reached, a corrupt gzip stream) is not read again.
        Err(e) if e.inner().is_io() => Err(anyhow::anyhow!("{}", e.inner())),
        Err(e) => {
            #[derive(serde::Deserialize)]
            struct Version {
                schema_version: Option<u64>,
            }
            let found = serde_json::from_reader::<_, Version>(open()?)
                .map_err(|e| anyhow::anyhow!("not JSON: {e}"))?
                .schema_version;
            if found != Some(u64::from(kmsaudit_model::SCHEMA_VERSION)) {
                return Err(version_error(found));
            }
            Err(anyhow::anyhow!(
                "not a kmsaudit snapshot: field `{}`: {}",
                e.path(),
                e.inner()
            ))
        }
    }
}

/// The snapshot as written to JSON and read back, through a temporary file in `dir`.
pub(crate) fn round_trip(snapshot: Snapshot, dir: &Path) -> anyhow::Result<Snapshot> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(".snapshot.scan.json");
    let written = std::fs::File::create(&path).and_then(|file| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        serde_json::to_writer(&mut w, &snapshot)?;
        std::io::Write::flush(&mut w)
    });
    drop(snapshot);
    let read = written
        .with_context(|| format!("writing {}", path.display()))
        .and_then(|()| {
            read_snapshot(|| {
                std::fs::File::open(&path).map(|f| std::io::BufReader::with_capacity(1 << 20, f))
            })
            .context("re-reading the snapshot")
        });
    let _ = std::fs::remove_file(&path);
    read
}

/// Logs (at debug level) the process's resident memory now and at its peak so far, from
/// /proc/self/status where there is one: where a large audit's memory goes, phase by phase.
pub(crate) fn memory_checkpoint(stage: &str) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    tracing::debug!(stage, rss = %field("VmRSS:"), peak_rss = %field("VmHWM:"), "memory");
}

/// The outputs of the pack a snapshot sits in, from the manifest.json beside it (empty when
/// there is none): re-rendering a pack writes the same files it holds.
pub(crate) fn formats_beside(snapshot: &Path) -> Vec<crate::OutputFormatArg> {
    use crate::OutputFormatArg as F;
    let Some(files) = snapshot
        .parent()
        .and_then(|dir| kmsaudit_reporter::manifest_files(dir).ok())
    else {
        return Vec::new();
    };
    let has = |name: &str| files.iter().any(|f| f.path == name);
    [
        ("report.html", F::Html),
        ("findings.csv", F::Csv),
        ("findings.json", F::Json),
        ("findings.ocsf.json", F::Ocsf),
        ("findings.asff.json", F::Asff),
    ]
    .into_iter()
    .filter(|(file, _)| has(file))
    .map(|(_, format)| format)
    .collect()
}

/// The config.json beside a snapshot when it is the pack's own: the manifest beside it lists
/// config.json with this very content. `Ok(None)`: there is none; `Err`: there is one that is
/// not the pack's (not listed, or changed), said why.
pub(crate) fn pack_config_beside(snapshot: &Path) -> Result<Option<std::path::PathBuf>, String> {
    let Some(dir) = snapshot.parent() else {
        return Ok(None);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let path = dir.join("config.json");
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let listed = kmsaudit_reporter::manifest_files(dir)
        .ok()
        .and_then(|files| files.into_iter().find(|f| f.path == "config.json"));
    let Some(entry) = listed else {
        return Err(format!(
            "{} is not listed in a manifest.json beside it: not the pack's own configuration",
            path.display()
        ));
    };
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let actual = kmsaudit_reporter::sha256_hex(&bytes);
    if actual != entry.sha256 {
        return Err(format!(
            "{} differs from the config.json its pack's manifest lists",
            path.display()
        ));
    }
    Ok(Some(path))
}
