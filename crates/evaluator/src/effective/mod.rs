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
mod deletion_guard;
mod deletion_probe;
mod directory;
mod grants;
mod guard;
mod iam_policies;
mod path;
mod roles;
mod shapes;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use kmsaudit_model::{
    arn_account, AccessEntry, AccessTable, AccessTableBuilder, AccessVerdict, Capability, Interner,
    KeyRecord, Snapshot,
};
use rayon::prelude::*;

use crate::policy::{allow_action_masks, allowable_actions, parse_policy, Tri};
use callers::{callers_of, CallerRef};
use classes::{ClassKey, ResourcePatterns};
use decide::{decide, Answer, Target};
#[cfg(test)]
pub(crate) use deletion_guard::{DeletionGuard, RecentUseGuard, WindowGuard};
pub(crate) use deletion_guard::{DeletionGuards, Guard};
use directory::{Directory, NamedPolicy};
use grants::{grant_for, grants_by_grantee};
use guard::rcp_guards;
pub(crate) use guard::RcpGuard;
pub(crate) use iam_policies::{
    review as review_iam_policies, DecryptScope, PolicyOrigin, PolicyReach,
};
pub(crate) use path::last_assumed_role;
use roles::{assume_edges, better, rank, through_roles, Edges, ALLOWED};
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
pub(crate) fn rows_and_guards(snapshot: &Snapshot) -> AccessAndGuards {
    rows_and_guards_in(snapshot, &Directory::build(snapshot))
}

/// Effective access with what RCPs do to outside callers per member account.
pub(crate) type AccessAndGuards = (AccessTable, BTreeMap<String, RcpGuard>);

/// What guards each key's destruction ([`deletion_guards`]) and, when the scan read IAM
/// (`with_access`), [`rows_and_guards`]: one reading of the scan's IAM and organization
/// policies serves both.
pub(crate) fn analyse<'s>(
    snapshot: &'s Snapshot,
    config: &crate::config::EvalConfig,
    with_access: bool,
) -> (Option<AccessAndGuards>, DeletionGuards<'s>) {
    let dir = Directory::build(snapshot);
    let deletion = deletion_guard::deletion_guards(snapshot, &dir, config);
    let access = with_access.then(|| rows_and_guards_in(snapshot, &dir));
    (access, deletion)
}

fn rows_and_guards_in(snapshot: &Snapshot, dir: &Directory) -> AccessAndGuards {
    let now = snapshot.metadata.started_at;
    let guards = rcp_guards(snapshot, dir);
    let edges = assume_edges(dir, now);
    let patterns = ResourcePatterns::build(dir);
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
                    key_access(dir, &edges, &mut views, &mut names, key, &parsed, base, now)
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

/// Callers as the keys of one account see them, made once.
type Views<'d> = rustc_hash::FxHashMap<(CallerRef, String), decide::CallerView<'d>>;

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
    let actions = capability_actions();
    let masks = parsed
        .as_ref()
        .map(|p| allow_action_masks(&p.policy, actions));
    // Identities alike are decided once, on a key whose grants name nobody.
    let shapes = match parsed {
        Ok(p) if grants.is_empty() => shapes::Shapes::for_key_policy(&p.policy, dir),
        _ => None,
    };
    let mut alike: FxHashMap<shapes::Shape, Vec<(Capability, Answer)>> = FxHashMap::default();
    for caller in &callers {
        let shape = shapes.as_ref().and_then(|s| s.of(caller, dir, account));
        if let Some(answers) = shape.as_ref().and_then(|s| alike.get(s)) {
            for (cap, answer) in answers {
                best.insert((caller.clone(), *cap), answer.clone());
            }
            continue;
        }
        let mut answers = vec![];
        let view = views
            .entry((caller.clone(), account.to_string()))
            .or_insert_with(|| caller.view(dir, account, now));
        let (name, _) = caller.name(dir);
        // What the key policy cannot allow this caller, and no grant gives it, is not asked.
        let allowable = match (parsed, &masks) {
            (Ok(p), Ok(masks)) => allowable_actions(&p.policy, masks, &view.caller),
            _ => u64::MAX,
        };
        let mut first = 0;
        for cap in Capability::ALL {
            let mut answer = Answer::no();
            let bits = first..first + cap.actions().len();
            first = bits.end;
            for (bit, action) in bits.zip(cap.actions()) {
                let grant = grant_for(&grants, name, action);
                if allowable & (1 << bit) == 0 && !grant.0.possible() {
                    continue;
                }
                answer = better(answer, decide(dir, view, action, &target, grant));
                if rank(&answer) == ALLOWED {
                    // No other action can do better.
                    break;
                }
            }
            if answer.verdict.possible() {
                answers.push((cap, answer));
            }
        }
        for (cap, answer) in &answers {
            best.insert((caller.clone(), *cap), answer.clone());
        }
        if let Some(shape) = shape {
            alike.insert(shape, answers);
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
                principal: names.text(principal),
                principal_account: principal_account.map(|a| names.text(a)),
                capability,
                verdict,
                via: names.text(&answer.via.join(path::STEP)),
                conditions: names.list(conditions),
            }
        })
        .collect();
    (class, rows)
}

/// The actions of every capability, in [`Capability::ALL`] order, lowercase.
fn capability_actions() -> &'static [&'static str] {
    static ACTIONS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ACTIONS.get_or_init(|| {
        Capability::ALL
            .iter()
            .flat_map(|c| c.actions())
            .map(|a| &*a.to_ascii_lowercase().leak())
            .collect()
    })
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
