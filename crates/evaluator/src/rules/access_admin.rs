//! Rule: KMS-ACCESS-ADMIN-ALLOWLIST
//!
//! A principal that matches no ARN pattern of `admin_allowlist` can change the key's policy,
//! disable it or schedule its deletion, by any path (key policy, IAM, grants, roles it can
//! assume) once SCPs, RCPs and Denies are applied: no SCP guards the key against it (seed 004).
//! The key account's root user is the account itself and is exempt; so is a path through an
//! allowlisted role (whoever assumes KeyAdmin acts as KeyAdmin: who may assume it is the role's
//! trust, reviewed apart), and a path open only to callers whose `aws:userid` matches an
//! allowlisted id pattern. Without an allowlist the rule does not apply.

use kmsaudit_model::{AccessEntryView, AccessVerdict, Capability, Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, RuleDef};
use crate::effective::last_assumed_role;
use crate::policy::wildcard_match;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-ACCESS-ADMIN-ALLOWLIST",
    severity: Severity::High,
    title: "A principal outside the key administrators can change, disable or delete the key",
    rationale: "Changing the policy, disabling or scheduling deletion of a key decides whether its data stays readable; only the approved administrators should be able to, and an SCP that keeps these actions to them is what guards the keys of an account whatever IAM grants. Reading the key policy alone misses administrators that IAM policies, AWS managed policies or role trust create.",
    remediation: "Remove kms:PutKeyPolicy, kms:DisableKey and kms:ScheduleKeyDeletion from the path shown (key policy statement or IAM policy), or attach an SCP that denies them to every principal but the key administrators (aws:PrincipalArn condition); add the principal to admin_allowlist only after review.",
};

const ADMINISTRATION: [Capability; 3] =
    [Capability::Policy, Capability::Disable, Capability::Delete];

pub(crate) fn check(rows: &[AccessEntryView<'_>], input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let allowlist = &ctx.config.admin_allowlist;
    if allowlist.is_empty() {
        return Outcome::not_applicable("no admin_allowlist is configured");
    }
    let (arns, ids): (Vec<&String>, Vec<&String>) =
        allowlist.iter().partition(|p| p.starts_with("arn:"));
    let root = format!("arn:aws:iam::{}:root", input.meta.aws_account_id);
    let administers = |r: &AccessEntryView| ADMINISTRATION.contains(&r.capability);
    let listed = |arn: &str| arns.iter().any(|p| wildcard_match(p, arn));
    let outside = |r: &AccessEntryView| {
        *r.principal != *root
            && !listed(r.principal)
            && !last_assumed_role(r.via).is_some_and(listed)
            && !only_for_listed_ids(r.conditions, &ids)
    };
    let offenders: Vec<AccessEntryView> = rows
        .iter()
        .copied()
        .filter(administers)
        .filter(outside)
        .filter(|r| r.verdict != AccessVerdict::NotAssessed)
        .collect();
    let Some(first) = offenders
        .iter()
        .find(|r| r.verdict == AccessVerdict::Allowed)
        .or(offenders.first())
    else {
        if let Some(u) = rows
            .iter()
            .copied()
            .filter(administers)
            .find(|r| r.verdict == AccessVerdict::NotAssessed)
        {
            return Outcome::not_assessed(format!(
                "who can administer the key is not known whole: {}",
                u.conditions.join("; ")
            ));
        }
        return Outcome::pass(
            "Only allowlisted administrators can change, disable or delete the key",
        );
    };
    let mut principals: Vec<&str> = offenders.iter().map(|r| r.principal).collect();
    principals.dedup();
    let capabilities: Vec<&str> = ADMINISTRATION
        .iter()
        .filter(|c| {
            offenders
                .iter()
                .any(|r| r.principal == first.principal && r.capability == **c)
        })
        .map(|c| c.as_str())
        .collect();
    let under = if first.verdict == AccessVerdict::Conditional {
        format!(" when {}", first.conditions.join(" and "))
    } else {
        String::new()
    };
    Outcome::fail(
        format!(
            "{} principal(s) outside admin_allowlist can administer the key: {} can {}{under} via {}",
            principals.len(),
            first.principal,
            capabilities.join(", "),
            first.via
        ),
        Evidence {
            principal: Some(first.principal.to_string()),
            condition: (!first.conditions.is_empty()).then(|| first.conditions.join(" and ")),
            ..Default::default()
        }
        .detail("via", first.via.to_string())
        .detail("principals", principals.join(" ")),
    )
}

/// Whether an open condition keeps the path to callers whose `aws:userid` matches an id
/// pattern of the allowlist (`StringLike aws:userId = AROA...:*`).
fn only_for_listed_ids(conditions: &[String], ids: &[&String]) -> bool {
    !ids.is_empty()
        && conditions.iter().any(|c| {
            let Some((left, values)) = c.split_once(" = ") else {
                return false;
            };
            left.to_ascii_lowercase().ends_with(" aws:userid")
                && !left.contains("Not")
                && values
                    .split([',', ' '])
                    .filter(|v| !v.is_empty())
                    .all(|v| ids.iter().any(|p| wildcard_match(p, v)))
        })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::config::EvalConfig;
    use kmsaudit_model::Status::*;

    const ID: &str = "KMS-ACCESS-ADMIN-ALLOWLIST";

    fn cfg() -> EvalConfig {
        EvalConfig {
            admin_allowlist: vec!["arn:aws:iam::*:role/KeyAdmin".into(), "AROAOTTER*".into()],
            ..Default::default()
        }
    }

    #[test]
    fn administration_outside_the_allowlist_fails() {
        let rows = [
            access_row("arn:aws:iam::111122223333:role/KeyAdmin policy allowed"),
            access_row("arn:aws:iam::111122223333:role/KeyAdmin delete allowed"),
            access_row("arn:aws:iam::111122223333:root policy allowed"),
            access_row("arn:aws:iam::111122223333:role/App decrypt allowed"),
        ];
        assert_eq!(check_access_with(ID, &rows, &cfg()).status, Pass);
        for extra in [
            "arn:aws:iam::111122223333:role/Deployer delete allowed",
            "arn:aws:iam::111122223333:user/ci disable conditional",
            "* policy allowed",
        ] {
            let mut more = rows.to_vec();
            more.push(access_row(extra));
            let o = check_access_with(ID, &more, &cfg());
            assert_eq!(o.status, Fail, "{extra}");
            assert!(
                o.message.contains(extra.split(' ').next().unwrap()),
                "{}",
                o.message
            );
        }
        // Use is not administration; an unknown administrator is not a pass.
        let mut more = rows.to_vec();
        more.push(access_row(
            "arn:aws:iam::111122223333:role/Other encrypt allowed",
        ));
        assert_eq!(check_access_with(ID, &more, &cfg()).status, Pass);
        more.push(access_row(
            "arn:aws:iam::111122223333:role/Other policy not_assessed",
        ));
        assert_eq!(check_access_with(ID, &more, &cfg()).status, NotAssessed);
    }

    #[test]
    fn paths_through_an_allowlisted_role_or_id_are_the_administrators() {
        let mut through = access_row("ec2.amazonaws.com policy allowed");
        through.via = "assumes arn:aws:iam::111122223333:role/KeyAdmin (trust policy of arn:aws:iam::111122223333:role/KeyAdmin statement 0) → key policy Sid KeyAdministrators".into();
        assert_eq!(
            check_access_with(ID, &[through.clone()], &cfg()).status,
            Pass
        );
        through.via = through.via.replace("role/KeyAdmin", "role/Ops").into();
        assert_eq!(check_access_with(ID, &[through], &cfg()).status, Fail);
        let mut by_id = access_row("arn:aws:iam::111122223333:role/Any policy conditional");
        by_id.conditions = vec!["StringLike aws:userId = AROAOTTERFGJHZSLLMNZP:*".into()].into();
        assert_eq!(check_access_with(ID, &[by_id.clone()], &cfg()).status, Pass);
        by_id.conditions = vec!["StringLike aws:userId = ADAIABCDEFGHJLKMNOPQRST".into()].into();
        assert_eq!(check_access_with(ID, &[by_id], &cfg()).status, Fail);
    }

    #[test]
    fn without_an_allowlist_the_rule_does_not_apply() {
        let rows = [access_row("* policy allowed")];
        assert_eq!(check_access(ID, &rows).status, NotApplicable);
    }
}
