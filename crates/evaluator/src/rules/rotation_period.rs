//! Rule: KMS-ROTATION-PERIOD
//!
//! Automatic rotation is on but its period (RotationPeriodInDays) is longer than
//! `max_rotation_days` (default 365). Keys without rotation are KMS-ROTATION-DISABLED's.

use kmsaudit_model::{Evidence, Severity};

use super::key_facts::rotation_not_applicable;
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-ROTATION-PERIOD",
    severity: Severity::Low,
    title: "Rotation period longer than the required maximum",
    rationale:
        "Key material should change at least as often as the organization's cryptoperiod requires.",
    remediation: "aws kms enable-key-rotation --key-id <key> --rotation-period-in-days <max>",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    if let Some(why) = rotation_not_applicable(input) {
        return Outcome::not_applicable(why);
    }
    let max = ctx.config.max_rotation_days;
    match &input.key.rotation {
        Some(r) if !r.enabled => {
            Outcome::not_applicable("automatic rotation is disabled (see KMS-ROTATION-DISABLED)")
        }
        // Before rotation periods were configurable, rotation was yearly.
        Some(r) => {
            let days = r.period_days.map(i64::from).unwrap_or(365);
            if days > max {
                Outcome::fail(
                    format!("The key rotates every {days} days, longer than the maximum of {max}"),
                    Evidence::default()
                        .detail("rotation_period_days", days.to_string())
                        .detail("max_rotation_days", max.to_string()),
                )
            } else {
                Outcome::pass(format!("The key rotates every {days} days (maximum {max})"))
            }
        }
        None => Outcome::not_assessed("rotation status could not be read"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    #[test]
    fn period_against_maximum() {
        let mut k = test_key();
        assert_eq!(check_key("KMS-ROTATION-PERIOD", &k), Pass);
        k.rotation.as_mut().unwrap().period_days = Some(730);
        assert_eq!(check_key("KMS-ROTATION-PERIOD", &k), Fail);
        k.rotation.as_mut().unwrap().enabled = false;
        assert_eq!(check_key("KMS-ROTATION-PERIOD", &k), NotApplicable);
    }
}
