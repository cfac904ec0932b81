//! Rule: KMS-POLICY-NO-EFFECT
//!
//! The key policy grants what cannot take effect: operations other than the ones KMS lets a
//! principal of another account perform (the cryptographic operations, the grant operations,
//! DescribeKey, GetKeyRotationStatus, GetPublicKey), granted to a named principal of another
//! account or to a `*` that only other accounts' callers can match; and anything granted to a
//! principal of another partition. Dead policy text: it grants nothing, but it tells a reviewer
//! that an outsider administers the key. Reported once per statement and principal, at low
//! severity; the public and external rules count only what takes effect.

use kmsaudit_model::Severity;

use super::policy_facts::sid;
use super::{Ctx, Offense, PolicyInput, PolicyVerdict, RuleDef};
use crate::policy::{admits, ActionSet, Who};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-POLICY-NO-EFFECT",
    severity: Severity::Low,
    title: "Key policy grants what cannot take effect",
    rationale: "KMS lets principals of another account use only the cryptographic operations, the grant operations, DescribeKey, GetKeyRotationStatus and GetPublicKey; anything else granted to another account, and anything granted to a principal of another partition, has no effect. Such text misleads whoever reviews the key's access.",
    remediation: "Remove the operations that cannot take effect for those principals, or grant administration to principals of the key's own account.",
};

pub(crate) fn check(input: &PolicyInput<'_>, _ctx: &Ctx<'_>) -> PolicyVerdict {
    let Some(key_account) = input.key_account else {
        return PolicyVerdict::Offenses(vec![], "The key's account is unknown");
    };
    let mut offenses: Vec<Offense> = input
        .analysis
        .accesses
        .iter()
        .filter_map(|a| {
            let dead = a.actions.minus(ActionSet::cross_account());
            if dead.is_empty() {
                return None;
            }
            let outsider = match &a.who {
                Who::Named(p) => p.account().is_some_and(|acct| acct != key_account),
                Who::Everyone { reach, .. } => reach
                    .accounts
                    .as_ref()
                    .is_some_and(|set| !set.is_empty() && !admits(set, key_account)),
                Who::Service { .. } => false,
            };
            outsider.then(|| {
                let mut o = Offense::from_access(
                    a,
                    format!(
                        "Statement {}{} grants {} to {}, of another account: KMS gives these operations no effect across accounts (dead policy text)",
                        a.statement_index,
                        sid(a),
                        dead.describe(),
                        a.who.describe()
                    ),
                );
                o.actions = dead.evidence_names();
                o
            })
        })
        .collect();
    offenses.extend(input.analysis.other_partition.iter().map(|(index, p)| Offense {
        statement_index: Some(*index),
        sid: None,
        principal: Some(p.describe()),
        actions: vec![],
        condition: None,
        explanation: format!(
            "Statement {index} names {}, of another partition than the key: it is never granted anything (dead policy text)",
            p.describe()
        ),
    }));
    PolicyVerdict::Offenses(
        offenses,
        "Everything the policy grants can take effect for the principals it names",
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    const ID: &str = "KMS-POLICY-NO-EFFECT";

    #[test]
    fn administration_of_another_account_is_dead_text() {
        let p = allow(
            r#"{"AWS":"999988887777"}"#,
            r#"["kms:Decrypt","kms:PutKeyPolicy"]"#,
            "",
        );
        let (status, messages) = check_policy_with(ID, &p, &Default::default());
        let message = messages.join("\n");
        assert_eq!(status, Fail, "{message}");
        assert!(message.contains("kms:PutKeyPolicy"), "{message}");
        assert!(!message.contains("kms:Decrypt"), "{message}");
        let use_only = allow(r#"{"AWS":"999988887777"}"#, r#""kms:Decrypt""#, "");
        assert_eq!(check_policy(ID, &use_only), Pass);
        let own = allow(r#"{"AWS":"111122223333"}"#, r#""kms:PutKeyPolicy""#, "");
        assert_eq!(check_policy(ID, &own), Pass);
    }

    #[test]
    fn a_principal_of_another_partition_is_dead_text() {
        let p = allow(
            r#"{"AWS":"arn:aws-cn:iam::999988887777:root"}"#,
            r#""kms:Decrypt""#,
            "",
        );
        let (status, messages) = check_policy_with(ID, &p, &Default::default());
        assert_eq!(status, Fail, "{messages:?}");
        assert!(messages[0].contains("another partition"), "{messages:?}");
    }
}
