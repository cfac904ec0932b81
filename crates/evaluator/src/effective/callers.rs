//! Who to ask about a resource policy: the scanned identities it can reach, and the principals
//! it names that were not scanned (other accounts, their roles, services, anyone).

use std::collections::BTreeSet;

use jiff::Timestamp;
use kmsaudit_model::{arn_account, IamPrincipalKind};

use super::decide::{known_context, CallerView, IdentitySide};
use super::directory::Directory;
use crate::policy::reference::Caller;
use crate::policy::{Effect, Policy, Principal, PrincipalSpec};

/// A caller, by reference into the directory or by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum CallerRef {
    /// `Directory::identities[i]`.
    Identity(usize),
    /// An account's root user, or an IAM identity of an account that was not scanned (or whose
    /// IAM was not read): its ARN and account.
    Unscanned { arn: String, account: String },
    /// An AWS service principal.
    Service(String),
    /// Any caller of an account outside those scanned.
    Anyone,
}

impl CallerRef {
    /// The principal column of access.csv and its account.
    pub fn name<'a>(&'a self, dir: &'a Directory) -> (&'a str, Option<&'a str>) {
        match self {
            CallerRef::Identity(i) => {
                let id = &dir.identities[*i];
                (&id.record.arn, Some(id.account))
            }
            CallerRef::Unscanned { arn, account } => (arn, Some(account)),
            CallerRef::Service(name) => (name, None),
            CallerRef::Anyone => ("*", None),
        }
    }

    /// The caller as the decision sees it, for a resource of `resource_account`.
    pub fn view<'d>(
        &self,
        dir: &'d Directory,
        resource_account: &str,
        now: Timestamp,
    ) -> CallerView<'d> {
        match self {
            CallerRef::Identity(i) => {
                let id = &dir.identities[*i];
                let (kind, user) = match id.record.kind {
                    IamPrincipalKind::User => ("User", id.record.arn.rsplit('/').next()),
                    IamPrincipalKind::Role => ("AssumedRole", None),
                };
                CallerView {
                    caller: Caller::Iam {
                        arn: id.record.arn.clone(),
                        account: id.account.to_string(),
                    },
                    account: Some(id.account.to_string()),
                    known: known_context(
                        dir,
                        Some(&id.record.arn),
                        Some(id.account),
                        user,
                        kind,
                        resource_account,
                        now,
                    ),
                    side: IdentitySide::Policies(id),
                    unreadable: dir.iam_unreadable.get(id.account).cloned(),
                }
            }
            CallerRef::Unscanned { arn, account } => {
                let root = arn.ends_with(":root");
                // An account the scan covered whose IAM it could not read is not "outside".
                let unreadable = dir.iam_unreadable.get(account.as_str()).cloned();
                let principal_type = if root { "Account" } else { "" };
                CallerView {
                    caller: Caller::Iam {
                        arn: arn.clone(),
                        account: account.clone(),
                    },
                    account: Some(account.clone()),
                    known: known_context(
                        dir,
                        Some(arn),
                        Some(account),
                        None,
                        principal_type,
                        resource_account,
                        now,
                    ),
                    side: IdentitySide::Unscanned { root },
                    unreadable,
                }
            }
            CallerRef::Service(name) => {
                let mut known =
                    known_context(dir, None, None, None, "Service", resource_account, now);
                known
                    .values
                    .insert("aws:principalservicename".into(), vec![name.clone()]);
                CallerView {
                    caller: Caller::Service(name.clone()),
                    account: None,
                    known,
                    side: IdentitySide::Service,
                    unreadable: None,
                }
            }
            CallerRef::Anyone => CallerView {
                caller: Caller::Iam {
                    arn: "*".into(),
                    account: "*".into(),
                },
                account: None,
                known: known_context(dir, None, None, None, "", resource_account, now),
                side: IdentitySide::Unscanned { root: true },
                unreadable: None,
            },
        }
    }
}

/// Every caller a resource policy's Allow statements can reach: scanned identities of the
/// accounts it names (all of them when it allows `*` or uses `NotPrincipal`), the principals it
/// names that were not scanned, services, and anyone.
/// Of a key policy of `account`: a `*` admits that account's identities and those of other
/// accounts whose own policies can allow a `kms:` action on its keys; an account principal
/// admits that account's identities whose own policies can allow some `kms:` action.
pub(crate) fn callers_of(policy: &Policy, dir: &Directory, account: &str) -> BTreeSet<CallerRef> {
    callers_where(policy, dir, Some(account))
}

/// [`callers_of`] for a trust policy: of the identities an account principal stands for,
/// only those whose own policies can allow some AssumeRole (the others get in only when the
/// trust policy names them).
pub(crate) fn callers_of_trust(policy: &Policy, dir: &Directory) -> BTreeSet<CallerRef> {
    callers_where(policy, dir, None)
}

/// `key_account`: the account of the key whose policy it is; `None` for a trust policy.
fn callers_where(
    policy: &Policy,
    dir: &Directory,
    key_account: Option<&str>,
) -> BTreeSet<CallerRef> {
    let assumers_only = key_account.is_none();
    let mut out = BTreeSet::new();
    let mut accounts = BTreeSet::new();
    let mut everyone = false;
    for st in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
    {
        let list = match &st.principals {
            PrincipalSpec::Principal(list) => list,
            PrincipalSpec::NotPrincipal(_) => {
                everyone = true;
                continue;
            }
        };
        for p in list {
            match p {
                Principal::Anyone => everyone = true,
                Principal::Account(a) => {
                    accounts.insert(a.clone());
                    // The account's root user: no IAM policy limits it, SCPs do.
                    out.insert(CallerRef::Unscanned {
                        arn: format!("arn:aws:iam::{a}:root"),
                        account: a.clone(),
                    });
                }
                Principal::Identity { arn, .. } => match dir.by_arn.get(arn.as_str()) {
                    Some(i) => {
                        out.insert(CallerRef::Identity(*i));
                    }
                    None => {
                        // Not in its account's IAM, read whole: it does not exist (AWS shows a
                        // deleted principal by its unique id), so it can do nothing.
                        if let Some(account) =
                            arn_account(arn).filter(|a| !dir.iam_read.contains(a))
                        {
                            out.insert(CallerRef::Unscanned {
                                arn: arn.clone(),
                                account: account.to_string(),
                            });
                        }
                    }
                },
                Principal::Service(name) => {
                    out.insert(CallerRef::Service(name.clone()));
                }
                _ => {}
            }
        }
    }
    if everyone {
        out.insert(CallerRef::Anyone);
    }
    if let (true, Some(key_account)) = (everyone, key_account) {
        let own = dir.by_account.get(key_account).cloned().unwrap_or_default();
        let others = dir.kms_anywhere.iter().copied().chain(
            dir.kms_by_account
                .get(key_account)
                .into_iter()
                .flatten()
                .copied(),
        );
        out.extend(own.chain(others).map(CallerRef::Identity));
    } else if everyone {
        out.extend((0..dir.identities.len()).map(CallerRef::Identity));
        return out;
    }
    for a in &accounts {
        if assumers_only {
            let ids = dir.assumers.get(a.as_str()).into_iter().flatten();
            out.extend(ids.map(|&i| CallerRef::Identity(i)));
        } else if let Some(range) = dir.by_account.get(a.as_str()) {
            // Through an account principal a caller needs its own IAM to allow the call: only
            // identities whose policies can allow some `kms:` action can (all of them when the
            // account's IAM was not read whole: they are NOT_ASSESSED, never left out).
            let whole = !dir.iam_unreadable.contains_key(a.as_str());
            out.extend(
                range
                    .clone()
                    .filter(|&i| !whole || dir.identities[i].may_use_kms())
                    .map(CallerRef::Identity),
            );
        }
    }
    out
}
