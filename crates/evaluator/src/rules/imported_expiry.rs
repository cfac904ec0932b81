//! Rule: KMS-IMPORTED-EXPIRY
//!
//! A key with imported material (origin EXTERNAL) whose material expires
//! (ExpirationModel KEY_MATERIAL_EXPIRES) has expired, or expires within
//! `imported_expiry_days` (default 30) of the scan. Measured from the scan's start time.

use kmsaudit_model::{Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-IMPORTED-EXPIRY",
    severity: Severity::Medium,
    title: "Imported key material expired or expiring",
    rationale: "When imported key material expires, KMS deletes it and the key becomes unusable until the same material is imported again.",
    remediation: "Re-import the same key material with a later ValidTo, or with ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE.",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let m = input.meta;
    if m.origin != "EXTERNAL" {
        return Outcome::not_applicable(format!(
            "key material is not imported (origin {})",
            m.origin
        ));
    }
    if m.expiration_model.as_deref() != Some("KEY_MATERIAL_EXPIRES") {
        if m.key_state == "PendingImport" {
            return Outcome::fail(
                "The key has no imported key material (PendingImport)",
                Evidence::default().detail("key_state", "PendingImport"),
            );
        }
        return Outcome::pass("Imported key material does not expire");
    }
    let Some(expiry) = m.valid_to else {
        return Outcome::not_assessed("the key material expires but DescribeKey gave no ValidTo");
    };
    let valid_to = expiry.to_string();
    let days_left = (expiry.as_second() - ctx.now.as_second()).div_euclid(86_400);
    let window = ctx.config.imported_expiry_days;
    let ev = Evidence::default()
        .detail("valid_to", valid_to.clone())
        .detail("days_left", days_left.to_string());
    if days_left < 0 {
        Outcome::fail(format!("Imported key material expired on {valid_to}"), ev)
    } else if days_left <= window {
        Outcome::fail(format!("Imported key material expires on {valid_to}, in {days_left} days (window {window})"), ev)
    } else {
        Outcome::pass(format!(
            "Imported key material expires on {valid_to}, in {days_left} days"
        ))
        .with_evidence(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    #[test]
    fn expiry_window() {
        let mut k = test_key();
        assert_eq!(check_key("KMS-IMPORTED-EXPIRY", &k), NotApplicable);
        let m = k.metadata.as_mut().unwrap();
        m.origin = "EXTERNAL".into();
        m.expiration_model = Some("KEY_MATERIAL_EXPIRES".into());
        m.valid_to = Some("2026-12-01T00:00:00Z".parse().unwrap());
        assert_eq!(check_key("KMS-IMPORTED-EXPIRY", &k), Fail);
        k.metadata.as_mut().unwrap().valid_to = Some("2027-06-01T00:00:00Z".parse().unwrap());
        assert_eq!(check_key("KMS-IMPORTED-EXPIRY", &k), Pass);
        k.metadata.as_mut().unwrap().valid_to = Some("2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(check_key("KMS-IMPORTED-EXPIRY", &k), Fail);
        k.metadata.as_mut().unwrap().expiration_model = Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into());
        assert_eq!(check_key("KMS-IMPORTED-EXPIRY", &k), Pass);
    }
}
