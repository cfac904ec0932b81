//! `cargo xtask bench access [--accounts N] [--principals P] [--keys K]`: a synthetic
//! organization (`kmsaudit_model::synthetic`) with IAM, SCPs and RCPs
//! (`kmsaudit_model::synthetic_iam`), reported by the release `kmsaudit report` as a process,
//! effective access included: wall time, peak RSS, access rows and the size of the files
//! that carry them. Target (issue 21, 1,000 accounts x 300 principals, 100,000 keys): within
//! 90 s and 1.5 GB.

use std::path::Path;

use crate::bench_report::mb;

pub fn run(root: &Path, accounts: usize, principals: usize, keys: usize) -> anyhow::Result<()> {
    let dir = root.join(format!(
        "target/bench/access-{accounts}x{principals}-{keys}"
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut snapshot = kmsaudit_model::synthetic::synthetic_org_over(accounts, keys);
    kmsaudit_model::synthetic_iam::with_iam(&mut snapshot, principals);
    let what = format!("{accounts} accounts x {principals} principals, {keys} keys");
    let (_, pack, timed) = crate::bench_report::write_and_report(root, &dir, snapshot, &what)?;
    let size = |name: &str| {
        std::fs::metadata(pack.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    // Counted as it is read: at 100,000 keys access.csv is gigabytes.
    let (mut lines, mut bytes) = (0usize, 0u64);
    let mut reader =
        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(pack.join("access.csv"))?);
    loop {
        let buf = std::io::BufRead::fill_buf(&mut reader)?;
        if buf.is_empty() {
            break;
        }
        lines += buf.iter().filter(|b| **b == b'\n').count();
        let n = buf.len();
        bytes += n as u64;
        std::io::BufRead::consume(&mut reader, n);
    }
    let rows = lines.saturating_sub(1);
    println!(
        "access.csv {:.1} MB ({rows} rows, {:.1} per key), findings.json {:.1} MB, report.html {:.1} MB",
        mb(bytes),
        rows as f64 / keys.max(1) as f64,
        mb(size("findings.json")),
        mb(size("report.html"))
    );
    println!(
        "effective access report: {accounts} accounts x {principals} principals, {keys} keys: {:.1} s, peak RSS {:.0} MB (target 90 s, 1536 MB)",
        timed.wall_secs,
        timed.peak_rss_kib as f64 / 1024.0
    );
    Ok(())
}

/// The number after `flag` in `args`, or `default`.
pub fn flag_number(args: &[String], flag: &str, default: usize) -> anyhow::Result<usize> {
    use anyhow::Context;
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(default), |v| {
            v.parse().with_context(|| format!("{flag} N"))
        })
}
