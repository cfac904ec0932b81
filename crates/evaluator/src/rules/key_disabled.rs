//! Rule: KMS-KEY-DISABLED
//!
//! The key is Disabled: listed for review (info). Policy and grant rules still apply to
//! disabled and pending-deletion keys, because whoever the policy allows can re-enable the key
//! or cancel its deletion.

use kmsaudit_model::{Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-KEY-DISABLED",
    severity: Severity::Info,
    title: "Key is disabled",
    rationale: "Disabled keys are either awaiting deletion or forgotten; both deserve an owner's decision. Their policies still matter: whoever they allow can re-enable them.",
    remediation: "Re-enable the key if it is in use, or schedule its deletion after confirming nothing depends on it.",
};

pub(crate) fn check(input: &KeyInput<'_>, _ctx: &Ctx<'_>) -> Outcome {
    if input.meta.key_state == "Disabled" {
        Outcome::fail(
            "The key is disabled",
            Evidence::default().detail("key_state", "Disabled"),
        )
    } else {
        Outcome::pass(format!("The key is {}", input.meta.key_state))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    #[test]
    fn disabled_fails() {
        let mut k = test_key();
        assert_eq!(check_key("KMS-KEY-DISABLED", &k), Pass);
        k.metadata.as_mut().unwrap().key_state = "Disabled".into();
        assert_eq!(check_key("KMS-KEY-DISABLED", &k), Fail);
    }
}
