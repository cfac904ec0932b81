//! Rule: KMS-POLICY-SOD
//!
//! One principal holds both key administration (policy, state, material, alias and
//! replication changes: Create*, Put*, Update*, Delete*, Disable*, ScheduleKeyDeletion...)
//! and cryptographic use (Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*, Sign...), adding up
//! every statement that names it. The key account's root is left to KMS-POLICY-IAM-DELEGATION.
//! `*` pinned by `aws:userid` counts as the principal(s) of those user ids (seed 003 scenario 4).
//! What an unpinned `*` may do, every principal may do: it is added to each principal's share.
//! What a `*` pinned to accounts (or to the own organization) may do, every named principal of
//! those accounts may do: it is added to their share too.

use kmsaudit_model::Severity;

use super::{non_root, per_principal, Ctx, Offense, PolicyInput, PolicyVerdict, RuleDef};
use crate::policy::{ActionSet, Who};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-SOD",
    severity: Severity::Medium,
    title: "A principal both administers and uses the key",
    rationale: "Separation of duties: whoever can change a key's policy or state should not also decrypt with it, so that no single identity can both grant itself access and use it unobserved.",
    remediation: "Split the statement: key administrators get administrative actions only, key users get cryptographic actions only.",
};

pub(crate) fn check(input: &PolicyInput<'_>, ctx: &Ctx<'_>) -> PolicyVerdict {
    let mut offenses = Vec::new();
    // What anyone may do, every principal may do: an Allow to an unpinned `*` adds to each.
    // `NotPrincipal` leaves a few principals out, and everyone else holds the grant: the union
    // of such grants is held by every principal left out by none of them (there always is one).
    let anyone: Vec<&crate::policy::Access> = non_root(input)
        .filter(|a| matches!(&a.who, Who::Everyone { reach, .. } if reach.is_anyone()))
        .collect();
    let anyone_actions = anyone
        .iter()
        .fold(ActionSet::EMPTY, |acc, a| acc.union(a.actions));
    let anyone_violates = anyone_actions.overlaps(ActionSet::administration())
        && anyone_actions.overlaps(ActionSet::crypto());
    // The Allows to a `*` pinned to accounts or the organization, found once: a policy naming
    // thousands of principals is read in time linear in its size, not quadratic.
    let pinned_stars: Vec<&crate::policy::Access> = non_root(input)
        .filter(|b| matches!(&b.who, Who::Everyone { reach, except } if !reach.is_anyone() && except.is_empty() && b.userids.is_empty()))
        .collect();
    for (principal, mut accesses) in per_principal(non_root(input)) {
        // When `*` itself holds both, that one finding says it for everyone.
        let is_anyone = accesses
            .iter()
            .all(|a| anyone.iter().any(|b| std::ptr::eq(*a, *b)));
        if anyone_violates && !is_anyone {
            continue;
        }
        let account = match &accesses[0].who {
            Who::Named(p) => p.account().map(str::to_string),
            _ => None,
        };
        let pinned_to_it = pinned_stars.iter().copied().filter(|b| {
            account
                .as_deref()
                .is_some_and(|acct| pinned_star_admits(b, acct, input, ctx))
        });
        // A `NotPrincipal` grant reaches a named principal unless it names that principal.
        let left_out = |a: &crate::policy::Access| match (&a.who, &accesses[0].who) {
            (Who::Everyone { except, .. }, Who::Named(p)) => except.contains(p),
            _ => false,
        };
        let reaching: Vec<_> = anyone.iter().copied().filter(|a| !left_out(a)).collect();
        for a in reaching.into_iter().chain(pinned_to_it) {
            if !accesses.iter().any(|b| std::ptr::eq(a, *b)) {
                accesses.push(a);
            }
        }
        let all = accesses
            .iter()
            .fold(ActionSet::EMPTY, |acc, a| acc.union(a.actions));
        let admin = all.intersect(ActionSet::administration());
        let crypto = all.intersect(ActionSet::crypto());
        if admin.is_empty() || crypto.is_empty() {
            continue;
        }
        let first = accesses[0];
        let statements: Vec<String> = accesses
            .iter()
            .map(|a| a.statement_index.to_string())
            .collect();
        let mut o = Offense::from_access(
            first,
            format!(
                "{principal} holds administration ({}) and cryptographic use ({}) through statement(s) {}",
                admin.describe(),
                crypto.describe(),
                statements.join(", ")
            ),
        );
        o.principal = Some(principal);
        o.actions = all.evidence_names();
        offenses.push(o);
    }
    PolicyVerdict::Offenses(
        offenses,
        "No principal holds both administration and cryptographic use",
    )
}

/// Whether `b` is an Allow to a `*` pinned by conditions (not by `aws:userid`, which names its
/// own principals) that admits every identity of `account`.
fn pinned_star_admits(
    b: &crate::policy::Access,
    account: &str,
    input: &PolicyInput<'_>,
    ctx: &Ctx<'_>,
) -> bool {
    let Who::Everyone { reach, except } = &b.who else {
        return false;
    };
    if reach.is_anyone() || !except.is_empty() || !b.userids.is_empty() {
        return false;
    }
    let accounts_ok = reach
        .accounts
        .as_ref()
        .is_none_or(|set| crate::policy::admits(set, account));
    let orgs_ok = reach.orgs.as_ref().is_none_or(|orgs| {
        orgs.iter().any(|o| ctx.zone.is_own_org(o))
            && (ctx.zone.org_accounts.contains(account) || input.key_account == Some(account))
    });
    accounts_ok && orgs_ok
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    const ID: &str = "KMS-POLICY-SOD";
    const ROLE: &str = r#"{"AWS":"arn:aws:iam::111122223333:role/App"}"#;

    /// Found by the `deny_never_widens` property: everyone but the root may create, everyone
    /// but App may re-encrypt, so anyone else holds both; App holds only Create*, and still
    /// passes on its own.
    #[test]
    fn not_principal_grants_add_up_for_everyone_left_out_by_none() {
        let policy = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Create*","Resource":"*"},
            {"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":"kms:ReEncrypt*","Resource":"*"}]}"#;
        assert_eq!(check_policy(ID, policy), Fail);
        let only_app = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":"kms:Create*","Resource":"*"},
            {"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":"kms:Decrypt","Resource":"*"}]}"#;
        // Everyone but App may decrypt: that alone is no principal holding both.
        assert_eq!(check_policy(ID, only_app), Pass);
    }

    #[test]
    fn use_only_or_admin_only_passes() {
        assert_eq!(check_policy(ID, &allow(ROLE, r#""kms:Decrypt""#, "")), Pass);
        assert_eq!(
            check_policy(
                ID,
                &allow(ROLE, r#"["kms:Create*","kms:Delete*","kms:Put*"]"#, "")
            ),
            Pass
        );
        // tagging is not administration here
        assert_eq!(
            check_policy(ID, &allow(ROLE, r#"["kms:Decrypt","kms:TagResource"]"#, "")),
            Pass
        );
    }
}
