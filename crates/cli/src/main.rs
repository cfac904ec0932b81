//! `kmsaudit`: audit every AWS KMS key of an AWS Organization in one run.
//!
//! The binary is glue: flags and config in, exit code out. Scanning, evaluation and reports
//! live in their crates.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use kmsaudit_evaluator::{EvalConfig, LintOptions};
use kmsaudit_model::{Evaluation, Severity, Snapshot, Status};

/// mimalloc: the evaluator allocates many small strings on every core; glibc's allocator spent
/// nearly half of the evaluation time in malloc/free under two threads (measured with perf).
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan the organization and write the evidence pack.
    Scan(ScanArgs),
    /// Re-render the evidence pack from a saved snapshot.json, offline.
    Report(ReportArgs),
    /// Check a key policy document before it is applied.
    LintPolicy(LintArgs),
    /// Print the rule catalog.
    Rules {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Check an evidence pack against its SHA256SUMS.
    Verify {
        /// The pack directory.
        dir: PathBuf,
    },
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

/// A severity threshold, or `none` (never fail on findings).
#[derive(Clone, Copy, Debug)]
struct FailOn(Option<Severity>);

fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(FailOn(None));
    }
    s.parse::<Severity>().map(|s| FailOn(Some(s)))
}

#[derive(clap::Args)]
struct Evaluate {
    /// Rule configuration (TOML): trusted accounts, allowlists, thresholds, suppressions.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Exit 3 when an unmuted FAIL at or above this severity exists (critical, high, medium,
    /// low, info, or none).
    #[arg(long, default_value = "info", value_parser = parse_fail_on)]
    fail_on: FailOn,
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Output directory of the evidence pack.
    #[arg(long, default_value = "kmsaudit-out")]
    out: PathBuf,
    /// Audit role assumed in each member account.
    #[arg(long, default_value = "OrganizationAccountAccessRole")]
    role_name: String,
    /// ExternalId the audit role's trust policy requires.
    #[arg(long, env = "KMSAUDIT_EXTERNAL_ID", hide_env_values = true)]
    external_id: Option<String>,
    /// Role session name, visible in the member accounts' CloudTrail.
    #[arg(long, default_value = "kmsaudit")]
    role_session_name: String,
    /// Role session duration in seconds (900 to the role's maximum).
    #[arg(long)]
    session_duration: Option<u64>,
    /// Regions to scan (comma-separated); default: every region enabled for each account.
    #[arg(long, value_delimiter = ',')]
    regions: Option<Vec<String>>,
    /// Only these account ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    accounts: Vec<String>,
    /// Skip these account ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    exclude_accounts: Vec<String>,
    /// AWS calls in flight at once, scan-wide.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Attempts per AWS call, retries included.
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    #[arg(long, value_enum, default_value_t = RetryMode::Standard)]
    retry_mode: RetryMode,
    /// Do not query IAM Access Analyzer (the AA-* rules are then not evaluated).
    #[arg(long)]
    no_access_analyzer: bool,
    /// AWS profile of the caller.
    #[arg(long, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// Home region for STS and Organizations.
    #[arg(long)]
    region: Option<String>,
    /// Endpoint for every AWS service (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> work too).
    #[arg(long)]
    endpoint_url: Option<String>,
    #[command(flatten)]
    evaluate: Evaluate,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// A snapshot.json written by `kmsaudit scan`.
    snapshot: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    evaluate: Evaluate,
}

#[derive(clap::Args)]
struct LintArgs {
    /// Policy file, or `-` for standard input.
    file: String,
    /// Account that owns the key.
    #[arg(long)]
    key_account: Option<String>,
    /// Account of the organization (repeatable).
    #[arg(long = "org-account")]
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
    init_logging(cli.verbose);
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

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Scan(args) => scan(args, cli.quiet),
        Command::Report(args) => report(args),
        Command::LintPolicy(args) => lint(args),
        Command::Rules { format } => rules(format),
        Command::Verify { dir } => verify(&dir),
    }
}

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

fn scan(args: ScanArgs, quiet: bool) -> anyhow::Result<u8> {
    let config = load_config(args.evaluate.config.as_deref())?;
    for id in args.accounts.iter().chain(&args.exclude_accounts) {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(usage(format!("`{id}` is not a 12-digit account id")));
        }
    }
    if args.concurrency == 0 {
        return Err(usage("--concurrency must be at least 1"));
    }
    let plan = kmsaudit_scanner::ScanPlan {
        role_name: args.role_name,
        external_id: args.external_id,
        session_name: args.role_session_name,
        session_duration: args.session_duration.map(Duration::from_secs),
        regions: args.regions,
        accounts: args.accounts,
        exclude_accounts: args.exclude_accounts,
        concurrency: args.concurrency,
        max_attempts: args.max_attempts,
        adaptive_retry: matches!(args.retry_mode, RetryMode::Adaptive),
        access_analyzer: !args.no_access_analyzer,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let progress = progress_reporter(quiet);
    let snapshot = runtime.block_on(async {
        let base = kmsaudit_scanner::load_base_config(
            args.profile.as_deref(),
            args.region.as_deref(),
            args.endpoint_url.as_deref(),
        )
        .await;
        kmsaudit_scanner::scan(plan, base, progress.callback()).await
    });
    progress.finish();
    let snapshot = snapshot.context("scan failed")?;
    // Round-trip through JSON so that the pack is exactly what `kmsaudit report` renders from
    // the saved snapshot.json.
    let saved = serde_json::to_vec(&snapshot).context("serializing the snapshot")?;
    let snapshot: Snapshot = serde_json::from_slice(&saved).context("re-reading the snapshot")?;
    write_pack(&snapshot, &config, &args.out, args.evaluate.fail_on, true)
}

fn report(args: ReportArgs) -> anyhow::Result<u8> {
    let config = load_config(args.evaluate.config.as_deref())?;
    let text = std::fs::read(&args.snapshot)
        .map_err(|e| usage(format!("cannot read {}: {e}", args.snapshot.display())))?;
    let version: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| usage(format!("{} is not JSON: {e}", args.snapshot.display())))?;
    let found = version.get("schema_version").and_then(|v| v.as_u64());
    if found != Some(u64::from(kmsaudit_model::SCHEMA_VERSION)) {
        return Err(usage(format!(
            "{} has snapshot schema version {}, this kmsaudit reads version {}",
            args.snapshot.display(),
            found
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(none)".into()),
            kmsaudit_model::SCHEMA_VERSION
        )));
    }
    let snapshot: Snapshot = serde_json::from_value(version).map_err(|e| {
        usage(format!(
            "{} is not a kmsaudit snapshot: {e}",
            args.snapshot.display()
        ))
    })?;
    write_pack(&snapshot, &config, &args.out, args.evaluate.fail_on, false)
}

fn write_pack(
    snapshot: &Snapshot,
    config: &EvalConfig,
    out: &Path,
    fail_on: FailOn,
    from_scan: bool,
) -> anyhow::Result<u8> {
    let evaluation = kmsaudit_evaluator::evaluate(snapshot, config);
    kmsaudit_reporter::write_reports(snapshot, &evaluation, out)
        .with_context(|| format!("writing the evidence pack to {}", out.display()))?;
    for w in &evaluation.warnings {
        eprintln!("kmsaudit: warning: {w}");
    }
    print_summary(snapshot, &evaluation, out, from_scan);
    Ok(exit_code(&evaluation, fail_on))
}

/// 3 when failing findings at/above the threshold exist, else 4 when anything could not be
/// assessed, else 0.
fn exit_code(evaluation: &Evaluation, fail_on: FailOn) -> u8 {
    let failing = fail_on.0.is_some_and(|min| {
        evaluation
            .findings
            .iter()
            .any(|f| f.status == Status::Fail && !f.muted && f.severity >= min)
    });
    if failing {
        exit::FAILING
    } else if evaluation.is_incomplete() {
        exit::INCOMPLETE
    } else {
        exit::OK
    }
}

fn print_summary(snapshot: &Snapshot, evaluation: &Evaluation, out: &Path, from_scan: bool) {
    let count = |c: kmsaudit_model::Coverage| {
        evaluation
            .accounts
            .iter()
            .filter(|a| a.coverage == c)
            .count()
    };
    use kmsaudit_model::Coverage::*;
    let regions_scanned = evaluation
        .regions
        .iter()
        .filter(|r| r.coverage != Skipped)
        .count();
    let keys: usize = evaluation.accounts.iter().map(|a| a.keys_discovered).sum();
    let keys_na: usize = evaluation
        .accounts
        .iter()
        .map(|a| a.keys_not_assessed)
        .sum();
    out!(
        "accounts: {} ({} assessed, {} partial, {} not assessed, {} skipped)",
        evaluation.accounts.len(),
        count(Assessed),
        count(Partial),
        count(NotAssessed),
        count(Skipped)
    );
    out!("account-regions scanned: {regions_scanned}; keys: {keys} ({keys_na} not fully read)");
    let failing = evaluation.failing_by_severity();
    let sev: Vec<String> = Severity::ALL
        .iter()
        .map(|s| format!("{} {}", failing.get(s).copied().unwrap_or(0), s))
        .collect();
    let not_assessed = evaluation
        .findings
        .iter()
        .filter(|f| f.status == Status::NotAssessed && !f.muted)
        .count();
    let muted = evaluation.findings.iter().filter(|f| f.muted).count();
    out!(
        "failing findings: {}; not assessed: {not_assessed}; muted: {muted}",
        sev.join(", ")
    );
    if from_scan {
        let m = &snapshot.metadata;
        let secs = match (
            m.started_at.parse::<jiff::Timestamp>(),
            m.finished_at.parse::<jiff::Timestamp>(),
        ) {
            (Ok(a), Ok(b)) => (b.as_millisecond() - a.as_millisecond()) as f64 / 1000.0,
            _ => 0.0,
        };
        out!("API calls: {} in {secs:.1} s", m.total_api_calls());
    }
    out!("report: {}", out.join("report.html").display());
}

fn lint(args: LintArgs) -> anyhow::Result<u8> {
    let text = if args.file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| usage(format!("cannot read {}: {e}", args.file)))?
    };
    let config = load_config(args.config.as_deref())?;
    for id in args.org_accounts.iter().chain(&args.key_account) {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(usage(format!("`{id}` is not a 12-digit account id")));
        }
    }
    let options = LintOptions {
        key_account: args.key_account,
        org_accounts: args.org_accounts,
        org_id: args.org_id,
        config,
    };
    let report = kmsaudit_evaluator::lint_policy(&text, &options);
    match args.format {
        Format::Json => out!(
            "{}",
            serde_json::to_string_pretty(&report).context("serializing the lint report")?
        ),
        Format::Text => {
            for f in &report.findings {
                let at = match (f.statement_index, &f.sid) {
                    (Some(i), Some(sid)) => format!("statement {i} (Sid {sid})"),
                    (Some(i), None) => format!("statement {i}"),
                    _ => "policy".into(),
                };
                out!(
                    "{:<8} {} {at}: {}",
                    f.severity.as_str().to_uppercase(),
                    f.rule_id,
                    f.explanation
                );
            }
            if report.parse_error.is_none() {
                let s = &report.summary;
                out!(
                    "summary: public={} external_accounts=[{}] wildcard_admin={} separation_of_duties_violation={} iam_policies_enabled={}",
                    s.public,
                    s.external_accounts.join(","),
                    s.wildcard_admin,
                    s.separation_of_duties_violation,
                    s.iam_policies_enabled
                );
                if report.findings.is_empty() {
                    out!("no findings");
                }
            }
        }
    }
    if let Some(e) = report.parse_error {
        return Err(usage(format!(
            "{}: the policy could not be parsed: {e}",
            args.file
        )));
    }
    let failing = args
        .fail_on
        .0
        .is_some_and(|min| report.findings.iter().any(|f| f.severity >= min));
    Ok(if failing { 1 } else { 0 })
}

fn rules(format: Format) -> anyhow::Result<u8> {
    let catalog = kmsaudit_evaluator::rule_catalog();
    if format == Format::Json {
        out!("{}", serde_json::to_string_pretty(&catalog)?);
        return Ok(exit::OK);
    }
    let width = catalog.iter().map(|r| r.id.len()).max().unwrap_or(0);
    out!("{:<width$}  {:<8}  TITLE / MAPPINGS", "ID", "SEVERITY");
    for r in &catalog {
        out!("{:<width$}  {:<8}  {}", r.id, r.severity.as_str(), r.title);
        let mappings: Vec<String> = r
            .compliance
            .iter()
            .map(|(fw, ids)| format!("{fw} {}", ids.join(", ")))
            .collect();
        if !mappings.is_empty() {
            out!("{:<width$}  {:<8}  {}", "", "", mappings.join("; "));
        }
    }
    Ok(exit::OK)
}

fn verify(dir: &Path) -> anyhow::Result<u8> {
    let problems = kmsaudit_reporter::verify_pack(dir).map_err(|e| usage(e.to_string()))?;
    if problems.is_empty() {
        out!("{}: every file matches SHA256SUMS", dir.display());
        return Ok(exit::OK);
    }
    for p in &problems {
        out!("{p}");
    }
    Ok(exit::TOOL_ERROR)
}

/// Progress bars on stderr (hidden when stderr is not a terminal or with --quiet).
struct ProgressReporter {
    bar: indicatif::ProgressBar,
}

impl ProgressReporter {
    fn callback(&self) -> kmsaudit_scanner::ProgressFn {
        let bar = self.bar.clone();
        Arc::new(move |event| match event {
            kmsaudit_scanner::Progress::AccountsListed { total } => bar.set_length(total as u64),
            kmsaudit_scanner::Progress::AccountStarted { account_id } => {
                bar.set_message(format!("scanning {account_id}"))
            }
            kmsaudit_scanner::Progress::RegionDone { .. } => bar.tick(),
            kmsaudit_scanner::Progress::AccountDone {
                account_id,
                keys,
                assessed,
            } => {
                bar.inc(1);
                if !assessed {
                    bar.println(format!("account {account_id}: not assessed (see report)"));
                } else {
                    bar.set_message(format!("{account_id}: {keys} keys"));
                }
            }
        })
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn progress_reporter(quiet: bool) -> ProgressReporter {
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} accounts {pos}/{len} [{elapsed}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    ProgressReporter { bar }
}
