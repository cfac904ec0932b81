//! Rule: KMS-POLICY-UNPARSEABLE
//!
//! The key policy could not be parsed (invalid JSON, or a shape outside the IAM grammar). The
//! finding carries the parse error and its position; every other policy rule on the key is
//! NOT_ASSESSED rather than guessed.
//!
//! One unreadable statement does not hide the others: it fails this rule on its own (named
//! with its error) and the rest of the policy is analysed. When the statement left out may be
//! an Allow, the other policy rules can still FAIL on what was read, but not PASS (they are
//! NOT_ASSESSED); leaving out a Deny can only over-state access.

use kmsaudit_model::{Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, PolicyState, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-UNPARSEABLE",
    severity: Severity::High,
    title: "Key policy could not be parsed",
    rationale: "A policy the auditor cannot read cannot be shown to be safe; it may also use a construct this tool does not understand.",
    remediation: "Inspect the policy text in the evidence; if it is valid IAM, report the construct to the kmsaudit maintainers.",
};

pub(crate) fn check(input: &KeyInput<'_>, _ctx: &Ctx<'_>) -> Outcome {
    match input.policy {
        PolicyState::Analyzed(a) if a.invalid.is_empty() && a.refused_by_kms.is_none() => {
            Outcome::pass("The key policy parses")
        }
        PolicyState::Analyzed(a) => {
            let mut evidence = Evidence::default();
            let mut parts = Vec::new();
            if let Some(why) = &a.refused_by_kms {
                evidence = evidence.detail("refused_by_kms", why.clone());
                parts.push(format!("KMS would refuse the policy: {why}"));
            }
            for st in &a.invalid {
                let text = st.describe();
                evidence = evidence.detail(&format!("statement_{}", st.index), text.clone());
                parts.push(format!("{text} (left out of the analysis)"));
            }
            Outcome::fail(
                format!("The key policy is not wholly valid: {}", parts.join("; ")),
                evidence,
            )
        }
        PolicyState::Unparseable(e) => Outcome::fail(
            format!(
                "The key policy could not be parsed: {} at {}",
                e.message, e.location
            ),
            Evidence::default()
                .detail("parse_error", e.message.clone())
                .detail("position", e.location.clone()),
        ),
        PolicyState::Unread(why) => Outcome::not_assessed(why.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    #[test]
    fn bad_json_fails_good_passes() {
        let mut k = test_key();
        assert_eq!(check_key("KMS-POLICY-UNPARSEABLE", &k), Pass);
        k.policy = Some("{\"Statement\": [".into());
        assert_eq!(check_key("KMS-POLICY-UNPARSEABLE", &k), Fail);
        k.policy = None;
        k.errors.push(kmsaudit_model::Issue::new(
            "KMS.GetKeyPolicy",
            "AccessDeniedException",
            "denied",
        ));
        assert_eq!(check_key("KMS-POLICY-UNPARSEABLE", &k), NotAssessed);
    }
}
