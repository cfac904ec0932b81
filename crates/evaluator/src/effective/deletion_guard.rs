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
use kmsaudit_model::{KeyRecord, LastUseState, OrgPolicyKind, Snapshot};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::decide::{by, known_context, org_layer};
use super::directory::{Directory, NamedPolicy};
use super::parse_key_policy;
use crate::config::EvalConfig;
use crate::policy::reference::Caller;
use crate::policy::{deny_statements, KnownContext, PartialRequest, Tri};

/// What stands between callers of the key's account and one request.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// `DisableKey` and `ScheduleKeyDeletion` on a key used `days` ago.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecentUseGuard {
    pub days: i64,
    pub disable: Guard,
    pub schedule: Guard,
}

/// `ScheduleKeyDeletion` with a waiting period shorter than the minimum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WindowGuard {
    /// A waiting period shorter than the minimum that is not denied (`None`: each is).
    pub allowed_window: Option<i64>,
    pub guard: Guard,
}

/// What guards one key's destruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletionGuard {
    /// Set for an enabled key used within `unused_days`.
    pub recent_use: Option<RecentUseGuard>,
    /// Set when the minimum is longer than KMS's shortest waiting period (7 days).
    pub short_window: Option<WindowGuard>,
}

/// By key ARN: the customer-managed keys that are not already pending deletion.
pub(crate) type DeletionGuards = FxHashMap<String, DeletionGuard>;

/// Condition keys that name who calls, or how (through an AWS service).
const WHO_CALLS: &[&str] = &[
    "aws:principalarn",
    "aws:principaltag/",
    "aws:userid",
    "aws:username",
    "aws:principaltype",
    "aws:viaawsservice",
    "aws:calledvia",
    "aws:sourceidentity",
];

/// KMS's shortest waiting period.
const SHORTEST_WINDOW: i64 = 7;

pub(super) fn deletion_guards(
    snapshot: &Snapshot,
    dir: &Directory,
    config: &EvalConfig,
) -> DeletionGuards {
    let now = snapshot.metadata.started_at;
    snapshot
        .accounts
        .par_iter()
        .flat_map_iter(|account| {
            let mut policies: FxHashMap<&str, Result<NamedPolicy, String>> = FxHashMap::default();
            let mut out = vec![];
            for key in account.regions.iter().flat_map(|r| &r.keys) {
                let Some(m) = &key.metadata else { continue };
                if !m.is_customer_managed()
                    || !matches!(m.key_state.as_str(), "Enabled" | "Disabled")
                {
                    continue;
                }
                let policy = match key.policy.as_deref() {
                    Some(text) => policies
                        .entry(text)
                        .or_insert_with(|| parse_key_policy(text))
                        .clone(),
                    None => Err("the key policy was not read".into()),
                };
                let probe = Probe::new(dir, key, &m.aws_account_id, policy.as_ref(), now);
                out.push((key.arn.clone(), probe.guards(key, config)));
            }
            out
        })
        .collect()
}

/// Requests by an unnamed caller of the key's account on one key.
struct Probe<'a> {
    dir: &'a Directory<'a>,
    account: &'a str,
    arn: &'a str,
    caller: Caller,
    known: KnownContext,
    policy: Result<&'a NamedPolicy, &'a String>,
    now: Timestamp,
}

impl<'a> Probe<'a> {
    fn new(
        dir: &'a Directory<'a>,
        key: &'a KeyRecord,
        account: &'a str,
        policy: Result<&'a NamedPolicy, &'a String>,
        now: Timestamp,
    ) -> Probe<'a> {
        let partition = key.arn.split(':').nth(1).unwrap_or("aws");
        let mut known = known_context(dir, None, Some(account), None, "", account, now);
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
        Probe {
            dir,
            account,
            arn: &key.arn,
            caller: Caller::Iam {
                arn: format!("arn:{partition}:iam::{account}:role/kmsaudit-any-principal"),
                account: account.to_string(),
            },
            known,
            policy,
            now,
        }
    }

    fn guards(&self, key: &KeyRecord, config: &EvalConfig) -> DeletionGuard {
        const TRAILING: &str = "kms:trailingdayswithoutkeyusage";
        const WINDOW: &str = "kms:schedulekeydeletionpendingwindowindays";
        let enabled = key
            .metadata
            .as_ref()
            .is_some_and(|m| m.key_state == "Enabled");
        let recent_days = match key.last_use.as_ref().map(|l| &l.state) {
            Some(state @ LastUseState::Used { .. }) if enabled => match state.idle(self.now) {
                kmsaudit_model::Idle::Days(d) if d < config.unused_days => Some(d),
                _ => None,
            },
            _ => None,
        };
        let recent_use = recent_days.map(|days| {
            let mut known = self.known.clone();
            known.values.insert(TRAILING.into(), vec![days.to_string()]);
            let schedule = self.guard("kms:ScheduleKeyDeletion", &known);
            known.absent.insert(WINDOW.into());
            RecentUseGuard {
                days,
                disable: self.guard("kms:DisableKey", &known),
                schedule,
            }
        });
        let min = config.min_deletion_window_days;
        let short_window = (min > SHORTEST_WINDOW).then(|| {
            let at = |window: i64| {
                let mut known = self.known.clone();
                known.values.insert(WINDOW.into(), vec![window.to_string()]);
                self.guard("kms:ScheduleKeyDeletion", &known)
            };
            let shortest = at(SHORTEST_WINDOW);
            if !shortest.holds() {
                return WindowGuard {
                    allowed_window: Some(SHORTEST_WINDOW),
                    guard: shortest,
                };
            }
            match at(min - 1) {
                g if g.holds() => WindowGuard {
                    allowed_window: None,
                    guard: shortest,
                },
                g => WindowGuard {
                    allowed_window: Some(min - 1),
                    guard: g,
                },
            }
        });
        DeletionGuard {
            recent_use,
            short_window,
        }
    }

    /// The key policy's Denies, then the SCPs' and RCPs' along the account's path, each
    /// statement on its own.
    fn guard(&self, action: &str, known: &KnownContext) -> Guard {
        let action = action.to_ascii_lowercase();
        let request = PartialRequest {
            caller: &self.caller,
            action: &action,
            resource: self.arn,
            known,
            through_account: true,
        };
        let mut denies: Vec<(Tri, Option<String>)> = vec![];
        let mut unknown: Option<String> = None;
        match self.policy {
            Ok(p) => add_statements(&mut denies, p, &request),
            Err(reason) => unknown = Some(reason.clone()),
        }
        let dir = self.dir;
        if dir.is_member(self.account) {
            let kinds = [
                (OrgPolicyKind::ServiceControlPolicy, &dir.org.scps),
                (OrgPolicyKind::ResourceControlPolicy, &dir.org.rcps),
            ];
            for (kind, by_target) in kinds {
                if !dir.org.applies(kind) {
                    continue;
                }
                let scp = kind == OrgPolicyKind::ServiceControlPolicy;
                match org_layer(dir, self.account, by_target, &request, scp) {
                    (Err(reason), _, _) => {
                        unknown.get_or_insert(reason);
                        continue;
                    }
                    // An SCP allow-list that leaves the action out denies it too.
                    (Ok(Tri::No), _, _) if scp => denies.push((
                        Tri::Yes,
                        Some(
                            "the SCPs along the account's path (none allows it at some level)"
                                .into(),
                        ),
                    )),
                    _ => {}
                }
                let path = dir.org.path_to(self.account).unwrap_or_default();
                for p in path
                    .iter()
                    .flat_map(|level| by_target.get(*level))
                    .flatten()
                {
                    add_statements(&mut denies, p, &request);
                }
            }
        }
        decide_layers(denies, unknown)
    }
}

/// Each Deny statement of `p` that can apply, with the words naming it.
fn add_statements(
    denies: &mut Vec<(Tri, Option<String>)>,
    p: &NamedPolicy,
    request: &PartialRequest,
) {
    for (i, t) in deny_statements(&p.policy, request) {
        denies.push((t, by(p, Some(i))));
    }
}

/// The strongest guard among the Deny statements that can apply.
fn decide_layers(layers: Vec<(Tri, Option<String>)>, unknown: Option<String>) -> Guard {
    let label = |by: &Option<String>| by.clone().unwrap_or_else(|| "a Deny".into());
    if let Some((_, by)) = layers.iter().find(|(t, _)| *t == Tri::Yes) {
        return Guard::Denied {
            by: label(by),
            except: vec![],
        };
    }
    let who_calls = |c: &String| {
        let c = c.to_ascii_lowercase();
        WHO_CALLS.iter().any(|k| c.contains(k))
    };
    let excepted = layers.iter().find_map(|(t, by)| match t {
        Tri::Open(c) if c.iter().all(who_calls) => Some((by, c)),
        _ => None,
    });
    if let Some((by, except)) = excepted {
        return Guard::Denied {
            by: label(by),
            except: except.iter().cloned().collect(),
        };
    }
    if let Some(reason) = unknown {
        return Guard::Unknown(reason);
    }
    Guard::Open(
        layers
            .into_iter()
            .filter_map(|(t, by)| match t {
                Tri::Open(c) => Some(format!(
                    "{} denies it only when {}",
                    label(&by),
                    c.into_iter().collect::<Vec<_>>().join(" and ")
                )),
                _ => None,
            })
            .collect(),
    )
}
