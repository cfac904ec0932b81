//! Rule: KMS-GRANT-EXTERNAL
//!
//! A grant's grantee or retiring principal belongs to an account outside the organization and
//! the trusted accounts. Service principals (`*.amazonaws.com`) are not accounts and pass.

use kmsaudit_model::{Evidence, Severity};

use super::key_facts::grants;
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-GRANT-EXTERNAL",
    severity: Severity::High,
    title: "Grant to a principal outside the organization",
    rationale: "Grants give use of the key outside the key policy; a grantee in a foreign account can use the key from there and is invisible in a policy review.",
    remediation: "aws kms revoke-grant --key-id <key> --grant-id <grant>, after confirming the grant is not needed.",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let grants = match grants(input) {
        Ok(g) => g,
        Err(why) => return Outcome::not_assessed(why),
    };
    let key_account = Some(input.meta.aws_account_id.as_str());
    let mut external = Vec::new();
    for g in grants {
        for (role, principal) in [
            ("grantee", &g.grantee_principal),
            ("retiring principal", &g.retiring_principal),
        ] {
            let Some(p) = principal else { continue };
            if let Some(acct) = kmsaudit_model::arn_account(p) {
                if !ctx.zone.is_inside(acct, key_account) {
                    external.push((g, role, p.clone(), acct.to_string()));
                }
            }
        }
    }
    let Some((g, role, principal, acct)) = external.first() else {
        return Outcome::pass(format!(
            "All {} grant(s) stay inside the organization",
            grants.len()
        ));
    };
    let more = if external.len() > 1 {
        format!(" (and {} more)", external.len() - 1)
    } else {
        String::new()
    };
    Outcome::fail(
        format!("Grant {} gives {role} {principal} of account {acct}, outside the organization, {}{more}", g.grant_id, g.operations.join(", ")),
        Evidence { principal: Some(principal.clone()), actions: g.operations.clone(), ..Default::default() }
            .detail("grant_id", g.grant_id.clone())
            .detail("account", acct.clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::{Grant, Status::*};

    #[test]
    fn external_grantee_or_retiree_fails() {
        let mut k = test_key();
        let g = |grantee: &str, retiring: Option<&str>| Grant {
            grant_id: "g1".into(),
            grantee_principal: Some(grantee.into()),
            retiring_principal: retiring.map(Into::into),
            operations: vec!["Decrypt".into()],
            ..Default::default()
        };
        k.grants = Some(vec![g("arn:aws:iam::222233334444:role/App", None)]);
        assert_eq!(check_key("KMS-GRANT-EXTERNAL", &k), Pass);
        k.grants = Some(vec![g("arn:aws:iam::999988887777:role/Partner", None)]);
        assert_eq!(check_key("KMS-GRANT-EXTERNAL", &k), Fail);
        k.grants = Some(vec![g(
            "arn:aws:iam::222233334444:role/App",
            Some("arn:aws:iam::999988887777:root"),
        )]);
        assert_eq!(check_key("KMS-GRANT-EXTERNAL", &k), Fail);
        k.grants = Some(vec![g("dynamodb.us-east-1.amazonaws.com", None)]);
        assert_eq!(check_key("KMS-GRANT-EXTERNAL", &k), Pass);
        k.grants = None;
        assert_eq!(check_key("KMS-GRANT-EXTERNAL", &k), NotAssessed);
    }
}
