//! Organizations: DescribeOrganization, ListAccounts, and which listed accounts the plan scans.

use kmsaudit_model::{AccountAccess, AccountRecord, Organization};

use crate::classify::issue;
use crate::{convert, ScanError, ScanPlan, Scanner};

/// One account as Organizations lists it (or as the plan names it).
#[derive(Debug, Clone)]
pub(crate) struct ListedAccount {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`, or `NOT_IN_ORGANIZATION`.
    pub status: Option<String>,
}

impl ListedAccount {
    /// An account named by the plan, with nothing else known of it.
    fn named(id: &str, status: Option<&str>) -> ListedAccount {
        ListedAccount {
            id: id.to_string(),
            name: None,
            email: None,
            status: status.map(str::to_string),
        }
    }

    pub fn into_record(self, access: AccountAccess) -> AccountRecord {
        AccountRecord {
            id: self.id,
            name: self.name,
            email: self.email,
            org_status: self.status,
            access,
            regions_from: None,
            regions: vec![],
            iam: None,
            monitoring: None,
        }
    }
}

/// The organization (when Organizations answered) and the accounts to consider.
pub(crate) struct OrgListing {
    pub organization: Option<Organization>,
    pub accounts: Vec<ListedAccount>,
}

/// Whether the plan scans a listed account.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AccountSelection {
    Scan,
    Skip(String),
}

/// Applies the plan's account selection and the account's status.
pub(crate) fn select(plan: &ScanPlan, account: &ListedAccount) -> AccountSelection {
    if plan.exclude_accounts.contains(&account.id) {
        AccountSelection::Skip("excluded by the scan plan".into())
    } else if !plan.accounts.is_empty() && !plan.accounts.contains(&account.id) {
        AccountSelection::Skip("not among the accounts the scan plan selects".into())
    } else if let Some(status) = account.status.as_deref().filter(|s| *s != "ACTIVE") {
        AccountSelection::Skip(format!("account status is {status}"))
    } else if let Some(shard) = plan.shard.filter(|s| !s.covers(&account.id)) {
        AccountSelection::Skip(format!(
            "in shard {}, not in this scan's shard {shard}",
            kmsaudit_model::Shard::of(&account.id, shard.count)
        ))
    } else {
        AccountSelection::Scan
    }
}

impl Scanner {
    /// The delegated administrators for Access Analyzer, or `None` when they cannot be listed
    /// (then every account is read as if it could hold an organization analyzer).
    async fn analyzer_admins(&self, orgs: &aws_sdk_organizations::Client) -> Option<Vec<String>> {
        let listing = orgs
            .list_delegated_administrators()
            .service_principal("access-analyzer.amazonaws.com")
            .into_paginator()
            .items()
            .send();
        match self.all_pages(listing).await {
            Ok(admins) => {
                let mut ids: Vec<String> = admins
                    .iter()
                    .filter_map(|a| a.id().map(str::to_string))
                    .collect();
                ids.sort();
                Some(ids)
            }
            Err(e) => {
                let i = issue("Organizations.ListDelegatedAdministrators", &e);
                tracing::debug!(error = %i, "Access Analyzer's delegated administrators unknown; reading Access Analyzer in every region of every account");
                None
            }
        }
    }

    /// The organization and its accounts; without Organizations, the accounts the plan names.
    pub(crate) async fn list_accounts(&self) -> Result<OrgListing, ScanError> {
        let orgs = aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&self.base)
                .interceptor(self.counter.clone())
                .build(),
        );
        let organization = match orgs.describe_organization().send().await {
            Ok(out) => match out.organization().map(convert::organization) {
                Some(mut org) => {
                    org.access_analyzer_admins = self.analyzer_admins(&orgs).await;
                    Some(org)
                }
                None => None,
            },
            Err(e) => {
                let i = issue("Organizations.DescribeOrganization", &e);
                if self.plan.accounts.is_empty() {
                    return Err(ScanError::ListAccounts(i));
                }
                tracing::warn!(error = %i, "Organizations not available; scanning the accounts the plan names");
                return Ok(OrgListing {
                    organization: None,
                    accounts: self
                        .plan
                        .accounts
                        .iter()
                        .map(|a| ListedAccount::named(a, None))
                        .collect(),
                });
            }
        };
        let mut accounts: Vec<ListedAccount> = self
            .all_pages(orgs.list_accounts().into_paginator().send())
            .await
            .map_err(|e| ScanError::ListAccounts(issue("Organizations.ListAccounts", &e)))?
            .iter()
            .flat_map(|page| page.accounts())
            .map(convert::account)
            .collect();
        // Accounts the plan names that the organization does not list are still shown.
        for wanted in &self.plan.accounts {
            if !accounts.iter().any(|a| &a.id == wanted) {
                accounts.push(ListedAccount::named(wanted, Some("NOT_IN_ORGANIZATION")));
            }
        }
        Ok(OrgListing {
            organization,
            accounts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_speaks_of_the_plan() {
        let plan = ScanPlan {
            accounts: vec!["111122223333".into(), "222233334444".into()],
            exclude_accounts: vec!["222233334444".into()],
            ..Default::default()
        };
        let account = |id: &str, status: &str| ListedAccount::named(id, Some(status));
        assert_eq!(
            select(&plan, &account("111122223333", "ACTIVE")),
            AccountSelection::Scan
        );
        assert_eq!(
            select(&plan, &account("222233334444", "ACTIVE")),
            AccountSelection::Skip("excluded by the scan plan".into())
        );
        assert_eq!(
            select(&plan, &account("333344445555", "ACTIVE")),
            AccountSelection::Skip("not among the accounts the scan plan selects".into())
        );
        assert_eq!(
            select(&plan, &account("111122223333", "SUSPENDED")),
            AccountSelection::Skip("account status is SUSPENDED".into())
        );
    }
}
