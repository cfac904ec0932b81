//! `scan`, `report`, `merge` and `verify`: snapshots in, the evidence pack and the exit code out.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use kmsaudit_evaluator::EvalConfig;
use kmsaudit_model::Snapshot;
use kmsaudit_scanner::ScanPlan;

use crate::progress::ProgressReporter;
use crate::snapshot_io::{load_snapshot, memory_checkpoint, round_trip};
use crate::{
    evaluation_config, exit, load_config, usage, with_frameworks, FailOn, MergeArgs,
    OutputFormatArg, ReportArgs, RetryMode, ScanArgs, SnapshotFormat,
};

pub(crate) fn scan(
    args: ScanArgs,
    quiet: bool,
    settings: std::collections::BTreeMap<String, kmsaudit_model::Setting>,
) -> anyhow::Result<u8> {
    let config = evaluation_config(&args.evaluation)?;
    let mut args = args;
    let mut settings = settings;
    let hub_region = args
        .security_hub_region
        .clone()
        .or_else(|| args.region.clone())
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| "us-east-1".into());
    if args.security_hub {
        // The pack holds what was imported.
        let formats = &mut args.evaluation.output_formats;
        if formats.is_empty() {
            formats.extend([
                OutputFormatArg::Html,
                OutputFormatArg::Csv,
                OutputFormatArg::Json,
            ]);
        }
        if !formats.contains(&OutputFormatArg::Asff) {
            formats.push(OutputFormatArg::Asff);
        }
    }
    // The region findings.asff.json names, so that `report` renders the same file.
    settings
        .entry("security_hub_region".into())
        .or_insert(kmsaudit_model::Setting {
            value: hub_region.clone(),
            source: kmsaudit_model::SettingSource::Default,
        });
    // Before the scan: an unreadable baseline or a folder that is not ours is a usage error,
    // not a wasted scan.
    kmsaudit_reporter::check_out_dir(&args.out, args.evaluation.force)
        .map_err(|e| usage(e.to_string()))?;
    // The baseline is read beside the scan (a large organization's takes tens of seconds): its
    // last-use answers reach the scan when read, the document the pack afterwards. A baseline
    // that cannot be found fails now; one that does not read stops the scan when that is known.
    let mut options = pack_options(&args.evaluation, false, &config, false)?;
    options.asff.region = hub_region.clone();
    let baseline = args
        .evaluation
        .baseline
        .as_deref()
        .map(|path| crate::compare::read_beside(path, &config))
        .transpose()?;
    let hub = args.security_hub.then(|| kmsaudit_scanner::HubAccess {
        region: hub_region.clone(),
        role_name: args.role_name.clone(),
        session_name: args.role_session_name.clone(),
        external_id: args.external_id.clone(),
        session_duration: args.session_duration.map(Duration::from_secs),
        partition: String::new(),
    });
    let ca_bundle = args
        .ca_bundle
        .as_deref()
        .map(crate::evidence::read_ca_bundle)
        .transpose()?;
    let plan = ScanPlan {
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
        effective_access: !args.no_effective_access,
        shard: args.shard,
        quota_share: args.quota_share,
        ca_bundle,
        last_use: !args.no_last_use,
        last_use_wait: Duration::from_secs(args.last_use_wait.unwrap_or(match baseline {
            Some(_) => 0,
            None => 30,
        })),
        baseline_last_use: baseline
            .as_ref()
            .map(|b| b.last_uses.clone())
            .unwrap_or_default(),
        tags_from: match args.tags_from {
            crate::TagsFrom::TaggingApi => kmsaudit_model::TagSource::TaggingApi,
            crate::TagsFrom::ListResourceTags => kmsaudit_model::TagSource::ListResourceTags,
        },
        monitoring: !args.no_monitoring,
    };
    let aws = crate::evidence::AwsAccess {
        profile: args.profile.clone(),
        region: args.region.clone(),
        endpoint_url: args.endpoint_url.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let progress = ProgressReporter::new(quiet);
    let snapshot = runtime.block_on(async {
        let base = kmsaudit_scanner::load_base_config(
            args.profile.as_deref(),
            args.region.as_deref(),
            args.endpoint_url.as_deref(),
        )
        .await;
        let scan = kmsaudit_scanner::scan(plan, base, progress.callback());
        match baseline.as_ref() {
            Some(b) => tokio::select! {
                snapshot = scan => Ok(snapshot),
                failure = b.failure() => Err(failure),
            },
            None => Ok(scan.await),
        }
    });
    let snapshot = match snapshot {
        Ok(snapshot) => snapshot,
        Err(baseline_failure) => {
            progress.finish(false);
            return Err(baseline_failure);
        }
    };
    progress.finish(snapshot.is_ok());
    if let Some(b) = baseline {
        options.baseline = Some(b.document()?);
    }
    // The runtime's worker threads end here: what they allocated during the scan goes back to
    // the allocator for the evaluation to reuse, instead of staying in their thread-local heaps.
    drop(runtime);
    let mut snapshot = snapshot.map_err(|e| {
        let hint = match e {
            kmsaudit_scanner::ScanError::ListAccounts(_) => " (name them with --accounts)".into(),
            kmsaudit_scanner::ScanError::CallerIdentity(_) => {
                format!(
                    " (STS endpoint: {})",
                    crate::evidence::sts_endpoint(aws.endpoint_url.as_deref())
                )
            }
        };
        anyhow::anyhow!("scan failed: {e}{hint}")
    })?;
    snapshot.metadata.settings = settings;
    // Round-trip through JSON so that the pack is exactly what `kmsaudit report` renders from
    // the saved snapshot.json. Through a file in the pack's directory, not a buffer: a large
    // organization's text would otherwise sit in memory beside its records.
    let pack = begin_pack(&args.out, args.evaluation.force)?;
    let snapshot = round_trip(snapshot, pack.staging())?;
    write_pack(
        &snapshot,
        &config,
        pack,
        &args.evaluation,
        options,
        Delivery {
            from_scan: true,
            config_source: None,
            hub: hub.map(|mut h| {
                h.partition = snapshot.metadata.scope.partition.clone();
                h
            }),
            aws,
        },
    )
}

pub(crate) fn report(args: ReportArgs) -> anyhow::Result<u8> {
    // A pack carries the configuration it was evaluated with: without --config, the
    // config.json beside the snapshot is used only when it is the pack's own (its manifest lists
    // it with this content), so that the pack re-renders from its own files and a config
    // dropped beside a received snapshot cannot mute its findings.
    let (config_path, config_source) = match &args.evaluation.config {
        Some(path) => (Some(path.clone()), format!("{} (--config)", path.display())),
        None => match crate::snapshot_io::pack_config_beside(&args.snapshot) {
            Ok(Some(path)) => {
                let shown = format!("{} (the pack's own)", path.display());
                (Some(path), shown)
            }
            Ok(None) => (None, "defaults".to_string()),
            Err(why) => {
                err_out!(
                    "kmsaudit: warning: {}; the defaults are used (give --config to use it)",
                    kmsaudit_model::for_terminal(&why)
                );
                (None, "defaults".to_string())
            }
        },
    };
    tracing::info!(config = %config_source, "rule configuration");
    let config = with_frameworks(
        load_config(config_path.as_deref())?,
        &args.evaluation.frameworks,
    )?;
    let mut args = args;
    if args.evaluation.output_formats.is_empty() {
        args.evaluation.output_formats = crate::snapshot_io::formats_beside(&args.snapshot);
    }
    let (snapshot, compressed) = load_snapshot(&args.snapshot)?;
    let mut options = pack_options(&args.evaluation, compressed, &config, true)?;
    options.asff.region = recorded_hub_region(&snapshot);
    let pack = begin_pack(&args.out, args.evaluation.force)?;
    write_pack(
        &snapshot,
        &config,
        pack,
        &args.evaluation,
        options,
        Delivery {
            config_source: Some(config_source),
            ..Delivery::default()
        },
    )
}

pub(crate) fn merge(args: MergeArgs) -> anyhow::Result<u8> {
    let config = evaluation_config(&args.evaluation)?;
    let mut shards = Vec::new();
    for path in &args.shards {
        let file = if path.is_dir() {
            ["snapshot.json", "snapshot.json.gz"]
                .into_iter()
                .map(|name| path.join(name))
                .find(|p| p.exists())
                .ok_or_else(|| {
                    usage(format!(
                        "{}: no snapshot.json or snapshot.json.gz in this directory",
                        path.display()
                    ))
                })?
        } else {
            path.clone()
        };
        shards.push(load_snapshot(&file)?.0);
    }
    let merged = crate::merge::merge(shards).map_err(|e| {
        usage(format!(
            "cannot merge {}: {e}",
            args.shards
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let mut options = pack_options(&args.evaluation, false, &config, true)?;
    options.asff.region = recorded_hub_region(&merged);
    let pack = begin_pack(&args.out, args.evaluation.force)?;
    write_pack(
        &merged,
        &config,
        pack,
        &args.evaluation,
        options,
        Delivery::default(),
    )
}

/// The pack's form: the snapshot as asked, else as the snapshot read (`report`) or plain JSON
/// (`scan`, `merge`); the baseline's findings when one is given.
fn pack_options(
    args: &crate::EvaluationArgs,
    read_compressed: bool,
    config: &EvalConfig,
    read_baseline: bool,
) -> anyhow::Result<kmsaudit_reporter::PackOptions> {
    let baseline = match &args.baseline {
        Some(path) if read_baseline => Some(std::sync::Arc::new(crate::compare::load_findings(
            path, config,
        )?)),
        _ => None,
    };
    use crate::OutputFormatArg as A;
    use kmsaudit_reporter::OutputFormat as F;
    // Without --output-formats: everything but OCSF, whose every-outcome file grows with keys
    // × rules.
    let chosen: &[A] = if args.output_formats.is_empty() {
        &[A::Html, A::Csv, A::Json]
    } else {
        &args.output_formats
    };
    let skip = [
        (A::Html, F::Html),
        (A::Csv, F::Csv),
        (A::Json, F::Json),
        (A::Ocsf, F::Ocsf),
        (A::Asff, F::Asff),
    ]
    .into_iter()
    .filter(|(arg, _)| !chosen.contains(arg))
    .map(|(_, format)| format)
    .collect();
    let mut config_json = serde_json::to_vec_pretty(config).context("serializing the config")?;
    config_json.push(b'\n');
    Ok(kmsaudit_reporter::PackOptions {
        config_json,
        compress_snapshot: args
            .snapshot_format
            .map_or(read_compressed, |f| f == SnapshotFormat::Gzip),
        baseline,
        skip,
        asff: Default::default(),
    })
}

/// Where the pack came from, and the AWS calls after it is written (signing, Security Hub).
#[derive(Default)]
struct Delivery {
    from_scan: bool,
    /// For `report`: which rule configuration was used, said in the summary.
    config_source: Option<String>,
    aws: crate::evidence::AwsAccess,
    hub: Option<kmsaudit_scanner::HubAccess>,
}

/// The pack's staging folder beside `out` (see the reporter's `PackDir`); the temporary folders
/// of killed runs are removed and said so.
fn begin_pack(out: &Path, force: bool) -> anyhow::Result<kmsaudit_reporter::PackDir> {
    let pack = kmsaudit_reporter::PackDir::begin(out, force).map_err(|e| match e {
        kmsaudit_reporter::PackDirError::Io { .. } => anyhow::anyhow!(e),
        other => usage(other.to_string()),
    })?;
    for name in pack.leftovers_removed() {
        tracing::info!(
            folder = %kmsaudit_model::for_terminal(name),
            "removed the temporary folder of an earlier run that did not finish"
        );
    }
    Ok(pack)
}

fn write_pack(
    snapshot: &Snapshot,
    config: &EvalConfig,
    pack: kmsaudit_reporter::PackDir,
    args: &crate::EvaluationArgs,
    options: kmsaudit_reporter::PackOptions,
    delivery: Delivery,
) -> anyhow::Result<u8> {
    let Delivery {
        from_scan,
        config_source,
        aws,
        hub,
    } = delivery;
    let fail_on = args.fail_on;
    let started = std::time::Instant::now();
    memory_checkpoint("snapshot loaded");
    let evaluation = kmsaudit_evaluator::evaluate(snapshot, config);
    memory_checkpoint("evaluated");
    tracing::info!(
        keys = evaluation.scope.counts.keys_discovered,
        needing_attention = evaluation.findings.len(),
        secs = started.elapsed().as_secs_f64(),
        "evaluated"
    );
    if let Some((classes, class_entries, keys, own_entries)) =
        evaluation.access.as_ref().map(|a| a.stored())
    {
        tracing::debug!(
            classes,
            class_entries,
            keys,
            own_entries,
            "effective access stored"
        );
    }
    let out = pack.out().to_path_buf();
    let out = out.as_path();
    let written = kmsaudit_reporter::write_reports(snapshot, &evaluation, pack.staging(), options)
        .with_context(|| format!("writing the evidence pack for {}", out.display()))?;
    // With a baseline and --fail-on-new, only regressions fail the run.
    let regressed = match (&written.diff, args.fail_on_new) {
        (Some(diff), Some(FailOn(gate))) => Some(gate.is_some_and(|min| {
            diff.entries
                .iter()
                .any(|e| e.change == kmsaudit_reporter::Change::New && e.severity >= min)
        })),
        _ => None,
    };
    memory_checkpoint("pack written");
    // Signed before it is moved into place: the pack appears whole, signature included. A
    // signing failure still publishes the pack (unsigned) and fails the run.
    let signed = match &args.sign_with {
        Some(key_arn) => crate::evidence::sign_pack(pack.staging(), key_arn, &aws),
        None => Ok(()),
    };
    pack.publish()
        .with_context(|| format!("moving the evidence pack into {}", out.display()))?;
    signed.with_context(|| format!("the pack in {} is written but not signed", out.display()))?;
    let files = written.files;
    tracing::info!(dir = %out.display(), files = files.len(), "evidence pack written");
    for w in &evaluation.warnings {
        err_out!("kmsaudit: warning: {w}");
    }
    if let Some(source) = &config_source {
        out!("config: {source}");
    }
    crate::summary::print_summary(snapshot, &evaluation, out, from_scan);
    if let Some(hub) = &hub {
        let reports = crate::security_hub::import(snapshot, &evaluation, hub, &aws)?;
        if !crate::security_hub::report(&reports, &hub.region) {
            err_out!(
                "kmsaudit: error: not every finding reached Security Hub (each one is named \
                 above); the evidence pack is complete"
            );
            return Ok(exit::TOOL_ERROR);
        }
    }
    Ok(match regressed {
        Some(true) => exit::FAILING,
        Some(false) if evaluation.is_incomplete() => exit::INCOMPLETE,
        Some(false) => exit::OK,
        None => crate::summary::exit_code(&evaluation, fail_on),
    })
}

/// The Security Hub region a scan recorded (findings.asff.json names it), else AWS_REGION,
/// else us-east-1.
fn recorded_hub_region(snapshot: &Snapshot) -> String {
    snapshot
        .metadata
        .settings
        .get("security_hub_region")
        .map(|s| s.value.clone())
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| "us-east-1".into())
}
