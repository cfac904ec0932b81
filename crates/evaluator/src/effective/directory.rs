//! Everything effective access reads besides the key, parsed once per scan: each account's IAM
//! identities with the policies that apply to them, and the organization's SCPs and RCPs by
//! where they are attached.

use super::path::{INLINE_POLICY, MANAGED_POLICY};
use super::shapes::{caller_reads, CallerReads};
use std::sync::Arc;

use kmsaudit_model::{
    IamPrincipal, IamPrincipalKind, IamRecord, OrgPolicies, OrgPolicyKind, Snapshot,
};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::policy::{parse_policy_as, Effect, Policy, PolicyKind};

/// A parsed policy with the words that name it in a path.
#[derive(Debug, Clone)]
pub(crate) struct NamedPolicy {
    pub label: String,
    pub policy: Arc<Policy>,
}

/// One IAM user or role, with every policy that applies to it.
#[derive(Debug)]
pub(crate) struct Identity<'s> {
    pub record: &'s IamPrincipal,
    pub account: &'s str,
    /// Inline, attached and group policies.
    pub policies: Vec<NamedPolicy>,
    pub boundary: Option<NamedPolicy>,
    pub trust: Option<NamedPolicy>,
    /// Why part of what applies to it could not be read (its account's IAM listing failed, a
    /// policy does not parse, an attached policy is missing).
    pub unreadable: Vec<String>,
    /// The Resource patterns of its Allow statements that can match `sts:AssumeRole` (`None`:
    /// any role, e.g. `NotResource` or an unreadable policy): it assumes other roles only
    /// when their trust policy names it.
    assume_resources: Option<Vec<String>>,
    /// The same for Allow statements that can match a `kms:` action.
    kms_resources: Option<Vec<String>>,
    /// The comparisons its policies make with the caller (`None`: they read it otherwise; see
    /// `shapes`).
    pub reads: Option<CallerReads>,
}

impl Identity<'_> {
    /// Whether its own policies can allow some `kms:` action (or could not be read whole).
    pub fn may_use_kms(&self) -> bool {
        self.kms_resources.as_ref().is_none_or(|r| !r.is_empty())
    }

    /// Whether its own policies can allow it to assume `role` (a trust policy that names it
    /// lets it in without them).
    pub fn may_assume(&self, role: &str) -> bool {
        self.assume_resources.as_ref().is_none_or(|patterns| {
            patterns
                .iter()
                .any(|p| p.contains("${") || crate::policy::arn_match(p, role))
        })
    }
}

/// What the organization's policies say, by target.
#[derive(Debug, Default)]
pub(crate) struct OrgView<'s> {
    pub tree: Option<&'s OrgPolicies>,
    pub scps: FxHashMap<&'s str, Vec<NamedPolicy>>,
    pub rcps: FxHashMap<&'s str, Vec<NamedPolicy>>,
    /// Each account's path from the root (worked out once: every decision reads it).
    paths: FxHashMap<&'s str, Vec<&'s str>>,
    /// Why SCPs and RCPs are unknown for member accounts (not read, or read with errors).
    pub unreadable: Option<String>,
}

impl OrgView<'_> {
    /// The path from the root to `account` in the tree read (`None`: not in it).
    pub fn path_to(&self, account: &str) -> Option<&[&str]> {
        self.paths.get(account).map(Vec::as_slice)
    }

    /// Whether policies of `kind` apply: enabled on the root, or unknown (not read, or read
    /// with errors: a root whose policy types could not be listed lists none).
    pub fn applies(&self, kind: OrgPolicyKind) -> bool {
        self.unreadable.is_some() || self.tree.is_none_or(|t| t.enabled.contains(&kind))
    }
}

/// The scan's identities and organization policies.
#[derive(Debug)]
pub(crate) struct Directory<'s> {
    pub identities: Vec<Identity<'s>>,
    pub by_arn: FxHashMap<&'s str, usize>,
    /// Each account's identities: a range of `identities`.
    pub by_account: FxHashMap<&'s str, std::ops::Range<usize>>,
    /// Each account's identities whose own policies can allow some AssumeRole.
    pub assumers: FxHashMap<&'s str, Vec<usize>>,
    /// Identities whose own policies can allow a `kms:` action on keys of any account, and
    /// by the account their Resource names: the only ones a key policy's `*` admits from
    /// another account (a cross-account call needs the caller's IAM to allow it too).
    pub kms_anywhere: Vec<usize>,
    pub kms_by_account: FxHashMap<String, Vec<usize>>,
    /// Accounts whose IAM was read without error, and those read with errors or not at all.
    pub iam_read: FxHashSet<&'s str>,
    pub iam_unreadable: FxHashMap<&'s str, String>,
    pub org_id: Option<&'s str>,
    pub management: Option<&'s str>,
    /// Accounts of the organization (those the scan listed).
    pub members: FxHashSet<&'s str>,
    pub org: OrgView<'s>,
    /// The comparisons SCPs and RCPs make with the caller (`None`: they read it otherwise; see
    /// `shapes`).
    pub org_reads: Option<CallerReads>,
    /// Accounts holding identities by what their place decides for a caller of theirs on a
    /// resource of another account (organization membership, whether their IAM was read,
    /// the SCPs at every level of their path): accounts of one class are alike to it.
    pub account_class: FxHashMap<&'s str, u32>,
}

impl<'s> Directory<'s> {
    pub fn build(snapshot: &'s Snapshot) -> Directory<'s> {
        let mut cache = ParseCache::default();
        let aws_managed: FxHashMap<&str, _> = snapshot
            .aws_managed_policies
            .iter()
            .map(|p| (p.arn.as_str(), p))
            .collect();
        let mut dir = Directory {
            identities: vec![],
            by_arn: FxHashMap::default(),
            by_account: FxHashMap::default(),
            assumers: FxHashMap::default(),
            kms_anywhere: vec![],
            kms_by_account: FxHashMap::default(),
            iam_read: FxHashSet::default(),
            iam_unreadable: FxHashMap::default(),
            org_id: snapshot.organization.as_ref().map(|o| o.id.as_str()),
            management: snapshot
                .organization
                .as_ref()
                .map(|o| o.management_account_id.as_str()),
            members: FxHashSet::default(),
            org: OrgView::default(),
            org_reads: Some(vec![]),
            account_class: FxHashMap::default(),
        };
        for account in &snapshot.accounts {
            if snapshot.organization.is_some() && account.org_status.is_some() {
                dir.members.insert(&account.id);
            }
            let Some(iam) = &account.iam else {
                dir.iam_unreadable.insert(
                    &account.id,
                    format!("IAM of account {} not read", account.id),
                );
                continue;
            };
            if let Some(e) = iam.errors.first() {
                dir.iam_unreadable.insert(
                    &account.id,
                    format!("IAM of account {} not read whole: {e}", account.id),
                );
            } else {
                dir.iam_read.insert(&account.id);
            }
            let first = dir.identities.len();
            for p in &iam.principals {
                let identity = identity(&account.id, iam, p, &aws_managed, &mut cache);
                let at = dir.identities.len();
                dir.by_arn.insert(&p.arn, at);
                if identity
                    .assume_resources
                    .as_ref()
                    .is_none_or(|r| !r.is_empty())
                {
                    dir.assumers.entry(&account.id).or_default().push(at);
                }
                match &identity.kms_resources {
                    None => dir.kms_anywhere.push(at),
                    Some(patterns) => {
                        let mut accounts: Vec<Option<String>> =
                            patterns.iter().map(|p| named_account(p)).collect();
                        accounts.sort();
                        accounts.dedup();
                        for a in accounts {
                            match a {
                                None => dir.kms_anywhere.push(at),
                                Some(a) => dir.kms_by_account.entry(a).or_default().push(at),
                            }
                        }
                    }
                }
                dir.identities.push(identity);
            }
            dir.by_account
                .insert(&account.id, first..dir.identities.len());
        }
        if let Some(org) = &snapshot.organization {
            dir.org = org_view(org.policies.as_ref(), &mut cache);
            dir.org_reads = (dir.org.scps.values().flatten())
                .chain(dir.org.rcps.values().flatten())
                .map(|p| caller_reads(&p.policy))
                .collect::<Option<Vec<_>>>()
                .map(|r| r.concat());
        }
        dir.account_class = super::shapes::account_classes(&dir);
        dir
    }

    /// Whether `account` is a member account of the organization (SCPs and RCPs apply).
    pub fn is_member(&self, account: &str) -> bool {
        self.members.contains(account) && self.management != Some(account)
    }
}

fn identity<'s>(
    account: &'s str,
    iam: &'s IamRecord,
    p: &'s IamPrincipal,
    aws_managed: &FxHashMap<&str, &'s kmsaudit_model::ManagedPolicy>,
    cache: &mut ParseCache,
) -> Identity<'s> {
    let mut unreadable = vec![];
    let mut policies = vec![];
    let managed = |arn: &str, via: &str, unreadable: &mut Vec<String>, cache: &mut ParseCache| {
        let found = iam
            .managed_policies
            .iter()
            .find(|m| m.arn == arn)
            .or_else(|| aws_managed.get(arn).copied());
        match found {
            None => {
                unreadable.push(format!("{MANAGED_POLICY}{arn}{via} not read"));
                None
            }
            Some(m) => match cache.parse(&m.document, PolicyKind::Identity) {
                Ok(policy) => Some(NamedPolicy {
                    label: format!("{MANAGED_POLICY}{}{via}", m.arn),
                    policy,
                }),
                Err(e) => {
                    unreadable.push(format!("{MANAGED_POLICY}{arn}{via}: {e}"));
                    None
                }
            },
        }
    };
    let kind = match p.kind {
        IamPrincipalKind::User => "user",
        IamPrincipalKind::Role => "role",
    };
    for inline in &p.inline_policies {
        match cache.parse(&inline.document, PolicyKind::Identity) {
            Ok(policy) => policies.push(NamedPolicy {
                label: format!("{INLINE_POLICY}{} of the {kind}", inline.name),
                policy,
            }),
            Err(e) => unreadable.push(format!("inline policy {}: {e}", inline.name)),
        }
    }
    for arn in &p.attached_policies {
        policies.extend(managed(arn, "", &mut unreadable, cache));
    }
    for name in &p.groups {
        let Some(group) = iam.groups.iter().find(|g| &g.name == name) else {
            unreadable.push(format!("group {name} not read"));
            continue;
        };
        for inline in &group.inline_policies {
            match cache.parse(&inline.document, PolicyKind::Identity) {
                Ok(policy) => policies.push(NamedPolicy {
                    label: format!("{INLINE_POLICY}{} of group {name}", inline.name),
                    policy,
                }),
                Err(e) => unreadable.push(format!("group {name} policy {}: {e}", inline.name)),
            }
        }
        for arn in &group.attached_policies {
            policies.extend(managed(
                arn,
                &format!(" (group {name})"),
                &mut unreadable,
                cache,
            ));
        }
    }
    let boundary = p
        .boundary
        .as_deref()
        .and_then(|arn| managed(arn, " (permissions boundary)", &mut unreadable, cache));
    let trust =
        p.trust_policy
            .as_deref()
            .and_then(|doc| match cache.parse(doc, PolicyKind::Trust) {
                Ok(policy) => Some(NamedPolicy {
                    label: format!("trust policy of {}", p.arn),
                    policy,
                }),
                Err(e) => {
                    unreadable.push(format!("trust policy: {e}"));
                    None
                }
            });
    let assume_resources = allowed_resources(&policies, &unreadable, |a| {
        crate::policy::wildcard_match(a, "sts:assumerole")
    });
    let kms_resources = allowed_resources(&policies, &unreadable, |a| {
        crate::policy::prefix_compatible(a, "kms:")
    });
    let reads = policies
        .iter()
        .chain(&boundary)
        .map(|p| caller_reads(&p.policy))
        .collect::<Option<Vec<_>>>()
        .map(|r| r.concat());
    Identity {
        record: p,
        account,
        policies,
        boundary,
        trust,
        unreadable,
        assume_resources,
        kms_resources,
        reads,
    }
}

/// The account a Resource pattern names literally; `None` when it can name any.
fn named_account(pattern: &str) -> Option<String> {
    let account = pattern.split(':').nth(4)?;
    (!account.contains(['*', '?', '$'])).then(|| account.to_string())
}

/// The Resource patterns of the Allow statements whose actions `matches` (lowercase); `None`
/// when any resource can be (`NotResource`, an unreadable policy).
fn allowed_resources(
    policies: &[NamedPolicy],
    unreadable: &[String],
    matches: impl Fn(&str) -> bool,
) -> Option<Vec<String>> {
    if !unreadable.is_empty() {
        return None;
    }
    let mut out = vec![];
    for st in policies.iter().flat_map(|np| &np.policy.statements) {
        let assumes = st.effect == Effect::Allow
            && (st.actions.negated
                || st
                    .actions
                    .patterns
                    .iter()
                    .any(|a| matches(&a.to_ascii_lowercase())));
        if !assumes {
            continue;
        }
        if st.resources.negated {
            return None;
        }
        out.extend(st.resources.patterns.iter().cloned());
    }
    Some(out)
}

fn org_view<'s>(tree: Option<&'s OrgPolicies>, cache: &mut ParseCache) -> OrgView<'s> {
    let Some(tree) = tree else {
        return OrgView {
            unreadable: Some("the organization's SCPs and RCPs were not read".into()),
            ..OrgView::default()
        };
    };
    let mut view = OrgView {
        tree: Some(tree),
        unreadable: tree
            .errors
            .first()
            .map(|e| format!("the organization's SCPs and RCPs not read whole: {e}")),
        ..OrgView::default()
    };
    view.paths = tree
        .parents
        .keys()
        .filter_map(|id| Some((id.as_str(), tree.path_to(id)?)))
        .collect();
    for p in &tree.policies {
        let kind = match p.kind {
            OrgPolicyKind::ServiceControlPolicy => PolicyKind::Identity,
            OrgPolicyKind::ResourceControlPolicy => PolicyKind::Resource,
        };
        let parsed = match cache.parse(&p.document, kind) {
            Ok(policy) => policy,
            Err(e) => {
                view.unreadable
                    .get_or_insert_with(|| format!("policy {} ({}): {e}", p.id, p.name));
                continue;
            }
        };
        let (word, map) = match p.kind {
            OrgPolicyKind::ServiceControlPolicy => ("SCP", &mut view.scps),
            OrgPolicyKind::ResourceControlPolicy => ("RCP", &mut view.rcps),
        };
        for target in &p.targets {
            map.entry(target.as_str()).or_default().push(NamedPolicy {
                label: format!("{word} {} ({}) on {target}", p.name, p.id),
                policy: parsed.clone(),
            });
        }
    }
    view
}

/// One parse per distinct (document, kind).
#[derive(Default)]
struct ParseCache {
    parsed: FxHashMap<(String, bool, bool), Result<Arc<Policy>, String>>,
}

impl ParseCache {
    fn parse(&mut self, text: &str, kind: PolicyKind) -> Result<Arc<Policy>, String> {
        let key = (
            text.to_string(),
            kind == PolicyKind::Identity,
            kind == PolicyKind::Trust,
        );
        self.parsed
            .entry(key)
            .or_insert_with(|| {
                let policy = parse_policy_as(text, kind).map_err(|e| e.to_string())?;
                // A statement that could not be read may allow: what it decides is unknown.
                match policy
                    .invalid
                    .iter()
                    .find(|s| s.effect != Some(Effect::Deny))
                {
                    Some(bad) => Err(format!("statement {}: {}", bad.index, bad.error)),
                    None => Ok(Arc::new(policy)),
                }
            })
            .clone()
    }
}
