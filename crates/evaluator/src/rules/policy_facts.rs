//! Facts about a key policy's analysis that several rules read: who is not the key account's
//! root, accesses per principal, what reaches outside the trust zone, allowlist matches,
//! whether IAM delegation is on, and how statements are named in explanations.

use std::collections::BTreeMap;

use super::{Offense, PolicyInput};
use crate::context::{Party, TrustZone};
use crate::policy::{wildcard_match, Access, ActionSet, Principal, Who};

/// Accesses that are not the key account's own root (which stands for IAM delegation).
pub(crate) fn non_root<'a>(input: &'a PolicyInput<'_>) -> impl Iterator<Item = &'a Access> {
    let key_account = input.key_account;
    input
        .analysis
        .accesses
        .iter()
        .filter(move |a| !a.who.is_account_root(key_account))
}

/// Groups accesses per principal (statements naming the same principal add up).
pub(crate) fn per_principal<'a>(
    accesses: impl Iterator<Item = &'a Access>,
) -> BTreeMap<String, Vec<&'a Access>> {
    let mut out: BTreeMap<String, Vec<&Access>> = BTreeMap::new();
    for a in accesses {
        let mut name = a.who.describe();
        if !a.userids.is_empty() && matches!(a.who, Who::Everyone { .. }) {
            name = format!("{name} (aws:userid {})", a.userids.join(", "));
        }
        out.entry(name).or_default().push(a);
    }
    out
}

/// ` (Sid `x`)` for explanations, or nothing when the statement has no Sid.
pub(crate) fn sid(a: &Access) -> String {
    a.sid
        .as_ref()
        .map(|s| format!(" (Sid `{s}`)"))
        .unwrap_or_default()
}

/// Whether every identity `a` grants to matches the admin allowlist (ARN or `aws:userid`
/// patterns).
pub(crate) fn is_allowlisted(a: &Access, patterns: &[String]) -> bool {
    let arn_patterns = || patterns.iter().filter(|p| p.starts_with("arn:"));
    let id_patterns = || patterns.iter().filter(|p| !p.starts_with("arn:"));
    if !a.userids.is_empty()
        && a.userids
            .iter()
            .all(|u| id_patterns().any(|p| wildcard_match(p, u)))
    {
        return true;
    }
    match &a.who {
        Who::Named(Principal::Identity { arn, .. }) => {
            arn_patterns().any(|p| wildcard_match(p, arn))
        }
        Who::Named(Principal::Account(acct)) => {
            let root = format!("arn:aws:iam::{acct}:root");
            arn_patterns().any(|p| wildcard_match(p, &root))
        }
        _ => false,
    }
}

/// The actions of `actions` that a principal of another account can perform (KMS gives the
/// others no effect across accounts); `None` when there are none.
pub(crate) fn outsider_effective(actions: ActionSet) -> Option<ActionSet> {
    let effective = actions.intersect(ActionSet::cross_account());
    (!effective.is_empty()).then_some(effective)
}

/// Whether the policy lets anyone (any account, or no credentials) use or manage the key, as
/// KMS-POLICY-PUBLIC judges it.
pub(crate) fn allows_anyone(analysis: &crate::policy::Analysis) -> bool {
    analysis.accesses.iter().any(|a| {
        matches!(&a.who, crate::policy::Who::Everyone { reach, .. } if reach.is_anyone())
            && outsider_effective(a.actions).is_some()
    })
}

/// Whether IAM policies of the key account can grant access to the key at all.
pub(crate) fn iam_policies_enabled(input: &PolicyInput<'_>) -> bool {
    input
        .analysis
        .accesses
        .iter()
        .any(|a| a.who.is_account_root(input.key_account) && !a.principal_type_account)
}

/// Accounts or organizations outside the trust zone that `input` admits, sorted.
pub(crate) fn external_parties(input: &PolicyInput<'_>, zone: &TrustZone) -> Vec<Party> {
    let mut out: Vec<Party> = external_access(input, zone)
        .into_iter()
        .flat_map(|(_, parties)| parties)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Each statement × principal that reaches outside the trust zone, with the parties it reaches.
pub(crate) fn external_access(
    input: &PolicyInput<'_>,
    zone: &TrustZone,
) -> Vec<(Offense, Vec<Party>)> {
    let mut out = Vec::new();
    for a in &input.analysis.accesses {
        let Some(effective) = outsider_effective(a.actions) else {
            continue;
        };
        let (parties, what) = match &a.who {
            Who::Everyone { reach, .. } if reach.is_anyone() => continue,
            Who::Everyone { reach, .. } => {
                let mut parties = zone.outside_of_reach(reach, input.key_account);
                if parties.is_empty() && reach.accounts.is_none() && reach.orgs.is_none() {
                    parties = userid_parties(&a.userids, zone, input.key_account);
                }
                (parties, "`*` restricted by conditions to".to_string())
            }
            Who::Named(
                p @ (Principal::Account(_) | Principal::Identity { .. } | Principal::Federated(_)),
            ) => match p.account() {
                Some(acct)
                    if !zone.is_inside(acct, input.key_account)
                        && !a
                            .principal_orgs
                            .as_ref()
                            .is_some_and(|orgs| zone.never_in(acct, orgs)) =>
                {
                    (
                        vec![Party::Account(acct.to_string())],
                        format!("{}, of", p.describe()),
                    )
                }
                _ => continue,
            },
            Who::Named(_) => continue,
            Who::Service { name, on_behalf_of } if on_behalf_of.is_anyone() => {
                let mut o = Offense::from_access(
                    a,
                    format!(
                        "Statement {}{} allows service {name} {} on behalf of any account: no aws:SourceAccount, aws:SourceArn or aws:SourceOrgID condition (confused deputy){}",
                        a.statement_index,
                        sid(a),
                        effective.describe(),
                        a.assumed_text()
                    ),
                );
                o.actions = effective.evidence_names();
                out.push((o, vec![Party::AnyAccountVia(name.clone())]));
                continue;
            }
            Who::Service { name, on_behalf_of } => (
                zone.outside_of_reach(on_behalf_of, input.key_account),
                format!("service {name} on behalf of"),
            ),
        };
        if parties.is_empty() {
            continue;
        }
        let mut o = Offense::from_access(
            a,
            format!(
                "Statement {}{} allows {what} {} outside the organization: {}{}",
                a.statement_index,
                sid(a),
                parties
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                effective.describe(),
                a.assumed_text()
            ),
        );
        o.actions = effective.evidence_names();
        out.push((o, parties));
    }
    out
}

/// Who `aws:userid` values admit outside the zone. An account id is that account's root; a
/// unique id says nothing of its account: unless it is an approved administrator's, the
/// identity may be anyone's.
fn userid_parties(userids: &[String], zone: &TrustZone, key_account: Option<&str>) -> Vec<Party> {
    let (roots, ids): (Vec<&String>, Vec<&String>) = userids
        .iter()
        .partition(|u| kmsaudit_model::is_account_id(u));
    let mut parties: Vec<Party> = roots
        .into_iter()
        .filter(|a| !zone.is_inside(a, key_account))
        .map(|a| Party::Account(a.clone()))
        .collect();
    let ids: Vec<String> = ids.into_iter().cloned().collect();
    if !ids.is_empty() && !zone.trusts_ids(&ids) {
        parties.push(Party::UnknownIdentity(ids));
    }
    parties
}
