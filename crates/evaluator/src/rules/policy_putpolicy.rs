//! Rule: KMS-POLICY-PUTPOLICY
//!
//! kms:PutKeyPolicy is allowed to a principal that is not a key administrator: `*` (unless
//! pinned to identities by aws:userid), a service principal, a principal outside the `admin_allowlist` when one is
//! configured, or otherwise a principal that does not also hold the core administrative
//! actions (ScheduleKeyDeletion, CancelKeyDeletion, DisableKey, EnableKey). Whoever can put the
//! key policy can give itself everything: a privilege escalation. The key account's root is
//! exempt (IAM delegation).

use kmsaudit_model::Severity;

use super::policy_facts::is_allowlisted;
use super::{non_root, per_principal, Ctx, Offense, PolicyInput, PolicyVerdict, RuleDef};
use crate::policy::{ActionSet, Who};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-PUTPOLICY",
    severity: Severity::High,
    title: "kms:PutKeyPolicy allowed to a non-administrator",
    rationale: "PutKeyPolicy rewrites the key policy: a principal that holds it can grant itself any other permission on the key.",
    remediation: "Grant kms:PutKeyPolicy only to the key administrators.",
};

pub(crate) fn check(input: &PolicyInput<'_>, ctx: &Ctx<'_>) -> PolicyVerdict {
    static CORE_ADMIN: std::sync::LazyLock<ActionSet> = std::sync::LazyLock::new(|| {
        ActionSet::of(&[
            "PutKeyPolicy",
            "ScheduleKeyDeletion",
            "CancelKeyDeletion",
            "DisableKey",
            "EnableKey",
        ])
    });
    let core_admin = *CORE_ADMIN;
    let put = ActionSet::policy_change();
    let allowlist = &ctx.config.admin_allowlist;
    let mut offenses = Vec::new();
    for (principal, accesses) in per_principal(non_root(input)) {
        let Some(with_put) = accesses.iter().find(|a| a.actions.overlaps(put)) else {
            continue;
        };
        let all = accesses
            .iter()
            .fold(ActionSet::EMPTY, |acc, a| acc.union(a.actions));
        // `*` pinned by aws:userid stands for the identities of those user ids.
        let identified = !with_put.userids.is_empty();
        let why = match &with_put.who {
            Who::Everyone { .. } if !identified => Some("it is `*`".to_string()),
            Who::Service { .. } => Some("it is a service principal".to_string()),
            _ if !allowlist.is_empty() && !is_allowlisted(with_put, allowlist) => {
                Some("it matches no admin_allowlist pattern".to_string())
            }
            _ if allowlist.is_empty() && !all.contains_all(core_admin) => Some(format!(
                "it is not a key administrator (lacks {})",
                core_admin.minus(all).describe()
            )),
            _ => None,
        };
        if let Some(why) = why {
            let mut o = Offense::from_access(
                with_put,
                format!("Statement {} allows kms:PutKeyPolicy to {principal}, but {why}: it can rewrite the policy and grant itself anything", with_put.statement_index),
            );
            o.principal = Some(principal);
            offenses.push(o);
        }
    }
    PolicyVerdict::Offenses(offenses, "Only key administrators can put the key policy")
}
