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
    compliance: &[("NIST SP 800-53 Rev. 5", &["CA-7"])],
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
            o.evidence = issue_evidence(issue);
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
    o.evidence = issue_evidence(issue);
    Some(o)
}

pub(crate) fn key(key: &KeyRecord) -> Option<Outcome> {
    let first = key.errors.first()?;
    let all: Vec<String> = key.errors.iter().map(|e| e.to_string()).collect();
    let mut o = Outcome::not_assessed(format!("Key could not be fully read: {}", all.join("; ")));
    o.evidence = issue_evidence(first);
    Some(o)
}
