//! kmsaudit's reporter: presentation only. It turns a snapshot and its evaluation into the
//! evidence pack (report.html, CSVs, JSON, manifest) and decides no verdict. Everything it
//! writes is a function of its inputs: the same snapshot gives the same bytes.

use std::io::Write;
use std::path::Path;

use kmsaudit_model::{Evaluation, Snapshot, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

mod access_csv;
mod access_view;
mod asff;
mod compliance_csv;
mod compliance_view;
mod controls;
mod csv_out;
mod diff;
mod diff_access;
mod hashing;
mod html;
mod html_escape;
mod keys_csv;
mod ocsf;
mod options;
mod pipelined;
mod publish;
mod remediation;
mod scope_view;
mod signature;
mod snapshot_file;
mod verify;
mod view;

use access_csv::access_csv;
use hashing::Hashing;

/// The pack's file of effective access.
const ACCESS_CSV: &str = "access.csv";
pub use asff::{asff_by_account, asff_id, AsffTarget};
pub use csv_out::neutralize;
use csv_out::{findings_csv, grants_csv, matrix_csv, rules_csv};
pub use diff::{diff, diff_csv, Change, Diff, Entry};
pub use html::{content_security_policy, render_html};
use keys_csv::keys_csv;
use options::{pack_files, CONFIG_JSON, SNAPSHOT_GZ, SNAPSHOT_JSON};
pub use options::{OutputFormat, PackOptions};
pub use publish::{check_out_dir, PackDir, PackDirError};
pub use signature::{
    check_signature, manifest_sha256, public_key_der, public_key_fingerprint, read_signature,
    signed_message, write_signature, PackSignature, SIGNATURE_FILE,
};
pub use snapshot_file::{snapshot_reader, InflateLimits};
pub use verify::{manifest_files, verify_pack};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot render report.html: {0}")]
    Template(#[from] tera::Error),
    #[error("cannot serialize {file}: {source}")]
    Json {
        file: &'static str,
        source: serde_json::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// manifest.json: what the pack holds and where it came from.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub tool: String,
    pub tool_version: String,
    pub snapshot_schema_version: u32,
    pub caller: Option<kmsaudit_model::CallerIdentity>,
    pub organization_id: Option<String>,
    pub management_account_id: Option<String>,
    pub scan_started_at: Timestamp,
    pub scan_finished_at: Timestamp,
    pub scope: kmsaudit_model::ScanScope,
    /// The settings the scan ran with and where each came from (flag, env, config, default).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub settings: std::collections::BTreeMap<String, kmsaudit_model::Setting>,
    /// SHA-256 of config.json, the rule configuration the findings were evaluated with.
    pub config_sha256: String,
    pub coverage: Coverage,
    /// Sorted by path.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Serialize)]
pub struct Coverage {
    pub complete: bool,
    pub accounts: Vec<kmsaudit_model::AccountCoverage>,
    pub keys_discovered: usize,
    pub keys_assessed: usize,
    pub keys_not_assessed: usize,
    pub api_calls: u64,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: usize,
    pub sha256: String,
}

/// SHA-256 of `bytes`, lowercase hex (as SHA256SUMS and the manifest write it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn json<T: Serialize>(file: &'static str, value: &T) -> Result<Vec<u8>, ReportError> {
    let mut out =
        serde_json::to_vec_pretty(value).map_err(|source| ReportError::Json { file, source })?;
    out.push(b'\n');
    Ok(out)
}

/// Writes one pack file into `w`. The large JSON files are serialized straight into it; the
/// compressed snapshot through a gzip encoder (no file name, time 0: the same bytes each time).
fn render_file(
    name: &str,
    snapshot: &Snapshot,
    evaluation: &Evaluation,
    (diff, doc): (Option<&Diff>, Option<&kmsaudit_model::FindingsDocument<'_>>),
    options: &PackOptions,
    w: &mut dyn Write,
) -> Result<(), ReportError> {
    let compact = |file: &'static str, w: &mut dyn Write, value: &dyn erased::Json| {
        value
            .write(w)
            .and_then(|()| w.write_all(b"\n").map_err(serde_json::Error::io))
            .map_err(|source| ReportError::Json { file, source })
    };
    let io = |source| ReportError::Io {
        path: name.to_string(),
        source,
    };
    match name {
        CONFIG_JSON => w.write_all(&options.config_json).map_err(io),
        "findings.csv" => findings_csv(w, snapshot, evaluation).map_err(io),
        "findings.json" => match doc {
            Some(doc) => compact("findings.json", w, doc),
            None => {
                let doc = kmsaudit_model::FindingsDocument::new(snapshot, evaluation);
                compact("findings.json", w, &doc)
            }
        },
        "findings.asff.json" => {
            asff::write_asff(w, snapshot, evaluation, &options.asff).map_err(|source| {
                ReportError::Json {
                    file: "findings.asff.json",
                    source,
                }
            })
        }
        "findings.ocsf.json" => {
            ocsf::write_ocsf(w, snapshot, evaluation).map_err(|source| ReportError::Json {
                file: "findings.ocsf.json",
                source,
            })
        }
        ACCESS_CSV => access_csv(w, evaluation.access.as_ref()).map_err(io),
        "grants.csv" => grants_csv(w, snapshot).map_err(io),
        "keys.csv" => keys_csv(w, snapshot, evaluation).map_err(io),
        "matrix.csv" => matrix_csv(w, snapshot, evaluation).map_err(io),
        "report.html" => w
            .write_all(render_html(snapshot, evaluation, diff)?.as_bytes())
            .map_err(io),
        "diff.json" => {
            let diff = diff.expect("diff.json is written with a baseline");
            let text = json("diff.json", diff)?;
            w.write_all(&text).map_err(io)
        }
        "diff.csv" => {
            let diff = diff.expect("diff.csv is written with a baseline");
            w.write_all(&diff_csv(diff).map_err(io)?).map_err(io)
        }
        "rules.csv" => rules_csv(w, evaluation).map_err(io),
        "compliance.csv" => compliance_csv::compliance_csv(w, evaluation).map_err(io),
        SNAPSHOT_JSON => compact(SNAPSHOT_JSON, w, snapshot),
        SNAPSHOT_GZ => {
            // Buffered in front of the encoder: serde_json writes token by token, and the
            // encoder pays per call (without it, 100,000 keys took 10 s more).
            let gz = flate2::GzBuilder::new().write(w, flate2::Compression::default());
            let mut buffered = std::io::BufWriter::with_capacity(1 << 16, gz);
            compact(SNAPSHOT_GZ, &mut buffered, snapshot)?;
            let gz = buffered.into_inner().map_err(|e| io(e.into_error()))?;
            gz.finish().map(drop).map_err(io)
        }
        other => unreachable!("{other} is not a pack file"),
    }
}

/// Serializing behind `dyn`: one method, so the large JSON files need no buffer of their own.
mod erased {
    pub trait Json {
        fn write(&self, w: &mut dyn std::io::Write) -> Result<(), serde_json::Error>;
    }
    impl<T: serde::Serialize> Json for T {
        fn write(&self, w: &mut dyn std::io::Write) -> Result<(), serde_json::Error> {
            serde_json::to_writer(w, self)
        }
    }
}

/// Where the pack's files go: memory (tests, re-rendering checks) or a directory.
trait Sink {
    type W: Write + Send;
    fn open(&mut self, name: &str) -> Result<Self::W, ReportError>;
    fn close(&mut self, name: &str, w: Self::W) -> Result<(), ReportError>;
    /// Flushes to disk the files of sub-folder `sub`, which [`Sink::close`] may leave to it.
    fn sync_folder(&mut self, _sub: &str) -> Result<(), ReportError> {
        Ok(())
    }
}

/// Renders every file of the pack, one at a time, into `sink` (manifest.json and SHA256SUMS
/// last, from the hashes of the others): no file is held whole in memory when the sink is a
/// directory.
fn render_each(
    snapshot: &Snapshot,
    evaluation: &Evaluation,
    mut options: PackOptions,
    sink: &mut impl Sink,
) -> Result<Option<Diff>, ReportError> {
    let names = pack_files(&options, evaluation.access.is_some());
    // The baseline is let go once compared: at organization scale it holds gigabytes. The
    // document compared with it is the one findings.json is written from, built once.
    let (diff, doc) = match options.baseline.take() {
        Some(old) => {
            let doc = kmsaudit_model::FindingsDocument::new(snapshot, evaluation);
            (Some(diff(&old, &doc)), Some(doc))
        }
        None => (None, None),
    };
    // access.csv, by far the largest file at organization scale, is written on a thread of its
    // own beside the others.
    let aside = names.iter().position(|n| *n == ACCESS_CSV);
    let mut entries: Vec<Option<FileEntry>> = names.iter().map(|_| None).collect();
    let access_writer = aside.map(|_| sink.open(ACCESS_CSV)).transpose()?;
    std::thread::scope(|scope| -> Result<(), ReportError> {
        let options = &options;
        let diff = (diff.as_ref(), doc.as_ref());
        let access = access_writer.map(|inner| {
            scope.spawn(move || {
                let mut w = Hashing::new(inner);
                pipelined::on_two_threads(
                    &mut w,
                    |out| render_file(ACCESS_CSV, snapshot, evaluation, diff, options, out),
                    |source| ReportError::Io {
                        path: ACCESS_CSV.into(),
                        source,
                    },
                )
                .map(|()| w)
            })
        });
        for (i, name) in names.iter().enumerate() {
            if Some(i) == aside {
                continue;
            }
            let mut w = Hashing::new(sink.open(name)?);
            render_file(name, snapshot, evaluation, diff, options, &mut w)?;
            entries[i] = Some(w.entry(name));
            sink.close(name, w.inner)?;
        }
        if let (Some(i), Some(handle)) = (aside, access) {
            let mut w = handle
                .join()
                .expect("the access.csv writer does not panic")?;
            entries[i] = Some(w.entry(ACCESS_CSV));
            sink.close(ACCESS_CSV, w.inner)?;
        }
        Ok(())
    })?;
    let mut entries: Vec<FileEntry> = entries.into_iter().flatten().collect();
    if !options.skip.contains(&OutputFormat::Json) {
        remediation::write(evaluation, sink, &mut entries)?;
    }
    let manifest = Manifest {
        tool: "kmsaudit".into(),
        tool_version: snapshot.metadata.tool_version.clone(),
        snapshot_schema_version: snapshot.schema_version,
        caller: snapshot.metadata.caller.clone(),
        organization_id: snapshot.organization.as_ref().map(|o| o.id.clone()),
        management_account_id: snapshot
            .organization
            .as_ref()
            .map(|o| o.management_account_id.clone()),
        scan_started_at: snapshot.metadata.started_at,
        scan_finished_at: snapshot.metadata.finished_at,
        scope: snapshot.metadata.scope.clone(),
        settings: snapshot.metadata.settings.clone(),
        config_sha256: sha256_hex(&options.config_json),
        coverage: Coverage {
            complete: evaluation.scope.complete,
            accounts: evaluation.accounts.clone(),
            keys_discovered: evaluation.scope.counts.keys_discovered,
            keys_assessed: evaluation.scope.counts.keys_assessed,
            keys_not_assessed: evaluation.scope.counts.keys_not_assessed,
            api_calls: snapshot.metadata.total_api_calls(),
        },
        files: entries,
    };
    let manifest_bytes = json("manifest.json", &manifest)?;
    let mut sums = String::new();
    for e in &manifest.files {
        sums.push_str(&format!("{}  {}\n", e.sha256, e.path));
    }
    sums.push_str(&format!("{}  manifest.json\n", sha256_hex(&manifest_bytes)));
    for (name, bytes) in [
        ("manifest.json", manifest_bytes),
        ("SHA256SUMS", sums.into_bytes()),
    ] {
        let mut w = sink.open(name)?;
        w.write_all(&bytes).map_err(|source| ReportError::Io {
            path: name.to_string(),
            source,
        })?;
        sink.close(name, w)?;
    }
    Ok(diff)
}

struct MemorySink(Vec<(String, Vec<u8>)>);

impl Sink for MemorySink {
    type W = Vec<u8>;
    fn open(&mut self, _: &str) -> Result<Vec<u8>, ReportError> {
        Ok(Vec::new())
    }
    fn close(&mut self, name: &str, w: Vec<u8>) -> Result<(), ReportError> {
        self.0.push((name.to_string(), w));
        Ok(())
    }
}

struct DirSink<'a> {
    dir: &'a Path,
    names: Vec<String>,
}

impl Sink for DirSink<'_> {
    type W = std::io::BufWriter<std::fs::File>;
    fn open(&mut self, name: &str) -> Result<Self::W, ReportError> {
        let path = self.dir.join(name);
        if let Some((sub, _)) = name.split_once('/') {
            remediation::make_private_dir(&self.dir.join(sub)).map_err(|source| {
                ReportError::Io {
                    path: self.dir.join(sub).display().to_string(),
                    source,
                }
            })?;
        }
        create_new_file(&path)
            .map(|f| std::io::BufWriter::with_capacity(1 << 16, f))
            .map_err(|source| ReportError::Io {
                path: path.display().to_string(),
                source,
            })
    }
    fn close(&mut self, name: &str, w: Self::W) -> Result<(), ReportError> {
        let path = self.dir.join(name);
        // A sub-folder's many small files are flushed together, by `sync_folder` (on Linux).
        let later = cfg!(target_os = "linux") && name.contains('/');
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| if later { Ok(()) } else { file.sync_all() })
            .map_err(|source| ReportError::Io {
                path: path.display().to_string(),
                source,
            })?;
        self.names.push(name.to_string());
        Ok(())
    }
    fn sync_folder(&mut self, sub: &str) -> Result<(), ReportError> {
        remediation::sync_folder(&self.dir.join(sub))
    }
}

/// Creates a pack file that did not exist (an existing file or a symbolic link planted under its
/// name is an error, never followed), readable and writable by its owner only: a pack holds an
/// organization's key policies and structure.
pub fn create_new_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Every file of the evidence pack, in memory, manifest and SHA256SUMS last.
pub fn render_all(
    snapshot: &Snapshot,
    evaluation: &Evaluation,
    options: PackOptions,
) -> Result<Vec<(String, Vec<u8>)>, ReportError> {
    let mut sink = MemorySink(Vec::new());
    render_each(snapshot, evaluation, options, &mut sink)?;
    Ok(sink.0)
}

/// Writes the evidence pack into `dir`, a new or empty folder (a [`PackDir`]'s staging
/// folder), one file at a time, streaming the large ones; each file is created new and flushed
/// to disk.
pub fn write_reports(
    snapshot: &Snapshot,
    evaluation: &Evaluation,
    dir: &Path,
    options: PackOptions,
) -> Result<WrittenPack, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut sink = DirSink {
        dir,
        names: Vec::new(),
    };
    let diff = render_each(snapshot, evaluation, options, &mut sink)?;
    Ok(WrittenPack {
        files: sink.names,
        diff,
    })
}

/// What [`write_reports`] wrote.
#[derive(Debug)]
pub struct WrittenPack {
    /// The file names, in the order written.
    pub files: Vec<String>,
    /// The comparison with the baseline, when one was given.
    pub diff: Option<Diff>,
}
