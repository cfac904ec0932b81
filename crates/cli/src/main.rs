//! `kmsaudit`: audit every AWS KMS key of an AWS Organization in one run.
//!
//! The binary is glue: flags and config in, exit code out. Scanning, evaluation and reports
//! live in their crates. `pack.rs` runs `scan` and `report` (snapshot → evaluation → evidence
//! pack, summary, exit code), `policy.rs` runs `lint-policy` and `rules`, `progress.rs` draws
//! the scan's progress.

use std::path::Path;
use std::process::ExitCode;

use kmsaudit_evaluator::EvalConfig;

/// mimalloc: the evaluator allocates many small strings on every core; glibc's allocator spent
/// nearly half of the evaluation time in malloc/free under two threads (measured with perf).
/// The `mimalloc` feature (default) can be turned off for heap profilers that hook malloc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prints a line to stdout; a closed pipe (`kmsaudit rules | head`) ends the program quietly.
macro_rules! out {
    ($($arg:tt)*) => {{
        let text = format!($($arg)*);
        $crate::print_line(&$crate::for_display(&text));
    }};
}

/// Prints to stderr, escaped as [`out!`] is.
macro_rules! err_out {
    ($($arg:tt)*) => {{
        let text = format!($($arg)*);
        eprintln!("{}", $crate::for_display(&text));
    }};
}

/// Prints machine-readable output (JSON, SARIF) as is: its own escaping applies.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        $crate::print_line(&format!($($arg)*));
    }};
}

/// One line (or several) to stdout; a closed pipe ends the process quietly.
pub(crate) fn print_line(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Text for a terminal or a log: every line of it escaped by `kmsaudit_model::for_terminal`
/// (escape sequences, bidi overrides and other controls shown as text), the line breaks kept.
pub(crate) fn for_display(text: &str) -> String {
    text.split('\n')
        .map(|line| kmsaudit_model::for_terminal(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// stderr for the text log format: each record escaped by [`for_display`], so that a string
/// from AWS or a policy cannot move the cursor, erase lines or fake a record.
struct DisplaySafeStderr;

impl std::io::Write for DisplaySafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        // A record is written whole, ending in one line break: any other break is the data's.
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (text.as_ref(), ""),
        };
        let safe = kmsaudit_model::for_terminal(body);
        std::io::stderr().write_all(format!("{safe}{end}").as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

mod args;
mod compare;
mod evidence;
mod lint_fix;
mod lint_input;
mod merge;
mod pack;
mod policy;
mod progress;
mod sarif;
mod security_hub;
mod settings;
mod snapshot_io;
mod source_tree;
mod summary;

pub(crate) use args::*;

/// Exit codes (README "Exit codes").
mod exit {
    pub const OK: u8 = 0;
    pub const TOOL_ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const FAILING: u8 = 3;
    pub const INCOMPLETE: u8 = 4;
}

/// `1 file`, `2 files`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
    let (cli, settings) = match settings::parse(std::env::args_os().collect()) {
        Ok(parsed) => parsed,
        Err(err) => {
            err_out!("kmsaudit: error: {err:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    init_logging(cli.verbose, cli.log_format);
    match run(cli, settings) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            err_out!("kmsaudit: error: {err:#}");
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false);
    match format {
        // No colours: the writer escapes every control character, ESC included, so that a
        // hostile string cannot pass as kmsaudit's own formatting.
        LogFormat::Text => builder.with_writer(|| DisplaySafeStderr).init(),
        // JSON escapes control characters itself.
        LogFormat::Json => builder.json().with_writer(std::io::stderr).init(),
    }
}

fn run(
    cli: Cli,
    settings: std::collections::BTreeMap<String, kmsaudit_model::Setting>,
) -> anyhow::Result<u8> {
    match cli.command {
        Command::Scan(args) => pack::scan(*args, cli.quiet, settings),
        Command::Report(args) => pack::report(args),
        Command::LintPolicy(args) => policy::lint(args),
        Command::Rules { format, frameworks } => policy::rules(format, frameworks),
        Command::Merge(args) => pack::merge(args),
        Command::Diff(args) => compare::diff(args),
        Command::Verify(args) => evidence::verify(args),
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

/// The rule configuration at `path` (defaults without one); every problem of it at once. A
/// `.json` file is a pack's config.json; anything else is TOML.
fn load_config(path: Option<&Path>) -> anyhow::Result<EvalConfig> {
    let Some(path) = path else {
        return Ok(EvalConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read config {}: {e}", path.display())))?;
    let invalid =
        |e: &dyn std::fmt::Display| usage(format!("invalid config {}: {e}", path.display()));
    let config: EvalConfig = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| invalid(&e))?
    } else {
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| invalid(&e))?;
        // Scan settings (`settings.rs` reads them), not the rules'.
        table.remove("scan");
        table.try_into().map_err(|e| invalid(&e))?
    };
    config.validate().map_err(|e| invalid(&e))?;
    Ok(config)
}

/// The rule configuration `--config` names, with `--frameworks` applied.
fn evaluation_config(args: &EvaluationArgs) -> anyhow::Result<EvalConfig> {
    with_frameworks(load_config(args.config.as_deref())?, &args.frameworks)
}

/// The configuration with `--frameworks` (when given) in place of its own `frameworks`.
fn with_frameworks(mut config: EvalConfig, frameworks: &[String]) -> anyhow::Result<EvalConfig> {
    if !frameworks.is_empty() {
        config.frameworks = frameworks.to_vec();
        config
            .validate()
            .map_err(|e| usage(format!("--frameworks: {e}")))?;
    }
    Ok(config)
}
