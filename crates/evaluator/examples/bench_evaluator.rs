//! `cargo xtask bench evaluator [--keys N]`: evaluates a synthetic snapshot of N keys (default
//! 1,000,000) with a realistic mix of policies and grants, on every core (rayon), and prints
//! keys/second, wall time and memory. Runs the evaluator's real per-key code path
//! (`evaluate_counts`: every rule on every key, findings built and counted, not kept).

use std::time::Instant;

/// The allocator the `kmsaudit` binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use kmsaudit_evaluator::{evaluate, evaluate_counts, EvalConfig};
use kmsaudit_model::*;

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut keys = 1_000_000usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--keys") {
        keys = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .expect("--keys N");
    }
    let config = EvalConfig {
        required_tags: vec!["owner".into()],
        admin_allowlist: vec!["arn:aws:iam::*:role/KeyAdmin".into()],
        ..Default::default()
    };
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let snapshot = kmsaudit_model::synthetic::synthetic_org(keys);
    let built = t.elapsed();
    let baseline = rss_kib("VmRSS:");
    println!(
        "synthetic snapshot: {keys} keys, {} accounts, built in {:.1} s, resident {} MiB",
        snapshot.accounts.len(),
        built.as_secs_f64(),
        baseline / 1024
    );

    let t = Instant::now();
    let counts = evaluate_counts(&snapshot, &config);
    let wall = t.elapsed().as_secs_f64();
    let peak = rss_kib("VmHWM:");
    let findings: u64 = counts.values().sum();
    let fails: u64 = counts
        .iter()
        .filter(|((s, _), _)| *s == Status::Fail)
        .map(|(_, n)| n)
        .sum();
    println!("evaluated: {findings} findings ({fails} FAIL) on {threads} threads");
    println!("wall time: {wall:.2} s");
    println!("throughput: {:.0} keys/s", keys as f64 / wall);
    println!(
        "peak RSS: {} MiB; beyond the snapshot: {} MiB = {:.0} bytes per key",
        peak / 1024,
        peak.saturating_sub(baseline) / 1024,
        peak.saturating_sub(baseline) as f64 * 1024.0 / keys as f64
    );

    if args.iter().any(|a| a == "--counts-only") {
        return;
    }
    // The materialized path (`kmsaudit scan/report` keep every finding for the reports).
    let sample = keys.min(50_000);
    let small = kmsaudit_model::synthetic::synthetic_org(sample);
    let before = rss_kib("VmRSS:");
    let t = Instant::now();
    let evaluation = evaluate(&small, &config);
    let wall = t.elapsed().as_secs_f64();
    let after = rss_kib("VmRSS:");
    println!(
        "full evaluate() on {sample} keys: {:.0} keys/s, {} findings kept, {:.0} bytes per key held",
        sample as f64 / wall,
        evaluation.findings.len(),
        after.saturating_sub(before) as f64 * 1024.0 / sample as f64
    );
}
