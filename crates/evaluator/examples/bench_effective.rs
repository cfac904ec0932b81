//! Effective access over a synthetic organization with IAM: `cargo run --release -p
//! kmsaudit-evaluator --example bench_effective -- [--accounts N] [--principals P] [--keys K]`.
//! Every account's keys delegate to IAM (the default key policy); each principal holds one
//! inline policy (a tenth allow kms:* on the account's keys, the rest kms:Decrypt on another
//! account's keys or sts:AssumeRole on a role of their account); roles trust their account.
//! Prints the time, rows and rows per key. `--snapshot FILE` works out a snapshot file instead.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use kmsaudit_model::*;

// As the CLI does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory so far, in MB (Linux).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = args
        .iter()
        .position(|a| a == "--snapshot")
        .and_then(|i| args.get(i + 1))
    {
        // A snapshot file (e.g. the one `cargo xtask bench access` writes).
        let text = std::fs::read(path).expect("reading the snapshot");
        let snapshot: Snapshot = serde_json::from_slice(&text).expect("a snapshot");
        drop(text);
        let loaded = peak_rss_mb();
        let t = Instant::now();
        let rows = kmsaudit_evaluator::effective_access(&snapshot);
        let keys = snapshot.keys().count();
        println!(
            "effective access of {path}: {keys} keys: {:.2} s, {} rows ({:.1} per key), {} entries stored, peak RSS {:.0} MB ({loaded:.0} MB after loading)",
            t.elapsed().as_secs_f64(),
            rows.row_count(),
            rows.row_count() as f64 / keys.max(1) as f64,
            rows.stored_entries(),
            peak_rss_mb()
        );
        return;
    }
    let (accounts, principals, keys) = (
        arg("--accounts", 20),
        arg("--principals", 300),
        arg("--keys", 100),
    );
    let id = |a: usize| format!("{:012}", 100_000_000_000u64 + a as u64);
    let mut records = vec![];
    let mut parents = BTreeMap::new();
    for a in 0..accounts {
        let account = id(a);
        parents.insert(account.clone(), "r-root".to_string());
        let other = id((a + 1) % accounts);
        let principals = (0..principals)
            .map(|p| {
                let doc = match p % 10 {
                    0 => format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:{account}:key/*"}}]}}"#),
                    1..=4 => format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:{other}:key/*"}}]}}"#),
                    _ => format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::{account}:role/r{}"}}]}}"#, (p + 1) % principals),
                };
                IamPrincipal {
                    arn: format!("arn:aws:iam::{account}:role/r{p}"),
                    kind: IamPrincipalKind::Role,
                    inline_policies: vec![InlinePolicy { name: "p".into(), document: Arc::from(doc.as_str()) }],
                    attached_policies: vec![],
                    groups: vec![],
                    boundary: None,
                    trust_policy: Some(Arc::from(format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#).as_str())),
                }
            })
            .collect();
        let policy: Arc<str> = Arc::from(format!(r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#).as_str());
        let key_records = (0..keys)
            .map(|k| {
                let mut key =
                    fixtures::customer_key(&format!("arn:aws:kms:us-east-1:{account}:key/k{k}"));
                key.policy = Some(policy.clone());
                key.grants = Some(vec![]);
                key
            })
            .collect();
        records.push(AccountRecord {
            id: account,
            name: None,
            email: None,
            org_status: Some("ACTIVE".into()),
            access: AccountAccess::Scanned {
                via: "bench".into(),
            },
            regions_from: None,
            regions: vec![RegionRecord {
                region: "us-east-1".into(),
                access: RegionAccess::Scanned,
                aliases_error: None,
                keys: key_records,
                access_analyzer: None,
            }],
            iam: Some(IamRecord {
                principals,
                ..Default::default()
            }),
            monitoring: None,
        });
    }
    let snapshot = Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata::default(),
        organization: Some(Organization {
            id: "o-bench".into(),
            management_account_id: "999999999999".into(),
            policies: Some(OrgPolicies {
                root_id: "r-root".into(),
                enabled: vec![OrgPolicyKind::ServiceControlPolicy],
                parents,
                policies: vec![OrgPolicy {
                    id: "p-full".into(),
                    name: "FullAWSAccess".into(),
                    kind: OrgPolicyKind::ServiceControlPolicy,
                    document: Arc::from(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
                    ),
                    targets: std::iter::once("r-root".to_string())
                        .chain((0..accounts).map(id))
                        .collect(),
                }],
                errors: vec![],
            }),
            ..Default::default()
        }),
        accounts: records,
        aws_managed_policies: vec![],
    };
    let t = Instant::now();
    let rows = kmsaudit_evaluator::effective_access(&snapshot);
    let secs = t.elapsed().as_secs_f64();
    let total_keys = accounts * keys;
    println!(
        "effective access: {accounts} accounts x {principals} principals, {total_keys} keys: {secs:.2} s ({:.0} keys/s), {} rows ({:.1} per key), {} entries stored",
        total_keys as f64 / secs,
        rows.row_count(),
        rows.row_count() as f64 / total_keys as f64,
        rows.stored_entries()
    );
}
