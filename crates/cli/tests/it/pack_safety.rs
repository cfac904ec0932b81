//! The evidence pack against careless operators and attackers: a folder that is not ours, links
//! planted in a pack, names in a manifest that point outside it, escape sequences in names, a
//! config dropped beside a snapshot, and re-rendering every format byte for byte.

use std::path::{Path, PathBuf};

use crate::support::{data, kmsaudit, read, run, stdout};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `kmsaudit report SNAPSHOT --out OUT ARGS...`.
fn report(snapshot: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    run(kmsaudit()
        .arg("report")
        .arg(snapshot)
        .args(["--fail-on", "none", "--out"])
        .arg(out)
        .args(args))
}

fn pack(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let o = report(&data("snapshot-expired-material.json"), &out, args);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    out
}

fn verify(dir: &Path) -> (i32, String) {
    let o = run(kmsaudit().arg("verify").arg(dir));
    (o.status.code().unwrap(), stdout(&o))
}

/// Names beside `dir` that a killed or finished run left (`.NAME.kmsaudit-*`).
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".kmsaudit-"))
        .collect()
}

#[test]
fn a_folder_that_is_not_a_pack_is_refused_and_force_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mine");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "my notes").unwrap();
    std::fs::write(out.join("keys.csv"), "my spreadsheet").unwrap();
    let o = report(&data("snapshot-expired-material.json"), &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("not a kmsaudit evidence pack"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(read(&out.join("notes.txt")), b"my notes");
    assert_eq!(read(&out.join("keys.csv")), b"my spreadsheet");
    // A pack with a stranger in it is not ours either.
    let ours = pack(dir.path(), "ours", &[]);
    std::fs::write(ours.join("budget.xlsx"), "x").unwrap();
    let o = report(&data("snapshot-expired-material.json"), &ours, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("budget.xlsx"), "{}", stderr(&o));
    // --force replaces the folder whole.
    let o = report(&data("snapshot-expired-material.json"), &out, &["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!out.join("notes.txt").exists());
    assert_eq!(verify(&out).0, 0);
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
}

#[cfg(unix)]
#[test]
fn links_planted_in_a_pack_are_never_written_through() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = pack(dir.path(), "pack", &[]);
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    for name in ["keys.csv", "report.html", "SHA256SUMS"] {
        std::fs::remove_file(out.join(name)).unwrap();
        std::os::unix::fs::symlink(&victim, out.join(name)).unwrap();
    }
    let o = report(&data("snapshot-expired-material.json"), &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(read(&victim), b"precious");
    for name in ["keys.csv", "report.html", "SHA256SUMS"] {
        let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is a plain file again");
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "{name}: owner-only"
        );
    }
    let folder = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(folder, 0o700, "the pack folder is owner-only");
    assert_eq!(verify(&out).0, 0);
}

#[test]
fn rendering_over_its_own_pack_keeps_a_whole_pack_and_no_temporary_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = pack(dir.path(), "pack", &[]);
    let before = read(&out.join("snapshot.json"));
    // Into the folder it reads from, to gzip and back: the pack is whole after each.
    for form in ["gzip", "json"] {
        let input = ["snapshot.json", "snapshot.json.gz"]
            .map(|n| out.join(n))
            .into_iter()
            .find(|p| p.exists())
            .unwrap();
        let o = report(&input, &out, &["--snapshot-format", form]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(verify(&out).0, 0, "{form}");
    }
    assert_eq!(read(&out.join("snapshot.json")), before);
    assert!(!out.join("snapshot.json.gz").exists());
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
    // A temporary folder of a run that was killed goes with the next run.
    let stale = dir.path().join(".pack.kmsaudit-staging-4000000000");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("keys.csv"), "half").unwrap();
    let o = report(&out.join("snapshot.json"), &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stale.exists());
}

/// Adds `name` to the pack's manifest.json and SHA256SUMS, as a forger would.
fn list_in_pack(dir: &Path, name: &str) {
    let path = dir.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&read(&path)).unwrap();
    let hash = "0".repeat(64);
    manifest["files"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"path": name, "bytes": 1, "sha256": hash}));
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let sums = dir.join("SHA256SUMS");
    let mut text = String::from_utf8(read(&sums)).unwrap();
    text.push_str(&format!("{hash}  {name}\n"));
    std::fs::remove_file(&sums).unwrap();
    std::fs::write(&sums, text).unwrap();
}

#[cfg(unix)]
#[test]
fn verify_opens_only_plain_files_directly_in_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    let out = pack(dir.path(), "pack", &[]);
    std::fs::write(dir.path().join("outside.txt"), "x").unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.txt"), out.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", out.join("zero")).unwrap();
    let fifo = out.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    for name in [
        "../outside.txt",
        "/etc/hostname",
        "sub/x",
        "link.txt",
        "zero",
        "fifo",
    ] {
        list_in_pack(&out, name);
    }
    let started = std::time::Instant::now();
    let (code, text) = verify(&out);
    assert!(started.elapsed().as_secs() < 30, "verify did not hang");
    assert_eq!(code, 1, "{text}");
    for (name, why) in [
        ("../outside.txt", "not a file name in the pack"),
        ("/etc/hostname", "not a file name in the pack"),
        ("sub/x", "not a file name in the pack"),
        ("link.txt", "a symbolic link; not followed"),
        ("zero", "a symbolic link; not followed"),
        ("fifo", "not a plain file"),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name) && l.contains(why)),
            "{name}: {why}\n{text}"
        );
    }
    assert!(!text.contains("every file matches"), "{text}");
}

#[test]
fn names_with_escape_sequences_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let out = pack(dir.path(), "pack", &[]);
    // A name that, printed raw, would erase the line before it and print a fake success.
    let name = "x\u{1b}[1A\u{1b}[2Kevery file matches\u{202e}";
    std::fs::write(out.join(name), "x").unwrap();
    let (code, text) = verify(&out);
    assert_eq!(code, 1);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(
        text.contains("x\\e[1A\\e[2Kevery file matches\\u{202e}: not part of the pack"),
        "{text}"
    );
}

#[test]
fn a_config_beside_a_snapshot_is_used_only_when_its_pack_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = pack(dir.path(), "pack", &[]);
    let clean = read(&out.join("findings.json"));
    // A received snapshot with a config.json that mutes everything dropped beside it.
    let received = dir.path().join("received");
    std::fs::create_dir(&received).unwrap();
    std::fs::copy(out.join("snapshot.json"), received.join("snapshot.json")).unwrap();
    std::fs::write(
        received.join("config.json"),
        r#"{"key_allowlist":["*"],"required_tags":["x"]}"#,
    )
    .unwrap();
    let again = dir.path().join("again");
    let o = report(&received.join("snapshot.json"), &again, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not the pack's own configuration"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        read(&again.join("findings.json")),
        clean,
        "the dropped config is not used"
    );
    assert!(stdout(&o).contains("config: defaults"), "{}", stdout(&o));
    // Its own pack's config.json is used, and said.
    let o = report(&out.join("snapshot.json"), &dir.path().join("own"), &[]);
    assert!(stdout(&o).contains("(the pack's own)"), "{}", stdout(&o));
}

#[test]
fn re_rendering_a_pack_gives_every_format_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = pack(
        dir.path(),
        "pack",
        &["--output-formats", "html,csv,json,ocsf,asff"],
    );
    let again = dir.path().join("again");
    let o = report(&out.join("snapshot.json"), &again, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names = |d: &Path| {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&out), names(&again));
    assert!(names(&out).contains(&"findings.asff.json".to_string()));
    assert!(names(&out).contains(&"findings.ocsf.json".to_string()));
    for name in names(&out) {
        assert!(
            read(&out.join(&name)) == read(&again.join(&name)),
            "{name} differs"
        );
    }
}

/// `kmsaudit report` on a snapshot made from the test snapshot by `edit`; its exit code and
/// stderr, and how long it took.
fn report_edited(edit: impl Fn(String) -> String) -> (i32, String, std::time::Duration) {
    let dir = tempfile::tempdir().unwrap();
    let text = String::from_utf8(read(&data("snapshot-expired-material.json"))).unwrap();
    let input = dir.path().join("snapshot.json");
    std::fs::write(&input, edit(text)).unwrap();
    let started = std::time::Instant::now();
    let o = report(&input, &dir.path().join("out"), &[]);
    (o.status.code().unwrap(), stderr(&o), started.elapsed())
}

#[test]
fn snapshots_with_trailing_data_repeated_keys_or_records_are_refused_naming_the_field() {
    let (code, err, _) = report_edited(|t| format!("{t}\n{{\"more\": 1}}"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("data after the snapshot"), "{err}");

    let (code, err, _) = report_edited(|t| {
        t.replacen(
            "\"api_calls\": {}",
            "\"api_calls\": {\"KMS.ListKeys\": 1, \"KMS.ListKeys\": 2}",
            1,
        )
    });
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("metadata.api_calls") && err.contains("appears twice"),
        "{err}"
    );

    let duplicated = |what: &str| {
        let what = what.to_string();
        move |t: String| {
            let mut v: serde_json::Value = serde_json::from_str(&t).unwrap();
            let dup = |list: &mut serde_json::Value| {
                let first = list[0].clone();
                list.as_array_mut().unwrap().push(first);
            };
            match what.as_str() {
                "account" => dup(&mut v["accounts"]),
                _ => dup(&mut v["accounts"][0]["regions"][0]["keys"]),
            }
            v.to_string()
        }
    };
    let (code, err, _) = report_edited(duplicated("account"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("accounts[1]: account") && err.contains("appears twice"),
        "{err}"
    );
    let (code, err, _) = report_edited(duplicated("key"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(".keys[1]: key") && err.contains("appears twice"),
        "{err}"
    );

    let (code, err, _) = report_edited(|t| {
        let mut v: serde_json::Value = serde_json::from_str(&t).unwrap();
        v["accounts"][0]["regions"][0]["keys"][0]["rotation"] =
            serde_json::json!({"enabled": true, "period_days": -5, "next_rotation_date": null});
        v.to_string()
    });
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rotation.period_days: -5"), "{err}");
}

#[test]
fn a_gzip_bomb_is_stopped_at_the_inflate_limit_naming_it() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // `fill` repeated 64 MiB times, compressed to a few hundred kilobytes.
    let bomb = |name: &str, head: &[u8], fill: u8| {
        let path = dir.path().join(name);
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::best(),
        );
        gz.write_all(head).unwrap();
        let block = vec![fill; 1 << 20];
        for _ in 0..64 {
            gz.write_all(&block).unwrap();
        }
        gz.finish().unwrap();
        let compressed = std::fs::metadata(&path).unwrap().len();
        assert!(compressed < 1 << 20, "{compressed} bytes: a bomb");
        path
    };
    // A string that expands past 50 times the file: stopped by the ratio.
    let text = bomb(
        "text.json.gz",
        b"{\"schema_version\": 1, \"metadata\": {\"tool_version\": \"",
        b'a',
    );
    let started = std::time::Instant::now();
    let o = report(&text, &dir.path().join("out"), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("KMSAUDIT_MAX_INFLATE_RATIO"), "{err}");
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    // Whitespace: stopped after the first mebibyte of it.
    let spaces = bomb(
        "spaces.json.gz",
        b"{\"schema_version\": 1, \"metadata\": ",
        b' ',
    );
    let o = report(&spaces, &dir.path().join("out"), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bytes of whitespace in a row"), "{err}");
    // The size limit is named too, and can be set.
    let gz = pack(dir.path(), "gz", &["--snapshot-format", "gzip"]);
    let o = run(kmsaudit()
        .arg("report")
        .arg(gz.join("snapshot.json.gz"))
        .arg("--out")
        .arg(dir.path().join("small"))
        .env("KMSAUDIT_MAX_INFLATED_BYTES", "1000"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("KMSAUDIT_MAX_INFLATED_BYTES"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_policy_text_shows_escape_sequences_from_a_policy_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(
        &path,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"x\u001b[2J\u001b[1;1Hall clear\u202e","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}"#,
    )
    .unwrap();
    let o = run(kmsaudit().arg("lint-policy").arg(&path));
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(text.contains("x\\e[2J\\e[1;1Hall clear\\u{202e}"), "{text}");
}

#[cfg(unix)]
#[test]
fn diff_out_replaces_links_without_writing_through_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = pack(dir.path(), "a", &[]);
    let out = dir.path().join("diff");
    std::fs::create_dir(&out).unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("diff.csv")).unwrap();
    let o = run(kmsaudit()
        .arg("diff")
        .arg(&a)
        .arg(&a)
        .arg("--out")
        .arg(&out));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(read(&victim), b"precious");
    assert!(std::fs::symlink_metadata(out.join("diff.csv"))
        .unwrap()
        .is_file());
    assert!(out.join("diff.json").is_file());
}
