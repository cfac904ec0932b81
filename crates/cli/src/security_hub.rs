//! `scan --security-hub`: the failing findings imported into each account's Security Hub, and
//! the ones fixed since the last import resolved.

use std::collections::HashMap;

use kmsaudit_model::{AccountAccess, Evaluation, RegionAccess, Snapshot, Status};
use kmsaudit_scanner::{AccountImport, HubAccess};

use crate::evidence::AwsAccess;

/// Imports every assessed account's failing findings; the accounts' reports.
pub(crate) fn import(
    snapshot: &Snapshot,
    evaluation: &Evaluation,
    access: &HubAccess,
    aws: &AwsAccess,
) -> anyhow::Result<Vec<AccountImport>> {
    let target = kmsaudit_reporter::AsffTarget {
        region: access.region.clone(),
    };
    let mut by_account = kmsaudit_reporter::asff_by_account(snapshot, evaluation, &target);
    let caller = snapshot
        .metadata
        .caller
        .as_ref()
        .map(|c| c.account_id.clone())
        .unwrap_or_default();
    let verdicts: HashMap<(&str, &str), (Status, bool)> = evaluation
        .findings
        .iter()
        .map(|f| ((&*f.rule_id, &*f.resource), (f.status, f.muted)))
        .collect();
    let is_fixed = |id: &str| fixed(snapshot, &verdicts, id);
    let updated_at = snapshot.metadata.started_at.to_string();
    crate::evidence::block_on(async {
        let base = aws.config().await;
        let mut reports = Vec::new();
        // Only accounts the scan read: elsewhere nothing is known to be fixed.
        for account in snapshot
            .accounts
            .iter()
            .filter(|a| matches!(a.access, AccountAccess::Scanned { .. }))
        {
            let findings = by_account.remove(&account.id).unwrap_or_default();
            let report = kmsaudit_scanner::import_account(
                &base,
                access,
                &caller,
                &account.id,
                findings,
                &updated_at,
                is_fixed,
            )
            .await;
            tracing::info!(
                account = %report.account_id,
                imported = report.imported,
                resolved = report.resolved,
                rejected = report.rejected.len(),
                batches = report.batches,
                error = report.error.as_deref().unwrap_or(""),
                "Security Hub import"
            );
            reports.push(report);
        }
        reports
    })
}

/// Whether the finding `kmsaudit/<rule>/<resource>` imported earlier is fixed now: its rule
/// passes or does not apply to the resource, or the key is gone from a region that was read.
/// A resource this scan did not read (another shard, a region left out, a failed call) is not.
fn fixed(snapshot: &Snapshot, verdicts: &HashMap<(&str, &str), (Status, bool)>, id: &str) -> bool {
    let Some((rule, resource)) = id.strip_prefix("kmsaudit/").and_then(|r| r.split_once('/'))
    else {
        return false;
    };
    if let Some((status, _)) = verdicts.get(&(rule, resource)) {
        return matches!(status, Status::Pass | Status::NotApplicable);
    }
    // Not needing attention: PASS or NOT_APPLICABLE, if the scan read the resource's place.
    let (account, region) = if let Some(rest) = resource.strip_prefix("account/") {
        match rest.split_once("/region/") {
            Some((account, region)) => (account, Some(region)),
            None => (rest, None),
        }
    } else {
        let mut parts = resource.split(':');
        match (parts.nth(3), parts.next()) {
            (Some(region), Some(account)) => (account, Some(region)),
            _ => return false,
        }
    };
    let Some(record) = snapshot.accounts.iter().find(|a| a.id == account) else {
        return false;
    };
    if !matches!(record.access, AccountAccess::Scanned { .. }) {
        return false;
    }
    match region {
        None => true,
        Some(region) => record
            .regions
            .iter()
            .any(|r| r.region == region && matches!(r.access, RegionAccess::Scanned)),
    }
}

/// Prints what the import did; whether every finding was imported.
pub(crate) fn report(reports: &[AccountImport], region: &str) -> bool {
    let imported: usize = reports.iter().map(|r| r.imported).sum();
    let resolved: usize = reports.iter().map(|r| r.resolved).sum();
    let batches: usize = reports.iter().map(|r| r.batches).sum();
    let rejected: usize = reports.iter().map(|r| r.rejected.len()).sum();
    let failed_accounts: Vec<&AccountImport> =
        reports.iter().filter(|r| r.error.is_some()).collect();
    out!(
        "Security Hub ({region}): {imported} findings imported, {resolved} resolved, \
         {rejected} rejected, in {} over {}{}",
        crate::plural(batches, "batch", "batches"),
        crate::plural(reports.len(), "account", "accounts"),
        if failed_accounts.is_empty() {
            String::new()
        } else {
            format!("; {} accounts not imported", failed_accounts.len())
        }
    );
    for r in &failed_accounts {
        err_out!(
            "kmsaudit: Security Hub: account {}: nothing imported: {}",
            r.account_id,
            r.error.as_deref().unwrap_or_default()
        );
    }
    for r in reports {
        for x in &r.rejected {
            err_out!(
                "kmsaudit: Security Hub: account {}: finding {} not imported: {}: {}",
                r.account_id,
                x.id,
                x.code,
                x.message
            );
        }
    }
    rejected == 0 && failed_accounts.is_empty()
}
