//! Rule: KMS-ACCESS-EXTERNAL
//!
//! A principal outside the organization and the trusted accounts can really use the key — by the
//! key policy, a grant, or a role it can assume — once SCPs, RCPs, boundaries and Denies are
//! applied. Service principals act for accounts the policy rules judge; they are not counted.

use kmsaudit_model::{AccessEntryView, AccessVerdict, Capability, Evidence, Severity};

use super::policy_facts::external_access;
use super::{Ctx, KeyInput, Outcome, PolicyInput, RuleDef};
use crate::policy::Who;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-ACCESS-EXTERNAL",
    severity: Severity::High,
    title: "A principal outside the organization can really use the key",
    rationale: "Whatever a key policy says on its own, what counts is whether an outside principal can decrypt or encrypt once grants, IAM, role trust, SCPs and RCPs are combined; Access Analyzer does not apply RCPs and does not follow role chains.",
    remediation: "Remove the path shown in the finding (the key policy statement, the grant, or the role trust that lets the outside principal in), or attach an RCP that denies kms:* to principals outside the organization (aws:PrincipalOrgID) on the key's account.",
};

fn uses(c: Capability) -> bool {
    matches!(
        c,
        Capability::Decrypt | Capability::Encrypt | Capability::Grant
    )
}

/// Whether the key policy's own analysis lets a caller outside the trust zone in through a
/// `*` (public, or pinned to parties outside): the exact engine decides what a pinned `*`
/// admits, which a `*` row's open conditions only describe.
fn anyone_outside(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> bool {
    let Some(analysis) = input.policy_analysis() else {
        return true;
    };
    let key_account = Some(input.meta.aws_account_id.as_str());
    if analysis
        .accesses
        .iter()
        .any(|a| matches!(&a.who, Who::Everyone { reach, .. } if reach.is_anyone()))
    {
        return true;
    }
    let policy = PolicyInput {
        analysis,
        key_account,
    };
    external_access(&policy, &ctx.zone)
        .iter()
        .any(|(o, _)| o.principal.as_deref().is_some_and(|p| p.starts_with('*')))
}

pub(crate) fn check(rows: &[AccessEntryView<'_>], input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let key_account = Some(input.meta.aws_account_id.as_str());
    let anyone = std::cell::OnceCell::new();
    let outside = |r: &AccessEntryView| match &r.principal_account {
        Some(a) => !ctx.zone.is_inside(a, key_account),
        None => r.principal == "*" && *anyone.get_or_init(|| anyone_outside(input, ctx)),
    };
    let external: Vec<AccessEntryView> = rows
        .iter()
        .copied()
        .filter(|r| uses(r.capability) && r.verdict != AccessVerdict::NotAssessed && outside(r))
        .collect();
    if let Some(first) = external.first() {
        let mut principals: Vec<&str> = external.iter().map(|r| r.principal).collect();
        principals.dedup();
        let conditions = if first.conditions.is_empty() {
            String::new()
        } else {
            format!(" when {}", first.conditions.join(" and "))
        };
        return Outcome::fail(
            format!(
                "{} principal(s) outside the organization can use the key: {} can {}{conditions}, via {}",
                principals.len(),
                first.principal,
                first.capability.as_str(),
                first.via
            ),
            Evidence {
                principal: Some(first.principal.to_string()),
                actions: external
                    .iter()
                    .filter(|r| r.principal == first.principal)
                    .map(|r| r.capability.as_str().to_string())
                    .collect(),
                ..Default::default()
            }
            .detail("via", first.via.to_string())
            .detail("principals", principals.join(" ")),
        );
    }
    if let Some(unknown) = rows
        .iter()
        .copied()
        .find(|r| uses(r.capability) && r.verdict == AccessVerdict::NotAssessed)
    {
        return Outcome::not_assessed(format!(
            "who can use the key is not known whole: {}",
            unknown.conditions.join("; ")
        ));
    }
    Outcome::pass("No principal outside the organization can use the key by any path")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    #[test]
    fn an_outside_principal_by_any_path_fails_inside_ones_and_services_pass() {
        let id = "KMS-ACCESS-EXTERNAL";
        let inside = access_row("arn:aws:iam::222233334444:role/App decrypt allowed");
        let service = access_row("logs.amazonaws.com encrypt allowed");
        assert_eq!(check_access(id, &[inside.clone(), service]).status, Pass);
        let outside = access_row("arn:aws:iam::999988887777:role/Partner decrypt conditional");
        let o = check_access(id, &[inside.clone(), outside]);
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("kms:ViaService"), "{}", o.message);
        // Administration from outside is not use (KMS refuses it across accounts anyway).
        let admin = access_row("arn:aws:iam::999988887777:root policy allowed");
        assert_eq!(check_access(id, &[admin]).status, Pass);
        // A `*` row counts when the key policy's analysis admits outsiders (the test key has no
        // policy: unknown, so it does).
        assert_eq!(
            check_access(id, &[access_row("* decrypt conditional")]).status,
            Fail
        );
        let unknown = access_row("arn:aws:iam::111122223333:root decrypt not_assessed");
        assert_eq!(check_access(id, &[inside, unknown]).status, NotAssessed);
    }
}
