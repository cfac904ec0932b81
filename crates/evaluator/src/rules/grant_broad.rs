//! Rule: KMS-GRANT-BROAD
//!
//! A grant hands out re-delegation (CreateGrant), or every cryptographic operation of the
//! key's usage with no encryption-context constraint. Decided on the set of operations, not on
//! their count (CloudSploit counts, which flags harmless grants and misses narrow-looking ones).

use kmsaudit_model::Severity;

use super::key_facts::{grant_evidence, grantee, grants};
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-GRANT-BROAD",
    severity: Severity::Medium,
    title: "Grant is broader than least privilege",
    rationale: "A grant with CreateGrant lets the grantee re-delegate the key; a grant of every cryptographic operation without an encryption context constraint is as good as key-user access.",
    remediation: "Re-create the grant with only the operations needed and an EncryptionContextSubset/Equals constraint, without CreateGrant.",
};

/// Every cryptographic grant operation for keys of this usage and spec.
fn full_crypto_ops(key_usage: &str, key_spec: &str) -> &'static [&'static str] {
    match key_usage {
        "ENCRYPT_DECRYPT" if key_spec == "SYMMETRIC_DEFAULT" => &[
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncryptFrom",
            "ReEncryptTo",
        ],
        "ENCRYPT_DECRYPT" => &["Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo"],
        "SIGN_VERIFY" => &["Sign", "Verify"],
        "GENERATE_VERIFY_MAC" => &["GenerateMac", "VerifyMac"],
        "KEY_AGREEMENT" => &["DeriveSharedSecret"],
        _ => &[],
    }
}

pub(crate) fn check(input: &KeyInput<'_>, _ctx: &Ctx<'_>) -> Outcome {
    let grants = match grants(input) {
        Ok(g) => g,
        Err(why) => return Outcome::not_assessed(why),
    };
    let full = full_crypto_ops(&input.meta.key_usage, &input.meta.key_spec);
    for g in grants {
        let has = |op: &str| g.operations.iter().any(|o| o == op);
        let unconstrained = g.constraints.as_ref().is_none_or(|c| c.is_empty());
        let reason = if has("CreateGrant") {
            Some("includes CreateGrant (the grantee can re-delegate)".to_string())
        } else if unconstrained && !full.is_empty() && full.iter().all(|op| has(op)) {
            Some(format!("grants every cryptographic operation of a {} key with no encryption context constraint", input.meta.key_usage))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Outcome::fail(
                format!("Grant {} to {} {reason}", g.grant_id, grantee(g)),
                grant_evidence(g).detail("grant_id", g.grant_id.clone()),
            );
        }
    }
    Outcome::pass(format!(
        "No grant of {} re-delegates or hands out every operation unconstrained",
        grants.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::{Grant, GrantConstraints, Status::*};

    fn grant(ops: &[&str], constrained: bool) -> Grant {
        Grant {
            grant_id: "g1".into(),
            grantee_principal: Some("arn:aws:iam::111122223333:role/App".into()),
            operations: ops.iter().map(|s| s.to_string()).collect(),
            constraints: constrained.then(|| GrantConstraints {
                encryption_context_subset: [("app".to_string(), "x".to_string())].into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn by_set_of_operations() {
        let all = super::full_crypto_ops("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT");
        let mut k = test_key();
        k.grants = Some(vec![grant(&["Decrypt", "Encrypt"], false)]);
        assert_eq!(check_key("KMS-GRANT-BROAD", &k), Pass);
        k.grants = Some(vec![grant(&["Decrypt", "CreateGrant"], true)]);
        assert_eq!(check_key("KMS-GRANT-BROAD", &k), Fail);
        k.grants = Some(vec![grant(all, false)]);
        assert_eq!(check_key("KMS-GRANT-BROAD", &k), Fail);
        k.grants = Some(vec![grant(all, true)]);
        assert_eq!(check_key("KMS-GRANT-BROAD", &k), Pass);
    }
}
