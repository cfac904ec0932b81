//! Policies matched against a request of which only part is known: who calls, the action, the
//! resource, and the condition keys those decide (the caller's account, ARN, organization; the
//! resource's account). A condition on any other key (`kms:ViaService`, encryption context,
//! source IP, tags) stays open and is carried, in words, with the answer.
//!
//! Each condition that can be decided is decided by the reference evaluator's own reading
//! ([`super::reference`]), so a partial answer never disagrees with a concrete one.

use std::collections::{BTreeMap, BTreeSet};

use super::condition::Condition;
use super::parse::{Effect, Policy, Principal, PrincipalSpec, Statement};
use super::reference::{holds, names, Caller};
use super::variables::{has_variables, literal_text, resolve, segments, Segment};
use super::wildcard::{arn_match, wildcard_match_lowercase};

/// A three-valued answer: certainly, certainly not, or only under conditions left open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tri {
    /// Holds whatever the unknown part of the request is.
    Yes,
    /// Holds for no request.
    No,
    /// Holds only when these conditions (in words) hold.
    Open(BTreeSet<String>),
}

impl Tri {
    /// Both hold.
    pub fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Yes, x) | (x, Tri::Yes) => x,
            (Tri::Open(mut a), Tri::Open(b)) => {
                a.extend(b);
                Tri::Open(a)
            }
        }
    }

    /// Either holds.
    pub fn or(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
            (Tri::No, x) | (x, Tri::No) => x,
            (Tri::Open(mut a), Tri::Open(b)) => {
                a.extend(b);
                Tri::Open(a)
            }
        }
    }

    /// What is left of an allow once a Deny that holds as `self` is applied: a certain Deny
    /// leaves nothing; an open one leaves the allow open ("unless …").
    pub fn unless_denied(self, deny: &Tri) -> Tri {
        match deny {
            Tri::No => self,
            Tri::Yes => Tri::No,
            Tri::Open(c) => self.and(Tri::Open(
                c.iter()
                    .map(|c| format!("unless denied when {c}"))
                    .collect(),
            )),
        }
    }

    /// Whether it can hold at all.
    pub fn possible(&self) -> bool {
        !matches!(self, Tri::No)
    }
}

/// What is known of a request besides its caller, action and resource: condition keys
/// (lowercase) with their values, and keys known to be absent. Every other key is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownContext {
    /// Keys present, with their values.
    pub values: BTreeMap<String, Vec<String>>,
    /// Keys certainly absent.
    pub absent: BTreeSet<String>,
    /// Keys known to take one of a few values (`None`: absent), e.g. the organization of a
    /// caller outside the scanned one: none, or one that is not ours. A condition that holds
    /// for all of them (or for none) is decided.
    pub one_of: BTreeMap<String, Vec<Option<String>>>,
}

impl KnownContext {
    fn knows(&self, key: &str) -> bool {
        self.values.contains_key(key) || self.absent.contains(key) || self.one_of.contains_key(key)
    }
}

/// One request, partly known.
#[derive(Debug, Clone, Copy)]
pub struct PartialRequest<'a> {
    /// Who calls.
    pub caller: &'a Caller,
    /// The action, e.g. `kms:Decrypt` (any case).
    pub action: &'a str,
    /// The resource's ARN.
    pub resource: &'a str,
    /// What is known of the context.
    pub known: &'a KnownContext,
    /// Whether an account principal in an Allow names the account's identities (a resource
    /// policy delegating to the account's IAM) or only the account root itself (what the
    /// resource policy grants an identity directly). Denies always name the identities.
    pub through_account: bool,
}

/// A policy's answer for one partial request: whether an Allow and whether a Deny applies, with
/// the statement (its `Sid` or its position) that decided each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyMatch {
    /// Whether an Allow statement applies.
    pub allow: Tri,
    /// The Allow statement that applies (certainly, else under conditions): its position in
    /// `Policy::statements` (see [`statement_label`]).
    pub allowed_by: Option<usize>,
    /// Whether a Deny statement applies.
    pub deny: Tri,
    /// The Deny statement that applies: its position in `Policy::statements`.
    pub denied_by: Option<usize>,
}

/// Matches every statement of `policy` against `request`.
pub fn match_policy(policy: &Policy, request: &PartialRequest) -> PolicyMatch {
    let version = policy.version.as_deref();
    let mut result = PolicyMatch {
        allow: Tri::No,
        allowed_by: None,
        deny: Tri::No,
        denied_by: None,
    };
    let action: std::borrow::Cow<str> = if request.action.bytes().any(|b| b.is_ascii_uppercase()) {
        request.action.to_ascii_lowercase().into()
    } else {
        request.action.into()
    };
    let target = literal_text(request.resource);
    for (i, st) in policy.statements.iter().enumerate() {
        let applies = applies_to(st, version, request, &action, &target);
        if !applies.possible() {
            continue;
        }
        let (answer, by) = match st.effect {
            Effect::Allow => (&mut result.allow, &mut result.allowed_by),
            Effect::Deny => (&mut result.deny, &mut result.denied_by),
        };
        if by.is_none() || (applies == Tri::Yes && *answer != Tri::Yes) {
            *by = Some(i);
        }
        *answer = std::mem::replace(answer, Tri::No).or(applies);
    }
    result
}

/// Each Deny statement of `policy` that can apply to `request`, by its position, with whether
/// it does: unlike [`match_policy`], which joins them, each keeps its own open conditions.
pub fn deny_statements<'p>(
    policy: &'p Policy,
    request: &'p PartialRequest<'p>,
) -> impl Iterator<Item = (usize, Tri)> + 'p {
    let action = request.action.to_ascii_lowercase();
    let target = literal_text(request.resource);
    let version = policy.version.as_deref();
    policy
        .statements
        .iter()
        .enumerate()
        .filter(|(_, st)| st.effect == Effect::Deny)
        .filter_map(move |(i, st)| {
            let applies = applies_to(st, version, request, &action, &target);
            applies.possible().then_some((i, applies))
        })
}

/// For each statement of `policy`, which of `actions` (lowercase) it names (`NotAction`
/// applied): bit `i` for `actions[i]`; none for a Deny.
pub fn allow_action_masks(policy: &Policy, actions: &[&str]) -> Vec<u64> {
    debug_assert!(actions.len() <= 64);
    let named = |st: &Statement, action: &str| {
        st.actions.patterns.iter().any(|p| action_named(p, action)) != st.actions.negated
    };
    policy
        .statements
        .iter()
        .map(|st| match st.effect {
            Effect::Deny => 0,
            Effect::Allow => (actions.iter().enumerate())
                .filter(|(_, a)| named(st, a))
                .fold(0, |bits, (i, _)| bits | 1 << i),
        })
        .collect()
}

/// Which of the actions of `masks` ([`allow_action_masks`] of `policy`) some Allow statement
/// can give `caller`, its principal naming the caller directly or through its account,
/// resources and conditions aside. An action without its bit is allowed by no statement
/// ([`match_policy`] answers [`Tri::No`] for its Allow).
pub fn allowable_actions(policy: &Policy, masks: &[u64], caller: &Caller) -> u64 {
    let mut bits = 0u64;
    for (st, mask) in policy.statements.iter().zip(masks) {
        if *mask == 0 || bits & mask == *mask {
            continue;
        }
        if spec_names(&st.principals, caller) {
            bits |= mask;
        }
    }
    bits
}

/// Whether a statement's `Principal` (or `NotPrincipal`) names the caller, an account
/// principal naming every identity of the account.
fn spec_names(spec: &PrincipalSpec, caller: &Caller) -> bool {
    match spec {
        PrincipalSpec::Principal(list) => list.iter().any(|p| names(p, caller)),
        PrincipalSpec::NotPrincipal(list) => !list.iter().any(|p| names(p, caller)),
    }
}

/// A statement as a reader finds it: its `Sid`, else its position.
pub fn statement_label(st: &Statement) -> String {
    match &st.sid {
        Some(sid) if !sid.is_empty() => format!("Sid {sid}"),
        _ => format!("statement {}", st.index),
    }
}

/// Whether an action pattern names `action` (lowercase): the service part is compared first,
/// without allocating, and most patterns stop there.
fn action_named(pattern: &str, action: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let colon = |s: &str| s.bytes().position(|b| b == b':');
    if let (Some(p), Some(a)) = (colon(pattern), colon(action)) {
        let (service, wanted) = (&pattern.as_bytes()[..p], &action.as_bytes()[..a]);
        if !service.iter().any(|b| matches!(b, b'*' | b'?'))
            && !service.eq_ignore_ascii_case(wanted)
        {
            return false;
        }
    }
    wildcard_match_lowercase(pattern, action)
}

fn applies_to(
    st: &Statement,
    version: Option<&str>,
    request: &PartialRequest,
    action: &str,
    target: &str,
) -> Tri {
    let action_named = st.actions.patterns.iter().any(|p| action_named(p, action));
    if action_named == st.actions.negated {
        return Tri::No;
    }
    let direct = |p: &Principal| match (p, request.caller) {
        (Principal::Account(_), Caller::Iam { arn, .. }) => {
            arn.ends_with(":root") && names(p, request.caller)
        }
        _ => names(p, request.caller),
    };
    let principal_matches = match &st.principals {
        PrincipalSpec::Principal(list)
            if st.effect == Effect::Allow && !request.through_account =>
        {
            list.iter().any(direct)
        }
        spec => spec_names(spec, request.caller),
    };
    if !principal_matches {
        return Tri::No;
    }
    let resource = resource_applies(st, version, request, target);
    st.conditions.iter().fold(resource, |acc, c| {
        if acc == Tri::No {
            acc
        } else {
            acc.and(condition_holds(c, version, request.known))
        }
    })
}

fn resource_applies(
    st: &Statement,
    version: Option<&str>,
    request: &PartialRequest,
    target: &str,
) -> Tri {
    let named = st.resources.patterns.iter().fold(Tri::No, |acc, p| {
        let one = match unknown_variable(p, version, request.known) {
            Some(var) => Tri::Open(BTreeSet::from([format!(
                "Resource {p} (${{{var}}} unknown)"
            )])),
            None => match resolve(p, version, lookup(request.known)) {
                Some(p) if arn_match(&p, target) => Tri::Yes,
                _ => Tri::No,
            },
        };
        acc.or(one)
    });
    match (named, st.resources.negated) {
        (t, false) => t,
        (Tri::Yes, true) => Tri::No,
        (Tri::No, true) => Tri::Yes,
        (Tri::Open(c), true) => Tri::Open(c.into_iter().map(|c| format!("not {c}")).collect()),
    }
}

fn condition_holds(c: &Condition, version: Option<&str>, known: &KnownContext) -> Tri {
    let decidable = known.knows(&c.key)
        && c.values
            .iter()
            .all(|v| unknown_variable(v, version, known).is_none());
    if !decidable {
        return Tri::Open(BTreeSet::from([c.describe()]));
    }
    let Some(choices) = known.one_of.get(&c.key) else {
        return if holds(c, version, &known.values) {
            Tri::Yes
        } else {
            Tri::No
        };
    };
    let outcomes: BTreeSet<bool> = choices
        .iter()
        .map(|choice| {
            let mut values = known.values.clone();
            if let Some(v) = choice {
                values.insert(c.key.clone(), vec![v.clone()]);
            }
            holds(c, version, &values)
        })
        .collect();
    match (outcomes.contains(&true), outcomes.contains(&false)) {
        (true, false) => Tri::Yes,
        (false, true) => Tri::No,
        _ => Tri::Open(BTreeSet::from([c.describe()])),
    }
}

/// The first variable of `value` whose key is unknown.
fn unknown_variable(value: &str, version: Option<&str>, known: &KnownContext) -> Option<String> {
    if !has_variables(value, version) {
        return None;
    }
    segments(value).into_iter().find_map(|s| match s {
        Segment::Variable { key, default: None } if !known.knows(&key) => Some(key),
        _ => None,
    })
}

fn lookup(known: &KnownContext) -> impl Fn(&str) -> Option<String> + '_ {
    move |key: &str| match known.values.get(key).map(Vec::as_slice) {
        Some([one]) => Some(one.clone()),
        _ => None,
    }
}
