//! A scan of the demo organization with an earlier pack as `--baseline`: settled last uses are
//! carried, the rest asked again, and a baseline that does not read stops the scan.

use std::collections::BTreeMap;

use crate::e2e::{tempdir, Spec};
use crate::support::{kmsaudit, read, run};

/// Each key's `last_use_note` in a pack's keys.csv, by key ARN.
fn notes(pack: &std::path::Path) -> BTreeMap<String, String> {
    let text = read(&pack.join("keys.csv"));
    let mut reader = csv::Reader::from_reader(text.as_slice());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (key, note) = (column("key_arn"), column("last_use_note"));
    reader
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[key].to_string(), r[note].to_string()))
        .collect()
}

#[test]
fn a_baseline_carries_settled_last_uses_and_one_that_does_not_read_stops_the_scan() {
    let Some(spec) = Spec::load() else { return };
    let dir = tempdir();
    let first = dir.path().join("first");
    spec.scan(&first, None, &[]);
    let second = dir.path().join("second");
    let baseline = first.display().to_string();
    // Time for every key not settled to be asked again (the default, with a baseline, is not
    // to wait: the baseline's answers would stand for keys not reached).
    spec.scan(
        &second,
        None,
        &["--baseline", &baseline, "--last-use-wait", "60"],
    );
    let arn = |name: &str| {
        spec.raw["seeded"]["keys"][name][0]
            .as_str()
            .expect("seeded key")
            .to_string()
    };
    let notes = notes(&second);
    // Used a day ago and enabled: settled, carried. Pending deletion, never used, no recorded
    // use, used 200 days ago: asked again.
    assert_eq!(notes[&arn("mgmt-standard")], "carried from the baseline");
    for name in [
        "mgmt-pending-deletion",
        "mgmt-no-rotation",
        "mgmt-hmac",
        "mgmt-aws-default",
    ] {
        assert_eq!(notes[&arn(name)], "", "{name} is asked again");
    }
    assert!(second.join("diff.json").exists());

    // A baseline that is not a findings document: a usage error, and no pack.
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"not\": \"findings\"").unwrap();
    let out = dir.path().join("never");
    let mut cmd = kmsaudit();
    cmd.args(["scan", "--quiet", "--baseline"])
        .arg(&garbage)
        .arg("--out")
        .arg(&out);
    spec.aws_env(&mut cmd, None);
    let o = run(&mut cmd);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("garbage.json"),
        "the error names the baseline: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.join("findings.json").exists());
}
