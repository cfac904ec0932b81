//! Whether anything stops a caller in a key's own account from destroying it: an explicit Deny
//! in the key policy, or in an SCP or RCP along the account's path (member accounts only), for
//! `DisableKey` and `ScheduleKeyDeletion` on a key used recently (`kms:TrailingDaysWithoutKeyUsage`
//! at the key's own days without use), and for `ScheduleKeyDeletion` with a waiting period
//! shorter than the configured minimum (`kms:ScheduleKeyDeletionPendingWindowInDays`).
//!
//! Both operations work in the key's own account only, so the caller is any IAM principal of
//! that account, whose name stays unknown. A Deny left open only on who calls (`aws:PrincipalArn`,
//! principal tags, calls through an AWS service) guards everyone but the exceptions it names; one
//! left open on anything else (`aws:SourceVpce`, a time) guards only when that holds, and a
//! caller can avoid it. The key's own facts (aliases, tags, spec) are known, as KMS knows them.

use jiff::Timestamp;
use kmsaudit_model::{Idle, KeyRecord, LastUseState, Snapshot, Tag};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::decide::known_context;
use super::deletion_probe::Probe;
use super::directory::{Directory, NamedPolicy};
use super::parse_key_policy;
use crate::config::EvalConfig;
use crate::policy::reference::Caller;
use crate::policy::{Effect, KnownContext, Policy};

/// What stands between callers of the key's account and one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Guard {
    /// Denied by this statement to every caller, but those the conditions in `except` (in
    /// words: the Deny holds only when they do) leave out.
    Denied { by: String, except: Vec<String> },
    /// Not denied, or denied only under these conditions, which do not depend on who calls.
    Open(Vec<String>),
    /// What decides it could not be read, and nothing read denies it.
    Unknown(String),
}

impl Guard {
    pub fn holds(&self) -> bool {
        matches!(self, Guard::Denied { .. })
    }
}

/// `DisableKey` and `ScheduleKeyDeletion` on a key used recently, at its days without use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RecentUseGuard {
    pub disable: Guard,
    pub schedule: Guard,
}

/// `ScheduleKeyDeletion` with a waiting period shorter than the minimum.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct WindowGuard {
    /// A waiting period shorter than the minimum that is not denied (`None`: each is).
    pub allowed_window: Option<i64>,
    pub guard: Guard,
}

/// What guards one key's destruction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DeletionGuard {
    /// Set for an enabled key used within `unused_days`.
    pub recent_use: Option<RecentUseGuard>,
    /// Set when the minimum is longer than KMS's shortest waiting period (7 days).
    pub short_window: Option<WindowGuard>,
}

/// What guards each customer-managed key not pending deletion, by ARN. Keys alike share one
/// answer (a large organization has few distinct ones).
#[derive(Debug, Default)]
pub(crate) struct DeletionGuards<'s> {
    by_key: FxHashMap<&'s str, u32>,
    unique: Vec<DeletionGuard>,
}

impl<'s> DeletionGuards<'s> {
    pub fn get(&self, arn: &str) -> Option<&DeletionGuard> {
        self.by_key.get(arn).map(|&i| &self.unique[i as usize])
    }

    #[cfg(test)]
    pub fn insert(&mut self, arn: &'s str, guard: DeletionGuard) {
        self.unique.push(guard);
        self.by_key.insert(arn, (self.unique.len() - 1) as u32);
    }
}

/// What decides a key's answer besides its account: keys of one account alike in all of it
/// get the same answer. Each fact counts only where a Deny that can apply reads it (see
/// [`Reads`]): the ARN where one names resources other than `*`, the aliases where one reads
/// `kms:ResourceAliases`, and so on.
#[derive(PartialEq, Eq, Hash)]
struct Alike<'s> {
    policy: Option<&'s str>,
    enabled: bool,
    recent: bool,
    trailing_days: Option<i64>,
    aliases: Option<&'s [String]>,
    tags: Option<Option<&'s [Tag]>>,
    facts: Option<([&'s str; 3], Option<bool>)>,
    arn: Option<&'s str>,
}

/// What of a key the Deny statements of some policies read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Reads {
    arn: bool,
    aliases: bool,
    tags: bool,
    facts: bool,
    trailing_days: bool,
}

impl Reads {
    fn of(policy: &Policy) -> Reads {
        let mut r = Reads::default();
        for st in policy
            .statements
            .iter()
            .filter(|st| st.effect == Effect::Deny)
        {
            let patterns = &st.resources.patterns;
            r.arn |= st.resources.negated || patterns.iter().any(|p| p != "*");
            for c in &st.conditions {
                if c.values.iter().any(|v| v.contains("${")) {
                    return Reads::everything();
                }
                let k = c.key.as_str();
                r.aliases |= k == "kms:resourcealiases";
                r.tags |= k.starts_with("aws:resourcetag/");
                r.facts |= matches!(
                    k,
                    "kms:keyspec" | "kms:keyusage" | "kms:keyorigin" | "kms:multiregion"
                );
                r.trailing_days |= k == "kms:trailingdayswithoutkeyusage";
            }
        }
        r
    }

    fn everything() -> Reads {
        Reads {
            arn: true,
            aliases: true,
            tags: true,
            facts: true,
            trailing_days: true,
        }
    }

    fn or(self, o: Reads) -> Reads {
        Reads {
            arn: self.arn || o.arn,
            aliases: self.aliases || o.aliases,
            tags: self.tags || o.tags,
            facts: self.facts || o.facts,
            trailing_days: self.trailing_days || o.trailing_days,
        }
    }
}

pub(super) fn deletion_guards<'s>(
    snapshot: &'s Snapshot,
    dir: &Directory,
    config: &EvalConfig,
) -> DeletionGuards<'s> {
    let now = snapshot.metadata.started_at;
    // Per account: each key's index into the account's distinct answers, and those answers.
    let per_account: Vec<_> = snapshot
        .accounts
        .par_iter()
        .map(|account| {
            let mut policies: FxHashMap<&str, (Result<NamedPolicy, String>, Reads)> =
                FxHashMap::default();
            let mut alike: FxHashMap<Alike, u32> = FxHashMap::default();
            let (mut keys, mut unique) = (vec![], vec![]);
            let org_reads = org_reads(dir, &account.id);
            let mut base: Option<(KnownContext, Caller)> = None;
            for key in account.regions.iter().flat_map(|r| &r.keys) {
                let Some(m) = &key.metadata else { continue };
                if !m.is_customer_managed()
                    || !matches!(m.key_state.as_str(), "Enabled" | "Disabled")
                {
                    continue;
                }
                let (policy, reads) = match key.policy.as_deref() {
                    Some(text) => policies.entry(text).or_insert_with(|| {
                        let parsed = parse_key_policy(text);
                        let reads = match &parsed {
                            Ok(p) => Reads::of(&p.policy),
                            Err(_) => Reads::default(),
                        };
                        (parsed, reads)
                    }),
                    None => &(
                        Err("the key policy was not read".to_string()),
                        Reads::default(),
                    ),
                };
                let reads = reads.or(org_reads);
                let enabled = m.key_state == "Enabled";
                let recent_days = recent_use_days(key, enabled, now, config);
                let facts = Alike {
                    policy: key.policy.as_deref(),
                    enabled,
                    recent: recent_days.is_some(),
                    trailing_days: recent_days.filter(|_| reads.trailing_days),
                    aliases: reads.aliases.then_some(key.aliases.as_slice()),
                    tags: reads.tags.then_some(key.tags.as_deref()),
                    facts: reads
                        .facts
                        .then_some(([&m.key_spec, &m.key_usage, &m.origin], m.multi_region)),
                    arn: reads.arn.then_some(key.arn.as_str()),
                };
                let index = match alike.get(&facts) {
                    Some(&i) => i,
                    None => {
                        let (known, caller) = base.get_or_insert_with(|| {
                            let partition = key.arn.split(':').nth(1).unwrap_or("aws");
                            let a = m.aws_account_id.as_str();
                            (
                                known_context(dir, None, Some(a), None, "", a, now),
                                Caller::Iam {
                                    arn: format!(
                                        "arn:{partition}:iam::{a}:role/kmsaudit-any-principal"
                                    ),
                                    account: a.to_string(),
                                },
                            )
                        });
                        let probe = Probe {
                            dir,
                            account: &m.aws_account_id,
                            arn: &key.arn,
                            caller,
                            policy: policy.as_ref(),
                        };
                        let mut known = with_key_facts(known.clone(), key);
                        unique.push(probe.guards(&mut known, recent_days, config));
                        let i = (unique.len() - 1) as u32;
                        alike.insert(facts, i);
                        i
                    }
                };
                keys.push((key.arn.as_str(), index));
            }
            (keys, unique)
        })
        .collect();
    let mut out = DeletionGuards::default();
    let mut seen: FxHashMap<DeletionGuard, u32> = FxHashMap::default();
    for (keys, unique) in per_account {
        let global: Vec<u32> = unique
            .into_iter()
            .map(|g| {
                let next = out.unique.len() as u32;
                *seen.entry(g.clone()).or_insert_with(|| {
                    out.unique.push(g);
                    next
                })
            })
            .collect();
        out.by_key
            .extend(keys.into_iter().map(|(arn, i)| (arn, global[i as usize])));
    }
    out
}

/// The days since an enabled key's last use, when that is within `unused_days`.
fn recent_use_days(
    key: &KeyRecord,
    enabled: bool,
    now: Timestamp,
    config: &EvalConfig,
) -> Option<i64> {
    match key.last_use.as_ref().map(|l| &l.state) {
        Some(state @ LastUseState::Used { .. }) if enabled => match state.idle(now) {
            Idle::Days(d) if d < config.unused_days => Some(d),
            _ => None,
        },
        _ => None,
    }
}

/// What the Denies of the SCPs and RCPs along `account`'s path read.
fn org_reads(dir: &Directory, account: &str) -> Reads {
    let path = dir.org.path_to(account).unwrap_or_default();
    [&dir.org.scps, &dir.org.rcps]
        .iter()
        .flat_map(|by_target| path.iter().flat_map(|level| by_target.get(*level)))
        .flatten()
        .fold(Reads::default(), |r, p| r.or(Reads::of(&p.policy)))
}

/// The account's context with what KMS knows of the key: its spec, usage, origin, aliases and
/// tags.
fn with_key_facts(mut known: KnownContext, key: &KeyRecord) -> KnownContext {
    let mut set = |k: &str, v: Vec<String>| {
        known.values.insert(k.to_string(), v);
    };
    if let Some(m) = &key.metadata {
        set("kms:keyspec", vec![m.key_spec.clone()]);
        set("kms:keyusage", vec![m.key_usage.clone()]);
        set("kms:keyorigin", vec![m.origin.clone()]);
        if let Some(multi) = m.multi_region {
            set("kms:multiregion", vec![multi.to_string()]);
        }
    }
    if key.aliases.is_empty() {
        known.absent.insert("kms:resourcealiases".into());
    } else {
        set("kms:resourcealiases", key.aliases.clone());
    }
    for tag in key.tags.iter().flatten() {
        set(
            &format!("aws:resourcetag/{}", tag.key.to_ascii_lowercase()),
            vec![tag.value.clone()],
        );
    }
    known
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsaudit_model::*;

    const ACCOUNT: &str = "111122223333";

    /// Keys of one standalone account (no organization), each with this policy and used
    /// `used_days_ago` before the scan.
    /// Each key's answer, by ARN, and how many distinct answers were worked out.
    struct Answers(std::collections::BTreeMap<String, DeletionGuard>, usize);

    impl Answers {
        fn get(&self, arn: &str) -> Option<&DeletionGuard> {
            self.0.get(arn)
        }
    }

    fn guards(policy: &str, arns: &[&str], used_days_ago: i64) -> Answers {
        let now: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        let keys = arns
            .iter()
            .map(|arn| {
                let mut k = fixtures::customer_key(arn);
                k.policy = Some(policy.into());
                k.last_use = Some(LastUse {
                    state: LastUseState::Used {
                        operation: "Decrypt".into(),
                        at: Timestamp::from_second(now.as_second() - used_days_ago * 86_400)
                            .unwrap(),
                        cloudtrail_event_id: None,
                    },
                    read_at: now,
                    from_baseline: false,
                });
                k
            })
            .collect();
        let snapshot = Snapshot {
            schema_version: SCHEMA_VERSION,
            metadata: ScanMetadata {
                started_at: now,
                ..Default::default()
            },
            organization: None,
            accounts: vec![fixtures::scanned_account(ACCOUNT, false, keys, None)],
            aws_managed_policies: vec![],
        };
        let g = deletion_guards(
            &snapshot,
            &Directory::build(&snapshot),
            &EvalConfig::default(),
        );
        let by_key = arns
            .iter()
            .filter_map(|a| Some((a.to_string(), g.get(a)?.clone())))
            .collect();
        Answers(by_key, g.unique.len())
    }

    fn arn(id: &str) -> String {
        format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
    }

    fn deny(resource: &str, condition: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"Guard","Effect":"Deny","Principal":"*","Action":["kms:DisableKey","kms:ScheduleKeyDeletion"],"Resource":"{resource}","Condition":{condition}}}]}}"#
        )
    }

    #[test]
    fn keys_alike_share_one_answer_and_a_deny_naming_one_key_guards_that_key_only() {
        let (a, b) = (arn("a"), arn("b"));
        let trailing = r#"{"NumericLessThan":{"kms:TrailingDaysWithoutKeyUsage":"90"}}"#;
        let g = guards(&deny("*", trailing), &[&a, &b], 3);
        assert_eq!(g.1, 1);
        assert!(g
            .get(&a)
            .unwrap()
            .recent_use
            .as_ref()
            .unwrap()
            .schedule
            .holds());

        let g = guards(&deny(&a, trailing), &[&a, &b], 3);
        let schedule = |k: &str| g.get(k).unwrap().recent_use.clone().unwrap().schedule;
        assert!(schedule(&a).holds());
        assert_eq!(schedule(&b), Guard::Open(vec![]));
    }

    #[test]
    fn the_trailing_days_are_the_keys_own() {
        let a = arn("a");
        let within_30 = r#"{"NumericLessThan":{"kms:TrailingDaysWithoutKeyUsage":"30"}}"#;
        let recent = guards(&deny("*", within_30), &[&a], 3);
        let recent = recent.get(&a).unwrap().recent_use.clone().unwrap();
        assert!(recent.disable.holds() && recent.schedule.holds());
        let older = guards(&deny("*", within_30), &[&a], 45);
        let older = older.get(&a).unwrap().recent_use.clone().unwrap();
        assert_eq!(older.schedule, Guard::Open(vec![]));
        // Unused for longer than unused_days: not asked.
        assert!(guards(&deny("*", within_30), &[&a], 200)
            .get(&a)
            .unwrap()
            .recent_use
            .is_none());
    }

    #[test]
    fn a_deny_on_who_calls_guards_with_its_exception_and_one_on_a_vpc_does_not() {
        let a = arn("a");
        let who = r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/BreakGlass"}}"#;
        let g = guards(&deny("*", who), &[&a], 3);
        match g.get(&a).unwrap().recent_use.clone().unwrap().disable {
            Guard::Denied { by, except } => {
                assert!(by.contains("Guard"), "{by}");
                assert!(
                    except.iter().any(|c| c.contains("BreakGlass")),
                    "{except:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        let vpc = r#"{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}"#;
        let g = guards(&deny("*", vpc), &[&a], 3);
        assert!(matches!(
            g.get(&a).unwrap().recent_use.clone().unwrap().disable,
            Guard::Open(only) if only.iter().any(|c| c.contains("vpce-1"))
        ));
    }

    #[test]
    fn a_deny_with_not_principal_guards_with_those_principals_excepted() {
        let a = arn("a");
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"OnlyBreakGlass","Effect":"Deny","NotPrincipal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/BreakGlass"}},"Action":["kms:DisableKey","kms:ScheduleKeyDeletion"],"Resource":"*"}}]}}"#
        );
        let g = guards(&policy, &[&a], 3);
        match g.get(&a).unwrap().recent_use.clone().unwrap().schedule {
            Guard::Denied { by, except } => {
                assert!(by.contains("OnlyBreakGlass"), "{by}");
                assert!(
                    except.iter().any(|c| c.contains("role/BreakGlass")),
                    "{except:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
