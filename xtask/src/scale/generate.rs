//! The scale stand-in's organization: generated from (accounts, regions, keys, seed), held as
//! the snapshot a perfect scan would produce. The servers answer from it and the benchmark
//! evaluates it for the ground truth.
//!
//! The mix: about one account × region in eight holds keys, and keys crowd into a few of them
//! (the busiest holds a few percent of the organization's keys); each account × region with keys
//! has an AWS managed key (`alias/aws/ebs`). Customer-managed keys take the synthetic
//! benchmark's policies and every policy of the demo fixture, asymmetric, HMAC and imported keys,
//! disabled and pending-deletion keys, multi-Region keys, grants (some to an outside account, a
//! few keys with more than a page of them), aliases and tags (a few with more than a page). The
//! management account runs an organization analyzer in every region but the last, with an active
//! finding on every key that grants access outside the organization.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use jiff::Timestamp;
use kmsaudit_model::*;

use super::keys::{customer_key, managed_key, pick_policy};
use crate::fixture::Fixture;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct ScaleSpec {
    pub accounts: usize,
    pub regions: usize,
    pub keys: usize,
    pub seed: u64,
    /// IAM users and roles per account, with the organization's SCPs and RCPs
    /// (`kmsaudit_model::synthetic_iam`); 0 serves no IAM (scans run `--no-effective-access`).
    pub principals: usize,
}

/// The generated organization.
pub struct ScaleOrg {
    /// What a perfect scan reads; sorted (`normalize`d).
    pub truth: Snapshot,
    /// The regions every account has enabled.
    pub enabled: Vec<String>,
    /// Account id → its index in `truth.accounts`.
    pub account_index: HashMap<String, usize>,
    /// (account index, region) → index in that account's `regions`.
    pub region_index: HashMap<(usize, String), usize>,
    /// Key id → index in its region's `keys`.
    pub key_index: HashMap<String, usize>,
}

impl ScaleOrg {
    /// Whether IAM and the organization's policies are served (generated with principals).
    pub fn serves_iam(&self) -> bool {
        self.truth.accounts.iter().any(|a| a.iam.is_some())
    }
}

pub const ORG_ID: &str = "o-scalebench1";
pub const ROLE: &str = "OrganizationAccountAccessRole";
pub(crate) const OUTSIDE: &str = "999988887777";

pub fn account_id(i: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + i as u64)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The policies keys take: the synthetic benchmark's (weighted towards the AWS default) and the
/// demo fixture's, with `{A}` the key's account and `{B}` another account of the organization.
fn policy_templates(demo: &Fixture) -> Vec<String> {
    let mut out: Vec<String> = kmsaudit_model::synthetic::POLICY_TEMPLATES
        .iter()
        .map(|t| t.replace("o-benchorg", ORG_ID))
        .collect();
    for policy in demo.policies.values() {
        let mut p = policy.clone();
        for (name, statements) in &demo.statements {
            p = p.replace(&format!("${{statements:{name}}}"), statements.trim());
        }
        p = p
            .replace("${self}", "{A}")
            .replace("${management}", &account_id(0))
            .replace("${org_id}", ORG_ID);
        for a in &demo.accounts {
            p = p.replace(&format!("${{account:{}}}", a.name), "{B}");
        }
        out.push(p);
    }
    out
}

/// Does this policy grant anyone outside the organization (Access Analyzer reports it)?
fn shared_outside(policy: &str) -> bool {
    policy.contains(OUTSIDE)
        || policy.contains("\"Principal\":\"*\"")
        || policy.contains("\"AWS\":\"*\"")
        || policy.contains("444455556666")
}

pub(crate) fn stamp(secs: i64) -> Timestamp {
    Timestamp::from_second(1_735_689_600 + secs).expect("a valid time")
}

pub fn generate(spec: ScaleSpec, root: &Path) -> anyhow::Result<ScaleOrg> {
    let demo = Fixture::load(&root.join("examples/demo-org.toml"))?;
    let templates = policy_templates(&demo);
    let all_regions = kmsaudit_scanner::partition_regions("aws");
    // The most used regions first, then the other default ones, then opt-in ones.
    const FIRST: [&str; 6] = [
        "us-east-1",
        "eu-west-1",
        "us-west-2",
        "ap-southeast-2",
        "eu-central-1",
        "ap-northeast-1",
    ];
    let rank = |r: &String| {
        let first = FIRST.iter().position(|f| f == r).unwrap_or(FIRST.len());
        (kmsaudit_scanner::is_opt_in(r), first, r.clone())
    };
    let mut ranked = all_regions.clone();
    ranked.sort_by_key(rank);
    let mut enabled: Vec<String> = ranked.into_iter().take(spec.regions.max(1)).collect();
    enabled.sort();
    let n_acc = spec.accounts.max(1);
    let pairs = n_acc * enabled.len();
    let with_keys = (pairs / 8).max(1);
    let mut stride = 7919 % pairs.max(1);
    while pairs > 1 && gcd(stride.max(1), pairs) != 1 {
        stride += 1;
    }
    let stride = stride.max(1);
    // account × region slots with keys, in order of how crowded they are.
    let slot = |i: usize| -> (usize, usize) {
        let p = (i * stride + 3) % pairs;
        (p / enabled.len(), p % enabled.len())
    };

    let mut accounts: Vec<AccountRecord> = (0..n_acc)
        .map(|a| {
            let id = account_id(a);
            AccountRecord {
                id: id.clone(),
                name: Some(format!("scale-{a}")),
                email: Some(format!("scale-{a}@example.com")),
                org_status: Some("ACTIVE".into()),
                access: AccountAccess::Scanned {
                    via: if a == 0 {
                        "caller credentials".into()
                    } else {
                        format!("arn:aws:iam::{id}:role/{ROLE}")
                    },
                },
                regions_from: Some(RegionSource::ListRegions),
                regions: all_regions
                    .iter()
                    .map(|r| RegionRecord {
                        region: r.clone(),
                        access: if enabled.contains(r) {
                            RegionAccess::Scanned
                        } else {
                            RegionAccess::Skipped {
                                reason:
                                    "not enabled for the account (account:ListRegions: DISABLED)"
                                        .into(),
                            }
                        },
                        aliases_error: None,
                        keys: vec![],
                        access_analyzer: enabled.contains(r).then(|| AccessAnalyzerRecord {
                            analyzers: if a == 0 && r != enabled.last().expect("a region") {
                                vec![Analyzer {
                                    arn: format!("arn:aws:access-analyzer:{r}:{id}:analyzer/org"),
                                    name: "org".into(),
                                    analyzer_type: "ORGANIZATION".into(),
                                    status: "ACTIVE".into(),
                                }]
                            } else {
                                vec![]
                            },
                            ..Default::default()
                        }),
                    })
                    .collect(),
                iam: None,
                monitoring: None,
            }
        })
        .collect();
    let region_pos: HashMap<&str, usize> = all_regions
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();

    // One AWS managed key per account × region with keys, the rest customer managed.
    let managed = (spec.keys / 33).min(with_keys);
    // Last use is set relative to the start of today: recent uses are recent whenever it runs.
    let now = Timestamp::from_second(Timestamp::now().as_second() / 86_400 * 86_400)
        .expect("a valid time");
    let mut findings: Vec<(usize, usize, AnalyzerFinding)> = vec![];
    for n in 0..spec.keys {
        let (a, r) = if n < managed {
            slot(n)
        } else {
            let u = crate::standin::draw(spec.seed, n as u64);
            slot(((with_keys as f64 * u.powf(2.5)) as usize).min(with_keys - 1))
        };
        let account = account_id(a);
        let other = account_id((a + 1) % n_acc);
        let region = &enabled[r];
        let h = crate::standin::splitmix(spec.seed ^ 0x5eed, n as u64);
        let key_id = format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            n,
            spec.seed & 0xffff,
            h & 0xffff_ffff_ffff
        );
        let arn = format!("arn:aws:kms:{region}:{account}:key/{key_id}");
        let key = if n < managed {
            managed_key(&account, region, key_id, arn, n)
        } else {
            let policy = pick_policy(&templates, h)
                .replace("{A}", &account)
                .replace("{B}", &other);
            if shared_outside(&policy) && r + 1 != enabled.len() {
                findings.push((
                    a,
                    r,
                    AnalyzerFinding {
                        id: format!("f-{key_id}"),
                        analyzer_arn: format!(
                            "arn:aws:access-analyzer:{region}:{}:analyzer/org",
                            account_id(0)
                        ),
                        resource: arn.clone(),
                        resource_owner_account: account.clone(),
                        status: "ACTIVE".into(),
                        finding_type: Some("ExternalAccess".into()),
                        is_public: Some(
                            !policy.contains(OUTSIDE) && !policy.contains("444455556666"),
                        ),
                        principal: BTreeMap::from([("AWS".to_string(), "*".to_string())]),
                        condition: BTreeMap::new(),
                        updated_at: Some(stamp(0)),
                    },
                ));
            }
            let mut key = customer_key(&account, region, key_id, arn, n, h, policy);
            key.last_use = Some(LastUse {
                state: synthetic::synthetic_last_use(h.rotate_left(17), stamp(n as i64), now),
                read_at: now,
                from_baseline: false,
            });
            key
        };
        let rr = region_pos[region.as_str()];
        accounts[a].regions[rr].keys.push(key);
    }
    // Only the management account can hold an organization analyzer here: elsewhere a region
    // without keys is not worth asking.
    for account in accounts.iter_mut().skip(1) {
        for region in account.regions.iter_mut().filter(|r| r.keys.is_empty()) {
            region.access_analyzer = None;
        }
    }
    for (_, r, f) in findings {
        let rr = region_pos[enabled[r].as_str()];
        accounts[0].regions[rr]
            .access_analyzer
            .as_mut()
            .expect("enabled regions have a record")
            .findings
            .push(f);
    }
    let management = account_id(0);
    let mut truth = Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            tool_name: "kmsaudit".into(),
            tool_version: "scale".into(),
            caller: Some(CallerIdentity {
                account_id: management.clone(),
                arn: format!("arn:aws:iam::{management}:user/bench"),
                ..Default::default()
            }),
            started_at: stamp(0),
            finished_at: stamp(0),
            scope: ScanScope {
                role_name: ROLE.into(),
                partition: "aws".into(),
                access_analyzer: true,
                last_use: true,
                monitoring: true,
                ..Default::default()
            },
            ..Default::default()
        },
        organization: Some(Organization {
            id: ORG_ID.into(),
            management_account_id: management,
            access_analyzer_admins: Some(vec![]),
            ..Default::default()
        }),
        accounts,
        aws_managed_policies: vec![],
    };
    if spec.principals > 0 {
        kmsaudit_model::synthetic_iam::with_iam(&mut truth, spec.principals);
    }
    for (i, a) in truth.accounts.iter_mut().enumerate() {
        a.monitoring = Some(super::monitoring::truth(a, i == 0, &enabled));
    }
    truth.normalize();
    let account_index = truth
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.clone(), i))
        .collect();
    let mut region_index = HashMap::new();
    let mut key_index = HashMap::new();
    for (i, a) in truth.accounts.iter().enumerate() {
        for (j, r) in a.regions.iter().enumerate() {
            region_index.insert((i, r.region.clone()), j);
            for (k, key) in r.keys.iter().enumerate() {
                key_index.insert(key.key_id.clone(), k);
            }
        }
    }
    Ok(ScaleOrg {
        truth,
        enabled,
        account_index,
        region_index,
        key_index,
    })
}
