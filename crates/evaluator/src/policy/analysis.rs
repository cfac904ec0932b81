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
//! * a Deny with any other condition may or may not apply to a given request: it is ignored,
//!   which can only over-state access, never under-state it;
//! * a Deny naming specific principals only covers Allows to the same principal (or to
//!   identities of the same account); a Deny with `NotPrincipal` narrows an Allow to everyone
//!   down to the exempted principals.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::actions::ActionSet;
pub(super) use super::allow::is_source_key;
use super::allow::{allow_accesses, dead_text_notes};
use super::parse::{
    Effect, InvalidStatement, KeyScope, Policy, Principal, PrincipalSpec, Statement,
};
pub use super::reach::Reach;
pub use super::resolve::AnalysisEnv;
use super::resolve::{resolve, Verdict};

/// Who an Allow reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// `Principal: "*"` (or `NotPrincipal`), narrowed by conditions.
    Everyone {
        /// Whom the conditions still admit.
        reach: Reach,
        /// Principals a `NotPrincipal` leaves out.
        except: Vec<Principal>,
    },
    /// An account, IAM identity, federated or canonical user.
    Named(Principal),
    /// An AWS service principal, acting on behalf of `on_behalf_of` (`aws:SourceAccount`...).
    Service {
        /// e.g. `cloudtrail.amazonaws.com`.
        name: String,
        /// The accounts or organizations the service may act for.
        on_behalf_of: Reach,
    },
}

impl Who {
    /// The principal in words, for explanations.
    pub fn describe(&self) -> String {
        match self {
            Who::Everyone { reach, except } if except.is_empty() => {
                if reach.is_anyone() {
                    "* (anyone)".into()
                } else {
                    format!("* restricted to {}", reach.describe())
                }
            }
            Who::Everyone { reach, except } => format!(
                "everyone except {} (NotPrincipal), restricted to {}",
                except
                    .iter()
                    .map(Principal::describe)
                    .collect::<Vec<_>>()
                    .join(", "),
                reach.describe()
            ),
            Who::Named(p) => p.describe(),
            Who::Service { name, on_behalf_of } => {
                if on_behalf_of.is_anyone() {
                    format!("service {name} on behalf of any account")
                } else {
                    format!("service {name} on behalf of {}", on_behalf_of.describe())
                }
            }
        }
    }

    /// Whether this is the account root of `account`.
    pub fn is_account_root(&self, account: Option<&str>) -> bool {
        matches!((self, account), (Who::Named(Principal::Account(a)), Some(k)) if a == k)
    }
}

/// How many narrowing Deny statements an access records: enough for any explanation, and a
/// hostile policy with thousands of Denies cannot make every access grow with them.
pub const MAX_NARROWED_BY: usize = 32;

/// One principal's allowed actions from one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Index of the Allow statement (0-based).
    pub statement_index: usize,
    /// Its Sid.
    pub sid: Option<String>,
    /// Who is allowed.
    pub who: Who,
    /// What is allowed, after Deny statements.
    pub actions: ActionSet,
    /// Every condition of the statement, written out (shared by the statement's accesses).
    pub conditions: Arc<[String]>,
    /// `Bool kms:GrantIsForAWSResource true` is present.
    pub grant_for_aws_resource: bool,
    /// A condition restricts the statement to the account root itself (`aws:PrincipalType`
    /// `Account`, or `aws:PrincipalArn` / `aws:userid` naming only roots): for the key account's
    /// root, no delegation to IAM policies.
    pub principal_type_account: bool,
    /// `aws:userid` values the statement requires, if any.
    pub userids: Vec<String>,
    /// For a named principal: the organizations its caller pins (Allow conditions, narrowing
    /// Denies) require it to belong to. Whether it can is known only to the trust zone.
    pub principal_orgs: Option<BTreeSet<String>>,
    /// Deny statements that narrowed this access (indices; the first
    /// [`MAX_NARROWED_BY`] are kept).
    pub narrowed_by: Vec<usize>,
    /// Conditions the analysis assumed hold although they do not now (a time window that
    /// opens later), in words.
    pub assumed: Arc<[String]>,
}

impl Access {
    /// Records that the Deny statement `deny_index` narrowed this access (the first
    /// [`MAX_NARROWED_BY`] are kept).
    pub(super) fn record_narrowing(&mut self, deny_index: usize) {
        if self.narrowed_by.len() < MAX_NARROWED_BY {
            self.narrowed_by.push(deny_index);
        }
    }

    /// Some action remains, and some caller can satisfy the statement's pins.
    fn reaches_someone(&self) -> bool {
        !self.actions.is_empty()
            && match &self.who {
                Who::Everyone { reach, .. } => !reach.is_nobody(),
                Who::Service { on_behalf_of, .. } => !on_behalf_of.is_nobody(),
                Who::Named(_) => true,
            }
    }

    /// `; assumed: ...` for explanations, or nothing.
    pub fn assumed_text(&self) -> String {
        if self.assumed.is_empty() {
            String::new()
        } else {
            format!("; assumed: {}", self.assumed.join("; "))
        }
    }

    /// The statement's conditions joined, or `None` without conditions.
    pub fn condition_text(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join("; "))
    }
}

/// The analysis of one key policy.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Every (statement, principal) access that remains after Deny statements.
    pub accesses: Vec<Access>,
    /// Distinct principals named in Allow statements.
    pub principals: BTreeSet<Principal>,
    /// Statements that could not be read and were left out.
    pub invalid: Vec<InvalidStatement>,
    /// Why KMS would refuse the document as a whole, when it would.
    pub refused_by_kms: Option<String>,
    /// What the analysis assumed or left out and a reader should know: a statement whose time
    /// window has closed, one in effect only later, one assumed to apply to a key whose ARN is
    /// unknown, a principal of another partition.
    pub notes: Vec<String>,
    /// Principals of another partition than the key's that Allow statements name (statement
    /// index, principal): never granted anything.
    pub other_partition: Vec<(usize, Principal)>,
}

impl Analysis {
    /// Why no policy rule may PASS on this analysis: a statement left out may allow access.
    pub fn incomplete(&self) -> Option<String> {
        let hidden: Vec<String> = self
            .invalid
            .iter()
            .filter(|s| s.may_allow())
            .map(InvalidStatement::describe)
            .collect();
        (!hidden.is_empty()).then(|| {
            format!(
                "{} could not be read and may allow access the analysis cannot see",
                hidden.join("; ")
            )
        })
    }
}

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
            super::deny::apply_deny(&deny, &mut analysis.accesses, &can_satisfy);
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
