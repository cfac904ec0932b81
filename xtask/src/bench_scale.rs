//! `cargo xtask bench scale`: generates an organization, serves it from the scale stand-in
//! (latency, quotas, real paging), scans it with the release binary as a process under GNU time,
//! checks every verdict against the generator's ground truth (its own snapshot, evaluated), then
//! does the same as 4 shards run one after another and merged, then reports the single scan's
//! snapshot again with `kmsaudit report`. Ends with the lines the issue asks for.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kmsaudit_model::{FindingsDocument, Snapshot};

use crate::bench::under_gnu_time_with;
use crate::scale::{self, Behaviour, ScaleSpec, ScaleStandIn};

#[derive(Debug, Clone)]
pub struct ScaleArgs {
    pub spec: ScaleSpec,
    pub behaviour: Behaviour,
    pub shards: usize,
    /// Extra `kmsaudit scan` arguments.
    pub scan_args: Vec<String>,
}

/// What one run (or the sum of a sharded run) measured.
struct Run {
    wall_secs: f64,
    peak_rss_mib: f64,
    stats: scale::Stats,
    verdicts: scale::Verdicts,
}

pub async fn run(root: &Path, args: ScaleArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let spec = args.spec;
    let root_owned = root.to_path_buf();
    let org =
        tokio::task::spawn_blocking(move || scale::generate::generate(spec, &root_owned)).await??;
    let keys: usize = org.truth.keys().count();
    let customer = org
        .truth
        .keys()
        .filter(|(_, _, k)| k.metadata.as_ref().is_some_and(|m| m.is_customer_managed()))
        .count();
    let busiest = org
        .truth
        .accounts
        .iter()
        .flat_map(|a| a.regions.iter().map(|r| r.keys.len()))
        .max()
        .unwrap_or(0);
    let with_keys = org
        .truth
        .accounts
        .iter()
        .flat_map(|a| &a.regions)
        .filter(|r| !r.keys.is_empty())
        .count();
    eprintln!(
        "bench scale: generated {keys} keys ({customer} customer managed) in {} accounts × {} regions in {:.1} s; {with_keys} account × regions hold keys, the busiest {busiest}",
        spec.accounts,
        org.enabled.len(),
        started.elapsed().as_secs_f64()
    );
    let standin = scale::start(org, args.behaviour).await?;
    let bin = root.join("target/release/kmsaudit");
    let out = root.join("target/bench-scale");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;

    let mut lines = vec![];
    if args.shards > 1 {
        standin.reset();
        let mut wall = 0.0;
        let mut rss: f64 = 0.0;
        let mut dirs = vec![];
        for i in 1..=args.shards {
            let dir = out.join(format!("shard-{i}"));
            let shard = format!("{i}/{}", args.shards);
            let mut extra = vec!["--shard", shard.as_str(), "--output-formats", "json"];
            extra.extend(args.scan_args.iter().map(String::as_str));
            let (w, r) = kmsaudit(&standin, &bin, "scan", &dir, &extra).await?;
            eprintln!("bench scale: shard {shard}: {w:.1} s, peak RSS {r:.0} MB");
            wall += w;
            rss = rss.max(r);
            dirs.push(dir);
        }
        let merged = out.join("merged");
        let mut merge_args: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        merge_args.extend([
            "--out".into(),
            merged.display().to_string(),
            "--fail-on".into(),
            "none".into(),
        ]);
        let (w, r) = kmsaudit_raw(&standin, &bin, "merge", &merge_args).await?;
        eprintln!("bench scale: merge: {w:.1} s, peak RSS {r:.0} MB");
        let stats = standin.stats();
        let verdicts = check_verdicts(&standin.org().truth, &merged).await?;
        let run = Run {
            wall_secs: wall + w,
            peak_rss_mib: rss.max(r),
            stats,
            verdicts,
        };
        report_details(&run, customer);
        lines.push(format!(
            "scale, {} shards one after another, then merged: {}",
            args.shards,
            line(&args, keys, &run)
        ));
    }

    standin.reset();
    let dir = out.join("single");
    let extra: Vec<&str> = args.scan_args.iter().map(String::as_str).collect();
    let (wall, rss) = kmsaudit(&standin, &bin, "scan", &dir, &extra).await?;
    let stats = standin.stats();
    let verdicts = check_verdicts(&standin.org().truth, &dir).await?;
    let single = Run {
        wall_secs: wall,
        peak_rss_mib: rss,
        stats,
        verdicts,
    };
    report_details(&single, customer);
    let sizes = pack_sizes(&dir)?;
    eprintln!("bench scale: pack {sizes}");
    lines.push(format!("scale: {}", line(&args, keys, &single)));
    lines.push(report_of_snapshot(&standin, &bin, &dir, &out).await?);
    let mut runs = vec![single];
    if !args.scan_args.iter().any(|a| a == "--no-last-use") {
        // A scheduled scan: the previous one as its baseline, whose settled last uses it carries.
        standin.reset();
        let again = out.join("with-baseline");
        let mut extra = vec!["--baseline".to_string(), dir.display().to_string()];
        extra.extend(args.scan_args.iter().cloned());
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (wall, rss) = kmsaudit(&standin, &bin, "scan", &again, &extra).await?;
        let stats = standin.stats();
        let verdicts = check_verdicts(&standin.org().truth, &again).await?;
        let run = Run {
            wall_secs: wall,
            peak_rss_mib: rss,
            stats,
            verdicts,
        };
        report_details(&run, customer);
        lines.push(format!(
            "scale, with the previous scan as --baseline: {}",
            line(&args, keys, &run)
        ));
        let _ = std::fs::remove_dir_all(&again);
        runs.push(run);
    }
    for l in &lines {
        println!("{l}");
    }
    for run in &runs {
        let v = &run.verdicts;
        anyhow::ensure!(
            v.wrong.is_empty() && v.right + v.not_reached == v.total,
            "{} of {} verdicts differ from the ground truth",
            v.wrong.len(),
            v.total
        );
    }
    Ok(())
}

fn line(args: &ScaleArgs, keys: usize, run: &Run) -> String {
    let v = &run.verdicts;
    let [asked, carried, not_reached] = v.last_use_keys;
    let last_use = match asked + carried + not_reached {
        0 => String::new(),
        _ => format!(
            ", last use {asked} asked + {carried} carried from the baseline + {not_reached} not reached ({} verdicts NOT_ASSESSED for it)",
            v.not_reached
        ),
    };
    let verdicts = format!(
        "{keys} keys, {} accounts, {} regions, latency {} ms: wall {:.1} s, calls {}, calls/s {:.0}, throttled {}, peak RSS {:.0} MB, verdicts {}/{} right",
        args.spec.accounts,
        args.spec.regions,
        args.behaviour.latency_ms,
        run.wall_secs,
        run.stats.requests,
        run.stats.requests as f64 / run.wall_secs.max(0.001),
        run.stats.throttled(),
        run.peak_rss_mib,
        run.verdicts.right,
        run.verdicts.total
    );
    verdicts + &last_use
}

fn report_details(run: &Run, customer: usize) {
    let s = &run.stats;
    eprintln!(
        "bench scale: {} calls = {:.2} per customer-managed key; throttled {} by quota + {} injected ({:.2} %), 5xx injected {}",
        s.requests,
        s.requests as f64 / customer.max(1) as f64,
        s.throttled_by_quota,
        s.throttled_injected,
        100.0 * s.throttled() as f64 / s.requests.max(1) as f64,
        s.server_errors_injected
    );
    let per_op: Vec<String> = s
        .by_operation
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    eprintln!("bench scale: calls by operation: {}", per_op.join(", "));
    for w in run.verdicts.wrong.iter().take(10) {
        eprintln!("bench scale: WRONG {w}");
    }
}

/// Runs `kmsaudit SUBCOMMAND --out DIR --fail-on none EXTRA..` against the stand-in.
async fn kmsaudit(
    standin: &ScaleStandIn,
    bin: &Path,
    subcommand: &str,
    dir: &Path,
    extra: &[&str],
) -> anyhow::Result<(f64, f64)> {
    let mut args: Vec<String> = vec![
        "--out".into(),
        dir.display().to_string(),
        "--fail-on".into(),
        "none".into(),
    ];
    if subcommand == "scan" && !standin.org().serves_iam() {
        // Generated with no principals: the stand-in serves no IAM.
        args.push("--no-effective-access".into());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    kmsaudit_raw(standin, bin, subcommand, &args).await
}

/// (wall seconds, peak RSS in MB) of one kmsaudit process.
async fn kmsaudit_raw(
    standin: &ScaleStandIn,
    bin: &Path,
    subcommand: &str,
    args: &[String],
) -> anyhow::Result<(f64, f64)> {
    let env = standin.env();
    let bin = bin.to_path_buf();
    let mut all: Vec<String> = vec!["-q".into(), subcommand.into()];
    all.extend(args.iter().cloned());
    let timed = tokio::task::spawn_blocking(move || {
        let os: Vec<&std::ffi::OsStr> = all.iter().map(std::ffi::OsStr::new).collect();
        under_gnu_time_with(&bin, &os, &env)
    })
    .await??;
    // 4: the pack is written and some verdicts are NOT_ASSESSED (the unparseable policies).
    anyhow::ensure!(
        matches!(timed.output.status.code(), Some(0 | 4)),
        "kmsaudit {subcommand} failed ({}): {}",
        timed.output.status,
        String::from_utf8_lossy(&timed.output.stderr)
    );
    eprintln!(
        "bench scale: kmsaudit {subcommand}: {:.1} s wall, {:.1} s CPU",
        timed.wall_secs, timed.cpu_secs
    );
    Ok((timed.wall_secs, timed.peak_rss_kib as f64 / 1024.0))
}

/// `kmsaudit report` of the scan's snapshot, every output: its line, once its files are the
/// scan's own (their SHA256SUMS lines equal).
async fn report_of_snapshot(
    standin: &ScaleStandIn,
    bin: &Path,
    scanned: &Path,
    out: &Path,
) -> anyhow::Result<String> {
    let dir = out.join("report");
    let args: Vec<String> = vec![
        "--out".into(),
        dir.display().to_string(),
        "--fail-on".into(),
        "none".into(),
        scanned.join("snapshot.json").display().to_string(),
    ];
    let (wall, rss) = kmsaudit_raw(standin, bin, "report", &args).await?;
    let sums = |dir: &Path| -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        let text = std::fs::read_to_string(dir.join("SHA256SUMS"))?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(hash, name)| (name.to_string(), hash.to_string()))
            .collect())
    };
    let (theirs, ours) = (sums(scanned)?, sums(&dir)?);
    for name in ["access.csv", "findings.json", "findings.csv", "report.html"] {
        anyhow::ensure!(
            theirs.contains_key(name) && theirs.get(name) == ours.get(name),
            "{name} of the report differs from the scan's"
        );
    }
    // Gigabytes, and the same as the scan's.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(format!(
        "report of the scan's snapshot: wall {wall:.1} s, peak RSS {rss:.0} MB, access.csv, findings.json, findings.csv and report.html equal to the scan's"
    ))
}

/// The pack's verdicts (findings.json) against the truth, as of the scan's start.
async fn check_verdicts(truth: &Snapshot, dir: &Path) -> anyhow::Result<scale::Verdicts> {
    let dir: PathBuf = dir.to_path_buf();
    let truth = truth.clone();
    tokio::task::spawn_blocking(move || {
        let snapshot_path = dir.join("snapshot.json");
        let scanned: Snapshot = serde_json::from_reader(std::io::BufReader::new(
            std::fs::File::open(&snapshot_path)
                .with_context(|| format!("opening {}", snapshot_path.display()))?,
        ))?;
        let facts = scale::ScanFacts::of(&scanned);
        drop(scanned);
        let bytes = std::fs::read(dir.join("findings.json"))?;
        let got: FindingsDocument = serde_json::from_slice(&bytes)?;
        Ok(scale::compare_verdicts(&truth, &facts, &got))
    })
    .await?
}

fn pack_sizes(dir: &Path) -> anyhow::Result<String> {
    let mut parts = vec![];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        parts.push(format!(
            "{} {:.1} MB",
            entry.file_name().to_string_lossy(),
            entry.metadata()?.len() as f64 / 1e6
        ));
    }
    parts.sort();
    Ok(parts.join(", "))
}
