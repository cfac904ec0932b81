//! Role trust: who can assume each role (its trust policy, their own IAM and the
//! organization's policies deciding), and what assuming it gives them on a key.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::callers::{callers_of_trust, CallerRef};
use super::decide::{decide, Answer, Target};
use super::directory::Directory;
use super::{path, Best, Views, MAX_ASSUME_DEPTH};
use crate::policy::Tri;
use kmsaudit_model::Capability;
use rayon::prelude::*;

/// Who can assume each role: by role index, the callers whose AssumeRole its trust policy, their
/// own IAM and the organization's policies allow.
pub(super) type Edges = BTreeMap<usize, Vec<(CallerRef, Answer)>>;

pub(super) fn assume_edges(dir: &Directory, now: Timestamp) -> Edges {
    // Role by role, in parallel: an account's roles share their callers' views.
    let mut by_account: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, role) in dir.identities.iter().enumerate() {
        if role.trust.is_some() {
            by_account.entry(role.account).or_default().push(i);
        }
    }
    by_account
        .into_par_iter()
        .flat_map_iter(|(account, roles)| {
            let mut views = Views::default();
            roles
                .into_iter()
                .filter_map(|i| {
                    let callers = role_callers(dir, i, account, &mut views, now);
                    (!callers.is_empty()).then_some((i, callers))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The callers whose AssumeRole of role `i` its trust policy, their own IAM and the
/// organization's policies allow.
fn role_callers<'d>(
    dir: &'d Directory,
    i: usize,
    account: &str,
    views: &mut Views<'d>,
    now: Timestamp,
) -> Vec<(CallerRef, Answer)> {
    let role = &dir.identities[i];
    let Some(trust) = &role.trust else {
        return vec![];
    };
    let target = Target {
        arn: &role.record.arn,
        account,
        policy: Ok(trust),
        rcp_applies: true,
        is_key: false,
    };
    let mut out = vec![];
    for caller in callers_of_trust(&trust.policy, dir) {
        // The root user of a scanned account cannot call AssumeRole (its identities are
        // enumerated instead); an unscanned account's root stands for all of them.
        let scanned_root = matches!(&caller, CallerRef::Unscanned { arn, account }
            if arn.ends_with(":root") && dir.iam_read.contains(account.as_str()));
        // An identity whose own policies cannot allow AssumeRole of this role gets in only
        // when the trust policy names it.
        let cannot = matches!(&caller, CallerRef::Identity(j)
            if !dir.identities[*j].may_assume(&role.record.arn)
                && !trust_names(&trust.policy, &dir.identities[*j].record.arn));
        if caller == CallerRef::Identity(i) || scanned_root || cannot {
            continue;
        }
        let view = views
            .entry((caller.clone(), account.to_string()))
            .or_insert_with(|| caller.view(dir, account, now));
        let answer = decide(dir, view, "sts:AssumeRole", &target, (Tri::No, None));
        if answer.verdict.possible() {
            out.push((caller, answer));
        }
    }
    out
}

/// Whether a trust policy names this identity itself (not only its account).
fn trust_names(trust: &crate::policy::Policy, arn: &str) -> bool {
    trust.statements.iter().any(|st| match &st.principals {
        crate::policy::PrincipalSpec::Principal(list) => list.iter().any(|p| {
            matches!(p, crate::policy::Principal::Identity { arn: a, .. } if a == arn)
                || matches!(p, crate::policy::Principal::Anyone)
        }),
        crate::policy::PrincipalSpec::NotPrincipal(_) => true,
    })
}

/// Gives every caller that can assume a role (up to [`MAX_ASSUME_DEPTH`] roles deep) what the
/// role can do, the path shown, keeping each caller's best answer.
///
/// With `prior` (the final answers of the key's class), `best` holds only the answers the key
/// raises: those are followed, each caller they reach starting from its answer in `prior`,
/// and `best` ends with the answers that can differ from `prior`'s.
pub(super) fn through_roles(best: &mut Best, prior: Option<&Best>, edges: &Edges, dir: &Directory) {
    if let Some(prior) = prior {
        for (k, answer) in best.iter_mut() {
            match prior.get(k) {
                Some(p) if rank(p) > rank(answer) => *answer = p.clone(),
                _ => {}
            }
        }
    }
    let start = |k: &(CallerRef, Capability)| {
        prior
            .and_then(|p| p.get(k))
            .cloned()
            .unwrap_or_else(Answer::no)
    };
    let mut frontier: Vec<(usize, Capability, Answer)> = best
        .iter()
        .filter_map(|((c, cap), a)| match c {
            CallerRef::Identity(i) if edges.contains_key(i) => Some((*i, *cap, a.clone())),
            _ => None,
        })
        .collect();
    for _ in 0..MAX_ASSUME_DEPTH {
        let mut next = vec![];
        for (role, cap, answer) in frontier {
            let role_arn = &dir.identities[role].record.arn;
            for (caller, edge) in edges.get(&role).into_iter().flatten() {
                // What the path gives, ranked before its words are written.
                let gained_rank = rank_of(
                    edge.verdict == Tri::Yes && answer.verdict == Tri::Yes,
                    edge.not_assessed.is_some() || answer.not_assessed.is_some(),
                );
                let k = (caller.clone(), cap);
                let slot = match best.entry(k) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        let first = start(v.key());
                        v.insert(first)
                    }
                };
                if gained_rank <= rank(slot) {
                    continue;
                }
                let mut via = vec![format!(
                    "{}{role_arn} ({})",
                    path::ASSUMES,
                    edge.via.join(path::STEP)
                )];
                via.extend(answer.via.iter().cloned());
                let gained = Answer {
                    verdict: edge.verdict.clone().and(answer.verdict.clone()),
                    via,
                    not_assessed: edge.not_assessed.clone().or(answer.not_assessed.clone()),
                };
                debug_assert_eq!(rank(&gained), gained_rank);
                *slot = gained.clone();
                if let CallerRef::Identity(i) = caller {
                    if edges.contains_key(i) {
                        next.push((*i, cap, gained));
                    }
                }
            }
        }
        frontier = next;
    }
}

/// How good an answer is for the caller: allowed ([`ALLOWED`]), conditional, not assessed, no.
pub(super) fn rank(a: &Answer) -> u8 {
    match a.verdict {
        Tri::No => 0,
        _ => rank_of(a.verdict == Tri::Yes, a.not_assessed.is_some()),
    }
}

/// The [`rank`] of a possible answer: allowed outright or under conditions, assessed or not.
fn rank_of(outright: bool, not_assessed: bool) -> u8 {
    match (not_assessed, outright) {
        (true, _) => 1,
        (false, false) => 2,
        (false, true) => ALLOWED,
    }
}

/// The [`rank`] of an unconditional allow: nothing is better.
pub(super) const ALLOWED: u8 = 3;

pub(super) fn better(a: Answer, b: Answer) -> Answer {
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}
