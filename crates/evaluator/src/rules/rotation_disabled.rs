//! Rule: KMS-ROTATION-DISABLED
//!
//! A symmetric ENCRYPT_DECRYPT key with KMS-generated material in the default key store has
//! automatic rotation off. Rotation does not exist for asymmetric, HMAC, imported-material or
//! custom-key-store keys (NOT_APPLICABLE, decided from DescribeKey; the scanner skips the call),
//! nor does it matter for keys pending deletion.

use kmsaudit_model::{Evidence, Severity};

use super::key_facts::rotation_not_applicable;
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-ROTATION-DISABLED",
    severity: Severity::Medium,
    title: "Automatic key rotation is disabled",
    rationale: "Rotating key material limits how much data one key version protects and the impact of its compromise.",
    remediation: "aws kms enable-key-rotation --key-id <key> [--rotation-period-in-days 365]",
};

pub(crate) fn check(input: &KeyInput<'_>, _ctx: &Ctx<'_>) -> Outcome {
    if let Some(why) = rotation_not_applicable(input) {
        return Outcome::not_applicable(why);
    }
    match &input.key.rotation {
        Some(r) if r.enabled => Outcome::pass("Automatic rotation is enabled"),
        Some(_) => Outcome::fail(
            "Automatic rotation is disabled on this symmetric customer-managed key",
            Evidence::default().detail("key_rotation_enabled", "false"),
        ),
        None => match input.key.error_for("KMS.GetKeyRotationStatus") {
            Some(e) => Outcome::not_assessed(format!(
                "rotation status could not be read: {} {}",
                e.code, e.message
            )),
            None => Outcome::not_assessed("rotation status was not collected"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    const ID: &str = "KMS-ROTATION-DISABLED";

    #[test]
    fn rotation_on_off_and_not_applicable() {
        let mut k = test_key();
        assert_eq!(check_key(ID, &k), Pass);
        k.rotation.as_mut().unwrap().enabled = false;
        assert_eq!(check_key(ID, &k), Fail);
        k.metadata.as_mut().unwrap().key_spec = "RSA_2048".into();
        assert_eq!(check_key(ID, &k), NotApplicable);
        let mut k = test_key();
        k.metadata.as_mut().unwrap().origin = "EXTERNAL".into();
        assert_eq!(check_key(ID, &k), NotApplicable);
        let mut k = test_key();
        k.metadata.as_mut().unwrap().key_spec = "HMAC_256".into();
        k.metadata.as_mut().unwrap().key_usage = "GENERATE_VERIFY_MAC".into();
        assert_eq!(check_key(ID, &k), NotApplicable);
    }

    #[test]
    fn unreadable_rotation_is_not_assessed() {
        let mut k = test_key();
        k.rotation = None;
        k.errors.push(kmsaudit_model::Issue::new(
            "KMS.GetKeyRotationStatus",
            "AccessDeniedException",
            "no",
        ));
        assert_eq!(check_key(ID, &k), NotAssessed);
    }
}
