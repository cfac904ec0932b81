//! The command line: every subcommand's flags, with their environment variables and
//! defaults, and the parsers of their values.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use kmsaudit_model::Severity;
use kmsaudit_scanner::ScanPlan;

#[derive(Parser)]
#[command(
    name = "kmsaudit",
    version,
    about = "Audit every AWS KMS key of an AWS Organization in one run"
)]
pub(crate) struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// No progress bars.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Log lines as text, or as one JSON object per line (for log pipelines).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        /// Print the compliance frameworks instead: each key (for --frameworks), name, and the
        /// controls rules map to, with their titles and sources.
        #[arg(long)]
        frameworks: bool,
    },
    /// Join shard snapshots (`scan --shard I/N`) and write the evidence pack once.
    Merge(MergeArgs),
    /// What changed between two audits: findings new, fixed, still failing, newly not
    /// assessed or muted, and keys added or removed.
    Diff(DiffArgs),
    /// Check an evidence pack: every file against SHA256SUMS and manifest.json, and the
    /// signature (SIGNATURE.json) against the key's public key.
    Verify(VerifyArgs),
    /// Print a shell completion script (e.g. `kmsaudit completions bash > /etc/bash_completion.d/kmsaudit`).
    Completions { shell: clap_complete::Shell },
    /// Print the man page, in roff (e.g. `kmsaudit man > kmsaudit.1; man ./kmsaudit.1`).
    Man,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RetryMode {
    Standard,
    Adaptive,
}

/// Where the keys' tags are read from.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum TagsFrom {
    /// The Resource Groups Tagging API (tag:GetResources): one call per 100 tagged keys of a
    /// region, eventually consistent; a region where it fails is read per key.
    TaggingApi,
    /// KMS ListResourceTags: one call per customer managed key, strongly consistent.
    ListResourceTags,
}

/// A severity threshold, or `none` (never fail on findings).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FailOn(pub(crate) Option<Severity>);

pub(crate) fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(FailOn(None));
    }
    s.parse::<Severity>().map(|s| FailOn(Some(s)))
}

/// How a snapshot is judged: the rule configuration and the failing threshold.
#[derive(clap::Args)]
pub(crate) struct EvaluationArgs {
    /// Rule configuration (TOML): trusted accounts, allowlists, thresholds, suppressions.
    #[arg(long, env = "KMSAUDIT_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Exit 3 when an unmuted FAIL at or above this severity exists (critical, high, medium,
    /// low, info, or none).
    #[arg(long, default_value = "info", value_parser = parse_fail_on, env = "KMSAUDIT_FAIL_ON")]
    pub(crate) fail_on: FailOn,
    /// How the pack holds the snapshot: `json`, or `gzip` (snapshot.json.gz, about a tenth of
    /// the size). Default: json for `scan`; for `report`, the form of the snapshot read.
    #[arg(long, value_enum, env = "KMSAUDIT_SNAPSHOT_FORMAT")]
    pub(crate) snapshot_format: Option<SnapshotFormat>,
    /// Outputs to write, comma-separated: html, csv, json, ocsf, asff (default: html,csv,json;
    /// ocsf writes findings.ocsf.json, every outcome as an OCSF Compliance Finding, PASS
    /// included; asff writes findings.asff.json, the failing findings for Security Hub).
    /// The snapshot, manifest.json and SHA256SUMS are always written.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        env = "KMSAUDIT_OUTPUT_FORMATS"
    )]
    pub(crate) output_formats: Vec<OutputFormatArg>,
    /// An earlier audit (pack directory or its findings.json) to compare with: the pack then
    /// holds diff.json and diff.csv, and report.html opens with what changed.
    #[arg(long, env = "KMSAUDIT_BASELINE")]
    pub(crate) baseline: Option<PathBuf>,
    /// With --baseline: exit 3 only when a finding new since the baseline is at or above this
    /// severity (instead of --fail-on's judgement of every failing finding).
    #[arg(long, value_parser = parse_fail_on, requires = "baseline", env = "KMSAUDIT_FAIL_ON_NEW")]
    pub(crate) fail_on_new: Option<FailOn>,
    /// Sign the pack with this asymmetric KMS key (KMS Sign; key usage SIGN_VERIFY, RSA or
    /// ECC NIST): SIGNATURE.json holds the signature over manifest.json's SHA-256.
    #[arg(long, value_parser = parse_key_arn, env = "KMSAUDIT_SIGN_WITH", value_name = "KMS_KEY_ARN")]
    pub(crate) sign_with: Option<String>,
    /// Write the pack even when --out is not empty and is not a kmsaudit pack (or is a symbolic
    /// link): the folder is then replaced whole, everything in it removed.
    #[arg(long)]
    pub(crate) force: bool,
    /// Compliance frameworks that compliance.csv, the report and the OCSF and ASFF findings map
    /// to, comma-separated keys: cis3, cis5, cis6, fsbp, nist53, csf2, pci, soc2, iso27001,
    /// hipaa (`kmsaudit rules --frameworks` lists them). Replaces the configuration's
    /// `frameworks`. Default: all.
    #[arg(long, value_delimiter = ',', env = "KMSAUDIT_FRAMEWORKS")]
    pub(crate) frameworks: Vec<String>,
}

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// The pack directory.
    pub(crate) dir: PathBuf,
    /// The signing key's public key (DER or PEM, as `aws kms get-public-key` gives it): the
    /// signature is checked offline, and must be there.
    #[arg(long, value_name = "FILE", conflicts_with = "key_arn")]
    pub(crate) public_key: Option<PathBuf>,
    /// The signing key's ARN: its public key is fetched with KMS GetPublicKey, and the pack
    /// must be signed by this key.
    #[arg(long, value_parser = parse_key_arn, value_name = "KMS_KEY_ARN")]
    pub(crate) key_arn: Option<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum OutputFormatArg {
    Html,
    Csv,
    Json,
    Ocsf,
    Asff,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum SnapshotFormat {
    Json,
    Gzip,
}

#[derive(clap::Args)]
pub(crate) struct ScanArgs {
    /// Output directory of the evidence pack.
    #[arg(long, default_value = "kmsaudit-out", env = "KMSAUDIT_OUT")]
    pub(crate) out: PathBuf,
    /// Audit role assumed in each member account.
    #[arg(long, default_value_t = ScanPlan::default().role_name, env = "KMSAUDIT_ROLE_NAME")]
    pub(crate) role_name: String,
    /// ExternalId the audit role's trust policy requires.
    #[arg(long, env = "KMSAUDIT_EXTERNAL_ID", hide_env_values = true)]
    pub(crate) external_id: Option<String>,
    /// Role session name, visible in the member accounts' CloudTrail.
    #[arg(long, default_value_t = ScanPlan::default().session_name, env = "KMSAUDIT_ROLE_SESSION_NAME")]
    pub(crate) role_session_name: String,
    /// Role session duration in seconds (900 to the role's maximum).
    #[arg(long, env = "KMSAUDIT_SESSION_DURATION")]
    pub(crate) session_duration: Option<u64>,
    /// Regions to scan (comma-separated); default: every region enabled for each account.
    #[arg(long, value_delimiter = ',', env = "KMSAUDIT_REGIONS")]
    pub(crate) regions: Option<Vec<String>>,
    /// Only these account ids (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_account_id, env = "KMSAUDIT_ACCOUNTS")]
    pub(crate) accounts: Vec<String>,
    /// Skip these account ids (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_account_id, env = "KMSAUDIT_EXCLUDE_ACCOUNTS")]
    pub(crate) exclude_accounts: Vec<String>,
    /// AWS calls in flight at once, scan-wide.
    #[arg(long, default_value_t = ScanPlan::default().concurrency, value_parser = parse_concurrency, env = "KMSAUDIT_CONCURRENCY")]
    pub(crate) concurrency: usize,
    /// Attempts per AWS call, retries included.
    #[arg(long, default_value_t = ScanPlan::default().max_attempts, env = "KMSAUDIT_MAX_ATTEMPTS")]
    pub(crate) max_attempts: u32,
    #[arg(long, value_enum, default_value_t = RetryMode::Standard, env = "KMSAUDIT_RETRY_MODE")]
    pub(crate) retry_mode: RetryMode,
    /// Share of each published KMS request quota (per account, region and operation) the scan
    /// paces itself to, in (0, 1]: calls wait their turn instead of being throttled, and the
    /// rest of the quota is left to the account's own workloads.
    #[arg(long, default_value_t = ScanPlan::default().quota_share, value_parser = parse_share, env = "KMSAUDIT_QUOTA_SHARE")]
    pub(crate) quota_share: f64,
    /// Where the keys' tags are read from.
    #[arg(long, value_enum, default_value_t = TagsFrom::TaggingApi, env = "KMSAUDIT_TAGS_FROM")]
    pub(crate) tags_from: TagsFrom,
    /// Do not query IAM Access Analyzer (the AA-* rules are then not evaluated).
    #[arg(long, env = "KMSAUDIT_NO_ACCESS_ANALYZER")]
    pub(crate) no_access_analyzer: bool,
    /// Do not read IAM, SCPs and RCPs (effective access, access.csv, is then not computed).
    #[arg(long, env = "KMSAUDIT_NO_EFFECTIVE_ACCESS")]
    pub(crate) no_effective_access: bool,
    /// Do not read each key's last use (GetKeyLastUsage); KMS-KEY-UNUSED,
    /// KMS-KEY-DESTROY-IN-USE and KMS-KEY-DELETION-UNGUARDED then do not run.
    #[arg(long, env = "KMSAUDIT_NO_LAST_USE")]
    pub(crate) no_last_use: bool,
    /// Do not read monitoring (CloudTrail trails, CloudWatch Logs metric filters, alarms, SNS
    /// subscriptions, EventBridge rules); KMS-MONITORING-TRAIL and KMS-MONITORING-ALERT then do
    /// not run.
    #[arg(long, env = "KMSAUDIT_NO_MONITORING")]
    pub(crate) no_monitoring: bool,
    /// Once everything else is read, wait at most this many seconds for last-use answers still
    /// being asked (GetKeyLastUsage allows 5 requests/s per account and region). Keys not
    /// reached keep the baseline's answer, marked as carried, or are NOT_ASSESSED. Default: 30,
    /// or 0 with --baseline (its answers stand for the keys not reached).
    #[arg(long, env = "KMSAUDIT_LAST_USE_WAIT", value_name = "SECONDS")]
    pub(crate) last_use_wait: Option<u64>,
    /// Scan only shard I of N of the organization's accounts (1 <= I <= N; an account's shard
    /// is its id modulo N, plus 1), for `kmsaudit merge` to join.
    #[arg(long, env = "KMSAUDIT_SHARD", value_name = "I/N")]
    pub(crate) shard: Option<kmsaudit_model::Shard>,
    /// AWS profile of the caller.
    #[arg(long, env = "AWS_PROFILE")]
    pub(crate) profile: Option<String>,
    /// Home region for STS and Organizations.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Endpoint for every AWS service (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> work too).
    #[arg(long)]
    pub(crate) endpoint_url: Option<String>,
    /// Import the failing findings into AWS Security Hub (BatchImportFindings, 100 at a time),
    /// each into its own account's custom integration through the audit role, and resolve the
    /// findings imported earlier that are fixed. The pack then holds findings.asff.json.
    #[arg(long, env = "KMSAUDIT_SECURITY_HUB")]
    pub(crate) security_hub: bool,
    /// Security Hub's region (default: --region, else AWS_REGION, else us-east-1).
    #[arg(long, env = "KMSAUDIT_SECURITY_HUB_REGION")]
    pub(crate) security_hub_region: Option<String>,
    /// PEM file of extra CA certificates to trust (a TLS-inspecting proxy's), on top of the
    /// system's roots.
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub(crate) ca_bundle: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) evaluation: EvaluationArgs,
}

#[derive(clap::Args)]
pub(crate) struct DiffArgs {
    /// The earlier audit: a pack directory, its findings.json, or a snapshot (evaluated with
    /// --config).
    pub(crate) old: PathBuf,
    /// The later audit, in any of the same forms.
    pub(crate) new: PathBuf,
    /// Write diff.json and diff.csv into this directory.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Rule configuration for snapshots given as OLD or NEW.
    #[arg(long, env = "KMSAUDIT_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Exit 3 when a new failing finding at or above this severity exists (critical, high,
    /// medium, low, info, or none): a pipeline gate on regressions only.
    #[arg(long, default_value = "none", value_parser = parse_fail_on, env = "KMSAUDIT_FAIL_ON_NEW")]
    pub(crate) fail_on_new: FailOn,
}

#[derive(clap::Args)]
pub(crate) struct MergeArgs {
    /// Shard packs (directories holding snapshot.json or snapshot.json.gz) or their snapshots.
    #[arg(required = true)]
    pub(crate) shards: Vec<PathBuf>,
    /// Output directory of the merged evidence pack.
    #[arg(long)]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) evaluation: EvaluationArgs,
}

#[derive(clap::Args)]
pub(crate) struct ReportArgs {
    /// A snapshot.json (or snapshot.json.gz) written by `kmsaudit scan`.
    pub(crate) snapshot: PathBuf,
    #[arg(long)]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) evaluation: EvaluationArgs,
}

#[derive(clap::Args)]
pub(crate) struct LintArgs {
    /// Key policies (JSON), CloudFormation templates (JSON or YAML) or Terraform plans
    /// (`terraform show -json`): files, glob patterns (`'templates/**/*.yaml'`), or `-` for
    /// standard input.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<String>,
    /// Account that owns the key (default: the account of --key-arn, else read from the
    /// policy: the account whose root it grants, else the account it names most).
    #[arg(long, value_parser = parse_account_id)]
    pub(crate) key_account: Option<String>,
    /// The key's ARN: statements scoped to ARN patterns then apply exactly as in a scan.
    #[arg(long, value_parser = parse_key_arn)]
    pub(crate) key_arn: Option<String>,
    /// Account of the organization (repeatable).
    #[arg(long = "org-account", value_parser = parse_account_id)]
    pub(crate) org_accounts: Vec<String>,
    /// Organization id (o-...).
    #[arg(long)]
    pub(crate) org_id: Option<String>,
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// text (file:line:column lines), json, or sarif (SARIF 2.1.0, for code-scanning
    /// annotations).
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub(crate) format: LintFormat,
    /// Exit 3 when a finding at or above this severity exists (critical, high, medium, low,
    /// info, or none), as `scan` does.
    #[arg(long, default_value = "info", value_parser = parse_fail_on)]
    pub(crate) fail_on: FailOn,
    /// Propose a corrected policy for the findings: the smallest edits, each kept only when
    /// the engine, run again, finds the finding gone, nothing new and nobody who could change
    /// the policy locked out; printed as a diff (text) or under `fix` (json). Nothing is
    /// written to the files.
    #[arg(long)]
    pub(crate) fix: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum LintFormat {
    Text,
    Json,
    Sarif,
}

pub(crate) fn parse_account_id(s: &str) -> Result<String, String> {
    if kmsaudit_model::is_account_id(s) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a 12-digit account id"))
    }
}

pub(crate) fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!("`{s}`: expected a number in (0, 1], e.g. 0.5")),
    }
}

pub(crate) fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn parse_key_arn(s: &str) -> Result<String, String> {
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
