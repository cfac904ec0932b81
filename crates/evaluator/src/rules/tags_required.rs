//! Rule: KMS-TAGS-REQUIRED
//!
//! The key lacks one of the `required_tags` (tag keys, matched exactly), or carries it with an
//! empty value. Without required tags configured the rule does not apply.

use kmsaudit_model::{Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-TAGS-REQUIRED",
    severity: Severity::Low,
    title: "Required tags missing",
    rationale: "Ownership and data-classification tags tell an auditor who answers for a key and what it protects.",
    remediation: "aws kms tag-resource --key-id <key> --tags TagKey=<tag>,TagValue=<value>",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let required = &ctx.config.required_tags;
    if required.is_empty() {
        return Outcome::not_applicable("no required_tags are configured");
    }
    let Some(tags) = &input.key.tags else {
        return match input.key.error_for("KMS.ListResourceTags") {
            Some(e) => {
                Outcome::not_assessed(format!("tags could not be read: {} {}", e.code, e.message))
            }
            None => Outcome::not_assessed("tags were not collected"),
        };
    };
    let missing: Vec<&str> = required
        .iter()
        .filter(|r| {
            !tags
                .iter()
                .any(|t| &t.key == *r && !t.value.trim().is_empty())
        })
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Outcome::pass(format!(
            "The key carries every required tag ({})",
            required.join(", ")
        ))
    } else {
        Outcome::fail(
            format!("The key lacks required tag(s): {}", missing.join(", ")),
            Evidence::default().detail("missing_tags", missing.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::config::EvalConfig;
    use kmsaudit_model::{Status::*, Tag};

    #[test]
    fn required_tags() {
        let cfg = EvalConfig {
            required_tags: vec!["owner".into()],
            ..Default::default()
        };
        let mut k = test_key();
        assert_eq!(check_key("KMS-TAGS-REQUIRED", &k), NotApplicable);
        assert_eq!(
            check_key_with("KMS-TAGS-REQUIRED", &k, None, &cfg).status,
            Fail
        );
        k.tags = Some(vec![Tag {
            key: "owner".into(),
            value: "team-a".into(),
        }]);
        assert_eq!(
            check_key_with("KMS-TAGS-REQUIRED", &k, None, &cfg).status,
            Pass
        );
        k.tags = Some(vec![Tag {
            key: "owner".into(),
            value: " ".into(),
        }]);
        assert_eq!(
            check_key_with("KMS-TAGS-REQUIRED", &k, None, &cfg).status,
            Fail
        );
    }
}
