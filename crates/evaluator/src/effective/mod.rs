//! Effective access: for every key, who can decrypt, encrypt, grant, change the policy,
//! disable or delete it, by any path: the key policy directly, the key policy delegating to an
//! account's IAM, a grant, or a role someone can assume (transitively, [`MAX_ASSUME_DEPTH`]
//! deep), with SCPs, RCPs, boundaries and explicit Denies applied.
//!
//! Session policies and VPC endpoint policies cannot be seen at rest: the answers are an upper
//! bound on what they allow.

mod callers;
mod classes;
mod decide;
mod directory;
mod grants;
mod guard;
mod iam_policies;
mod path;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use kmsaudit_model::{
    arn_account, AccessEntry, AccessTable, AccessTableBuilder, AccessVerdict, Capability, Interner,
    KeyRecord, Snapshot,
};
use rayon::prelude::*;

use crate::policy::{parse_policy, Tri};
use callers::{callers_of, callers_of_trust, CallerRef};
use classes::{ClassKey, ResourcePatterns};
use decide::{decide, Answer, Target};
use directory::{Directory, NamedPolicy};
use grants::{grant_for, grants_by_grantee};
use guard::rcp_guards;
pub(crate) use guard::RcpGuard;
pub(crate) use iam_policies::{
    review as review_iam_policies, DecryptScope, PolicyOrigin, PolicyReach,
};
pub(crate) use path::last_assumed_role;
use rustc_hash::FxHashMap;

/// How many roles deep a chain of AssumeRole is followed.
pub const MAX_ASSUME_DEPTH: usize = 3;

/// Who can use or administer each key of the snapshot: one row per (key, principal,
/// capability) that is allowed, conditional or not assessed, kept once per class of keys alike.
pub fn effective_access(snapshot: &Snapshot) -> AccessTable {
    rows_and_guards(snapshot).0
}

/// [`effective_access`] and what RCPs do to outside callers per member account
/// ([`rcp_guards`]), from one reading of the scan's IAM and organization policies.
pub(crate) fn rows_and_guards(snapshot: &Snapshot) -> (AccessTable, BTreeMap<String, RcpGuard>) {
    let now = snapshot.metadata.started_at;
    let dir = Directory::build(snapshot);
    let guards = rcp_guards(snapshot, &dir);
    let edges = assume_edges(&dir, now);
    let patterns = ResourcePatterns::build(&dir);
    // Account by account: a caller looks the same to every key of one account, and keys alike
    // (see `classes`) are worked out once.
    let table = snapshot
        .accounts
        .par_iter()
        .map(|a| {
            let mut views = Views::default();
            // An account's keys share their principals' names and paths.
            let mut names = Interner::default();
            let mut policies: FxHashMap<&str, Result<NamedPolicy, String>> = FxHashMap::default();
            let mut classes: FxHashMap<ClassKey, (Best, u32)> = FxHashMap::default();
            let mut out = AccessTableBuilder::default();
            for key in a.regions.iter().flat_map(|r| &r.keys) {
                let parsed = match key.policy.as_deref() {
                    Some(text) => policies
                        .entry(text)
                        .or_insert_with(|| parse_key_policy(text))
                        .clone(),
                    None => Err(match key.error_for("KMS.GetKeyPolicy") {
                        Some(issue) => format!("the key policy was not read: {issue}"),
                        None => "the key policy was not read".into(),
                    }),
                };
                let mut access = |key: &KeyRecord, base: Base<'_>| {
                    key_access(
                        &dir, &edges, &mut views, &mut names, key, &parsed, base, now,
                    )
                };
                let policy = parsed.as_ref().ok().map(|p| &*p.policy);
                let Some(class) = patterns.class_of(key, policy) else {
                    out.key(key.arn.clone(), None, access(key, Base::Drop).1);
                    continue;
                };
                let has_grants = key.grants.as_ref().is_some_and(|g| !g.is_empty());
                if !classes.contains_key(&class) {
                    // The class is worked out on a key without grants: one alike with its grants
                    // set aside.
                    let mut bare = key.clone();
                    bare.grants = Some(vec![]);
                    let (base, rows) = access(&bare, Base::Keep);
                    let made = (base.unwrap_or_default(), out.class(rows));
                    classes.insert(class.clone(), made);
                }
                let (base, id) = &classes[&class];
                if has_grants {
                    out.key(key.arn.clone(), Some(*id), access(key, Base::Reuse(base)).1);
                } else {
                    out.key(key.arn.clone(), Some(*id), vec![]);
                }
            }
            out
        })
        .reduce(AccessTableBuilder::default, |mut a, b| {
            a.append(b);
            a
        })
        .build();
    (table, guards)
}

/// Who can assume each role: by role index, the callers whose AssumeRole its trust policy, their
/// own IAM and the organization's policies allow.
type Edges = BTreeMap<usize, Vec<(CallerRef, Answer)>>;

fn assume_edges(dir: &Directory, now: Timestamp) -> Edges {
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

/// Callers as the keys of one account see them, made once.
type Views<'d> = rustc_hash::FxHashMap<(CallerRef, String), decide::CallerView<'d>>;

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

/// Each caller's best answer per capability.
type Best = BTreeMap<(CallerRef, Capability), Answer>;

/// What [`key_access`] does with the class's answers.
#[derive(Clone, Copy)]
enum Base<'b> {
    /// Nothing: the key is worked out alone.
    Drop,
    /// Returns them, to serve the key's class.
    Keep,
    /// Starts from these (the class's final answers, those of a key alike without grants),
    /// deciding only the key's grantees again.
    Reuse(&'b Best),
}

/// The rows of one key. From a class's answers ([`Base::Reuse`]) only the key's grantees are
/// decided again, and only the answers their grants raise are followed through role trust
/// (nobody else's answer depends on the key's grants): the rows are then those that can differ
/// from the class's. With [`Base::Keep`], returns the class's answers too.
#[allow(clippy::too_many_arguments)]
fn key_access<'d>(
    dir: &'d Directory,
    edges: &Edges,
    views: &mut Views<'d>,
    names: &mut Interner,
    key: &KeyRecord,
    parsed: &Result<NamedPolicy, String>,
    base: Base<'_>,
    now: Timestamp,
) -> (Option<Best>, Vec<AccessEntry>) {
    let account = key
        .metadata
        .as_ref()
        .map(|m| m.aws_account_id.as_str())
        .or_else(|| arn_account(&key.arn))
        .unwrap_or_default();
    let target = Target {
        arn: &key.arn,
        account,
        policy: parsed.as_ref().map_err(String::as_str),
        rcp_applies: key.is_customer_managed(),
        is_key: true,
    };
    let reused = match base {
        Base::Reuse(b) => Some(b),
        Base::Drop | Base::Keep => None,
    };
    let mut callers = match (parsed, reused) {
        (Ok(p), None) => callers_of(&p.policy, dir, account),
        _ => BTreeSet::new(),
    };
    let grants = grants_by_grantee(key);
    for grantee in grants.keys() {
        callers.insert(match dir.by_arn.get(grantee.as_str()) {
            Some(i) => CallerRef::Identity(*i),
            None if grantee.ends_with(".amazonaws.com") => CallerRef::Service(grantee.clone()),
            None => CallerRef::Unscanned {
                arn: grantee.clone(),
                account: arn_account(grantee).unwrap_or_default().to_string(),
            },
        });
    }
    if parsed.is_err() && reused.is_none() {
        // Nothing is known of who can: say so once, for the account that owns the key.
        callers.insert(CallerRef::Unscanned {
            arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_string(),
        });
    }
    let mut best = Best::default();
    for caller in &callers {
        let view = views
            .entry((caller.clone(), account.to_string()))
            .or_insert_with(|| caller.view(dir, account, now));
        let (name, _) = caller.name(dir);
        for cap in Capability::ALL {
            let mut answer = Answer::no();
            for action in cap.actions() {
                let grant = grant_for(&grants, &name, action);
                answer = better(answer, decide(dir, view, action, &target, grant));
                if rank(&answer) == ALLOWED {
                    // No other action can do better.
                    break;
                }
            }
            if answer.verdict.possible() {
                best.insert((caller.clone(), cap), answer);
            }
        }
    }
    through_roles(&mut best, reused, edges, dir);
    let class = matches!(base, Base::Keep).then(|| best.clone());
    // Grants that could not be listed may give anyone any use: say so, never "nobody".
    if key.grants.is_none() {
        let why = match key.error_for("KMS.ListGrants") {
            Some(issue) => format!("the key's grants were not read: {issue}"),
            None => "the key's grants were not read".into(),
        };
        for cap in [Capability::Decrypt, Capability::Encrypt, Capability::Grant] {
            best.entry((CallerRef::Anyone, cap))
                .or_insert_with(|| Answer {
                    verdict: Tri::Open(BTreeSet::new()),
                    via: vec!["grants".into()],
                    not_assessed: Some(why.clone()),
                });
        }
    }
    let rows = best
        .into_iter()
        .map(|((caller, capability), answer)| {
            let (principal, principal_account) = caller.name(dir);
            let (verdict, conditions) = match (&answer.not_assessed, &answer.verdict) {
                (Some(reason), _) => (AccessVerdict::NotAssessed, vec![reason.clone()]),
                (None, Tri::Open(c)) => (AccessVerdict::Conditional, c.iter().cloned().collect()),
                (None, _) => (AccessVerdict::Allowed, vec![]),
            };
            AccessEntry {
                principal: names.text(&principal),
                principal_account: principal_account.map(|a| names.text(&a)),
                capability,
                verdict,
                via: names.text(&answer.via.join(path::STEP)),
                conditions: names.list(conditions),
            }
        })
        .collect();
    (class, rows)
}

fn parse_key_policy(text: &str) -> Result<NamedPolicy, String> {
    match parse_policy(text) {
        Ok(p) => Ok(NamedPolicy {
            label: "key policy".into(),
            policy: std::sync::Arc::new(p),
        }),
        Err(e) => Err(format!("the key policy cannot be read: {e}")),
    }
}

/// Gives every caller that can assume a role (up to [`MAX_ASSUME_DEPTH`] roles deep) what the
/// role can do, the path shown, keeping each caller's best answer.
///
/// With `prior` (the final answers of the key's class), `best` holds only the answers the key
/// raises: those are followed, each caller they reach starting from its answer in `prior`,
/// and `best` ends with the answers that can differ from `prior`'s.
fn through_roles(best: &mut Best, prior: Option<&Best>, edges: &Edges, dir: &Directory) {
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
                let k = (caller.clone(), cap);
                let slot = match best.entry(k) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        let first = start(v.key());
                        v.insert(first)
                    }
                };
                if rank(&gained) > rank(slot) {
                    *slot = gained.clone();
                    if let CallerRef::Identity(i) = caller {
                        if edges.contains_key(i) {
                            next.push((*i, cap, gained));
                        }
                    }
                }
            }
        }
        frontier = next;
    }
}

/// How good an answer is for the caller: allowed ([`ALLOWED`]), conditional, not assessed, no.
fn rank(a: &Answer) -> u8 {
    match (&a.verdict, &a.not_assessed) {
        (Tri::No, _) => 0,
        (_, Some(_)) => 1,
        (Tri::Open(_), None) => 2,
        (Tri::Yes, None) => ALLOWED,
    }
}

/// The [`rank`] of an unconditional allow: nothing is better.
const ALLOWED: u8 = 3;

fn better(a: Answer, b: Answer) -> Answer {
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}
