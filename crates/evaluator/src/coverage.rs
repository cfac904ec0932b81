//! The scope of a scan, counted once: one row per account, one per account × region, and the
//! totals every output displays. For every account × region, keys discovered = keys assessed +
//! keys not assessed.

use kmsaudit_model::{
    AccountAccess, AccountCoverage, Coverage, Finding, RegionAccess, RegionCoverage, ScopeCounts,
    ScopeSummary, Snapshot, Status,
};

/// The scope tables and their totals. `findings` decide `complete` (an unmuted NOT_ASSESSED
/// finding means something was not read).
pub(crate) fn scope(
    snapshot: &Snapshot,
    findings: &[Finding],
) -> (ScopeSummary, Vec<AccountCoverage>, Vec<RegionCoverage>) {
    let mut accounts = Vec::new();
    let mut regions = Vec::new();
    for a in &snapshot.accounts {
        let reason = match &a.access {
            AccountAccess::Scanned { .. } => None,
            AccountAccess::NotAssessed { issue } => Some(issue.to_string()),
            AccountAccess::Skipped { reason } => Some(reason.clone()),
        };
        let count = |c: Coverage| a.regions.iter().filter(|r| r.coverage() == c).count();
        accounts.push(AccountCoverage {
            account_id: a.id.clone(),
            name: a.name.clone(),
            coverage: a.coverage(),
            reason,
            counts: ScopeCounts {
                regions_scanned: a
                    .regions
                    .iter()
                    .filter(|r| matches!(r.access, RegionAccess::Scanned))
                    .count(),
                regions_skipped: count(Coverage::Skipped),
                regions_not_assessed: count(Coverage::NotAssessed),
                keys_discovered: a.regions.iter().map(|r| r.keys_discovered()).sum(),
                keys_assessed: a.regions.iter().map(|r| r.keys_assessed()).sum(),
                keys_not_assessed: a.regions.iter().map(|r| r.keys_not_assessed()).sum(),
            },
        });
        for r in &a.regions {
            let reason = match (&r.access, &r.aliases_error) {
                (RegionAccess::Skipped { reason }, _) => Some(reason.clone()),
                (RegionAccess::NotAssessed { issue }, _) => Some(issue.to_string()),
                (_, Some(issue)) => Some(issue.to_string()),
                _ if r.keys_not_assessed() > 0 => {
                    Some(format!("{} key(s) not fully read", r.keys_not_assessed()))
                }
                _ => None,
            };
            regions.push(RegionCoverage {
                account_id: a.id.clone(),
                region: r.region.clone(),
                coverage: r.coverage(),
                keys_discovered: r.keys_discovered(),
                keys_assessed: r.keys_assessed(),
                keys_not_assessed: r.keys_not_assessed(),
                reason,
            });
        }
    }
    let accounts_with = |c: Coverage| accounts.iter().filter(|a| a.coverage == c).count();
    let summary = ScopeSummary {
        accounts: accounts.len(),
        accounts_assessed: accounts_with(Coverage::Assessed),
        accounts_partial: accounts_with(Coverage::Partial),
        accounts_not_assessed: accounts_with(Coverage::NotAssessed),
        accounts_skipped: accounts_with(Coverage::Skipped),
        counts: accounts
            .iter()
            .fold(ScopeCounts::default(), |sum, a| sum + a.counts),
        keys_judged: snapshot
            .keys()
            .filter(|(_, _, k)| k.metadata.is_none() || k.is_customer_managed())
            .count(),
        complete: !findings
            .iter()
            .any(|f| f.status == Status::NotAssessed && !f.muted)
            && accounts
                .iter()
                .all(|a| matches!(a.coverage, Coverage::Assessed | Coverage::Skipped)),
    };
    (summary, accounts, regions)
}
