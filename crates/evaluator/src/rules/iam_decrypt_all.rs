//! Rule: KMS-IAM-DECRYPT-ALL
//!
//! An IAM identity policy allows `kms:Decrypt` or `kms:ReEncryptFrom` on every key, and some
//! key really lets it: a holder of the policy can decrypt that key through its identity
//! policies once key policies, SCPs, RCPs and Denies are applied. This is Security Hub's KMS.1
//! (customer managed policies) and KMS.2 (inline policies) judged by reach, AWS managed
//! policies included, `NotAction` and wildcards read as IAM reads them. A policy that reaches
//! no key passes with what its text allows said; severity is High when it reaches keys of
//! another account.

use kmsaudit_model::{Evidence, Severity};

use super::{Ctx, Outcome, RuleDef};
use crate::effective::{DecryptScope, PolicyOrigin, PolicyReach};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-IAM-DECRYPT-ALL",
    severity: Severity::Medium,
    title: "IAM policy allows decrypt on every key it can reach",
    rationale: "An identity policy with kms:Decrypt on every key gives its holders every key whose policy delegates to their account, today's and tomorrow's, whatever the key was made for. Security Hub's KMS.1/KMS.2 read the policy text only (no AWS managed policies, no key policies or SCPs); judged by the keys it really reaches, a finding here is a principal that can read data it was never meant to.",
    remediation: "Scope the statement to the keys the workload needs (key ARNs, or aws:ResourceTag / kms:ResourceAliases conditions), or add kms:ViaService / encryption-context conditions; replace AWS managed policies such as PowerUserAccess with ones that leave kms:Decrypt out.",
};

/// How many reached keys the evidence names.
const KEYS_SHOWN: usize = 5;

pub(crate) fn check(policy: &PolicyReach, ctx: &Ctx<'_>) -> Outcome {
    let kind = match policy.origin {
        PolicyOrigin::CustomerManaged => "customer managed policy",
        PolicyOrigin::AwsManaged => "AWS managed policy",
        PolicyOrigin::Inline => "inline policy",
        PolicyOrigin::UnreadAccount => "account's IAM",
    };
    let (statements, conditions) = match &policy.scope {
        DecryptScope::Unreadable(why) if policy.origin == PolicyOrigin::UnreadAccount => {
            return Outcome::not_assessed(why.clone())
        }
        DecryptScope::Unreadable(why) => {
            return Outcome::not_assessed(format!("the {kind} could not be read: {why}"))
        }
        DecryptScope::Narrow(why) => {
            return Outcome::pass(format!(
                "The {kind} does not allow decrypt on every key: {why}"
            ))
        }
        DecryptScope::EveryKey {
            statements,
            conditions,
            ..
        } => (statements, conditions),
    };
    let under = if conditions.is_empty() {
        String::new()
    } else {
        format!(" (when {})", conditions.join(", "))
    };
    if policy.reached.is_empty() {
        if let Some(unknown) = &policy.unknown {
            return Outcome::not_assessed(format!(
                "the {kind} allows decrypt on every key ({}); which keys it reaches is not known: {unknown}",
                statements.join(", ")
            ));
        }
        let why = if policy.holders.is_empty() {
            "it is attached to no user or role"
        } else {
            "no key lets its holders decrypt through IAM (key policies, SCPs, RCPs or Denies stop them)"
        };
        return Outcome::pass(format!(
            "The {kind} allows decrypt on every key by its text ({}{under}) but reaches none: {why}",
            statements.join(", ")
        ));
    }
    let table = ctx.access.as_ref().map(|a| &a.table);
    let reached =
        || (policy.reached.iter()).filter_map(|&k| table.and_then(|t| t.key_arn(k as usize)));
    let accounts: std::collections::BTreeSet<&str> =
        reached().filter_map(kmsaudit_model::arn_account).collect();
    let elsewhere = accounts.iter().any(|a| *a != policy.account);
    let shown: Vec<&str> = reached().take(KEYS_SHOWN).collect();
    let mut outcome = Outcome::fail(
        format!(
            "The {kind} allows kms:Decrypt on every key ({}{under}) and reaches {} key(s) in {} account(s) through {} holder(s)",
            statements.join(", "),
            policy.reached.len(),
            accounts.len(),
            policy.holders.len()
        ),
        Evidence {
            actions: vec!["kms:Decrypt".into(), "kms:ReEncryptFrom".into()],
            condition: (!conditions.is_empty()).then(|| conditions.join(", ")),
            ..Default::default()
        }
        .detail("keys_reached", policy.reached.len().to_string())
        .detail("keys_shown", shown.join(" "))
        .detail("holders", policy.holders.join(" ")),
    );
    if elsewhere {
        outcome.severity = Some(Severity::High);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EvalConfig;
    use crate::context::Ctx;
    use kmsaudit_model::Status::*;
    use kmsaudit_model::*;
    use std::sync::Arc;

    const APP: &str = "arn:aws:iam::111111111111:role/App";
    const EVERY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;
    const DELEGATING: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}]}"#;
    const ROOT_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalType":"Account"}}}]}"#;

    /// A snapshot of one account (no organization) with these keys and this IAM.
    fn one_account(keys: Vec<KeyRecord>, iam: IamRecord) -> Snapshot {
        Snapshot {
            schema_version: SCHEMA_VERSION,
            metadata: ScanMetadata::default(),
            organization: None,
            accounts: vec![fixtures::scanned_account(
                "111111111111",
                false,
                keys,
                Some(iam),
            )],
            aws_managed_policies: vec![],
        }
    }

    /// One account with role App holding `document` (inline, or attached as `attach`), and
    /// keys with these policies; the verdict on each reviewed policy.
    fn verdicts(
        document: &str,
        attach: Option<&str>,
        key_policies: &[&str],
    ) -> Vec<(String, Status, Severity, String)> {
        let keys = key_policies
            .iter()
            .enumerate()
            .map(|(i, p)| KeyRecord {
                // "": the key policy could not be read.
                policy: (!p.is_empty()).then(|| Arc::from(*p)),
                ..fixtures::customer_key(&format!("arn:aws:kms:us-east-1:111111111111:key/k{i}"))
            })
            .collect();
        let mut iam = IamRecord::default();
        let mut app = IamPrincipal {
            arn: APP.into(),
            kind: IamPrincipalKind::Role,
            inline_policies: vec![],
            attached_policies: vec![],
            groups: vec![],
            boundary: None,
            trust_policy: None,
        };
        match attach {
            None => app.inline_policies.push(InlinePolicy {
                name: "use".into(),
                document: Arc::from(document),
            }),
            Some(arn) => {
                app.attached_policies.push(arn.into());
                iam.managed_policies.push(ManagedPolicy {
                    arn: arn.into(),
                    name: "Shared".into(),
                    document: Arc::from(document),
                });
            }
        }
        iam.principals.push(app);
        let snapshot = one_account(keys, iam);
        let config = EvalConfig::default();
        let ctx = Ctx::for_snapshot(&snapshot, &config);
        ctx.access
            .as_ref()
            .unwrap()
            .iam_policies
            .iter()
            .map(|p| {
                let o = check(p, &ctx);
                (
                    p.id.clone(),
                    o.status,
                    o.severity.unwrap_or(RULE.severity),
                    o.message.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn decrypt_on_every_key_fails_only_when_a_key_lets_it() {
        // The default key policy delegates to IAM: the inline policy reaches the key.
        let v = verdicts(EVERY, None, &[DELEGATING, ROOT_ONLY]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, format!("{APP}#use"));
        assert_eq!(v[0].1, Fail, "{}", v[0].3);
        assert_eq!(v[0].2, Severity::Medium);
        assert!(v[0].3.contains("reaches 1 key(s)"), "{}", v[0].3);
        // No key delegates to IAM: the text alone does not fail it.
        let v = verdicts(EVERY, None, &[ROOT_ONLY]);
        assert_eq!(v[0].1, Pass, "{}", v[0].3);
        assert!(v[0].3.contains("reaches none"), "{}", v[0].3);
    }

    #[test]
    fn customer_managed_policies_are_judged_by_their_holders() {
        let arn = "arn:aws:iam::111111111111:policy/Shared";
        let v = verdicts(EVERY, Some(arn), &[DELEGATING]);
        assert_eq!((v[0].0.as_str(), v[0].1), (arn, Fail));
        // Narrowed by a condition on the use: passes with the reason.
        let via = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]}"#;
        let v = verdicts(via, Some(arn), &[DELEGATING]);
        assert_eq!(v[0].1, Pass);
        assert!(v[0].3.contains("kms:ViaService"), "{}", v[0].3);
        let v = verdicts("{broken", Some(arn), &[DELEGATING]);
        assert_eq!(v[0].1, NotAssessed);
    }

    #[test]
    fn reaching_none_is_not_assessed_when_a_key_it_covers_was_not_read() {
        let v = verdicts(EVERY, None, &[ROOT_ONLY, ""]);
        assert_eq!(v[0].1, NotAssessed, "{}", v[0].3);
        assert!(v[0].3.contains("was not read"), "{}", v[0].3);
        // A key it reaches still fails it.
        let v = verdicts(EVERY, None, &[DELEGATING, ""]);
        assert_eq!(v[0].1, Fail, "{}", v[0].3);
    }

    #[test]
    fn an_account_whose_iam_was_not_read_whole_is_not_assessed() {
        let iam = IamRecord {
            errors: vec![Issue::new(
                "IAM.GetAccountAuthorizationDetails",
                "Throttling",
                "Rate exceeded",
            )],
            ..Default::default()
        };
        let snapshot = one_account(vec![], iam);
        let config = EvalConfig::default();
        let evaluation = crate::evaluate(&snapshot, &config);
        let finding = evaluation
            .findings
            .iter()
            .find(|f| &*f.rule_id == RULE.id)
            .expect("a verdict on the account");
        assert_eq!(finding.status, NotAssessed);
        assert_eq!(finding.resource_type, ResourceType::Account);
        assert_eq!(&*finding.resource, "account/111111111111");
        assert!(
            finding.message.contains("Throttling"),
            "{}",
            finding.message
        );
    }

    #[test]
    fn an_explicit_deny_in_the_key_policy_takes_the_reach_away() {
        let deny = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111111111111:role/App"},"Action":"kms:Decrypt","Resource":"*"}]}"#;
        let v = verdicts(EVERY, None, &[deny]);
        assert_eq!(v[0].1, Pass, "{}", v[0].3);
    }
}
