//! Rule: KMS-POLICY-PRINCIPALS-MANY
//!
//! More distinct principals (accounts, identities, services, federated and canonical users)
//! are named in Allow statements than `max_principals` (default 10).

use kmsaudit_model::Severity;

use super::{Ctx, Offense, PolicyInput, PolicyVerdict, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-PRINCIPALS-MANY",
    severity: Severity::Low,
    title: "Key policy names many principals",
    rationale:
        "A key shared with many principals is hard to review and likely broader than needed.",
    remediation:
        "Split the key per workload, or grant through a few roles instead of many identities.",
};

pub(crate) fn check(input: &PolicyInput<'_>, ctx: &Ctx<'_>) -> PolicyVerdict {
    let n = input.analysis.principals.len();
    let max = ctx.config.max_principals;
    let offenses = if n > max {
        vec![Offense {
            statement_index: None,
            sid: None,
            principal: None,
            actions: vec![],
            condition: None,
            explanation: format!(
                "The policy names {n} distinct principals, more than the maximum of {max}"
            ),
        }]
    } else {
        vec![]
    };
    PolicyVerdict::Offenses(
        offenses,
        "The policy names no more principals than the maximum",
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::config::EvalConfig;
    use kmsaudit_model::Status::*;

    #[test]
    fn counts_distinct_principals() {
        let many: Vec<String> = (0..11)
            .map(|i| format!("\"arn:aws:iam::111122223333:role/R{i}\""))
            .collect();
        let p = allow(
            &format!(r#"{{"AWS":[{}]}}"#, many.join(",")),
            r#""kms:Decrypt""#,
            "",
        );
        assert_eq!(check_policy("KMS-POLICY-PRINCIPALS-MANY", &p), Fail);
        let cfg = EvalConfig {
            max_principals: 11,
            ..Default::default()
        };
        assert_eq!(
            check_policy_with("KMS-POLICY-PRINCIPALS-MANY", &p, &cfg).0,
            Pass
        );
    }
}
