//! Applying one Deny statement to the accesses the Allow statements gave (see `analysis.rs` for
//! the rules followed): unconditional Denies remove actions, Denies with one negated caller pin
//! narrow, Denies aimed at accounts remove them from a pinned `*`, and a named principal that
//! can never satisfy a Deny's condition is denied.

use std::collections::BTreeSet;

use super::access::{Access, Reach, Who};
use super::actions::ActionSet;
use super::condition::{Condition, Pin};
use super::deny_kind::{
    account_matches, classify, covers_required_values, for_named, holds_when_absent,
    holds_without_organization, iam_arn, requires_absent, requires_key, requires_present,
    unique_id_assumption, user_name, DenyKind,
};
use super::parse::{Principal, PrincipalSpec, Statement};

/// Applies `deny` to `accesses`. `can_satisfy(i, p)`: whether principal `p` can be a caller
/// that Allow statement `i` admits (for the principals a `NotPrincipal` exempts).
pub(super) fn apply_deny(
    deny: &Statement,
    accesses: &mut Vec<Access>,
    can_satisfy: &dyn Fn(usize, &Principal) -> bool,
) {
    let all: Vec<&Condition> = deny.conditions.iter().collect();
    let deny_conditions: Vec<String> = deny.conditions.iter().map(Condition::describe).collect();
    let general = classify(&all);
    // What a named principal's own ARN, user name or unique id may decide: looked at only when
    // the Deny has a condition on it (a policy of many principals × many Denies asks often).
    let on_key = |key: &str| deny.conditions.iter().any(|c| c.key == key);
    let (on_username, on_principal_arn, on_userid) = (
        on_key("aws:username"),
        on_key("aws:principalarn"),
        on_key("aws:userid"),
    );
    let named_account = |a: &Access| match &a.who {
        Who::Named(p) if !deny.conditions.is_empty() => p.account().map(str::to_string),
        _ => None,
    };
    // The Deny's conditions are all among the Allow's (or, for `Null K false`, the Allow
    // requires K): whenever the Allow applies, so does the Deny.
    let implied = |a: &Access| {
        !deny_conditions.is_empty()
            && deny
                .conditions
                .iter()
                .zip(&deny_conditions)
                .all(|(c, text)| {
                    a.conditions.contains(text)
                        || (requires_present(c)
                            && a.conditions.iter().any(|t| requires_key(t, &c.key)))
                        || (matches!(a.who, Who::Service { .. }) && holds_without_organization(c))
                        || (holds_when_absent(c)
                            && a.conditions.iter().any(|t| requires_absent(t, &c.key)))
                        || covers_required_values(c, a)
                })
    };
    if matches!(general, DenyKind::Opaque)
        && !accesses
            .iter()
            .any(|a| named_account(a).is_some() || implied(a))
    {
        return;
    }
    let mut added = Vec::new();
    for access in accesses.iter_mut() {
        let overlap = access.actions.intersect(deny.actions.set);
        if overlap.is_empty() {
            continue;
        }
        // A named principal's own account decides some conditions for it.
        let specialized;
        let unconditional = DenyKind::Unconditional;
        let kind = match named_account(access) {
            _ if implied(access) => &unconditional,
            Some(account) => match for_named(
                &deny.conditions,
                &account,
                on_username.then(|| user_name(access)).flatten(),
                on_principal_arn.then(|| iam_arn(access)).flatten(),
            ) {
                None => continue,
                // Nothing decided by the principal's own account: the Deny reads as for anyone.
                Some(left) if left.len() == all.len() && !on_userid => &general,
                Some(left) => {
                    let covered = match &deny.principals {
                        PrincipalSpec::Principal(list) => access.who.covered_by_any(list),
                        PrincipalSpec::NotPrincipal(exempt) => {
                            !exempt.contains(&Principal::Anyone)
                                && !exempts(exempt, access, can_satisfy)
                        }
                    };
                    if let Some(assumed) =
                        unique_id_assumption(&left, access, deny.index).filter(|_| covered)
                    {
                        access.assumed = access.assumed.iter().cloned().chain([assumed]).collect();
                        continue;
                    }
                    specialized = classify(&left);
                    &specialized
                }
            },
            None => &general,
        };
        // Denying callers in no organization turns the Allow's `…IfExists` organization
        // condition into a pin: a caller that gets past the Deny has an organization, so it
        // must be one the Allow names.
        let pinned;
        let kind = match (kind, &access.orgs_if_present) {
            (DenyKind::NoOrganization, Some(pin)) if !matches!(access.who, Who::Service { .. }) => {
                pinned = DenyKind::Pin {
                    pin: pin.clone(),
                    caller: true,
                };
                &pinned
            }
            _ => kind,
        };
        match (&deny.principals, kind) {
            // `NotPrincipal: "*"` exempts everyone: the Deny covers nobody.
            (PrincipalSpec::NotPrincipal(exempt), _) if exempt.contains(&Principal::Anyone) => {}
            (PrincipalSpec::NotPrincipal(exempt), DenyKind::Unconditional) => {
                // Everyone but `exempt` is denied: an Allow to everyone keeps exactly the exempt
                // principals (services, federated users, identities as written, not their
                // accounts), for the actions the Deny covers.
                if matches!(access.who, Who::Everyone { .. }) {
                    added.extend(exempt_copies(
                        access,
                        exempt,
                        overlap,
                        deny.index,
                        can_satisfy,
                    ));
                    access.actions = access.actions.minus(overlap);
                } else if !exempts(exempt, access, can_satisfy) {
                    // An exempt identity inside the allowed account keeps its access through the
                    // account's IAM delegation, which the analysis cannot narrow to that identity:
                    // the account's access is then left whole (over-stated, never hidden).
                    access.actions = access.actions.minus(overlap);
                }
            }
            (PrincipalSpec::NotPrincipal(exempt), DenyKind::NoOrganization) => {
                if matches!(access.who, Who::Service { .. }) && !access.who.covered_by_any(exempt) {
                    access.actions = access.actions.minus(overlap);
                }
            }
            (PrincipalSpec::NotPrincipal(exempt), DenyKind::Pin { pin, caller }) => {
                // Everyone the Deny does not exempt must satisfy the pin, exactly as under
                // `Principal: *`; the exempt principals keep what the Allow gave them.
                if exempts(exempt, access, can_satisfy) {
                    continue;
                }
                if matches!(access.who, Who::Everyone { .. }) {
                    added.extend(exempt_copies(
                        access,
                        exempt,
                        overlap,
                        deny.index,
                        can_satisfy,
                    ));
                }
                narrow_by_pin(access, overlap, deny.index, pin, *caller, &mut added);
            }
            (PrincipalSpec::NotPrincipal(exempt), DenyKind::CallerAccountMatches(c))
                if !exempt
                    .iter()
                    .any(|e| access.who.covered_by(e) || access.who.holds_identity(e)) =>
            {
                if let Who::Named(p) = &access.who {
                    if p.account().is_some_and(|a| account_matches(c, a)) {
                        access.actions = access.actions.minus(overlap);
                    }
                }
            }
            (PrincipalSpec::NotPrincipal(_), _) => {}
            (PrincipalSpec::Principal(list), DenyKind::CallerAccountMatches(c)) => {
                if !access.who.covered_by_any(list) {
                    continue;
                }
                let matches = |account: &str| account_matches(c, account);
                match &mut access.who {
                    Who::Named(p) if p.account().is_some_and(matches) => {
                        access.actions = access.actions.minus(overlap)
                    }
                    Who::Everyone { reach, .. } => {
                        let gone: Vec<String> = reach
                            .accounts
                            .iter()
                            .flatten()
                            .filter(|a| !super::wildcard::has_wildcard(a) && matches(a))
                            .cloned()
                            .collect();
                        if !gone.is_empty() {
                            split(access, overlap, deny.index, &mut added, |a| {
                                if let Who::Everyone { reach, .. } = &mut a.who {
                                    if let Some(accounts) = &mut reach.accounts {
                                        accounts.retain(|x| !gone.contains(x));
                                    }
                                }
                            });
                        }
                    }
                    _ => {}
                }
            }
            (PrincipalSpec::Principal(list), DenyKind::NoOrganization) => {
                if matches!(access.who, Who::Service { .. }) && access.who.covered_by_any(list) {
                    access.actions = access.actions.minus(overlap);
                }
            }
            (PrincipalSpec::Principal(list), kind) => {
                if !access.who.covered_by_any(list) {
                    deny_accounts_in_reach(
                        list,
                        &deny.conditions,
                        access,
                        overlap,
                        deny.index,
                        &mut added,
                    );
                    continue;
                }
                match kind {
                    DenyKind::Unconditional => access.actions = access.actions.minus(overlap),
                    DenyKind::Pin { pin, caller } => {
                        narrow_by_pin(access, overlap, deny.index, pin, *caller, &mut added)
                    }
                    DenyKind::NoOrganization
                    | DenyKind::CallerAccountMatches(_)
                    | DenyKind::Opaque => {}
                }
            }
        }
    }
    accesses.extend(added);
}

/// A Deny with one negated pin, covering `access`: a named principal that can never satisfy
/// the pin is denied; everyone else is narrowed to callers that satisfy it.
fn narrow_by_pin(
    access: &mut Access,
    overlap: ActionSet,
    deny_index: usize,
    pin: &Pin,
    caller: bool,
    added: &mut Vec<Access>,
) {
    // A service principal's own account and organization are AWS's: a pin on the caller's
    // account or organization denies it.
    let service_out =
        matches!(access.who, Who::Service { .. }) && matches!(pin, Pin::Accounts(_) | Pin::Orgs(_));
    if caller && (service_out || matches!(&access.who, Who::Named(p) if !admits_pin(pin, p))) {
        access.actions = access.actions.minus(overlap);
        return;
    }
    split(access, overlap, deny_index, added, |a| match &mut a.who {
        Who::Everyone { reach, .. } => reach.narrow(pin),
        Who::Service { on_behalf_of, .. } => on_behalf_of.narrow(pin),
        Who::Named(_) => {
            if let (Pin::Orgs(orgs), true) = (pin, caller) {
                let mut r = Reach {
                    orgs: a.principal_orgs.take(),
                    ..Reach::default()
                };
                r.narrow(&Pin::Orgs(orgs.clone()));
                a.principal_orgs = r.orgs;
            }
        }
    })
}

/// Whether a `NotPrincipal` exempts the principal of `access`: it names it, or names an
/// identity of its account that can be a caller the Allow admits.
fn exempts(
    exempt: &[Principal],
    access: &Access,
    can_satisfy: &dyn Fn(usize, &Principal) -> bool,
) -> bool {
    exempt.iter().any(|e| {
        access.who.covered_by(e)
            || (access.who.holds_identity(e) && can_satisfy(access.statement_index, e))
    })
}

/// The principals a Deny's `NotPrincipal` exempts keep what an Allow to everyone gave them, for
/// the actions the Deny covers: one access each (a service on behalf of whomever the Allow's
/// pins admit), unless the Allow itself, its account pins or its conditions leave them out.
fn exempt_copies(
    access: &Access,
    exempt: &[Principal],
    overlap: ActionSet,
    deny_index: usize,
    can_satisfy: &dyn Fn(usize, &Principal) -> bool,
) -> Vec<Access> {
    let Who::Everyone { reach, except } = &access.who else {
        return vec![];
    };
    let allowed = |p: &Principal| {
        let named = Who::Named(p.clone());
        let pinned_out = match (&reach.accounts, p.account()) {
            (Some(set), Some(account)) => !super::reach::admits(set, account),
            _ => false,
        };
        !pinned_out && !named.covered_by_any(except) && can_satisfy(access.statement_index, p)
    };
    exempt
        .iter()
        .filter(|p| allowed(p))
        .map(|p| {
            let mut kept = access.clone();
            kept.actions = overlap;
            kept.record_narrowing(deny_index);
            kept.who = match p {
                Principal::Service(name) => {
                    kept.assumed = service_assumed(&kept);
                    Who::Service {
                        name: name.clone(),
                        on_behalf_of: reach.clone(),
                    }
                }
                other => {
                    kept.principal_orgs = reach.orgs.clone();
                    Who::Named(other.clone())
                }
            };
            kept
        })
        .collect()
}

/// What an Allow to everyone assumes once a service principal is left with it: the
/// conditions on the caller's identity, which a service's own request is assumed to meet.
fn service_assumed(access: &Access) -> std::sync::Arc<[String]> {
    const CALLER_KEYS: [&str; 5] = [
        "aws:principalarn",
        "aws:principalaccount",
        "kms:calleraccount",
        "aws:principaltype",
        "aws:userid",
    ];
    let on_caller = access.conditions.iter().filter(|c| {
        let lower = c.to_ascii_lowercase();
        CALLER_KEYS
            .iter()
            .any(|k| lower.contains(&format!(" {k} ")))
    });
    access
        .assumed
        .iter()
        .cloned()
        .chain(on_caller.map(|c| format!("{c} (by the service's own request)")))
        .collect()
}

/// Narrows the `overlap` actions of `access`: in place when the Deny covers all of them, else
/// in a narrowed copy. A copy is made only when the actions split, so an access becomes at most
/// as many accesses as there are KMS actions, whatever the number of Denies.
fn split(
    access: &mut Access,
    overlap: ActionSet,
    deny_index: usize,
    added: &mut Vec<Access>,
    narrow: impl FnOnce(&mut Access),
) {
    if overlap == access.actions {
        access.record_narrowing(deny_index);
        narrow(access);
        return;
    }
    let mut narrowed = access.clone();
    narrowed.actions = overlap;
    narrowed.record_narrowing(deny_index);
    narrow(&mut narrowed);
    access.actions = access.actions.minus(overlap);
    added.push(narrowed);
}

/// Whether a named principal can satisfy a Deny's account pin (so the Deny may not apply).
fn admits_pin(pin: &Pin, p: &Principal) -> bool {
    match (pin, p.account()) {
        (Pin::Accounts(set), Some(account)) => super::reach::admits(set, account),
        _ => true,
    }
}

/// A Deny naming accounts, whose conditions each such account's own callers meet (no
/// conditions, or only ones its account decides), removes them from an Allow to a `*` pinned
/// to a set of accounts, for the actions it covers.
fn deny_accounts_in_reach(
    denied: &[Principal],
    conditions: &[Condition],
    access: &mut Access,
    overlap: ActionSet,
    deny_index: usize,
    added: &mut Vec<Access>,
) {
    let Who::Everyone { reach, .. } = &access.who else {
        return;
    };
    let Some(reached) = &reach.accounts else {
        return;
    };
    let gone: BTreeSet<String> = denied
        .iter()
        .filter_map(|p| match p {
            Principal::Account(a)
                if reached.contains(a)
                    && for_named(conditions, a, None, None).is_some_and(|left| left.is_empty()) =>
            {
                Some(a.clone())
            }
            _ => None,
        })
        .collect();
    if gone.is_empty() {
        return;
    }
    split(access, overlap, deny_index, added, |a| {
        if let Who::Everyone { reach, .. } = &mut a.who {
            if let Some(accounts) = &mut reach.accounts {
                accounts.retain(|x| !gone.contains(x));
            }
        }
    });
}
