//! `kmsaudit`: audit every AWS KMS key of an AWS Organization in one run.
//!
//! The binary is glue: flags and config in, exit code out. Scanning, evaluation and reports
//! live in their crates. `pack.rs` runs `scan` and `report` (snapshot → evaluation → evidence
//! pack, summary, exit code), `policy.rs` runs `lint-policy` and `rules`, `progress.rs` draws
//! the scan's progress.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use kmsaudit_evaluator::EvalConfig;
use kmsaudit_model::Severity;
use kmsaudit_scanner::ScanPlan;

/// mimalloc: the evaluator allocates many small strings on every core; glibc's allocator spent
/// nearly half of the evaluation time in malloc/free under two threads (measured with perf).
/// The `mimalloc` feature (default) can be turned off for heap profilers that hook malloc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prints a line to stdout; a closed pipe (`kmsaudit rules | head`) ends the program quietly.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = writeln!(stdout, $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod merge;
mod pack;
mod policy;
mod progress;
mod snapshot_io;

/// Exit codes (README "Exit codes").
mod exit {
    pub const OK: u8 = 0;
    pub const TOOL_ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const FAILING: u8 = 3;
    pub const INCOMPLETE: u8 = 4;
}

#[derive(Parser)]
#[command(
    name = "kmsaudit",
    version,
    about = "Audit every AWS KMS key of an AWS Organization in one run"
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// No progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log lines as text, or as one JSON object per line (for log pipelines).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan the organization and write the evidence pack.
    Scan(Box<ScanArgs>),
    /// Re-render the evidence pack from a saved snapshot.json, offline.
    Report(ReportArgs),
    /// Check a key policy document before it is applied.
    LintPolicy(LintArgs),
    /// Print the rule catalog.
    Rules {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Join shard snapshots (`scan --shard I/N`) and write the evidence pack once.
    Merge(MergeArgs),
    /// What changed between two audits: findings new, fixed, still failing, newly not
    /// assessed or muted, and keys added or removed.
    Diff(DiffArgs),
    /// Check an evidence pack against its SHA256SUMS.
    Verify {
        /// The pack directory.
        dir: PathBuf,
    },
    /// Print a shell completion script (e.g. `kmsaudit completions bash > /etc/bash_completion.d/kmsaudit`).
    Completions { shell: clap_complete::Shell },
    /// Print the man page, in roff (e.g. `kmsaudit man > kmsaudit.1; man ./kmsaudit.1`).
    Man,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum RetryMode {
    Standard,
    Adaptive,
}

/// Where the keys' tags are read from.
#[derive(Clone, Copy, ValueEnum)]
enum TagsFrom {
    /// The Resource Groups Tagging API (tag:GetResources): one call per 100 tagged keys of a
    /// region, eventually consistent; a region where it fails is read per key.
    TaggingApi,
    /// KMS ListResourceTags: one call per customer managed key, strongly consistent.
    ListResourceTags,
}

/// A severity threshold, or `none` (never fail on findings).
#[derive(Clone, Copy, Debug)]
struct FailOn(Option<Severity>);

fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(FailOn(None));
    }
    s.parse::<Severity>().map(|s| FailOn(Some(s)))
}

/// How a snapshot is judged: the rule configuration and the failing threshold.
#[derive(clap::Args)]
struct EvaluationArgs {
    /// Rule configuration (TOML): trusted accounts, allowlists, thresholds, suppressions.
    #[arg(long, env = "KMSAUDIT_CONFIG")]
    config: Option<PathBuf>,
    /// Exit 3 when an unmuted FAIL at or above this severity exists (critical, high, medium,
    /// low, info, or none).
    #[arg(long, default_value = "info", value_parser = parse_fail_on, env = "KMSAUDIT_FAIL_ON")]
    fail_on: FailOn,
    /// How the pack holds the snapshot: `json`, or `gzip` (snapshot.json.gz, about a tenth of
    /// the size). Default: json for `scan`; for `report`, the form of the snapshot read.
    #[arg(long, value_enum, env = "KMSAUDIT_SNAPSHOT_FORMAT")]
    snapshot_format: Option<SnapshotFormat>,
    /// Outputs to write, comma-separated: html, csv, json, ocsf (default: html,csv,json; ocsf
    /// writes findings.ocsf.json, every outcome as an OCSF Compliance Finding, PASS included).
    /// The snapshot, manifest.json and SHA256SUMS are always written.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        env = "KMSAUDIT_OUTPUT_FORMATS"
    )]
    output_formats: Vec<OutputFormatArg>,
    /// An earlier audit (pack directory or its findings.json) to compare with: the pack then
    /// holds diff.json and diff.csv, and report.html opens with what changed.
    #[arg(long, env = "KMSAUDIT_BASELINE")]
    baseline: Option<PathBuf>,
    /// With --baseline: exit 3 only when a finding new since the baseline is at or above this
    /// severity (instead of --fail-on's judgement of every failing finding).
    #[arg(long, value_parser = parse_fail_on, requires = "baseline", env = "KMSAUDIT_FAIL_ON_NEW")]
    fail_on_new: Option<FailOn>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum OutputFormatArg {
    Html,
    Csv,
    Json,
    Ocsf,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum SnapshotFormat {
    Json,
    Gzip,
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Output directory of the evidence pack.
    #[arg(long, default_value = "kmsaudit-out", env = "KMSAUDIT_OUT")]
    out: PathBuf,
    /// Audit role assumed in each member account.
    #[arg(long, default_value_t = ScanPlan::default().role_name, env = "KMSAUDIT_ROLE_NAME")]
    role_name: String,
    /// ExternalId the audit role's trust policy requires.
    #[arg(long, env = "KMSAUDIT_EXTERNAL_ID", hide_env_values = true)]
    external_id: Option<String>,
    /// Role session name, visible in the member accounts' CloudTrail.
    #[arg(long, default_value_t = ScanPlan::default().session_name, env = "KMSAUDIT_ROLE_SESSION_NAME")]
    role_session_name: String,
    /// Role session duration in seconds (900 to the role's maximum).
    #[arg(long, env = "KMSAUDIT_SESSION_DURATION")]
    session_duration: Option<u64>,
    /// Regions to scan (comma-separated); default: every region enabled for each account.
    #[arg(long, value_delimiter = ',', env = "KMSAUDIT_REGIONS")]
    regions: Option<Vec<String>>,
    /// Only these account ids (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_account_id, env = "KMSAUDIT_ACCOUNTS")]
    accounts: Vec<String>,
    /// Skip these account ids (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_account_id, env = "KMSAUDIT_EXCLUDE_ACCOUNTS")]
    exclude_accounts: Vec<String>,
    /// AWS calls in flight at once, scan-wide.
    #[arg(long, default_value_t = ScanPlan::default().concurrency, value_parser = parse_concurrency, env = "KMSAUDIT_CONCURRENCY")]
    concurrency: usize,
    /// Attempts per AWS call, retries included.
    #[arg(long, default_value_t = ScanPlan::default().max_attempts, env = "KMSAUDIT_MAX_ATTEMPTS")]
    max_attempts: u32,
    #[arg(long, value_enum, default_value_t = RetryMode::Standard, env = "KMSAUDIT_RETRY_MODE")]
    retry_mode: RetryMode,
    /// Share of each published KMS request quota (per account, region and operation) the scan
    /// paces itself to, in (0, 1]: calls wait their turn instead of being throttled, and the
    /// rest of the quota is left to the account's own workloads.
    #[arg(long, default_value_t = ScanPlan::default().quota_share, value_parser = parse_share, env = "KMSAUDIT_QUOTA_SHARE")]
    quota_share: f64,
    /// Where the keys' tags are read from.
    #[arg(long, value_enum, default_value_t = TagsFrom::TaggingApi, env = "KMSAUDIT_TAGS_FROM")]
    tags_from: TagsFrom,
    /// Do not query IAM Access Analyzer (the AA-* rules are then not evaluated).
    #[arg(long, env = "KMSAUDIT_NO_ACCESS_ANALYZER")]
    no_access_analyzer: bool,
    /// Scan only shard I of N of the organization's accounts (1 <= I <= N; an account's shard
    /// is its id modulo N, plus 1), for `kmsaudit merge` to join.
    #[arg(long, env = "KMSAUDIT_SHARD", value_name = "I/N")]
    shard: Option<kmsaudit_model::Shard>,
    /// AWS profile of the caller.
    #[arg(long, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// Home region for STS and Organizations.
    #[arg(long)]
    region: Option<String>,
    /// Endpoint for every AWS service (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> work too).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// PEM file of extra CA certificates to trust (a TLS-inspecting proxy's), on top of the
    /// system's roots.
    #[arg(long, env = "AWS_CA_BUNDLE")]
    ca_bundle: Option<PathBuf>,
    #[command(flatten)]
    evaluation: EvaluationArgs,
}

#[derive(clap::Args)]
struct DiffArgs {
    /// The earlier audit: a pack directory, its findings.json, or a snapshot (evaluated with
    /// --config).
    old: PathBuf,
    /// The later audit, in any of the same forms.
    new: PathBuf,
    /// Write diff.json and diff.csv into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rule configuration for snapshots given as OLD or NEW.
    #[arg(long, env = "KMSAUDIT_CONFIG")]
    config: Option<PathBuf>,
    /// Exit 3 when a new failing finding at or above this severity exists (critical, high,
    /// medium, low, info, or none): a pipeline gate on regressions only.
    #[arg(long, default_value = "none", value_parser = parse_fail_on, env = "KMSAUDIT_FAIL_ON_NEW")]
    fail_on_new: FailOn,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// Shard packs (directories holding snapshot.json or snapshot.json.gz) or their snapshots.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Output directory of the merged evidence pack.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    evaluation: EvaluationArgs,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// A snapshot.json (or snapshot.json.gz) written by `kmsaudit scan`.
    snapshot: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    evaluation: EvaluationArgs,
}

#[derive(clap::Args)]
struct LintArgs {
    /// Policy file, or `-` for standard input.
    file: String,
    /// Account that owns the key (default: the account of --key-arn).
    #[arg(long, value_parser = parse_account_id)]
    key_account: Option<String>,
    /// The key's ARN: statements scoped to ARN patterns then apply exactly as in a scan.
    #[arg(long, value_parser = parse_key_arn)]
    key_arn: Option<String>,
    /// Account of the organization (repeatable).
    #[arg(long = "org-account", value_parser = parse_account_id)]
    org_accounts: Vec<String>,
    /// Organization id (o-...).
    #[arg(long)]
    org_id: Option<String>,
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 1 when a finding at or above this severity exists (default: none fails).
    #[arg(long, default_value = "none", value_parser = parse_fail_on)]
    fail_on: FailOn,
}

fn parse_account_id(s: &str) -> Result<String, String> {
    if kmsaudit_model::is_account_id(s) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a 12-digit account id"))
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!("`{s}`: expected a number in (0, 1], e.g. 0.5")),
    }
}

fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_key_arn(s: &str) -> Result<String, String> {
    let ok = s.starts_with("arn:")
        && s.split(':').nth(2) == Some("kms")
        && kmsaudit_model::arn_account(s).is_some_and(kmsaudit_model::is_account_id)
        && s.rsplit(':').next().is_some_and(|r| r.starts_with("key/"));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"
        ))
    }
}

/// An error that is the user's to fix: exit 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("kmsaudit: error: {err:#}");
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::from(exit::TOOL_ERROR)
            }
        }
    }
}

/// `-v`: kmsaudit's own info lines; `-vv`: its debug lines. The SDK's stay at warn: RUST_LOG
/// (which replaces this filter) shows them.
fn init_logging(verbose: u8, format: LogFormat) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let default = format!(
        "warn,kmsaudit={level},kmsaudit_scanner={level},kmsaudit_evaluator={level},kmsaudit_reporter={level}"
    );
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Scan(args) => pack::scan(*args, cli.quiet),
        Command::Report(args) => pack::report(args),
        Command::LintPolicy(args) => policy::lint(args),
        Command::Rules { format } => policy::rules(format),
        Command::Merge(args) => pack::merge(args),
        Command::Diff(args) => pack::diff(args),
        Command::Verify { dir } => pack::verify(&dir),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "kmsaudit", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command)
                .render(&mut std::io::stdout())
                .map_err(|e| anyhow::anyhow!("writing the man page: {e}"))?;
            Ok(exit::OK)
        }
    }
}

/// The rule configuration at `path` (defaults without one); every problem of it at once.
fn load_config(path: Option<&Path>) -> anyhow::Result<EvalConfig> {
    let Some(path) = path else {
        return Ok(EvalConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read config {}: {e}", path.display())))?;
    let config: EvalConfig = toml::from_str(&text)
        .map_err(|e| usage(format!("invalid config {}: {e}", path.display())))?;
    config
        .validate()
        .map_err(|e| usage(format!("invalid config {}: {e}", path.display())))?;
    Ok(config)
}
