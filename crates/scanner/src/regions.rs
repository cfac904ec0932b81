//! Which regions to scan when the user names none.
//!
//! First the Account Management API's ListRegions, asked by the caller (the management account
//! or a delegated administrator) for each member account: the regions the account has enabled,
//! a region AWS opened after this release included. The others it lists are recorded SKIPPED
//! with their opt-in status, at no further call.
//!
//! When ListRegions does not answer (denied, trusted access for the Account Management service
//! not enabled, an endpoint without it), the fallback is the partition's region list below,
//! probed by each account's own ListKeys: an opt-in region the account has not enabled rejects
//! its credentials (UnrecognizedClientException) and is recorded SKIPPED, not as an error.
//! Regions enabled by default cannot be disabled, so the same answer there is an error. The
//! snapshot says per account which source was used (`RegionSource`). No EC2 DescribeRegions:
//! aws-sdk-ec2 is enormous and would need ec2:DescribeRegions in every account.

use aws_sdk_account::types::{Region, RegionOptStatus};
use kmsaudit_model::RegionSource;

use crate::classify::issue;
use crate::Scanner;

/// Regions enabled in every account of the `aws` partition.
const AWS_DEFAULT: &[&str] = &[
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Opt-in regions of the `aws` partition.
const AWS_OPT_IN: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// Every region of the partition, sorted.
pub fn partition_regions(partition: &str) -> Vec<String> {
    let mut out: Vec<String> = match partition {
        "aws-cn" => vec!["cn-north-1".into(), "cn-northwest-1".into()],
        "aws-us-gov" => vec!["us-gov-east-1".into(), "us-gov-west-1".into()],
        _ => AWS_DEFAULT
            .iter()
            .chain(AWS_OPT_IN)
            .map(|s| s.to_string())
            .collect(),
    };
    out.sort();
    out
}

/// Whether an account may have the region disabled.
pub fn is_opt_in(region: &str) -> bool {
    AWS_OPT_IN.contains(&region)
}

/// What ListRegions says of an account: the regions to scan, and the others with the reason
/// they are out of scope. Both sorted by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AccountRegions {
    pub scan: Vec<String>,
    pub not_enabled: Vec<(String, String)>,
}

/// Sorts ListRegions' answer: ENABLED and ENABLED_BY_DEFAULT regions are scanned; DISABLED,
/// ENABLING (not yet usable) and DISABLING ones are out of scope. A region without a name is
/// dropped; one without a status is scanned (an unknown region is never silently left out).
pub(crate) fn from_list_regions(regions: &[Region]) -> AccountRegions {
    let mut out = AccountRegions::default();
    for r in regions {
        let Some(name) = r.region_name() else {
            continue;
        };
        match r.region_opt_status() {
            Some(
                s @ (RegionOptStatus::Disabled
                | RegionOptStatus::Enabling
                | RegionOptStatus::Disabling),
            ) => out.not_enabled.push((
                name.to_string(),
                format!(
                    "not enabled for the account (account:ListRegions: {})",
                    s.as_str()
                ),
            )),
            _ => out.scan.push(name.to_string()),
        }
    }
    out.scan.sort();
    out.scan.dedup();
    out.not_enabled.sort();
    out.not_enabled.dedup();
    out
}

impl Scanner {
    /// The regions to scan in an account and where that list came from: ListRegions asked by
    /// the caller (for its own account without AccountId, as the API requires), else the
    /// partition's built-in list, to be probed by ListKeys.
    pub(crate) async fn account_regions(&self, account_id: &str) -> (AccountRegions, RegionSource) {
        let mut request = self.accounts_api.list_regions().max_results(50);
        if account_id != self.caller_account {
            request = request.account_id(account_id);
        }
        match self.all_pages(request.into_paginator().send()).await {
            Ok(pages) => {
                let all: Vec<_> = pages.iter().flat_map(|p| p.regions()).cloned().collect();
                (from_list_regions(&all), RegionSource::ListRegions)
            }
            Err(e) => {
                let i = issue("Account.ListRegions", &e);
                tracing::debug!(account = %account_id, error = %i, "ListRegions did not answer; scanning the built-in region list");
                let scan = partition_regions(&self.partition);
                let source = RegionSource::BuiltIn {
                    reason: i.to_string(),
                    regions: scan.len(),
                };
                let found = AccountRegions {
                    scan,
                    not_enabled: vec![],
                };
                (found, source)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_regions_decides_what_is_scanned() {
        let region = |name: &str, status: RegionOptStatus| {
            Region::builder()
                .region_name(name)
                .region_opt_status(status)
                .build()
        };
        let got = from_list_regions(&[
            region("us-east-1", RegionOptStatus::EnabledByDefault),
            region("xx-future-1", RegionOptStatus::Enabled),
            region("af-south-1", RegionOptStatus::Disabled),
            region("ap-east-2", RegionOptStatus::Enabling),
            Region::builder().region_name("zz-unknown-1").build(),
        ]);
        assert_eq!(got.scan, vec!["us-east-1", "xx-future-1", "zz-unknown-1"]);
        assert_eq!(
            got.not_enabled,
            vec![
                (
                    "af-south-1".to_string(),
                    "not enabled for the account (account:ListRegions: DISABLED)".to_string()
                ),
                (
                    "ap-east-2".to_string(),
                    "not enabled for the account (account:ListRegions: ENABLING)".to_string()
                ),
            ]
        );
    }

    #[test]
    fn lists_are_disjoint_and_sorted() {
        let all = partition_regions("aws");
        assert_eq!(all.len(), AWS_DEFAULT.len() + AWS_OPT_IN.len());
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert!(is_opt_in("af-south-1"));
        assert!(!is_opt_in("us-east-1"));
        assert_eq!(
            partition_regions("aws-cn"),
            vec!["cn-north-1", "cn-northwest-1"]
        );
    }
}
