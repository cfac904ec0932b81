//! Settings from the config file's `[scan]` table, below flags and environment variables, and
//! the record of every effective setting that goes into the snapshot and the manifest.
//!
//! A key of `[scan]` is a flag's name in snake case (`role_name = "Audit"`, `regions =
//! ["eu-west-1"]`, `no_access_analyzer = true`). Its value is handed to the same parser as the
//! flag's, so a config value is checked exactly as the flag would be. A setting given as a flag
//! or in the environment is not taken from the file: flags > environment > config > default.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use kmsaudit_model::{Setting, SettingSource};

use crate::{usage, Cli};

/// The subcommands that read scan settings from the config file.
const WITH_SCAN_SETTINGS: [&str; 3] = ["scan", "report", "merge"];

/// The command line, with the config file's `[scan]` settings filled in where neither a flag
/// nor an environment variable gave them; and, for `scan`, every effective setting.
pub(crate) fn parse(argv: Vec<OsString>) -> anyhow::Result<(Cli, BTreeMap<String, Setting>)> {
    let command = Cli::command();
    let first = command.clone().get_matches_from(&argv);
    let Some((name, sub)) = first.subcommand() else {
        unreachable!("clap requires a subcommand")
    };
    let from_file = match sub.try_get_one::<PathBuf>("config").ok().flatten() {
        Some(path) if WITH_SCAN_SETTINGS.contains(&name) => scan_table(path)?,
        _ => None,
    };
    let (matches, injected) = match from_file {
        None => (first, Vec::new()),
        Some((path, table)) => {
            let scan_command = command
                .find_subcommand("scan")
                .expect("scan is a subcommand");
            let this_command = command.find_subcommand(name).expect("parsed subcommand");
            let mut extra = Vec::new();
            let mut injected = Vec::new();
            for (key, value) in &table {
                let known = scan_command
                    .get_arguments()
                    .any(|a| a.get_id() == key.as_str() && a.get_long().is_some());
                if !known || key == "config" {
                    return Err(usage(format!(
                        "config {}: [scan] has no setting `{key}` (the settings are the flags of \
                         `kmsaudit scan` in snake case, e.g. role_name)",
                        path.display()
                    )));
                }
                let Some(arg) = this_command
                    .get_arguments()
                    .find(|a| a.get_id() == key.as_str())
                else {
                    continue; // a scan setting this subcommand does not take
                };
                if matches!(
                    sub.value_source(key),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                ) {
                    continue;
                }
                let long = arg.get_long().expect("checked above");
                let problem =
                    |what: &str| usage(format!("config {}: [scan] {key}: {what}", path.display()));
                let takes_value = arg.get_action().takes_values();
                match value {
                    toml::Value::Boolean(on) if !takes_value => {
                        if *on {
                            extra.push(OsString::from(format!("--{long}")));
                            injected.push(key.clone());
                        }
                        continue;
                    }
                    toml::Value::Boolean(_) => {
                        return Err(problem("expected a value, not true/false"))
                    }
                    _ if !takes_value => return Err(problem("expected true or false")),
                    _ => {}
                }
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Array(items) if arg.get_value_delimiter().is_some() => items
                        .iter()
                        .map(|i| match i {
                            toml::Value::String(s) => Ok(s.clone()),
                            other => Err(problem(&format!("`{other}` is not a string"))),
                        })
                        .collect::<Result<Vec<_>, _>>()?
                        .join(","),
                    _ => return Err(problem(&format!("`{value}` is not a single value"))),
                };
                extra.push(OsString::from(format!("--{long}={text}")));
                injected.push(key.clone());
            }
            // The file's settings go right after the subcommand's name, before the user's own.
            let at = argv
                .iter()
                .skip(1)
                .position(|a| a == name)
                .map_or(argv.len(), |i| i + 2);
            let mut with_file = argv[..at].to_vec();
            with_file.extend(extra);
            with_file.extend_from_slice(&argv[at..]);
            let matches = command
                .clone()
                .try_get_matches_from(with_file)
                .map_err(|e| {
                    let text = e.render().to_string();
                    let first = text.split("\n\n").next().unwrap_or_default();
                    usage(format!(
                        "config {}: [scan]: {}",
                        path.display(),
                        first.trim_start_matches("error: ").trim_end()
                    ))
                })?;
            (matches, injected)
        }
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| usage(e.to_string()))?;
    let settings = match matches.subcommand() {
        Some(("scan", sub)) => effective(&command, sub, &injected),
        _ => BTreeMap::new(),
    };
    Ok((cli, settings))
}

/// The `[scan]` table of the config file at `path`, if it has one.
fn scan_table(path: &Path) -> anyhow::Result<Option<(PathBuf, toml::Table)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read config {}: {e}", path.display())))?;
    let mut table: toml::Table = toml::from_str(&text)
        .map_err(|e| usage(format!("invalid config {}: {e}", path.display())))?;
    match table.remove("scan") {
        None => Ok(None),
        Some(toml::Value::Table(scan)) => Ok(Some((path.to_path_buf(), scan))),
        Some(_) => Err(usage(format!(
            "config {}: `scan` must be a table ([scan])",
            path.display()
        ))),
    }
}

/// Every setting of `scan` that has a value, and where it came from.
fn effective(
    command: &clap::Command,
    matches: &ArgMatches,
    injected: &[String],
) -> BTreeMap<String, Setting> {
    let scan = command
        .find_subcommand("scan")
        .expect("scan is a subcommand");
    let mut settings = BTreeMap::new();
    for arg in scan.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.get_long().is_none() || matches!(id, "help" | "version" | "quiet" | "verbose") {
            continue;
        }
        let Some(source) = matches.value_source(id) else {
            continue;
        };
        let source = match source {
            ValueSource::CommandLine if injected.iter().any(|k| k == id) => SettingSource::Config,
            ValueSource::CommandLine => SettingSource::Flag,
            ValueSource::EnvVariable => SettingSource::Env,
            _ => SettingSource::Default,
        };
        let value = if arg.is_hide_env_values_set() {
            "(given)".to_string()
        } else {
            matches
                .get_raw(id)
                .map(|values| {
                    values
                        .map(|v| v.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_else(|| "true".to_string())
        };
        settings.insert(id.to_string(), Setting { value, source });
    }
    settings
}
