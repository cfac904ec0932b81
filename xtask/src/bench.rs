//! `cargo xtask bench scan`: seeds a synthetic organization into moto and times real
//! `kmsaudit scan` runs (release build) over it, with AWS calls per key. moto answers about 540 requests/s on
//! one core whatever the concurrency: that, not kmsaudit, is the ceiling these figures show.
//! Also the GNU-time runner (`under_gnu_time`) the process benchmarks share.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use crate::fixture::{Account, Fixture, Key};

fn synthetic(accounts: usize, keys_per_account: usize, regions: &[&str]) -> Fixture {
    let mut fixture_accounts = vec![Account {
        name: "management".into(),
        management: true,
        deny_assume_role: false,
        suspended: false,
        regions_not_enabled: vec![],
    }];
    fixture_accounts.extend((1..accounts).map(|i| Account {
        name: format!("member{i}"),
        management: false,
        deny_assume_role: false,
        suspended: false,
        regions_not_enabled: vec![],
    }));
    let mut keys = Vec::new();
    for a in &fixture_accounts {
        for k in 0..keys_per_account {
            keys.push(Key {
                name: format!("{}-{k}", a.name),
                account: a.name.clone(),
                region: regions[k % regions.len()].to_string(),
                description: String::new(),
                spec: "SYMMETRIC_DEFAULT".into(),
                usage: "ENCRYPT_DECRYPT".into(),
                origin: "AWS_KMS".into(),
                multi_region: false,
                policy: "default".into(),
                rotation: k % 2 == 0,
                state: "Enabled".into(),
                aliases: vec![format!("alias/bench-{k}")],
                tags: BTreeMap::from([("owner".to_string(), "bench".to_string())]),
                grants: vec![],
                deny_key_policy: false,
                describe_patch: BTreeMap::new(),
                rotation_patch: BTreeMap::new(),
                last_use: None,
                calls: vec![],
                expect_fail: vec![],
                expect_not_assessed: vec![],
                expect_pass: vec![],
                expect_not_applicable: vec![],
            });
        }
    }
    Fixture {
        description: format!("{accounts} accounts x {keys_per_account} keys over {} regions", regions.len()),
        accounts: fixture_accounts,
        policies: BTreeMap::from([(
            "default".to_string(),
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${self}:root"},"Action":"kms:*","Resource":"*"}]}"#.to_string(),
        )]),
        statements: BTreeMap::new(),
        keys,
        analyzers: vec![],
        aa_findings: vec![],
        expect_scope: vec![],
        config: None,
        ous: vec![],
        iam: vec![],
        scps: vec![],
        rcps: vec![],
        access: vec![],
        monitoring: Default::default(),
    }
}

pub async fn scan(root: &Path, accounts: usize, keys_per_account: usize) -> anyhow::Result<()> {
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let fixture = synthetic(accounts, keys_per_account, &regions);
    let venv = moto_venv(root).await?;
    let log_dir = root.join("target/bench");
    std::fs::create_dir_all(&log_dir)?;
    let moto = crate::moto::start(&venv, &log_dir.join("moto.log")).await?;
    let t = Instant::now();
    let seeded = crate::seed::seed(&fixture, &moto.url).await?;
    println!(
        "seeded {} ({} keys) in {:.1} s",
        fixture.description,
        seeded.keys.len(),
        t.elapsed().as_secs_f64()
    );
    // Straight to moto: no faults to play, and the proxy would only add its own cost.
    let standin = crate::standin::StandIn {
        proxy_url: moto.url.clone(),
        access_analyzer_url: moto.url.clone(),
    };
    println!(
        "{:>11} {:>9} {:>8} {:>9} {:>10} {:>14}",
        "concurrency", "wall (s)", "keys/s", "calls", "calls/key", "KMS calls/key"
    );
    for concurrency in [4usize, 16, 64] {
        let out = log_dir.join(format!("scan-c{concurrency}"));
        let t = Instant::now();
        let status = tokio::process::Command::new(root.join("target/release/kmsaudit"))
            .args([
                "scan",
                "--quiet",
                "--no-access-analyzer",
                "--fail-on",
                "none",
                "--regions",
                &regions.join(","),
                "--concurrency",
                &concurrency.to_string(),
                "--out",
            ])
            .arg(&out)
            .envs(crate::scan_env_for(&standin))
            .env_remove("AWS_PROFILE")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .status()
            .await?;
        let wall = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            matches!(status.code(), Some(0 | 3 | 4)),
            "scan failed: {status}"
        );
        let snapshot: kmsaudit_model::Snapshot = serde_json::from_slice(
            &std::fs::read(out.join("snapshot.json")).context("snapshot.json")?,
        )?;
        let keys = snapshot.keys().count().max(1) as f64;
        let calls = snapshot.metadata.total_api_calls();
        let kms_per_key: u64 = snapshot
            .metadata
            .api_calls
            .iter()
            .filter(|(op, _)| {
                op.starts_with("KMS.") && !matches!(op.as_str(), "KMS.ListKeys" | "KMS.ListAliases")
            })
            .map(|(_, n)| n)
            .sum();
        println!(
            "{concurrency:>11} {wall:>9.2} {:>8.0} {calls:>9} {:>10.2} {:>14.2}",
            keys / wall,
            calls as f64 / keys,
            kms_per_key as f64 / keys
        );
    }
    Ok(())
}

async fn moto_venv(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || crate::moto::ensure_venv(&root)).await?
}

/// A process run under GNU time: its output, wall time and peak RSS.
pub struct Timed {
    pub output: std::process::Output,
    pub wall_secs: f64,
    pub peak_rss_kib: u64,
    /// User + system CPU seconds of the process.
    pub cpu_secs: f64,
}

/// Runs `program args..` under GNU `/usr/bin/time`, which reports the peak RSS of the process.
pub fn under_gnu_time(program: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<Timed> {
    under_gnu_time_with(program, args, &[])
}

/// The same with extra environment variables.
pub fn under_gnu_time_with(
    program: &Path,
    args: &[&std::ffi::OsStr],
    env: &[(&str, String)],
) -> anyhow::Result<Timed> {
    const MARK: &str = "peak-rss-kib ";
    const CPU: &str = "cpu-secs ";
    let started = std::time::Instant::now();
    let output = std::process::Command::new("/usr/bin/time")
        .args(["-f", &format!("{MARK}%M {CPU}%U %S")])
        .arg(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .with_context(|| {
            format!(
                "running {} under /usr/bin/time (GNU time)",
                program.display()
            )
        })?;
    let wall_secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix(MARK))
        .context("no peak RSS from GNU time")?;
    let (rss, cpu) = line.split_once(CPU).unwrap_or((line, ""));
    let peak_rss_kib = rss.trim().parse().context("GNU time's peak RSS")?;
    let cpu_secs = cpu
        .split_whitespace()
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    Ok(Timed {
        output,
        wall_secs,
        peak_rss_kib,
        cpu_secs,
    })
}

/// `cargo xtask bench soundness [--cases N] [--orgs N]`: the evaluator's soundness properties at
/// bench scale (release build).
pub fn soundness(rest: &[String]) -> anyhow::Result<()> {
    // The key policy analysis, then effective access over generated organizations.
    let flag = |name: &str, default: &str| {
        rest.iter()
            .position(|a| a == name)
            .and_then(|i| rest.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.into())
    };
    let property = |filter: &str, env: &str, value: String| {
        let mut cmd = crate::cargo();
        cmd.args([
            "test",
            "--release",
            "--quiet",
            "-p",
            "kmsaudit-evaluator",
            "--test",
            "it",
            filter,
            "--",
            "--nocapture",
        ])
        .env(env, value);
        cmd
    };
    // Both run whatever the first finds: each property's figures are wanted.
    let key_policy = crate::run(
        property(
            "soundness::the_analysis",
            "KMSAUDIT_SOUNDNESS_CASES",
            flag("--cases", "1000000"),
        ),
        "soundness property (release)",
    );
    let effective = crate::run(
        property(
            "effective_soundness",
            "KMSAUDIT_EFFECTIVE_CASES",
            flag("--orgs", "20000"),
        ),
        "effective access soundness (release)",
    );
    let failed: Vec<String> = [key_policy.err(), effective.err()]
        .into_iter()
        .flatten()
        .map(|e| e.to_string())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("{}", failed.join("; "));
    }
    Ok(())
}
