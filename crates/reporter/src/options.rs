//! How a pack is written: the snapshot's form, a baseline, the outputs left out; and so which
//! files it holds.

/// How the pack is written.
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Write the snapshot gzip-compressed, as `snapshot.json.gz`.
    pub compress_snapshot: bool,
    /// An earlier audit's findings: the pack then carries diff.json and diff.csv, and
    /// report.html opens with what changed since.
    pub baseline: Option<std::sync::Arc<kmsaudit_model::FindingsDocument<'static>>>,
    /// The outputs to leave out. The snapshot, manifest.json and SHA256SUMS are always written:
    /// they are what the pack is re-rendered and verified from.
    pub skip: Vec<OutputFormat>,
    /// The rule configuration the evaluation used, as JSON: written as config.json, so that
    /// `kmsaudit report` re-renders the pack from its own files.
    pub config_json: Vec<u8>,
    /// Where findings.asff.json's findings are imported (Security Hub's region).
    pub asff: crate::AsffTarget,
}

/// A family of the pack's outputs, chosen with `--output-formats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// report.html.
    Html,
    /// findings.csv, rules.csv, matrix.csv, keys.csv, grants.csv (and diff.csv, and access.csv
    /// when the scan read IAM).
    Csv,
    /// findings.json (and diff.json).
    Json,
    /// findings.ocsf.json: every outcome as an OCSF Compliance Finding. Not written unless
    /// asked for: it holds every PASS too, so it grows with keys × rules.
    Ocsf,
    /// findings.asff.json: the failing findings in the AWS Security Finding Format, for
    /// Security Hub. Not written unless asked for.
    Asff,
}

impl OutputFormat {
    /// The family a pack file belongs to; `None` for the files always written.
    fn of(file: &str) -> Option<OutputFormat> {
        if file.starts_with("snapshot.json") || file == CONFIG_JSON {
            None
        } else if file.ends_with(".asff.json") {
            Some(OutputFormat::Asff)
        } else if file.ends_with(".ocsf.json") {
            Some(OutputFormat::Ocsf)
        } else if file.ends_with(".html") {
            Some(OutputFormat::Html)
        } else if file.ends_with(".csv") {
            Some(OutputFormat::Csv)
        } else if file.ends_with(".json") {
            Some(OutputFormat::Json)
        } else {
            None
        }
    }
}

impl PackOptions {
    /// The snapshot's file name in the pack.
    pub fn snapshot_file(&self) -> &'static str {
        if self.compress_snapshot {
            SNAPSHOT_GZ
        } else {
            SNAPSHOT_JSON
        }
    }
}

pub(crate) const SNAPSHOT_JSON: &str = "snapshot.json";
pub(crate) const SNAPSHOT_GZ: &str = "snapshot.json.gz";
pub(crate) const CONFIG_JSON: &str = "config.json";

/// Every file a pack may hold other than the manifest and SHA256SUMS, in name order.
pub(crate) const ALL_PACK_FILES: [&str; 16] = [
    "access.csv",
    "compliance.csv",
    CONFIG_JSON,
    "diff.csv",
    "diff.json",
    "findings.asff.json",
    "findings.csv",
    "findings.json",
    "findings.ocsf.json",
    "grants.csv",
    "keys.csv",
    "matrix.csv",
    "report.html",
    "rules.csv",
    SNAPSHOT_JSON,
    SNAPSHOT_GZ,
];

/// The files of this pack other than the manifest and SHA256SUMS, in name order: each is made
/// when it is needed, so that a writer holds one file at a time.
pub(crate) fn pack_files(options: &PackOptions, effective_access: bool) -> Vec<&'static str> {
    ALL_PACK_FILES
        .into_iter()
        .filter(|f| match *f {
            "access.csv" => effective_access,
            SNAPSHOT_JSON | SNAPSHOT_GZ => *f == options.snapshot_file(),
            "diff.csv" | "diff.json" => options.baseline.is_some(),
            _ => true,
        })
        .filter(|f| OutputFormat::of(f).is_none_or(|family| !options.skip.contains(&family)))
        .collect()
}
