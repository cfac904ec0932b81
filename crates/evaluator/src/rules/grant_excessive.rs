//! Rule: KMS-GRANT-EXCESSIVE
//!
//! The key has more grants than `max_grants` (default 20).

use kmsaudit_model::{Evidence, Severity};

use super::key_facts::grants;
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-GRANT-EXCESSIVE",
    severity: Severity::Low,
    title: "Key has more grants than the configured maximum",
    rationale: "Many grants usually mean leaked or never-retired grants; each is standing access outside the key policy.",
    remediation: "Review the grants (aws kms list-grants) and retire or revoke those no longer needed.",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let grants = match grants(input) {
        Ok(g) => g,
        Err(why) => return Outcome::not_assessed(why),
    };
    let max = ctx.config.max_grants;
    if grants.len() > max {
        Outcome::fail(
            format!(
                "The key has {} grants, more than the maximum of {max}",
                grants.len()
            ),
            Evidence::default()
                .detail("grants", grants.len().to_string())
                .detail("max_grants", max.to_string()),
        )
    } else {
        Outcome::pass(format!(
            "The key has {} grant(s) (maximum {max})",
            grants.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::{Grant, Status::*};

    #[test]
    fn threshold() {
        let mut k = test_key();
        k.grants = Some(
            (0..20)
                .map(|i| Grant {
                    grant_id: format!("g{i}"),
                    ..Default::default()
                })
                .collect(),
        );
        assert_eq!(check_key("KMS-GRANT-EXCESSIVE", &k), Pass);
        k.grants.as_mut().unwrap().push(Grant {
            grant_id: "g20".into(),
            ..Default::default()
        });
        assert_eq!(check_key("KMS-GRANT-EXCESSIVE", &k), Fail);
    }
}
