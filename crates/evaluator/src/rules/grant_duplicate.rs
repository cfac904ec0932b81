//! Rule: KMS-GRANT-DUPLICATE
//!
//! Two grants on the key have the same grantee, operations, constraints and retiring principal
//! (the name may differ): one of them is redundant standing access.

use std::collections::BTreeMap;

use kmsaudit_model::{Evidence, Severity};

use super::key_facts::{grant_evidence, grantee, grants};
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-GRANT-DUPLICATE",
    severity: Severity::Low,
    title: "Duplicate grants",
    rationale: "Duplicate grants are usually leaked by retries or redeploys; revoking one leaves the other in place.",
    remediation: "Retire or revoke the duplicate grant.",
};

pub(crate) fn check(input: &KeyInput<'_>, _ctx: &Ctx<'_>) -> Outcome {
    let grants = match grants(input) {
        Ok(g) => g,
        Err(why) => return Outcome::not_assessed(why),
    };
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for g in grants {
        let mut ops = g.operations.clone();
        ops.sort();
        let c = g.constraints.clone().unwrap_or_default();
        let signature = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}",
            g.grantee_principal,
            ops,
            c.encryption_context_subset,
            c.encryption_context_equals,
            g.retiring_principal
        );
        if let Some(first) = seen.insert(signature, &g.grant_id) {
            return Outcome::fail(
                format!(
                    "Grants {first} and {} give {} the same operations with the same constraints",
                    g.grant_id,
                    grantee(g)
                ),
                Evidence {
                    actions: ops,
                    ..grant_evidence(g)
                }
                .detail("grant_ids", format!("{first}, {}", g.grant_id)),
            );
        }
    }
    Outcome::pass("No two grants are the same")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::{Grant, Status::*};

    #[test]
    fn same_grantee_and_operations() {
        let g = |id: &str, ops: &[&str]| Grant {
            grant_id: id.into(),
            grantee_principal: Some("arn:aws:iam::111122223333:role/App".into()),
            operations: ops.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let mut k = test_key();
        k.grants = Some(vec![
            g("a", &["Decrypt", "Encrypt"]),
            g("b", &["Encrypt", "Decrypt"]),
        ]);
        assert_eq!(check_key("KMS-GRANT-DUPLICATE", &k), Fail);
        k.grants = Some(vec![g("a", &["Decrypt", "Encrypt"]), g("b", &["Decrypt"])]);
        assert_eq!(check_key("KMS-GRANT-DUPLICATE", &k), Pass);
    }
}
