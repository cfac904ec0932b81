//! kmsaudit's scanner: the only crate that talks to AWS.
//!
//! [`scan`] lists the organization's accounts, assumes the audit role in each, and reads every
//! KMS key of every region into a [`Snapshot`]. Failures are data: a failed call is recorded on
//! the account, region or key it belongs to (operation, AWS error code, message) and the scan
//! goes on. Fan-out is concurrent; every AWS request holds one permit of a scan-wide semaphore
//! while on the wire (taken in the paced HTTP client, after the pace wait), so `concurrency`
//! bounds the calls in flight whatever the nesting.
//!
//! The input seam is the SDK's own [`SdkConfig`] (credentials, home region, endpoint overrides,
//! or a test's mocked HTTP client); nothing else of the SDK appears in the public API.
//!
//! One file per AWS service or concern: `org.rs` (Organizations and account selection),
//! `credentials.rs` (STS), `kms.rs` (regions and keys), `last_use.rs` (each key's last use, read apart),
//! `monitoring.rs` (CloudTrail, CloudWatch Logs, CloudWatch, SNS, EventBridge), `key_events.rs`
//! (who calls keys pending deletion or disabled), `access_analyzer.rs`, `convert.rs` (every
//! SDK shape read into the model), `classify.rs` (SDK errors into issues), `counter.rs`.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_async::future::pagination_stream::PaginationStream;
use futures::stream::{self, StreamExt};
use kmsaudit_model::{
    AccountAccess, AccountRecord, Issue, RegionAccess, RegionRecord, ScanMetadata, ScanScope,
    Snapshot, TagSource, SCHEMA_VERSION,
};

use tokio::sync::Semaphore;

mod access_analyzer;
mod classify;
mod convert;
mod counter;
mod credentials;
mod iam;
mod key_events;
mod kms;
mod last_use;
mod monitoring;
mod org;
mod org_policies;
mod pace;
mod regions;
mod security_hub;
mod signing;

pub use aws_types::SdkConfig;
pub use counter::CallCounter;
pub use credentials::load_base_config;
pub use last_use::{BaselineLastUse, BaselineLastUses};
pub use pace::KMS_QUOTAS;
pub use regions::{is_opt_in, partition_regions};
pub use security_hub::{
    import_account, product_arn, AccountImport, HubAccess, PriorFinding, Rejected,
};
pub use signing::{public_key, sign, KmsSignature, SigningError};

use org::{AccountSelection, ListedAccount};

/// Accounts scanned at once, at most: each has all its regions in flight.
const ACCOUNTS_IN_FLIGHT: usize = 128;

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    /// Audit role assumed in every member account.
    pub role_name: String,
    /// ExternalId the audit role's trust policy requires.
    pub external_id: Option<String>,
    /// Role session name, visible in the member accounts' CloudTrail.
    pub session_name: String,
    /// Role session duration (`None`: the role's default).
    pub session_duration: Option<Duration>,
    /// `None`: every region of the partition that the account has enabled.
    pub regions: Option<Vec<String>>,
    /// Only these accounts (empty: all).
    pub accounts: Vec<String>,
    /// Never these accounts.
    pub exclude_accounts: Vec<String>,
    /// AWS calls in flight at once, scan-wide.
    pub concurrency: usize,
    /// Attempts per call, retries included.
    pub max_attempts: u32,
    /// Adaptive (client-side rate limited) retries instead of standard ones.
    pub adaptive_retry: bool,
    /// Query IAM Access Analyzer.
    pub access_analyzer: bool,
    /// The share of each published KMS request quota (per account, region and operation) the
    /// scan paces itself to, in (0, 1]; the rest is left to the account's own workloads.
    pub quota_share: f64,
    /// Scan only this shard of the organization's accounts (the others are recorded as
    /// skipped, for `kmsaudit merge` to join).
    pub shard: Option<kmsaudit_model::Shard>,
    /// Extra trusted CA certificates (PEM), e.g. a TLS-inspecting proxy's, on top of the
    /// system's roots. The Rust SDK does not read AWS_CA_BUNDLE on its own.
    pub ca_bundle: Option<Vec<u8>>,
    /// Where the keys' tags are read from.
    pub tags_from: TagSource,
    /// Read IAM (every account) and the organization's SCPs and RCPs, for effective access.
    pub effective_access: bool,
    /// Read each customer managed key's last use (GetKeyLastUsage).
    pub last_use: bool,
    /// Once everything else is read, how long to wait for last-use answers still being asked
    /// (their quota is 5/s per account and region); keys not reached are NOT_ASSESSED.
    pub last_use_wait: Duration,
    /// A baseline's last-use answers by key ARN: settled ones are not asked again while the key
    /// stays enabled, and any answer stands (marked as carried) for a key not reached in time.
    pub baseline_last_use: BaselineLastUses,
    /// Read each account's monitoring: CloudTrail trails, the metric filters of their log
    /// groups, alarms, SNS topics, EventBridge rules.
    pub monitoring: bool,
}

impl Default for ScanPlan {
    fn default() -> Self {
        ScanPlan {
            role_name: "OrganizationAccountAccessRole".into(),
            external_id: None,
            session_name: "kmsaudit".into(),
            session_duration: None,
            regions: None,
            accounts: vec![],
            exclude_accounts: vec![],
            concurrency: 256,
            max_attempts: 8,
            adaptive_retry: false,
            access_analyzer: true,
            quota_share: 0.5,
            shard: None,
            ca_bundle: None,
            tags_from: TagSource::TaggingApi,
            effective_access: true,
            last_use: true,
            last_use_wait: Duration::from_secs(30),
            baseline_last_use: Default::default(),
            monitoring: true,
        }
    }
}

/// What the scanner reports as it goes (for progress bars).
#[derive(Debug, Clone)]
pub enum Progress {
    /// The organization's accounts are known; this many will be scanned.
    AccountsListed {
        /// Accounts to scan.
        total: usize,
    },
    /// The scan of an account began.
    AccountStarted {
        /// The account.
        account_id: String,
    },
    /// A region of an account was read, with how many keys it held.
    RegionDone {
        /// The account.
        account_id: String,
        /// The region.
        region: String,
        /// Keys listed there.
        keys: usize,
    },
    /// An account is done.
    AccountDone {
        /// The account.
        account_id: String,
        /// Keys listed in all its regions.
        keys: usize,
        /// Whether the account could be entered.
        assessed: bool,
    },
}

/// Callback for [`Progress`] events.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Failures that stop the scan before it starts: nothing can be assessed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// GetCallerIdentity failed: no usable credentials.
    #[error("cannot identify the caller (sts:GetCallerIdentity): {0}")]
    CallerIdentity(Issue),
    /// The organization could not be listed and the plan names no accounts.
    #[error("cannot list the organization's accounts: {0}; run from the management account or a delegated administrator, or name the accounts to scan in the plan")]
    ListAccounts(Issue),
}

/// Scan-wide shared state.
struct Scanner {
    base: SdkConfig,
    plan: ScanPlan,
    counter: CallCounter,
    /// Keys being read at once, scan-wide: enough to keep the permits busy, few enough that
    /// calls queue briefly (each key makes up to four calls at once).
    key_slots: Semaphore,
    progress: ProgressFn,
    partition: String,
    caller_account: String,
    /// The Account Management API, with the caller's credentials (ListRegions).
    accounts_api: aws_sdk_account::Client,
    /// The accounts that can hold an organization analyzer (the management account and
    /// Access Analyzer's delegated administrators), once known; unset or `None`: any account.
    analyzer_homes: std::sync::OnceLock<Option<Vec<String>>>,
    /// Last-use answers as they come (`None`: not collected).
    last_use: Option<Arc<last_use::LastUseBook>>,
    /// The organization's management account, once known (`None`: no organization).
    management: std::sync::OnceLock<Option<String>>,
}

impl Scanner {
    /// Whether Access Analyzer must be read in a region of this account that holds no key: only
    /// where an organization analyzer may live (an analyzer elsewhere covers no key there).
    fn may_hold_org_analyzer(&self, account_id: &str) -> bool {
        match self.analyzer_homes.get() {
            Some(Some(homes)) => homes.iter().any(|h| h == account_id),
            _ => true,
        }
    }
}

impl Scanner {
    /// Collects every page of a paginated listing (each page waits for its own permit).
    async fn all_pages<T, E>(&self, items: PaginationStream<Result<T, E>>) -> Result<Vec<T>, E> {
        items.try_collect().await
    }
}

/// Reads the organization into a snapshot. `base` carries the caller's credentials, home region
/// and endpoint overrides.
pub async fn scan(
    plan: ScanPlan,
    base: SdkConfig,
    progress: ProgressFn,
) -> Result<Snapshot, ScanError> {
    let started_at = jiff::Timestamp::now();
    let counter = CallCounter::default();
    let base = pace::with_retries_and_timeouts(base, &plan);
    let caller = credentials::caller_identity(&base, &counter).await?;
    let partition = caller
        .arn
        .split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_string();
    let accounts_api = aws_sdk_account::Client::from_conf(
        aws_sdk_account::config::Builder::from(&base)
            .interceptor(counter.clone())
            .build(),
    );
    let scanner = Arc::new(Scanner {
        base,
        plan: plan.clone(),
        counter: counter.clone(),
        key_slots: Semaphore::new(plan.concurrency.max(1) * 4),
        progress,
        partition: partition.clone(),
        caller_account: caller.account_id.clone(),
        accounts_api,
        analyzer_homes: std::sync::OnceLock::new(),
        last_use: plan
            .last_use
            .then(|| Arc::new(last_use::LastUseBook::new(&plan))),
        management: std::sync::OnceLock::new(),
    });

    let listing = scanner.list_accounts().await?;
    let homes = listing.organization.as_ref().and_then(|o| {
        o.analyzer_homes()
            .map(|h| h.into_iter().map(str::to_string).collect())
    });
    let _ = scanner.analyzer_homes.set(homes);
    let management = listing
        .organization
        .as_ref()
        .map(|o| o.management_account_id.clone());
    let _ = scanner.management.set(management);
    let mut accounts = Vec::new();
    let mut to_scan = Vec::new();
    for listed in listing.accounts {
        match org::select(&plan, &listed) {
            AccountSelection::Scan => to_scan.push(listed),
            AccountSelection::Skip(reason) => {
                accounts.push(listed.into_record(AccountAccess::Skipped { reason }))
            }
        }
    }
    (scanner.progress)(Progress::AccountsListed {
        total: to_scan.len(),
    });
    let scanned = stream::iter(to_scan)
        .map(|listed| {
            let scanner = scanner.clone();
            // Each account on its own task: accounts proceed independently and use both cores.
            async move {
                let fallback = listed.clone();
                match tokio::spawn(async move { scanner.scan_account(listed).await }).await {
                    Ok(record) => record,
                    Err(e) => fallback.into_record(AccountAccess::NotAssessed {
                        issue: Issue::new("kmsaudit", "InternalError", e.to_string()),
                    }),
                }
            }
        })
        .buffer_unordered(plan.concurrency.clamp(1, ACCOUNTS_IN_FLIGHT))
        .collect::<Vec<AccountRecord>>();
    let mut organization = listing.organization;
    // The organization's SCPs and RCPs while the accounts are read: a few hundred calls one
    // after another (the tree level by level) that would otherwise follow the last account.
    let org_policies = async {
        match plan.effective_access && organization.is_some() {
            true => Some(scanner.read_org_policies().await),
            false => None,
        }
    };
    let (scanned, org_policies) = tokio::join!(scanned, org_policies);
    accounts.extend(scanned);
    if let (Some(org), Some(policies)) = (organization.as_mut(), org_policies) {
        org.policies = Some(policies);
    }
    let aws_managed_policies = match plan.effective_access {
        true => scanner.read_attached_aws_managed(&accounts).await,
        false => vec![],
    };
    if let Some(book) = &scanner.last_use {
        book.finish(plan.last_use_wait, &mut accounts).await;
    }

    let (api_calls, api_errors) = counter.snapshot();
    let mut snapshot = Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            tool_name: "kmsaudit".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            caller: Some(caller),
            started_at,
            finished_at: jiff::Timestamp::now(),
            scope: ScanScope {
                role_name: plan.role_name.clone(),
                external_id_used: plan.external_id.is_some(),
                partition,
                regions: plan.regions.clone(),
                accounts: plan.accounts.clone(),
                exclude_accounts: plan.exclude_accounts.clone(),
                access_analyzer: plan.access_analyzer,
                shard: plan.shard,
                tags_from: plan.tags_from,
                last_use: plan.last_use,
                monitoring: plan.monitoring,
            },
            api_calls,
            api_errors,
            settings: Default::default(),
        },
        organization,
        accounts,
        aws_managed_policies,
    };
    snapshot.normalize();
    Ok(snapshot)
}

impl Scanner {
    /// One account: its credentials, then every region concurrently.
    async fn scan_account(self: Arc<Self>, listed: ListedAccount) -> AccountRecord {
        let id = listed.id.clone();
        (self.progress)(Progress::AccountStarted {
            account_id: id.clone(),
        });
        let (config, via) = match self.account_config(&id).await {
            Ok(c) => c,
            Err(issue) => {
                tracing::warn!(account = %id, error = %issue, "account not assessed");
                (self.progress)(Progress::AccountDone {
                    account_id: id,
                    keys: 0,
                    assessed: false,
                });
                return listed.into_record(AccountAccess::NotAssessed { issue });
            }
        };
        let mut record = listed.into_record(AccountAccess::Scanned { via });
        let regions = match &self.plan.regions {
            Some(named) => named.clone(),
            None => {
                let (found, source) = self.account_regions(&id).await;
                record.regions = found
                    .not_enabled
                    .into_iter()
                    .map(|(region, reason)| RegionRecord {
                        region,
                        access: RegionAccess::Skipped { reason },
                        aliases_error: None,
                        keys: vec![],
                        access_analyzer: None,
                    })
                    .collect();
                record.regions_from = Some(source);
                found.scan
            }
        };
        let this = &self;
        let config = &config;
        let id_ref = &id;
        let scanned = stream::iter(regions)
            .map(|region| async move {
                let r = this.scan_region(config, id_ref, region).await;
                let errors = r.keys.iter().filter(|k| !k.errors.is_empty()).count();
                match &r.access {
                    RegionAccess::NotAssessed { issue } => {
                        tracing::info!(account = %id_ref, region = %r.region, error = %issue, "region not read")
                    }
                    RegionAccess::Skipped { reason } => {
                        tracing::info!(account = %id_ref, region = %r.region, %reason, "region skipped")
                    }
                    RegionAccess::Scanned => {
                        tracing::info!(account = %id_ref, region = %r.region, keys = r.keys.len(), keys_with_errors = errors, "region read")
                    }
                }
                (this.progress)(Progress::RegionDone {
                    account_id: id_ref.clone(),
                    region: r.region.clone(),
                    keys: r.keys.len(),
                });
                r
            })
            .buffer_unordered(64)
            .collect::<Vec<RegionRecord>>();
        // The account's IAM while its regions are read.
        let iam = async {
            match self.plan.effective_access {
                true => Some(self.read_iam(config, id_ref).await),
                false => None,
            }
        };
        let (scanned, iam) = tokio::join!(scanned, iam);
        record.regions.extend(scanned);
        record.iam = iam;
        self.read_after_regions(config, &mut record).await;
        let keys = record.regions.iter().map(|r| r.keys.len()).sum();
        (self.progress)(Progress::AccountDone {
            account_id: id,
            keys,
            assessed: true,
        });
        record
    }
}

#[cfg(test)]
mod tests;
