//! Project automation: `cargo xtask demo | test | bench evaluator|scan|policy-worst|soundness|report | standin`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context};

mod bench;
mod bench_access;
mod bench_policy;
mod bench_report;
mod bench_scale;
mod cargo_env;
#[cfg(test)]
mod crash;
mod expect;
mod fixture;
mod list_regions;
mod moto;
mod scale;
mod seed;
mod seed_iam;
mod seed_monitoring;
mod standin;
#[cfg(test)]
mod tidy;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  demo                 seed examples/demo-org.toml into a local AWS stand-in, scan it, write target/demo/
  test [FILTER]        fmt, clippy, every test (or those matching FILTER), end to end against the stand-in
  bench evaluator      evaluate a synthetic snapshot of 1,000,000 keys (release build)
  bench scan           seed a synthetic organization into the stand-in and time scans of it
  bench policy-worst   analyze generated worst-case key policies with the release lint-policy
  bench soundness      the analysis against the reference evaluator in both directions (soundness, precision) on 1,000,000 generated policies, and effective access on 20,000 generated organizations
  bench report         render the evidence pack of a synthetic organization (--keys N, 100,000)
  bench scale          scan a generated organization served with latency, quotas and real paging
                       (--accounts 1000 --regions 17 --keys 100000 --latency-ms 50), then as 4 shards
  standin [FIXTURE]    start the stand-in with a fixture and wait (Ctrl-C stops it)";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => run_async(demo()),
        Some("test") => test(&args[1..]),
        Some("bench") => bench(args.get(1).map(String::as_str), &args[2.min(args.len())..]),
        Some("standin") => {
            let fixture = args
                .get(1)
                .map(PathBuf::from)
                .unwrap_or_else(|| project_root().join("examples/demo-org.toml"));
            run_async(standin_forever(fixture))
        }
        _ => {
            eprintln!("{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> std::process::Command {
    let mut c =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(project_root());
    cargo_env::remove_from(&mut c);
    c
}

fn run(mut cmd: std::process::Command, what: &str) -> anyhow::Result<()> {
    eprintln!("xtask: {what}");
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn run_async(f: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Ctrl-C and SIGTERM both end here, so that moto (killed on drop) never outlives us.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = f => r,
            _ = tokio::signal::ctrl_c() => bail!("interrupted; the stand-in is stopped"),
            _ = term.recv() => bail!("terminated; the stand-in is stopped"),
        }
    })
}

/// moto + seeded fixture + proxy and Access Analyzer stand-in. Everything stops when dropped
/// (moto is killed with its handle, the servers with the runtime).
struct Running {
    _moto: moto::Moto,
    standin: standin::StandIn,
    seeded: seed::Seeded,
    fixture: fixture::Fixture,
}

async fn start_standin(fixture_path: &Path, log_dir: &Path) -> anyhow::Result<Running> {
    let root = project_root();
    let fixture = fixture::Fixture::load(fixture_path)?;
    eprintln!("xtask: fixture: {}", fixture.description);
    let venv = tokio::task::spawn_blocking(move || moto::ensure_venv(&root)).await??;
    std::fs::create_dir_all(log_dir)?;
    let moto = moto::start(&venv, &log_dir.join("moto.log")).await?;
    eprintln!(
        "xtask: moto on {}; seeding {}",
        moto.url,
        fixture_path.display()
    );
    let seeded = seed::seed(&fixture, &moto.url).await?;
    let faults = standin::FixtureFaults::from_fixture(&fixture, &seeded)?;
    let standin = standin::start(&moto.url, faults).await?;
    Ok(Running {
        _moto: moto,
        standin,
        seeded,
        fixture,
    })
}

/// The environment a kmsaudit scan of the stand-in runs with: dummy credentials, endpoints.
fn scan_env(running: &Running) -> Vec<(&'static str, String)> {
    scan_env_for(&running.standin)
}

fn scan_env_for(standin: &standin::StandIn) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", standin.proxy_url.clone()),
        (
            "AWS_ENDPOINT_URL_ACCESSANALYZER",
            standin.access_analyzer_url.clone(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
    ]
}

async fn demo() -> anyhow::Result<()> {
    let root = project_root();
    let mut build = cargo();
    build.args(["build", "--quiet", "-p", "kmsaudit"]);
    run(build, "cargo build -p kmsaudit")?;
    let fixture_path = root.join("examples/demo-org.toml");
    let running = start_standin(&fixture_path, &root.join("target/standin")).await?;
    let out = root.join("target/demo");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    let mut cmd = tokio::process::Command::new(root.join("target/debug/kmsaudit"));
    cmd.arg("scan").arg("--out").arg(&out).arg("--quiet");
    if let Some(config) = &running.fixture.config {
        cmd.arg("--config")
            .arg(fixture_path.parent().unwrap_or(&root).join(config));
    }
    cmd.env_remove("AWS_PROFILE")
        .envs(scan_env(&running))
        .kill_on_drop(true)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    eprintln!("xtask: kmsaudit scan --out {}", out.display());
    let status = cmd.status().await.context("running kmsaudit scan")?;
    match status.code() {
        Some(0) | Some(3) | Some(4) => {}
        _ => bail!("kmsaudit scan failed ({status})"),
    }
    let snapshot: kmsaudit_model::Snapshot =
        serde_json::from_slice(&std::fs::read(out.join("snapshot.json"))?)?;
    let customer_keys = snapshot
        .keys()
        .filter(|(_, _, k)| k.is_customer_managed())
        .count()
        .max(1);
    let per_key: std::collections::BTreeMap<&str, u64> = snapshot
        .metadata
        .api_calls
        .iter()
        .filter(|(op, _)| {
            op.starts_with("KMS.") && !matches!(op.as_str(), "KMS.ListKeys" | "KMS.ListAliases")
        })
        .map(|(op, n)| (op.as_str(), *n))
        .collect();
    let key_calls: u64 = per_key.values().sum();
    println!(
        "per-key KMS calls: {:.2} per customer-managed key ({}); all calls: {:.2} per key",
        key_calls as f64 / customer_keys as f64,
        per_key
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        snapshot.metadata.total_api_calls() as f64 / customer_keys as f64
    );
    println!(
        "exit code of the scan: {} (3: failing findings, 4: incomplete)",
        status.code().unwrap_or(-1)
    );
    println!("open {}", out.join("report.html").display());
    Ok(())
}

/// fmt, clippy, then every test (or those matching `filter`, passed on to the test runner)
/// with the stand-in running.
fn test(filter: &[String]) -> anyhow::Result<()> {
    let root = project_root();
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt, "cargo fmt --all --check")?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--quiet",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy, "cargo clippy -- -D warnings")?;
    let mut build = cargo();
    build.args(["build", "--quiet", "-p", "kmsaudit"]);
    run(build, "cargo build -p kmsaudit")?;
    run_async(async {
        let fixture_path = root.join("examples/demo-org.toml");
        let running = start_standin(&fixture_path, &root.join("target/standin")).await?;
        let spec = expect::e2e_spec(
            &running.fixture,
            &running.seeded,
            &fixture_path,
            &running.standin,
        )?;
        let spec_path = root.join("target/e2e/spec.json");
        std::fs::create_dir_all(spec_path.parent().expect("has a parent"))?;
        std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec)?)?;
        let nextest = cargo()
            .args(["nextest", "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let mut tests =
            tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        tests.current_dir(&root);
        cargo_env::remove_from(tests.as_std_mut());
        if nextest {
            tests.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
        } else {
            tests.args(["test", "--workspace", "--no-fail-fast"]);
        }
        tests.args(filter);
        tests
            .env("KMSAUDIT_E2E_SPEC", &spec_path)
            .envs(scan_env(&running))
            .env_remove("AWS_PROFILE")
            .kill_on_drop(true);
        eprintln!(
            "xtask: {} (with the stand-in)",
            if nextest {
                "cargo nextest run --workspace"
            } else {
                "cargo test --workspace"
            }
        );
        let status = tests.status().await.context("running the tests")?;
        anyhow::ensure!(status.success(), "tests failed ({status})");
        Ok(())
    })
}

fn bench(what: Option<&str>, rest: &[String]) -> anyhow::Result<()> {
    match what {
        Some("evaluator") => {
            let mut cmd = cargo();
            cmd.args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "kmsaudit-evaluator",
                "--example",
                "bench_evaluator",
                "--",
            ])
            .args(rest);
            run(cmd, "evaluator benchmark (release)")
        }
        Some("scan") => {
            let number = |flag: &str, default: usize| -> anyhow::Result<usize> {
                match rest.iter().position(|a| a == flag) {
                    Some(i) => rest.get(i + 1).and_then(|v| v.parse().ok()).with_context(|| format!("{flag} N")),
                    None => Ok(default),
                }
            };
            let (accounts, keys) = (number("--accounts", 10)?, number("--keys-per-account", 60)?);
            let mut build = cargo();
            build.args(["build", "--release", "--quiet", "-p", "kmsaudit"]);
            run(build, "cargo build --release -p kmsaudit")?;
            run_async(bench::scan(&project_root(), accounts, keys))
        }
        Some("soundness") => bench::soundness(rest),
        Some("report") => {
            let keys = rest
                .iter()
                .position(|a| a == "--keys")
                .and_then(|i| rest.get(i + 1))
                .map(|v| v.parse().context("--keys N"))
                .transpose()?
                .unwrap_or(100_000);
            let mut build = cargo();
            build.args(["build", "--release", "--quiet", "-p", "kmsaudit"]);
            run(build, "cargo build --release -p kmsaudit")?;
            bench_report::run(&project_root(), keys)
        }
        Some("access") => {
            let n = |flag: &str, default| bench_access::flag_number(rest, flag, default);
            let (accounts, principals, keys) =
                (n("--accounts", 1000)?, n("--principals", 300)?, n("--keys", 100_000)?);
            let mut build = cargo();
            build.args(["build", "--release", "--quiet", "-p", "kmsaudit"]);
            run(build, "cargo build --release -p kmsaudit")?;
            bench_access::run(&project_root(), accounts, principals, keys)
        }
        Some("scale") => {
            let value = |flag: &str| rest.iter().position(|a| a == flag).and_then(|i| rest.get(i + 1));
            let number = |flag: &str, default: u64| -> anyhow::Result<u64> {
                value(flag).map_or(Ok(default), |v| v.parse().with_context(|| format!("{flag} N")))
            };
            let share = |flag: &str| -> anyhow::Result<f64> {
                value(flag).map_or(Ok(0.0), |v| v.parse().with_context(|| format!("{flag} SHARE")))
            };
            let seed = number("--seed", 1)?;
            let args = bench_scale::ScaleArgs {
                spec: scale::ScaleSpec {
                    accounts: number("--accounts", 1000)? as usize,
                    regions: number("--regions", 17)? as usize,
                    keys: number("--keys", 100_000)? as usize,
                    seed,
                    principals: number("--principals", 300)? as usize,
                },
                behaviour: scale::Behaviour {
                    latency_ms: number("--latency-ms", 50)?,
                    throttle: share("--throttle")?,
                    error5xx: share("--error5xx")?,
                    seed,
                },
                shards: number("--shards", 4)? as usize,
                scan_args: match rest.iter().position(|a| a == "--") {
                    Some(i) => rest[i + 1..].to_vec(),
                    None => vec![],
                },
            };
            let mut build = cargo();
            build.args(["build", "--release", "--quiet", "-p", "kmsaudit"]);
            run(build, "cargo build --release -p kmsaudit")?;
            if cfg!(debug_assertions) {
                // The stand-in must never be what the benchmark measures: run it optimised.
                let mut release = cargo();
                release
                    .args(["run", "--release", "--quiet", "-p", "xtask", "--", "bench", "scale"])
                    .args(rest);
                return run(release, "cargo xtask bench scale (release)");
            }
            run_async(bench_scale::run(&project_root(), args))
        }
        Some("policy-worst") => {
            let mut build = cargo();
            build.args(["build", "--release", "--quiet", "-p", "kmsaudit"]);
            run(build, "cargo build --release -p kmsaudit")?;
            bench_policy::run(&project_root())
        }
        _ => bail!("usage: cargo xtask bench evaluator [--keys N] | bench scan [--accounts N] [--keys-per-account N] | bench policy-worst | bench soundness [--cases N] [--orgs N] | bench report [--keys N] | bench scale [--accounts N] [--regions R] [--keys K] [--latency-ms L] [--throttle P] [--error5xx P] [--shards S] [--seed N] [--principals P] [-- SCAN ARGS]"),
    }
}

async fn standin_forever(fixture: PathBuf) -> anyhow::Result<()> {
    let running = start_standin(&fixture, &project_root().join("target/standin")).await?;
    for (k, v) in scan_env(&running) {
        println!("export {k}={v}");
    }
    println!("# seeded: {}", serde_json::to_string(&running.seeded)?);
    eprintln!("xtask: stand-in running; Ctrl-C stops it");
    std::future::pending::<()>().await;
    Ok(())
}
