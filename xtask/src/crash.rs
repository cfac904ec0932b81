//! Crash tests: `kmsaudit report` and `kmsaudit scan` killed with SIGKILL at random moments of
//! writing a pack (a pack large enough to take a second or more in a debug build), into a new
//! folder and over an existing pack. Each time: the input snapshot is intact, `--out` holds the
//! old pack or the new one (or nothing, for a new folder) and `verify` passes on it, anything
//! else beside it is a `.NAME.kmsaudit-*` temporary folder, and the next run succeeds and
//! removes it. They run the debug binary that `cargo xtask test` builds first.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The debug kmsaudit binary; `None` (the test is skipped) when it was not built, unless in CI.
fn binary() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::project_root().join("target"));
    let bin = target.join("debug/kmsaudit");
    if bin.exists() {
        Some(bin)
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing: run `cargo xtask test`",
            bin.display()
        );
        eprintln!("skipped: {} is not built", bin.display());
        None
    }
}

fn sha256(path: &Path) -> String {
    kmsaudit_reporter::sha256_hex(&std::fs::read(path).unwrap())
}

/// The staging folder of a run writing `out`, once it holds a file.
fn staging_has_files(out: &Path) -> bool {
    let prefix = format!(
        ".{}.kmsaudit-staging-",
        out.file_name().unwrap().to_string_lossy()
    );
    std::fs::read_dir(out.parent().unwrap())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .any(|e| std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_some()))
}

/// Waits until the run starts writing its pack (or ends); the time since it started.
fn wait_for_writing(child: &mut Child, out: &Path, started: Instant) -> Option<Duration> {
    loop {
        if staging_has_files(out) {
            return Some(started.elapsed());
        }
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `cmd` to its end: (when it started writing, when it ended).
fn measure(mut cmd: Command, out: &Path) -> (Duration, Duration) {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).spawn().unwrap();
    let writing = wait_for_writing(&mut child, out, started);
    let status = child.wait().unwrap();
    assert!(matches!(status.code(), Some(0 | 3 | 4)), "{status}");
    let ended = started.elapsed();
    (writing.unwrap_or(ended), ended)
}

/// Starts `cmd`, and kills it `fraction` of `window` after it starts writing its pack.
fn kill_while_writing(mut cmd: Command, out: &Path, window: Duration, fraction: f64) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    if wait_for_writing(&mut child, out, started).is_some() {
        std::thread::sleep(window.mul_f64(fraction));
    }
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
}

/// The state after a kill: `--out` missing (when allowed) or a pack that verifies, whose
/// manifest is one of `manifests` (when given); beside it nothing but temporary folders.
fn check_state(bin: &Path, out: &Path, missing_ok: bool, manifests: &[String]) {
    if !out.exists() {
        assert!(missing_ok, "{} vanished", out.display());
    } else {
        let o = Command::new(bin).arg("verify").arg(out).output().unwrap();
        assert!(
            o.status.success(),
            "the pack left in {} does not verify:\n{}",
            out.display(),
            String::from_utf8_lossy(&o.stdout)
        );
        if !manifests.is_empty() {
            let got = sha256(&out.join("manifest.json"));
            assert!(manifests.contains(&got), "neither the old pack nor the new");
        }
    }
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    for entry in std::fs::read_dir(out.parent().unwrap()).unwrap() {
        let n = entry.unwrap().file_name().to_string_lossy().into_owned();
        let temporary = n.starts_with(&format!(".{name}.kmsaudit-staging-"))
            || n.starts_with(&format!(".{name}.kmsaudit-old-"));
        assert!(n == name || temporary, "left beside the pack: {n}");
    }
}

/// Fractions of the write window, spread over it (a fixed sequence: the same runs each time).
fn fractions(n: usize) -> impl Iterator<Item = f64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n).map(move |i| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Each run lands in its own slice of the window, at a random place in it.
        (i as f64 + (x % 1000) as f64 / 1000.0) / n as f64 * 1.1
    })
}

#[test]
fn report_killed_while_writing_leaves_a_whole_pack() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    let snapshot = kmsaudit_model::synthetic::synthetic_org(1_500);
    serde_json::to_writer(std::fs::File::create(&input).unwrap(), &snapshot).unwrap();
    drop(snapshot);
    let input_sha = sha256(&input);
    let report = |input: &Path, out: &Path, extra: &[&str]| {
        let mut c = Command::new(&bin);
        c.args(["-q", "report"])
            .arg(input)
            .args(["--fail-on", "none", "--out"])
            .arg(out)
            .args(extra);
        c
    };
    let asff = ["--output-formats", "html,csv,json,asff"];
    // The two packs a run can leave: the old one (plain) and the new one (with ASFF). Each in a
    // folder of its own, so that whatever appears beside it is the run's.
    let folder = |name: &str| {
        let parent = dir.path().join(name);
        std::fs::create_dir(&parent).unwrap();
        parent.join("pack")
    };
    let out = folder("main");
    let (_, _) = measure(report(&input, &out, &[]), &out);
    let old = sha256(&out.join("manifest.json"));
    let reference = folder("reference");
    let (writing, ended) = measure(report(&input, &reference, &asff), &reference);
    let new = sha256(&reference.join("manifest.json"));
    std::fs::remove_dir_all(&reference).unwrap();
    let window = ended - writing;
    eprintln!(
        "report: writes its pack from {:.2} s to {:.2} s",
        writing.as_secs_f64(),
        ended.as_secs_f64()
    );
    assert!(
        window > Duration::from_millis(500),
        "{window:?}: too short to test"
    );
    let runs = 12;
    for (i, fraction) in fractions(runs).enumerate() {
        if i % 2 == 0 {
            // A new folder, from a snapshot elsewhere.
            let fresh = folder(&format!("fresh{i}"));
            kill_while_writing(report(&input, &fresh, &asff), &fresh, window, fraction);
            assert_eq!(sha256(&input), input_sha, "the input snapshot changed");
            check_state(&bin, &fresh, true, std::slice::from_ref(&new));
        } else {
            // Over the pack it reads its snapshot from.
            if sha256(&out.join("manifest.json")) != old {
                measure(report(&input, &out, &["--force"]), &out);
            }
            let own = out.join("snapshot.json");
            let own_sha = sha256(&own);
            kill_while_writing(report(&own, &out, &asff), &out, window, fraction);
            check_state(&bin, &out, false, &[old.clone(), new.clone()]);
            assert_eq!(sha256(&own), own_sha, "the pack's snapshot changed");
        }
    }
    // The next run succeeds and removes what the killed ones left.
    measure(report(&out.join("snapshot.json"), &out, &asff), &out);
    check_state(&bin, &out, false, &[new]);
    let left: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pack.kmsaudit-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_killed_while_writing_leaves_a_whole_pack() {
    let Some(bin) = binary() else { return };
    let spec = crate::scale::generate::ScaleSpec {
        accounts: 8,
        regions: 1,
        keys: 800,
        seed: 5,
        principals: 0,
    };
    let org = crate::scale::generate::generate(spec, &crate::project_root()).unwrap();
    let standin = crate::scale::start(org, crate::scale::Behaviour::default())
        .await
        .unwrap();
    let env = standin.env();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let scan = |out: &Path| {
            let mut c = Command::new(&bin);
            c.args([
                "-q",
                "scan",
                "--no-access-analyzer",
                "--no-effective-access",
                // What is tested is the pack's writing: last use (5 calls/s per region) would
                // only make each scan here last longer.
                "--no-last-use",
                "--fail-on",
                "none",
                "--regions",
                "us-east-1",
                "--quota-share",
                "1",
                "--out",
            ])
            .arg(out)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("AWS_PROFILE");
            c
        };
        let folder = |name: &str| {
            let parent = dir.path().join(name);
            std::fs::create_dir(&parent).unwrap();
            parent.join("pack")
        };
        let out = folder("main");
        let (writing, ended) = measure(scan(&out), &out);
        let window = ended - writing;
        eprintln!(
            "scan: writes its pack from {:.2} s to {:.2} s",
            writing.as_secs_f64(),
            ended.as_secs_f64()
        );
        assert!(
            window > Duration::from_millis(300),
            "{window:?}: too short to test"
        );
        for (i, fraction) in fractions(6).enumerate() {
            let target = if i % 2 == 0 {
                folder(&format!("fresh{i}"))
            } else {
                out.clone()
            };
            kill_while_writing(scan(&target), &target, window, fraction);
            // A scan's pack differs run to run (times): whole and verifying is what counts.
            check_state(&bin, &target, i % 2 == 0, &[]);
        }
        measure(scan(&out), &out);
        check_state(&bin, &out, false, &[]);
    })
    .await
    .unwrap();
}
