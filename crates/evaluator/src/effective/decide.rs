//! IAM's decision for one caller, one action and one resource (a key, or a role to assume),
//! every layer read: the resource policy as the gate (an account principal delegates to that
//! account's IAM; a principal of the resource's own account named directly needs nothing
//! more; one of another account needs its own IAM to allow too), identity policies capped by
//! the permissions boundary, grants, SCPs at every level of the caller's account, RCPs at every
//! level of the resource's account, and an explicit Deny anywhere wins.
//!
//! Conditions the caller and resource do not decide stay open ([`Tri::Open`]); data that could
//! not be read makes a possible answer NOT_ASSESSED, never "no".

use std::collections::BTreeSet;

use jiff::Timestamp;
use kmsaudit_model::OrgPolicyKind;

use super::directory::{Directory, Identity, NamedPolicy};
use crate::policy::reference::Caller;
use crate::policy::{match_policy, ActionSet, KnownContext, PartialRequest, Tri};

/// The resource of a request.
pub(crate) struct Target<'a> {
    pub arn: &'a str,
    pub account: &'a str,
    /// The key policy or trust policy; `Err` says why it cannot be read.
    pub policy: Result<&'a NamedPolicy, &'a str>,
    /// Whether RCPs of its account apply (not to AWS managed keys).
    pub rcp_applies: bool,
    /// A KMS key: only the operations KMS allows across accounts work from another account.
    pub is_key: bool,
}

/// What the caller's own side says.
pub(crate) enum IdentitySide<'a> {
    /// An IAM user or role of a scanned account.
    Policies(&'a Identity<'a>),
    /// A principal whose account was not scanned: its own administrators decide.
    Unscanned {
        /// An account root can grant itself anything; a named identity only what its account's
        /// IAM gives it (unknown).
        root: bool,
    },
    /// An AWS service principal: the resource policy alone decides.
    Service,
}

/// One caller as the decision sees it.
pub(crate) struct CallerView<'a> {
    pub caller: Caller,
    pub account: Option<String>,
    pub known: KnownContext,
    pub side: IdentitySide<'a>,
    /// Why what decides this caller's access could not be read (its account's IAM).
    pub unreadable: Option<String>,
}

/// IAM's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub verdict: Tri,
    pub via: Vec<String>,
    /// Set when the answer could be "yes" but something that decides it was not read.
    pub not_assessed: Option<String>,
}

impl Answer {
    pub fn no() -> Answer {
        Answer {
            verdict: Tri::No,
            via: vec![],
            not_assessed: None,
        }
    }
}

/// The condition keys a caller and a resource decide, for a caller of `account` (`None`: any
/// account outside those scanned).
pub(crate) fn known_context(
    dir: &Directory,
    arn: Option<&str>,
    account: Option<&str>,
    user_name: Option<&str>,
    principal_type: &str,
    resource_account: &str,
    now: Timestamp,
) -> KnownContext {
    let mut k = KnownContext::default();
    set(&mut k, "aws:resourceaccount", resource_account);
    set(&mut k, "aws:securetransport", "true");
    set(&mut k, "aws:currenttime", &now.to_string());
    set(&mut k, "aws:epochtime", &now.as_second().to_string());
    let in_org = |a: &str| dir.members.contains(a);
    if let (Some(org), true) = (dir.org_id, in_org(resource_account)) {
        set(&mut k, "aws:resourceorgid", org);
    }
    if principal_type == "Service" {
        set(&mut k, "aws:principalisawsservice", "true");
        return k;
    }
    set(&mut k, "aws:principalisawsservice", "false");
    if let Some(arn) = arn {
        set(&mut k, "aws:principalarn", arn);
    }
    if !principal_type.is_empty() {
        set(&mut k, "aws:principaltype", principal_type);
    }
    if let Some(account) = account {
        set(&mut k, "aws:principalaccount", account);
        set(&mut k, "kms:calleraccount", account);
        match (dir.org_id, in_org(account)) {
            (Some(org), true) => set(&mut k, "aws:principalorgid", org),
            // A scanned account outside any organization.
            (None, _) if dir.iam_read.contains(account) => {
                k.absent.insert("aws:principalorgid".into());
            }
            (Some(org), false) => outside_org(&mut k, org),
            _ => {}
        }
    } else if let Some(org) = dir.org_id {
        // Anyone outside the scanned accounts: not in the organization.
        outside_org(&mut k, org);
    }
    if let Some(name) = user_name {
        set(&mut k, "aws:username", name);
    } else if principal_type == "AssumedRole" || principal_type == "Account" {
        k.absent.insert("aws:username".into());
    }
    k.absent.insert("aws:principalservicename".into());
    k
}

fn set(k: &mut KnownContext, key: &str, v: &str) {
    k.values.insert(key.into(), vec![v.to_string()]);
}

/// A caller of an account the organization does not list: in no organization, or in another.
fn outside_org(k: &mut KnownContext, org: &str) {
    k.one_of.insert(
        "aws:principalorgid".into(),
        vec![None, Some(format!("{org}-other"))],
    );
}

/// Decides `action` by `who` on `target`, with what grants give `who` on it.
pub(crate) fn decide(
    dir: &Directory,
    who: &CallerView,
    action: &str,
    target: &Target,
    grant: (Tri, Option<String>),
) -> Answer {
    let policy = match target.policy {
        Ok(p) => p,
        Err(reason) => {
            return Answer {
                verdict: Tri::Open(BTreeSet::new()),
                via: vec![],
                not_assessed: Some(reason.to_string()),
            }
        }
    };
    let action = &action.to_ascii_lowercase();
    let req = |through_account| PartialRequest {
        caller: &who.caller,
        action,
        resource: target.arn,
        known: &who.known,
        through_account,
    };
    let full = match_policy(&policy.policy, &req(true));
    // Without the resource policy (or a grant) nothing allows: the rest need not be read.
    if !full.allow.possible() && !grant.0.possible() {
        return Answer::no();
    }
    let direct = match_policy(&policy.policy, &req(false));
    let mut not_assessed = who.unreadable.clone();
    let mut via = vec![];
    let mut deny = full.deny.clone();
    let mut denied_by = full.denied_by.map(|i| (policy, i));

    // The caller's own side: its identity policies, capped by its boundary.
    let identity = match &who.side {
        IdentitySide::Policies(id) => {
            let mut allow = Tri::No;
            let mut allowed_by = None;
            for p in &id.policies {
                let m = match_policy(&p.policy, &req(true));
                if m.allow.possible() && (allowed_by.is_none() || m.allow == Tri::Yes) {
                    allowed_by = m.allowed_by.map(|i| (p, i));
                }
                allow = allow.or(m.allow);
                if m.deny.possible() && denied_by.is_none() {
                    denied_by = m.denied_by.map(|i| (p, i));
                }
                deny = deny.or(m.deny);
            }
            if let Some(b) = &id.boundary {
                let m = match_policy(&b.policy, &req(true));
                allow = allow.and(m.allow);
                deny = deny.or(m.deny);
            }
            if let Some(reason) = id.unreadable.first() {
                allow = allow.or(Tri::Open(BTreeSet::new()));
                not_assessed.get_or_insert_with(|| format!("{}: {reason}", id.record.arn));
            }
            (allow, allowed_by)
        }
        IdentitySide::Unscanned { root: true } => (Tri::Yes, None),
        IdentitySide::Unscanned { root: false } => (
            Tri::Open(BTreeSet::from([format!(
                "account {}'s IAM allows it (not scanned)",
                who.account.as_deref().unwrap_or("?")
            )])),
            None,
        ),
        IdentitySide::Service => (Tri::Yes, None),
    };
    let same_account = who.account.as_deref() == Some(target.account);
    let crosses_ok = !target.is_key
        || same_account
        || ActionSet::matching(action).overlaps(ActionSet::cross_account());
    let through_iam = full.allow.clone().and(identity.0.clone());
    let mut allow = if !crosses_ok {
        Tri::No
    } else if same_account {
        direct.allow.clone().or(through_iam.clone())
    } else {
        through_iam.clone()
    };
    if same_account && direct.allow == Tri::Yes {
        via.extend(by(policy, direct.allowed_by));
    } else if through_iam.possible() {
        via.extend(by(policy, full.allowed_by));
        via.extend(identity.1.and_then(|(p, i)| by(p, Some(i))));
    } else if direct.allow.possible() && same_account {
        via.extend(by(policy, direct.allowed_by));
    }
    if grant.0.possible() && !matches!(allow, Tri::Yes) {
        if !allow.possible() || grant.0 == Tri::Yes {
            via = grant.1.into_iter().collect();
        }
        allow = allow.or(grant.0);
    }
    if !allow.possible() {
        return Answer::no();
    }

    // SCPs of the caller's account, RCPs of the resource's.
    let scp_applies = matches!(&who.side, IdentitySide::Policies(id) if !id.record.is_service_linked())
        || matches!(who.side, IdentitySide::Unscanned { .. });
    if let Some(account) = who.account.as_deref().filter(|a| {
        scp_applies && dir.is_member(a) && dir.org.applies(OrgPolicyKind::ServiceControlPolicy)
    }) {
        let (cap, scp_deny, by) = org_layer(dir, account, &dir.org.scps, &req(true), true);
        allow = allow.and(cap.unwrap_or_else(|reason| {
            not_assessed.get_or_insert(reason);
            Tri::Open(BTreeSet::new())
        }));
        if scp_deny.possible() && denied_by.is_none() {
            denied_by = by;
        }
        deny = deny.or(scp_deny);
    }
    if target.rcp_applies
        && dir.is_member(target.account)
        && dir.org.applies(OrgPolicyKind::ResourceControlPolicy)
    {
        let (known, rcp_deny, by) =
            org_layer(dir, target.account, &dir.org.rcps, &req(true), false);
        if let Err(reason) = known {
            not_assessed.get_or_insert(reason);
        }
        if rcp_deny.possible() && denied_by.is_none() {
            denied_by = by;
        }
        deny = deny.or(rcp_deny);
    }
    let verdict = allow.unless_denied(&deny);
    if !matches!(deny, Tri::No) && verdict.possible() {
        via.extend(
            denied_by
                .and_then(|(p, i)| by(p, Some(i)))
                .map(|d| format!("(open Deny: {d})")),
        );
    }
    Answer {
        not_assessed: not_assessed.filter(|_| verdict.possible()),
        verdict,
        via,
    }
}

/// The words naming statement `i` of a named policy.
pub(super) fn by(p: &NamedPolicy, i: Option<usize>) -> Option<String> {
    i.map(|i| {
        format!(
            "{} {}",
            p.label,
            crate::policy::statement_label(&p.policy.statements[i])
        )
    })
}

/// SCPs (`need_allow`: some policy at every level must allow) or RCPs (only Denies matter:
/// `RCPFullAWSAccess` cannot be detached) along the path from the root to `account`.
pub(super) fn org_layer<'d>(
    dir: &Directory,
    account: &str,
    by_target: &'d rustc_hash::FxHashMap<&str, Vec<NamedPolicy>>,
    req: &PartialRequest,
    need_allow: bool,
) -> (Result<Tri, String>, Tri, Option<(&'d NamedPolicy, usize)>) {
    let (Some(_), None) = (dir.org.tree, &dir.org.unreadable) else {
        let reason = dir
            .org
            .unreadable
            .clone()
            .unwrap_or_else(|| "the organization's policies were not read".into());
        return (Err(reason), Tri::No, None);
    };
    let Some(path) = dir.org.path_to(account) else {
        return (
            Err(format!(
                "account {account} is not in the organization tree read"
            )),
            Tri::No,
            None,
        );
    };
    let (mut allow, mut deny, mut denied_by) = (Tri::Yes, Tri::No, None);
    for level in path {
        let mut level_allow = Tri::No;
        for p in by_target.get(*level).into_iter().flatten() {
            let m = match_policy(&p.policy, req);
            level_allow = level_allow.or(m.allow);
            if m.deny.possible() && denied_by.is_none() {
                denied_by = m.denied_by.map(|i| (p, i));
            }
            deny = deny.or(m.deny);
        }
        if need_allow {
            allow = allow.and(level_allow);
        }
    }
    (Ok(allow), deny, denied_by)
}
