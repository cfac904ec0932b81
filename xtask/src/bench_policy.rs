//! `cargo xtask bench policy-worst`: generated worst-case key policies (many principals × many
//! pinning Denies, thousands of statements, long action patterns, a 1 MiB document) analyzed by
//! the release `kmsaudit lint-policy` as a process, with wall time and peak RSS of each.
//! Targets (issue 8): a 32 KB policy in ≤ 10 ms and ≤ 20 MB; a 1 MiB input in ≤ 1 s and
//! ≤ 200 MB, or refused with a clear message.

use std::path::{Path, PathBuf};

/// The largest key policy AWS accepts.
const MAX_KEY_POLICY: usize = 32 * 1024;

/// Statements joined into a policy document.
fn policy(statements: &[String]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

/// Adds statements made by `next(i)` while the document stays within `limit` bytes.
fn fill(mut statements: Vec<String>, limit: usize, next: impl Fn(usize) -> String) -> String {
    let mut i = 0;
    loop {
        statements.push(next(i));
        if policy(&statements).len() > limit {
            statements.pop();
            return policy(&statements);
        }
        i += 1;
    }
}

fn roles(n: usize) -> String {
    let list: Vec<String> = (0..n)
        .map(|i| format!(r#""arn:aws:iam::111122223333:role/r{i}""#))
        .collect();
    list.join(",")
}

/// The generated cases: (name, document).
pub fn cases() -> Vec<(&'static str, String)> {
    let kms_actions = [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:CreateGrant",
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
    ];
    // Allows to many principals and to pinned `*`, then as many pinning Denies as fit, each on
    // a different subset of actions so that every Deny splits what the previous ones left.
    let allows = vec![
        format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":[{}]}},"Action":"kms:*","Resource":"*"}}"#,
            roles(60)
        ),
        r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-exampleorg"}}}"#.to_string(),
        r#"{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:*","Resource":"*"}"#.to_string(),
    ];
    let pinning_denies = fill(allows.clone(), MAX_KEY_POLICY, |i| {
        let actions: Vec<&str> = kms_actions
            .iter()
            .enumerate()
            .filter(|(j, _)| (i >> (j % 4)) & 1 == 1 || j % 3 == i % 3)
            .map(|(_, a)| *a)
            .collect();
        format!(
            r#"{{"Effect":"Deny","Principal":"*","Action":{},"Resource":"*","Condition":{{"StringNotEquals":{{"aws:SourceVpce":"vpce-{i:08x}"}}}}}}"#,
            serde_json::to_string(&actions).expect("strings")
        )
    });
    let many_statements = fill(vec![], MAX_KEY_POLICY, |i| {
        format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{:012}:root"}},"Action":"kms:Decrypt","Resource":"*"}}"#,
            100_000_000_000u64 + i as u64
        )
    });
    let long_patterns = fill(vec![], MAX_KEY_POLICY, |i| {
        let pattern = format!("kms:{}{}", "*?".repeat(400), "x".repeat(i % 7));
        format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:role/r{i}"}},"Action":["{pattern}"],"Resource":"*"}}"#
        )
    });
    let one_mib = fill(allows, 1 << 20, |i| {
        format!(
            r#"{{"Effect":"Deny","Principal":"*","Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*","Condition":{{"StringNotEquals":{{"aws:SourceVpce":"vpce-{i:08x}"}}}}}}"#
        )
    });
    vec![
        ("principals x pinning denies (32 KB)", pinning_denies),
        ("thousands of statements (32 KB)", many_statements),
        ("long action patterns (32 KB)", long_patterns),
        ("1 MiB document", one_mib),
    ]
}

/// One `kmsaudit lint-policy` run: wall time, peak RSS (KiB, from GNU time), and its answer.
fn lint(binary: &Path, path: &Path) -> anyhow::Result<(f64, u64, String)> {
    let args: Vec<&std::ffi::OsStr> = [
        "lint-policy",
        "--format",
        "json",
        "--key-account",
        "111122223333",
    ]
    .iter()
    .map(std::ffi::OsStr::new)
    .chain([path.as_os_str()])
    .collect();
    let timed = crate::bench::under_gnu_time(binary, &args)?;
    let (out, wall_ms, peak_kib) = (&timed.output, timed.wall_secs * 1000.0, timed.peak_rss_kib);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 0, 3 (findings) and 4 (not assessed) all carry the report; a document that does not
    // parse is refused with the reason in it.
    let answer = match out.status.code() {
        Some(0 | 3 | 4) => {
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let report = &doc["documents"][0]["report"];
            match report["parse_error"].as_str() {
                Some(e) => format!("refused: {e}"),
                None => format!(
                    "{} findings",
                    report["findings"].as_array().map_or(0, Vec::len)
                ),
            }
        }
        _ => format!("refused: {}", stderr.lines().next().unwrap_or("").trim()),
    };
    Ok((wall_ms, peak_kib, answer))
}

/// The best of `runs` runs (the machine's noise only ever adds time).
fn best_of(runs: usize, binary: &Path, path: &Path) -> anyhow::Result<(f64, u64, String)> {
    let mut best = lint(binary, path)?;
    for _ in 1..runs {
        let next = lint(binary, path)?;
        if next.0 < best.0 {
            best = next;
        }
    }
    Ok(best)
}

/// Runs `kmsaudit lint-policy` on every case and prints its time, peak RSS and answer. The
/// analysis time is the wall time less that of a one-statement policy (process start, reading,
/// printing).
pub fn run(root: &Path) -> anyhow::Result<()> {
    let binary = root.join("target/release/kmsaudit");
    let dir = root.join("target/bench/policy-worst");
    std::fs::create_dir_all(&dir)?;
    let trivial = dir.join("trivial.json");
    std::fs::write(
        &trivial,
        policy(&[r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#.to_string()]),
    )?;
    let (baseline, base_rss, _) = best_of(5, &binary, &trivial)?;
    println!(
        "baseline (one statement): wall {baseline:.1} ms, peak RSS {:.1} MB",
        base_rss as f64 / 1024.0
    );
    for (name, document) in cases() {
        let path: PathBuf = dir.join(format!("{}.json", name.replace([' ', '(', ')'], "_")));
        std::fs::write(&path, &document)?;
        let (wall, peak_kib, answer) = best_of(5, &binary, &path)?;
        println!(
            "{name}: {} bytes, wall {wall:.1} ms (analysis ~{:.1} ms), peak RSS {:.1} MB, {answer}",
            document.len(),
            (wall - baseline).max(0.0),
            peak_kib as f64 / 1024.0
        );
    }
    Ok(())
}
