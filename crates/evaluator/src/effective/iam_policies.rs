//! Which IAM identity policies allow decrypt on every key, and the keys each really reaches
//! (Security Hub's KMS.1 and KMS.2, judged by reach rather than by text alone).
//!
//! Every identity policy the scan kept is reviewed where it is used: customer managed policies
//! in their account, inline policies on their user, role or group, and each AWS managed policy
//! in every account that attaches it (its reach differs per account). A policy "allows decrypt
//! on every key" when an Allow statement covers `kms:Decrypt` or `kms:ReEncryptFrom` (`NotAction`
//! and wildcards read as IAM reads them) on every key of at least one account and region set
//! (`*`, `arn:aws:kms:*:*:key/*`, `arn:aws:kms:*:111122223333:*`, a `NotResource` that leaves
//! keys in), under no condition that narrows the keys or the use (`kms:ViaService`, encryption
//! context, resource tags or aliases, the resource's account or organization). Permissions
//! boundaries grant nothing and are not reviewed.
//!
//! The keys it reaches are read from effective access: a key some holder of the policy can
//! decrypt through its identity policies (the key policy delegating to the holder's account,
//! no SCP, RCP or Deny stopping it) — not through a key policy naming the holder, a grant, or a
//! role it assumes (that role's own policies are reviewed for it).

use std::collections::BTreeSet;

use kmsaudit_model::{
    AccessTable, AccessVerdict, AccountAccess, Capability, IamPrincipal, RegionAccess, Snapshot,
};
use rustc_hash::FxHashMap;

use crate::policy::{arn_match, parse_policy_as, ActionSet, Effect, PolicyKind};

/// Where a reviewed policy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyOrigin {
    CustomerManaged,
    AwsManaged,
    Inline,
    /// Not a policy: the account's IAM could not be read whole (its id is `account/ID`), so its
    /// policies cannot all be reviewed.
    UnreadAccount,
}

/// What a policy's text allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecryptScope {
    /// Decrypt on every key, by these statements, under these conditions (none narrowing).
    EveryKey {
        statements: Vec<String>,
        conditions: Vec<String>,
        /// The Resource patterns that cover every key (`*` for a `NotResource`).
        covers: Vec<String>,
    },
    /// Not on every key: why.
    Narrow(String),
    /// The document could not be read.
    Unreadable(String),
}

/// One identity policy as used in one account, and what it reaches.
#[derive(Debug, Clone)]
pub(crate) struct PolicyReach {
    pub account: String,
    /// The resource id: a managed policy's ARN (`ARN#ACCOUNT` for an AWS managed policy),
    /// `OWNER-ARN#NAME` for an inline policy.
    pub id: String,
    pub name: String,
    pub origin: PolicyOrigin,
    pub scope: DecryptScope,
    /// The users and roles it applies to (directly or through a group).
    pub holders: Vec<String>,
    /// The keys a holder can decrypt through its identity policies, by their position in the
    /// access table (ascending, so by ARN; see `AccessTable::key_arn`): an AWS managed
    /// policy attached in every account can reach most keys of the organization.
    pub reached: Vec<u32>,
    /// Why reach is not known whole (a holder's decrypt on some key not assessed).
    pub unknown: Option<String>,
}

/// Condition keys that narrow which keys a statement reaches or how they may be used.
const NARROWING: &[&str] = &[
    "kms:viaservice",
    "kms:encryptioncontext:",
    "kms:encryptioncontextkeys",
    "kms:resourcealiases",
    "kms:grantisforawsresource",
    "aws:resourcetag/",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
];

/// How the statements of one document stand towards decrypting every key.
pub(crate) fn decrypt_scope(document: &str) -> DecryptScope {
    let policy = match parse_policy_as(document, PolicyKind::Identity) {
        Ok(p) => p,
        Err(e) => return DecryptScope::Unreadable(e.to_string()),
    };
    let decrypt =
        ActionSet::matching("kms:decrypt").union(ActionSet::matching("kms:reencryptfrom"));
    let (mut statements, mut conditions, mut narrowed) = (vec![], BTreeSet::new(), None);
    let mut covers = BTreeSet::new();
    for st in &policy.statements {
        if st.effect != Effect::Allow || !st.actions.set.overlaps(decrypt) {
            continue;
        }
        let covering: Vec<String> = if st.resources.negated {
            let keys_left_in = !st
                .resources
                .patterns
                .iter()
                .any(|p| arn_match(p, UNSEEN_KEY));
            if keys_left_in {
                vec!["*".into()]
            } else {
                vec![]
            }
        } else {
            let every = st.resources.patterns.iter().filter(|p| covers_every_key(p));
            every.cloned().collect()
        };
        if covering.is_empty() {
            continue;
        }
        let label = crate::policy::statement_label(st);
        if let Some(c) = st.conditions.iter().find(|c| is_narrowing(&c.key)) {
            narrowed.get_or_insert_with(|| format!("{label} is narrowed by {}", c.key_as_written));
            continue;
        }
        conditions.extend(st.conditions.iter().map(|c| c.key_as_written.clone()));
        covers.extend(covering);
        statements.push(label);
    }
    if statements.is_empty() {
        return DecryptScope::Narrow(narrowed.unwrap_or_else(|| {
            "no statement allows kms:Decrypt or kms:ReEncryptFrom on every key".into()
        }));
    }
    DecryptScope::EveryKey {
        statements,
        conditions: conditions.into_iter().collect(),
        covers: covers.into_iter().collect(),
    }
}

/// A key ARN no policy names: what matches it matches every key of its account and region set.
const UNSEEN_KEY: &str = "arn:aws:kms:zz-unseen-9:000000000000:key/0000-unseen";

/// Whether a Resource pattern covers every key of some account in every region.
fn covers_every_key(pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let fields: Vec<&str> = pattern.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = fields[..] else {
        return false;
    };
    let any = |p: &str, probe: &str| crate::policy::wildcard_match(p, probe);
    any(arn, "arn")
        && any(partition, "aws")
        && any(service, "kms")
        && any(region, "zz-unseen-9")
        && !account.contains('$')
        && any(resource, "key/0000-unseen")
}

fn is_narrowing(key: &str) -> bool {
    NARROWING
        .iter()
        .any(|n| key == *n || (n.ends_with([':', '/']) && key.starts_with(n)))
}

/// Every identity policy of the scan's IAM, reviewed where it is used, with its reach from
/// the effective access `rows`.
pub(crate) fn review<'s>(snapshot: &'s Snapshot, rows: &AccessTable) -> Vec<PolicyReach> {
    let aws_managed: FxHashMap<&str, &str> = snapshot
        .aws_managed_policies
        .iter()
        .map(|m| (m.arn.as_str(), &*m.document))
        .collect();
    // One reading per distinct document: an AWS managed policy is reviewed in every account
    // that attaches it.
    let mut scopes: FxHashMap<&'s str, DecryptScope> = FxHashMap::default();
    let mut scope_of = |doc: &'s str| -> DecryptScope {
        match scopes.get(doc) {
            Some(s) => s.clone(),
            None => {
                let s = decrypt_scope(doc);
                scopes.insert(doc, s.clone());
                s
            }
        }
    };
    let mut out = vec![];
    for account in &snapshot.accounts {
        let Some(iam) = &account.iam else { continue };
        if let Some(issue) = iam.errors.first() {
            out.push(PolicyReach {
                account: account.id.clone(),
                id: format!("account/{}", account.id),
                name: account.name.clone().unwrap_or_else(|| account.id.clone()),
                origin: PolicyOrigin::UnreadAccount,
                scope: DecryptScope::Unreadable(format!(
                    "the IAM of account {} was not read whole ({issue}): its identity policies are not all reviewed",
                    account.id
                )),
                holders: vec![],
                reached: vec![],
                unknown: None,
            });
        }
        let holders_of = |attached: &dyn Fn(&IamPrincipal) -> bool| -> Vec<String> {
            iam.principals
                .iter()
                .filter(|p| attached(p))
                .map(|p| p.arn.clone())
                .collect()
        };
        let in_group = |p: &IamPrincipal, arn: &str| {
            p.groups.iter().any(|g| {
                iam.groups
                    .iter()
                    .any(|gr| &gr.name == g && gr.attached_policies.iter().any(|a| a == arn))
            })
        };
        let attached = |arn: &str| {
            holders_of(&|p: &IamPrincipal| {
                p.attached_policies.iter().any(|a| a == arn) || in_group(p, arn)
            })
        };
        let mut push = |id: String, name: String, origin, scope, holders| {
            out.push(PolicyReach {
                account: account.id.clone(),
                id,
                name,
                origin,
                scope,
                holders,
                reached: vec![],
                unknown: None,
            })
        };
        for m in &iam.managed_policies {
            let scope = scope_of(&m.document);
            push(
                m.arn.clone(),
                m.name.clone(),
                PolicyOrigin::CustomerManaged,
                scope,
                attached(&m.arn),
            );
        }
        let used_aws: BTreeSet<&str> = iam
            .principals
            .iter()
            .flat_map(|p| &p.attached_policies)
            .chain(iam.groups.iter().flat_map(|g| &g.attached_policies))
            .map(String::as_str)
            .filter(|a| a.starts_with("arn:aws:iam::aws:policy/"))
            .collect();
        for arn in used_aws {
            let scope = match aws_managed.get(arn) {
                Some(doc) => scope_of(doc),
                None => DecryptScope::Unreadable(format!("{arn} was not read")),
            };
            let name = arn.rsplit('/').next().unwrap_or(arn);
            push(
                format!("{arn}#{}", account.id),
                format!("{name} in {}", account.id),
                PolicyOrigin::AwsManaged,
                scope,
                attached(arn),
            );
        }
        for p in &iam.principals {
            for inline in &p.inline_policies {
                push(
                    format!("{}#{}", p.arn, inline.name),
                    format!("{} of {}", inline.name, p.arn),
                    PolicyOrigin::Inline,
                    scope_of(&inline.document),
                    vec![p.arn.clone()],
                );
            }
        }
        for g in &iam.groups {
            for inline in &g.inline_policies {
                let members = holders_of(&|p: &IamPrincipal| p.groups.iter().any(|n| n == &g.name));
                push(
                    format!("{}#{}", g.arn, inline.name),
                    format!("{} of {}", inline.name, g.arn),
                    PolicyOrigin::Inline,
                    scope_of(&inline.document),
                    members,
                );
            }
        }
    }
    fill_reach(&mut out, rows);
    let gaps = unread_keys(snapshot);
    for p in out
        .iter_mut()
        .filter(|p| p.reached.is_empty() && p.unknown.is_none())
    {
        if let DecryptScope::EveryKey { covers, .. } = &p.scope {
            p.unknown = gaps
                .iter()
                .find(|(probe, _)| covers.iter().any(|c| arn_match(c, probe)))
                .map(|(_, why)| why.clone());
        }
    }
    out
}

/// Per scanned account, the first of its keys whose access is unknown, as (its ARN, or a probe
/// ARN standing for every key of an unlisted region or account; why): a policy that reaches no
/// key is NOT_ASSESSED when one of these could be among those it covers, never "reaches none".
/// One per account is enough: a pattern covering every key matches or not by account alone.
fn unread_keys(snapshot: &Snapshot) -> Vec<(String, String)> {
    let probe =
        |region: &str, account: &str| format!("arn:aws:kms:{region}:{account}:key/0000-unseen");
    let mut gaps = vec![];
    for account in &snapshot.accounts {
        let mut gap = None;
        if let AccountAccess::NotAssessed { issue } = &account.access {
            gap = Some((
                probe("zz-unseen-9", &account.id),
                format!("account {} was not read: {issue}", account.id),
            ));
        }
        for region in &account.regions {
            if gap.is_some() {
                break;
            }
            if let RegionAccess::NotAssessed { issue } = &region.access {
                gap = Some((
                    probe(&region.region, &account.id),
                    format!(
                        "the keys of {} in {} were not listed: {issue}",
                        account.id, region.region
                    ),
                ));
            }
            let unread = |key: &&kmsaudit_model::KeyRecord| {
                key.metadata.is_none() || (key.is_customer_managed() && key.policy.is_none())
            };
            if let (None, Some(key)) = (&gap, region.keys.iter().find(unread)) {
                gap = Some((
                    key.arn.clone(),
                    format!("key {} was not read whole", key.arn),
                ));
            }
        }
        gaps.extend(gap);
    }
    gaps
}

/// The keys each policy allowing decrypt on every key reaches: one pass over the rows.
fn fill_reach(policies: &mut [PolicyReach], rows: &AccessTable) {
    let mut by_holder: FxHashMap<&str, Vec<(usize, &[String])>> = FxHashMap::default();
    for (i, p) in policies.iter().enumerate() {
        if let DecryptScope::EveryKey { covers, .. } = &p.scope {
            for h in &p.holders {
                by_holder.entry(h.as_str()).or_default().push((i, covers));
            }
        }
    }
    if by_holder.is_empty() {
        return;
    }
    let mut reached: Vec<Vec<u32>> = vec![vec![]; policies.len()];
    let mut unknown: Vec<Option<String>> = vec![None; policies.len()];
    let decrypting = rows
        .numbered_rows()
        .filter(|(_, _, r)| r.capability == Capability::Decrypt);
    for (position, key_arn, row) in decrypting {
        let Some(held) = by_holder.get(row.principal) else {
            continue;
        };
        let through_iam = super::path::through_identity_policy(row.via);
        let position = u32::try_from(position).expect("under 4G keys");
        for &(i, covers) in held {
            if !covers.iter().any(|p| arn_match(p, key_arn)) {
                continue;
            }
            match row.verdict {
                AccessVerdict::NotAssessed => {
                    unknown[i].get_or_insert_with(|| {
                        format!(
                            "{} on {}: {}",
                            row.principal,
                            key_arn,
                            row.conditions.join("; ")
                        )
                    });
                }
                // Rows come key by key: a key already counted is the last one.
                _ if through_iam && reached[i].last() != Some(&position) => {
                    reached[i].push(position)
                }
                _ => {}
            }
        }
    }
    for ((p, keys), why) in policies.iter_mut().zip(reached).zip(unknown) {
        p.reached = keys;
        if let Some(why) = why {
            p.unknown.get_or_insert(why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(statement: &str) -> DecryptScope {
        decrypt_scope(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#
        ))
    }

    fn every(statement: &str) -> bool {
        matches!(scope(statement), DecryptScope::EveryKey { .. })
    }

    #[test]
    fn decrypt_on_every_key_is_read_as_iam_reads_it() {
        // Resource * and the key ARN patterns that cover every key of an account.
        assert!(every(
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#
        ));
        assert!(every(
            r#"{"Effect":"Allow","Action":"kms:ReEncrypt*","Resource":"arn:aws:kms:*:*:key/*"}"#
        ));
        assert!(every(
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:*"}"#
        ));
        // Wildcards and NotAction as IAM reads them (PowerUserAccess's shape).
        assert!(every(
            r#"{"Effect":"Allow","Action":"kms:Decr*","Resource":"*"}"#
        ));
        assert!(every(
            r#"{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"}"#
        ));
        assert!(every(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#));
        // NotResource that leaves keys in.
        assert!(every(
            r#"{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"arn:aws:s3:::*"}"#
        ));
        // A condition that does not narrow the keys leaves it broad, and is named.
        match scope(
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}"#,
        ) {
            DecryptScope::EveryKey { conditions, .. } => {
                assert_eq!(conditions, ["aws:MultiFactorAuthPresent"])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn narrower_policies_are_not_decrypt_on_every_key() {
        // One key, one region, other actions, Deny, NotAction leaving decrypt out.
        for st in [
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/1234"}"#,
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}"#,
            r#"{"Effect":"Allow","Action":["kms:Encrypt","kms:GenerateDataKey"],"Resource":"*"}"#,
            r#"{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}"#,
            r#"{"Effect":"Allow","NotAction":"kms:*","Resource":"*"}"#,
            r#"{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"arn:aws:kms:*:*:key/*"}"#,
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#,
        ] {
            assert!(!every(st), "{st}");
        }
        // Conditions that narrow the keys or the use.
        for cond in [
            r#"{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#,
            r#"{"StringEquals":{"kms:EncryptionContext:app":"orders"}}"#,
            r#"{"StringEquals":{"aws:ResourceTag/team":"orders"}}"#,
            r#"{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/orders-*"}}"#,
        ] {
            let st = format!(
                r#"{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{cond}}}"#
            );
            assert!(
                matches!(scope(&st), DecryptScope::Narrow(why) if why.contains("narrowed by")),
                "{cond}"
            );
        }
        assert!(matches!(
            decrypt_scope("{not json"),
            DecryptScope::Unreadable(_)
        ));
    }
}
