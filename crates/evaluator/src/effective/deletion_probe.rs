//! One key's guards: the requests [`super::deletion_guard`] asks, and how the Deny statements
//! that can apply decide each (see there).

use kmsaudit_model::OrgPolicyKind;

use super::decide::{by, org_layer};
use super::deletion_guard::{DeletionGuard, Guard, RecentUseGuard, WindowGuard};
use super::directory::{Directory, NamedPolicy};
use crate::config::EvalConfig;
use crate::policy::reference::Caller;
use crate::policy::{deny_statements, KnownContext, PartialRequest, PrincipalSpec, Tri};

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

/// Requests by an unnamed caller of the key's account on one key.
pub(super) struct Probe<'a> {
    pub dir: &'a Directory<'a>,
    pub account: &'a str,
    pub arn: &'a str,
    pub caller: &'a Caller,
    pub policy: Result<&'a NamedPolicy, &'a String>,
}

impl Probe<'_> {
    /// `known`: the key's context, changed in place from one request to the next.
    pub fn guards(
        &self,
        known: &mut KnownContext,
        recent_days: Option<i64>,
        config: &EvalConfig,
    ) -> DeletionGuard {
        const TRAILING: &str = "kms:trailingdayswithoutkeyusage";
        const WINDOW: &str = "kms:schedulekeydeletionpendingwindowindays";
        let recent_use = recent_days.map(|days| {
            known.values.insert(TRAILING.into(), vec![days.to_string()]);
            let schedule = self.guard("kms:ScheduleKeyDeletion", known);
            known.absent.insert(WINDOW.into());
            let disable = self.guard("kms:DisableKey", known);
            known.values.remove(TRAILING);
            known.absent.remove(WINDOW);
            RecentUseGuard { disable, schedule }
        });
        let min = config.min_deletion_window_days;
        let short_window = (min > SHORTEST_WINDOW).then(|| {
            let mut at = |window: i64| {
                known.values.insert(WINDOW.into(), vec![window.to_string()]);
                self.guard("kms:ScheduleKeyDeletion", known)
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
            caller: self.caller,
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
        // A Deny on everyone but the principals NotPrincipal names guards with them excepted.
        let t = match &p.policy.statements[i].principals {
            PrincipalSpec::NotPrincipal(list) => {
                let names: Vec<String> = list.iter().map(|p| p.describe()).collect();
                let except = format!(
                    "aws:PrincipalArn is none of {} (NotPrincipal)",
                    names.join(", ")
                );
                t.and(Tri::Open(std::iter::once(except).collect()))
            }
            PrincipalSpec::Principal(_) => t,
        };
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
