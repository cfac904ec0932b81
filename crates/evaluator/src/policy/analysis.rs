//! Who may do what with the key, after explicit Deny statements.
//!
//! Each Allow statement becomes one [`Access`] per principal: the principal, the KMS actions,
//! and how far the statement's conditions narrow the principal ([`Reach`]). Deny statements are
//! then applied in order of the policy, following the IAM rule that an explicit Deny overrides
//! any Allow:
//!
//! * an unconditional Deny covering the principal removes the actions it names;
//! * a Deny whose only condition is a negated caller-identifying condition (e.g.
//!   `StringNotEquals aws:SourceVpce vpce-1`) narrows the Allow to callers that satisfy the
//!   positive form, for the actions it names;
//! * a Deny whose conditions are all among the Allow's applies whenever the Allow does; for a
//!   named principal, the conditions its own account decides are read first (`deny.rs`);
//! * a Deny with any other condition may or may not apply to a given request: it is ignored,
//!   which can only over-state access, never under-state it;
//! * a Deny naming specific principals only covers Allows to the same principal (or to
//!   identities of the same account); a Deny with `NotPrincipal` narrows an Allow to everyone
//!   down to the exempted principals.

pub use super::access::{Access, Analysis, Who, MAX_NARROWED_BY};
use super::allow::{allow_accesses, dead_text_notes};
use super::parse::{Effect, KeyScope, Policy, Principal, PrincipalSpec, Statement};
pub use super::reach::Reach;
pub use super::resolve::AnalysisEnv;
use super::resolve::{resolve, Verdict};

/// Analyzes a parsed policy for the key `key` (an ARN in a scan; in `lint-policy` what is given).
pub fn analyze(policy: &Policy, key: KeyScope<'_>) -> Analysis {
    analyze_in(policy, &AnalysisEnv::key(key))
}

/// Analyzes a parsed policy for the key, organization and time of `env`.
pub fn analyze_in(policy: &Policy, env: &AnalysisEnv<'_>) -> Analysis {
    let mut analysis = Analysis {
        invalid: policy.invalid.clone(),
        refused_by_kms: policy.refused_by_kms.clone(),
        ..Analysis::default()
    };
    let version = policy.version.as_deref();
    // The Allow statements as read, for what a Deny's `NotPrincipal` leaves to whom.
    let mut allows: std::collections::BTreeMap<usize, std::borrow::Cow<'_, Statement>> =
        std::collections::BTreeMap::new();
    let partition = match env.key {
        KeyScope::Arn(arn) => arn.split(':').nth(1).unwrap_or("aws"),
        _ => "aws",
    };
    for st in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
    {
        if st.actions.set.is_empty() {
            continue;
        }
        match st.resources.applies_to(env.key, version) {
            Some(false) => continue,
            Some(true) => {}
            None => analysis.notes.push(format!(
                "statement {}: Resource {} may not cover the key; without the key's ARN it is assumed to",
                st.index,
                st.resources.patterns.join(", ")
            )),
        }
        match resolve(st, version, env) {
            Verdict::Never { why, note } => {
                if note {
                    analysis
                        .notes
                        .push(format!("statement {} grants nothing now: {why}", st.index));
                }
            }
            Verdict::Applies(st, assumed) => {
                allows.insert(st.index, st.clone());
                dead_text_notes(&st, env.key_account(), &mut analysis.notes);
                analysis.notes.extend(
                    assumed
                        .iter()
                        .map(|a| format!("statement {}: {a}", st.index)),
                );
                allow_accesses(&st, partition, assumed, &mut analysis);
            }
        }
    }
    let mut applied: Vec<std::borrow::Cow<'_, Statement>> = Vec::new();
    for deny in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Deny)
    {
        // A Deny is only applied where it certainly covers the key.
        if deny.resources.applies_to(env.key, version) != Some(true) || deny.actions.set.is_empty()
        {
            continue;
        }
        if let Verdict::Applies(mut deny, _) = resolve(deny, version, env) {
            // A principal of another partition exempts no caller of this key.
            if let PrincipalSpec::NotPrincipal(exempt) = &deny.principals {
                if exempt
                    .iter()
                    .any(|p| p.partition().is_some_and(|other| other != partition))
                {
                    let kept = exempt
                        .iter()
                        .filter(|p| p.partition().is_none_or(|other| other == partition))
                        .cloned()
                        .collect();
                    deny.to_mut().principals = PrincipalSpec::NotPrincipal(kept);
                }
            }
            let can_satisfy = |index: usize, p: &Principal| {
                allows
                    .get(&index)
                    .is_none_or(|st| super::allow::principal_can_satisfy(st, p))
            };
            let before = analysis.accesses.len();
            super::deny::apply_deny(&deny, &mut analysis.accesses, &can_satisfy);
            // Principals a `NotPrincipal` left with an Allow's access are new accesses: every
            // Deny applies to them too, the earlier ones included.
            // (Copies of an Allow to everyone narrowed by this Deny had the earlier ones already.)
            if analysis.accesses.len() > before {
                let (mut exempt, narrowed): (Vec<Access>, Vec<Access>) = analysis
                    .accesses
                    .split_off(before)
                    .into_iter()
                    .partition(|a| !matches!(a.who, Who::Everyone { .. }));
                for earlier in &applied {
                    super::deny::apply_deny(earlier, &mut exempt, &can_satisfy);
                }
                analysis.accesses.extend(narrowed);
                analysis.accesses.extend(exempt);
            }
            applied.push(deny);
            analysis.accesses.retain(Access::reaches_someone);
        }
    }
    analysis.accesses.retain(Access::reaches_someone);
    // A principal of another partition is never granted anything (however a Deny's
    // `NotPrincipal` named it).
    analysis.accesses.retain(|a| match &a.who {
        Who::Named(p) => p.partition().is_none_or(|other| other == partition),
        _ => true,
    });
    // A hostile policy must not make its notes as large as itself.
    if analysis.notes.len() > MAX_NOTES {
        let more = analysis.notes.len() - MAX_NOTES;
        analysis.notes.truncate(MAX_NOTES);
        analysis.notes.push(format!("... and {more} more notes"));
    }
    analysis
}

/// How many notes an analysis keeps.
const MAX_NOTES: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse::parse_policy;
    use crate::policy::ActionSet;

    fn accesses(json: &str) -> Vec<Access> {
        analyze(
            &parse_policy(json).unwrap(),
            KeyScope::Arn("arn:aws:kms:us-east-1:111122223333:key/k"),
        )
        .accesses
    }

    #[test]
    fn notes_say_what_was_left_out_or_assumed() {
        let policy = parse_policy(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}},
            {"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":["kms:Decrypt","kms:PutKeyPolicy"],"Resource":"*"},
            {"Effect":"Allow","Principal":{"AWS":"arn:aws-cn:iam::999988887777:root"},"Action":"kms:Decrypt","Resource":"*"},
            {"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"arn:aws:kms:*:111122223333:key/abc"}]}"#,
        )
        .unwrap();
        let env = AnalysisEnv {
            key: KeyScope::Account("111122223333"),
            key_org: None,
            now: Some("2026-11-23T00:00:00Z".parse().unwrap()),
        };
        let a = analyze_in(&policy, &env);
        let notes = a.notes.join("\n");
        assert!(notes.contains("statement 0 grants nothing now"), "{notes}");
        assert!(
            notes.contains(
                "statement 1: kms:PutKeyPolicy granted to account 999988887777 has no effect"
            ),
            "{notes}"
        );
        assert!(
            notes
                .contains("statement 2: arn:aws-cn:iam::999988887777:root is of another partition"),
            "{notes}"
        );
        assert!(
            notes.contains(
                "statement 3: Resource arn:aws:kms:*:111122223333:key/abc may not cover the key"
            ),
            "{notes}"
        );
        // What is left: account 999988887777's Decrypt and PutKeyPolicy, and `*`'s Encrypt.
        assert_eq!(a.accesses.len(), 2);
    }

    #[test]
    fn deny_unless_vpce_narrows_public_allow() {
        let a = accesses(
            r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"},
            {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1a2b"}}}]}"#,
        );
        assert_eq!(a.len(), 1);
        let Who::Everyone { reach, .. } = &a[0].who else {
            panic!()
        };
        assert!(!reach.is_anyone());
        assert_eq!(a[0].narrowed_by, vec![1]);
    }

    #[test]
    fn unconditional_deny_removes_actions() {
        let a = accesses(
            r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/R"},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"},
            {"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:Decrypt","Resource":"*"}]}"#,
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].actions, ActionSet::of(&["Encrypt"]));
    }

    #[test]
    fn deny_with_unrelated_condition_is_ignored() {
        let a = accesses(
            r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"},
            {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
        );
        let Who::Everyone { reach, .. } = &a[0].who else {
            panic!()
        };
        assert!(reach.is_anyone());
    }

    #[test]
    fn deny_on_other_resource_is_ignored_and_allow_on_other_resource_skipped() {
        let a = accesses(
            r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/other"},
            {"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"},
            {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/other"}]}"#,
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].actions, ActionSet::of(&["Encrypt"]));
    }
}
