//! Rule: KMS-POLICY-ADMIN-ALLOWLIST
//!
//! Administration is granted to a principal that matches no `admin_allowlist` pattern. ARN
//! patterns (`arn:...`) are matched against named principals (`arn:aws:iam::ID:root` for an
//! account); other patterns against the `aws:userid` values a statement requires (seed 003
//! scenarios 6/7). `*` without an `aws:userid` condition never matches. The key account's
//! root is exempt (IAM delegation). Without an allowlist the rule does not apply.

use kmsaudit_model::Severity;

use super::policy_facts::is_allowlisted;
use super::policy_facts::sid;
use super::{non_root, Ctx, Offense, PolicyInput, PolicyVerdict, RuleDef};
use crate::policy::ActionSet;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-ADMIN-ALLOWLIST",
    severity: Severity::Medium,
    title: "Key administration granted outside the admin allowlist",
    rationale: "Only the approved key administrators should be able to change a key's policy, state or material.",
    remediation: "Remove administrative actions from principals that are not approved administrators, or add them to admin_allowlist after review.",
};

pub(crate) fn check(input: &PolicyInput<'_>, ctx: &Ctx<'_>) -> PolicyVerdict {
    let patterns = &ctx.config.admin_allowlist;
    if patterns.is_empty() {
        return PolicyVerdict::NotApplicable("no admin_allowlist is configured".into());
    }
    let offenses = non_root(input)
        .filter(|a| a.actions.overlaps(ActionSet::administration()) && !is_allowlisted(a, patterns))
        .map(|a| {
            let admin = a.actions.intersect(ActionSet::administration());
            let who = if a.userids.is_empty() { a.who.describe() } else { format!("{} with aws:userid {}", a.who.describe(), a.userids.join(", ")) };
            Offense::from_access(a, format!("Statement {}{} grants administration ({}) to {who}, which matches no admin_allowlist pattern", a.statement_index, sid(a), admin.describe()))
        })
        .collect();
    PolicyVerdict::Offenses(
        offenses,
        "Administration is granted only to allowlisted principals",
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::config::EvalConfig;
    use kmsaudit_model::Status::*;

    const ID: &str = "KMS-POLICY-ADMIN-ALLOWLIST";

    fn cfg() -> EvalConfig {
        EvalConfig {
            admin_allowlist: vec!["AROAOTTER*".into(), "arn:aws:iam::*:role/KeyAdmin".into()],
            ..Default::default()
        }
    }

    #[test]
    fn not_applicable_without_allowlist() {
        assert_eq!(
            check_policy(ID, &allow(r#""*""#, r#""kms:Put*""#, "")),
            NotApplicable
        );
    }

    #[test]
    fn userid_and_arn_patterns() {
        let admin = r#"["kms:Create*","kms:Delete*","kms:Put*"]"#;
        let ok = allow(
            r#"{"AWS":"*"}"#,
            admin,
            r#"{"StringLike":{"aws:userId":"AROAOTTERFGJHZSLLMNZP"}}"#,
        );
        assert_eq!(check_policy_with(ID, &ok, &cfg()).0, Pass);
        let bad = allow(
            r#"{"AWS":"*"}"#,
            admin,
            r#"{"StringLike":{"aws:userId":"ADAIABCDEFGHJLKMNOPQRST"}}"#,
        );
        assert_eq!(check_policy_with(ID, &bad, &cfg()).0, Fail);
        assert_eq!(
            check_policy_with(
                ID,
                &allow(
                    r#"{"AWS":"arn:aws:iam::111122223333:role/KeyAdmin"}"#,
                    admin,
                    ""
                ),
                &cfg()
            )
            .0,
            Pass
        );
        assert_eq!(
            check_policy_with(
                ID,
                &allow(r#"{"AWS":"arn:aws:iam::111122223333:role/Dev"}"#, admin, ""),
                &cfg()
            )
            .0,
            Fail
        );
        // use only: no administration to judge
        assert_eq!(
            check_policy_with(
                ID,
                &allow(
                    r#"{"AWS":"arn:aws:iam::111122223333:role/Dev"}"#,
                    r#""kms:Decrypt""#,
                    ""
                ),
                &cfg()
            )
            .0,
            Pass
        );
    }
}
