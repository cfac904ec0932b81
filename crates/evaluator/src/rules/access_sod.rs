//! Rule: KMS-ACCESS-SOD
//!
//! One IAM user or role can both change the key's policy and decrypt with the key, by any path
//! (key policy, IAM, grants, roles it can assume). The account root user is not counted: it is
//! the account itself.

use kmsaudit_model::{AccessEntryView, AccessVerdict, Capability, Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-ACCESS-SOD",
    severity: Severity::Medium,
    title: "One principal can both administer and decrypt with the key",
    rationale: "Separation of duties: a principal that can change the key policy and decrypt can grant itself any use and read what the key protects, unseen by a review of the key policy alone when IAM or role trust gives it one of the two.",
    remediation: "Give key administration (PutKeyPolicy) and key use (Decrypt) to different roles: narrow the IAM policy or key policy statement shown in the finding's path.",
};

pub(crate) fn check(
    rows: &[AccessEntryView<'_>],
    _input: &KeyInput<'_>,
    _ctx: &Ctx<'_>,
) -> Outcome {
    let is_identity = |r: &AccessEntryView| {
        r.principal.starts_with("arn:")
            && !r.principal.ends_with(":root")
            && r.verdict == AccessVerdict::Allowed
    };
    let can = |who: &str, cap: Capability| {
        rows.iter()
            .copied()
            .find(|r| r.principal == who && r.capability == cap && is_identity(r))
    };
    let both: Vec<(AccessEntryView, AccessEntryView)> = rows
        .iter()
        .copied()
        .filter(|r| r.capability == Capability::Policy && is_identity(r))
        .filter_map(|admin| can(admin.principal, Capability::Decrypt).map(|d| (admin, d)))
        .collect();
    let Some((admin, decrypt)) = both.first() else {
        let unknown = rows.iter().copied().find(|r| {
            r.verdict == AccessVerdict::NotAssessed
                && matches!(r.capability, Capability::Policy | Capability::Decrypt)
        });
        if let Some(u) = unknown {
            return Outcome::not_assessed(format!(
                "who can administer or decrypt is not known whole: {}",
                u.conditions.join("; ")
            ));
        }
        return Outcome::pass("No IAM user or role can both change the key policy and decrypt");
    };
    Outcome::fail(
        format!(
            "{} IAM principal(s) can both change the key policy and decrypt: {} administers via {} and decrypts via {}",
            both.len(),
            admin.principal,
            admin.via,
            decrypt.via
        ),
        Evidence {
            principal: Some(admin.principal.to_string()),
            actions: vec!["kms:PutKeyPolicy".into(), "kms:Decrypt".into()],
            ..Default::default()
        }
        .detail("administers_via", admin.via.to_string())
        .detail("decrypts_via", decrypt.via.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    #[test]
    fn one_role_administering_and_decrypting_fails() {
        let id = "KMS-ACCESS-SOD";
        let rows = [
            access_row("arn:aws:iam::111122223333:role/KeyAdmin policy allowed"),
            access_row("arn:aws:iam::111122223333:role/App decrypt allowed"),
            access_row("arn:aws:iam::111122223333:root policy allowed"),
            access_row("arn:aws:iam::111122223333:root decrypt allowed"),
        ];
        assert_eq!(check_access(id, &rows).status, Pass);
        let mut more = rows.to_vec();
        more.push(access_row(
            "arn:aws:iam::111122223333:role/KeyAdmin decrypt allowed",
        ));
        assert_eq!(check_access(id, &more).status, Fail);
        // Conditional use is not counted.
        more.pop();
        more.push(access_row(
            "arn:aws:iam::111122223333:role/KeyAdmin decrypt conditional",
        ));
        assert_eq!(check_access(id, &more).status, Pass);
        // What could not be read is not a pass.
        more.push(access_row(
            "arn:aws:iam::111122223333:root policy not_assessed",
        ));
        assert_eq!(check_access(id, &more).status, NotAssessed);
    }
}
