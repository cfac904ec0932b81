//! Rule: SCAN-NOT-ASSESSED
//!
//! Something the audit needs could not be read: an account (its role could not be assumed), a
//! region (ListKeys or ListAliases failed) or a key (any per-key call failed). Reported with
//! the AWS error code and message; never folded into PASS. Skipped accounts and regions (not
//! enabled, suspended, excluded) are listed in the scope table, not here.

use kmsaudit_model::{
    AccountAccess, AccountRecord, Evidence, Issue, KeyRecord, RegionAccess, RegionRecord, Severity,
};

use super::{Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "SCAN-NOT-ASSESSED",
    severity: Severity::Medium,
    title: "Could not be assessed",
    rationale: "An account, region or key that could not be read is unknown, and unknown is not compliant: the audit is incomplete until it is read.",
    remediation: "Fix the cause in the evidence (audit role missing or untrusted, key policy not allowing the audit role, throttling) and scan again.",
};

fn issue_evidence(issue: &Issue) -> Evidence {
    Evidence::default()
        .detail("operation", issue.operation.clone())
        .detail("error_code", issue.code.clone())
        .detail("error_message", issue.message.clone())
}

pub(crate) fn account(account: &AccountRecord) -> Outcome {
    match &account.access {
        AccountAccess::Scanned { via } => Outcome::pass(format!("Account read with {via}")),
        AccountAccess::Skipped { reason } => {
            Outcome::not_applicable(format!("Account skipped: {reason}"))
        }
        AccountAccess::NotAssessed { issue } => {
            let mut o = Outcome::not_assessed(format!("Account could not be assessed: {issue}"));
            o.evidence = issue_evidence(issue).into();
            o
        }
    }
}

pub(crate) fn region(region: &RegionRecord) -> Option<Outcome> {
    let issue = match (&region.access, &region.aliases_error) {
        (RegionAccess::NotAssessed { issue }, _) => issue,
        (RegionAccess::Scanned, Some(issue)) => issue,
        _ => return None,
    };
    let mut o = Outcome::not_assessed(format!("Region could not be fully read: {issue}"));
    o.evidence = issue_evidence(issue).into();
    Some(o)
}

pub(crate) fn key(key: &KeyRecord) -> Option<Outcome> {
    let first = key.errors.first()?;
    let all: Vec<String> = key.errors.iter().map(|e| e.to_string()).collect();
    let mut o = Outcome::not_assessed(format!("Key could not be fully read: {}", all.join("; ")));
    o.evidence = issue_evidence(first).into();
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::test_key;
    use kmsaudit_model::*;

    fn account(access: AccountAccess) -> AccountRecord {
        AccountRecord {
            id: "111122223333".into(),
            name: None,
            email: None,
            org_status: None,
            access,
            regions_from: None,
            regions: vec![],
            iam: None,
            monitoring: None,
        }
    }

    #[test]
    fn accounts_regions_and_keys() {
        assert_eq!(
            super::account(&account(AccountAccess::Scanned {
                via: "caller".into()
            }))
            .status,
            Status::Pass
        );
        assert_eq!(
            super::account(&account(AccountAccess::Skipped {
                reason: "suspended".into()
            }))
            .status,
            Status::NotApplicable
        );
        let denied = super::account(&account(AccountAccess::NotAssessed {
            issue: Issue::new("STS.AssumeRole", "AccessDenied", "no"),
        }));
        assert_eq!(denied.status, Status::NotAssessed);
        assert_eq!(
            denied.evidence.details.get("error_code"),
            Some("AccessDenied")
        );

        let mut region = RegionRecord {
            region: "us-east-1".into(),
            access: RegionAccess::Scanned,
            aliases_error: None,
            keys: vec![],
            access_analyzer: None,
        };
        assert!(super::region(&region).is_none());
        region.aliases_error = Some(Issue::new(
            "KMS.ListAliases",
            "ThrottlingException",
            "slow down",
        ));
        assert_eq!(
            super::region(&region).map(|o| o.status),
            Some(Status::NotAssessed)
        );
        region.access = RegionAccess::Skipped {
            reason: "not enabled".into(),
        };
        region.aliases_error = None;
        assert!(
            super::region(&region).is_none(),
            "skipped regions are scope, not findings"
        );

        let mut key = test_key();
        assert!(super::key(&key).is_none());
        key.errors
            .push(Issue::new("KMS.ListGrants", "AccessDeniedException", "no"));
        assert_eq!(
            super::key(&key).map(|o| o.status),
            Some(Status::NotAssessed)
        );
    }
}
