//! Rule: KMS-ACCESS-LOCKOUT
//!
//! Nobody can change the key's policy any more — no principal, by any path, can call
//! PutKeyPolicy — so no one in the account can repair it (only AWS Support can).

use kmsaudit_model::{AccessEntryView, AccessVerdict, Capability, Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-ACCESS-LOCKOUT",
    severity: Severity::High,
    title: "Nobody can administer the key any more",
    rationale: "A key whose policy no principal can change cannot be repaired, rotated to new administrators or cleaned up from inside the account: its data depends on a support case.",
    remediation: "Contact AWS Support to regain access to the key; before changing a key policy, check with `kmsaudit lint-policy` that an administrator remains.",
};

pub(crate) fn check(
    rows: &[AccessEntryView<'_>],
    _input: &KeyInput<'_>,
    _ctx: &Ctx<'_>,
) -> Outcome {
    let admins: Vec<AccessEntryView> = rows
        .iter()
        .copied()
        .filter(|r| r.capability == Capability::Policy)
        .collect();
    if let Some(a) = admins
        .iter()
        .find(|r| r.verdict != AccessVerdict::NotAssessed)
    {
        return Outcome::pass(format!(
            "{} can change the key policy (via {})",
            a.principal, a.via
        ));
    }
    if let Some(unknown) = admins.first() {
        return Outcome::not_assessed(format!(
            "who can change the key policy is not known: {}",
            unknown.conditions.join("; ")
        ));
    }
    Outcome::fail(
        "No principal can change the key policy (kms:PutKeyPolicy) by any path",
        Evidence {
            actions: vec!["kms:PutKeyPolicy".into()],
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    #[test]
    fn a_key_nobody_can_administer_fails() {
        let id = "KMS-ACCESS-LOCKOUT";
        let user = access_row("arn:aws:iam::111122223333:role/App decrypt allowed");
        assert_eq!(check_access(id, std::slice::from_ref(&user)).status, Fail);
        let admin = access_row("arn:aws:iam::111122223333:role/KeyAdmin policy conditional");
        assert_eq!(check_access(id, &[user.clone(), admin]).status, Pass);
        let unknown = access_row("arn:aws:iam::111122223333:root policy not_assessed");
        assert_eq!(check_access(id, &[user, unknown]).status, NotAssessed);
    }
}
