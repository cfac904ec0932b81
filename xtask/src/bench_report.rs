//! `cargo xtask bench report --keys N`: writes a synthetic organization's snapshot of N keys
//! (the realistic mix of `kmsaudit_model::synthetic`), runs the release `kmsaudit report` on it
//! as a process, and prints its wall time and peak RSS, the size of every file of the pack, and
//! how long headless Chromium takes to load report.html.
//! Targets (issue 9, 100,000 keys): ≤ 60 s and ≤ 1 GB; the pack without the snapshot ≤ 2 KB per
//! key; report.html ≤ 10 MB and loaded in ≤ 5 s.

use std::path::Path;
use std::time::Instant;

pub fn run(root: &Path, keys: usize) -> anyhow::Result<()> {
    let dir = root.join(format!("target/bench/report-{keys}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let snapshot = kmsaudit_model::synthetic::synthetic_org(keys);
    let (snapshot_path, pack, timed) =
        write_and_report(root, &dir, snapshot, &format!("{keys} keys"))?;
    let (wall, peak_kib) = (timed.wall_secs, timed.peak_rss_kib);
    let binary = root.join("target/release/kmsaudit");
    println!(
        "kmsaudit report: wall {wall:.1} s, peak RSS {:.0} MB",
        peak_kib as f64 / 1024.0
    );

    let mut files: Vec<(String, u64)> = std::fs::read_dir(&pack)?
        .filter_map(Result::ok)
        .map(|e| {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            (e.file_name().to_string_lossy().into_owned(), len)
        })
        .collect();
    files.sort();
    let mut without_snapshot = 0;
    for (name, len) in &files {
        println!("  {name:<22} {:>10.1} MB", mb(*len));
        if !name.starts_with("snapshot.json") {
            without_snapshot += len;
        }
    }
    println!(
        "pack without the snapshot: {:.1} MB, {:.0} bytes per key",
        mb(without_snapshot),
        without_snapshot as f64 / keys as f64
    );
    match chromium_load(&pack.join("report.html"), &dir.join("chromium-profile")) {
        Some(Ok(secs)) => println!("chromium loads report.html in {secs:.1} s"),
        Some(Err(e)) => println!("chromium: {e}"),
        None => println!("chromium: not installed, load time not measured"),
    }
    let shot = dir.join("report.png");
    if let Some(Ok(())) = chromium_screenshot(&pack.join("report.html"), &dir, &shot) {
        println!("screenshot: {}", shot.display());
    }

    // The same pack with the snapshot compressed.
    let gz_pack = dir.join("pack-gzip");
    let args: Vec<&std::ffi::OsStr> = [
        "report",
        "--quiet",
        "--fail-on",
        "none",
        "--snapshot-format",
        "gzip",
        "--out",
    ]
    .iter()
    .map(std::ffi::OsStr::new)
    .chain([gz_pack.as_os_str(), snapshot_path.as_os_str()])
    .collect();
    let timed = crate::bench::under_gnu_time(&binary, &args)?;
    anyhow::ensure!(
        matches!(timed.output.status.code(), Some(0 | 3 | 4)),
        "kmsaudit report --snapshot-format gzip failed: {}",
        String::from_utf8_lossy(&timed.output.stderr)
    );
    println!(
        "with --snapshot-format gzip: wall {:.1} s, peak RSS {:.0} MB, snapshot.json.gz {:.1} MB",
        timed.wall_secs,
        timed.peak_rss_kib as f64 / 1024.0,
        mb(std::fs::metadata(gz_pack.join("snapshot.json.gz"))?.len())
    );
    Ok(())
}

/// A 1400 × 2200 screenshot of the top of the report, as a person first sees it.
fn chromium_screenshot(html: &Path, dir: &Path, png: &Path) -> Option<anyhow::Result<()>> {
    let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,2200",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!(
            "--user-data-dir={}",
            dir.join("chromium-profile").display()
        ))
        .arg(format!("file://{}", html.display()))
        .output();
    Some(match out {
        Ok(_) if png.exists() => Ok(()),
        Ok(o) => Err(anyhow::anyhow!("no screenshot: {}", o.status)),
        Err(e) => Err(e.into()),
    })
}

/// Writes `snapshot` into `dir` and renders its pack with the release `kmsaudit report` under
/// GNU time: the snapshot's path, the pack's, and the timing. `what` names the snapshot.
pub fn write_and_report(
    root: &Path,
    dir: &Path,
    snapshot: kmsaudit_model::Snapshot,
    what: &str,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf, crate::bench::Timed)> {
    let snapshot_path = dir.join("input-snapshot.json");
    let started = Instant::now();
    std::fs::write(&snapshot_path, serde_json::to_vec(&snapshot)?)?;
    drop(snapshot);
    println!(
        "synthetic snapshot: {what}, {:.1} MB, written in {:.1} s",
        mb(std::fs::metadata(&snapshot_path)?.len()),
        started.elapsed().as_secs_f64()
    );
    let pack = dir.join("pack");
    let binary = root.join("target/release/kmsaudit");
    let args: Vec<&std::ffi::OsStr> = ["report", "--quiet", "--fail-on", "none", "--out"]
        .iter()
        .map(std::ffi::OsStr::new)
        .chain([pack.as_os_str(), snapshot_path.as_os_str()])
        .collect();
    let timed = crate::bench::under_gnu_time(&binary, &args)?;
    // 4: something is NOT_ASSESSED (the synthetic mix has such keys); still a full pack.
    anyhow::ensure!(
        matches!(timed.output.status.code(), Some(0 | 3 | 4)),
        "kmsaudit report failed: {}",
        String::from_utf8_lossy(&timed.output.stderr)
    );
    Ok((snapshot_path, pack, timed))
}

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// Wall time for headless Chromium to load, run and serialize the report (`--dump-dom`).
fn chromium_load(html: &Path, profile: &Path) -> Option<anyhow::Result<f64>> {
    let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let started = Instant::now();
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", html.display()))
        .output();
    Some(match out {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => Ok(started.elapsed().as_secs_f64()),
        Ok(o) => Err(anyhow::anyhow!(
            "failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(e.into()),
    })
}
