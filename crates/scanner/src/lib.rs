//! kmsaudit's scanner: the only crate that talks to AWS.
//!
//! [`scan`] lists the organization's accounts, assumes the audit role in each, and reads every
//! KMS key of every region into a [`Snapshot`]. Failures are data: a failed call is recorded on
//! the account, region or key it belongs to (operation, AWS error code, message) and the scan
//! goes on. Fan-out is concurrent; every AWS call holds one permit of a scan-wide semaphore, so
//! `concurrency` bounds the calls in flight whatever the nesting.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_kms::config::retry::RetryPartition;
use futures::stream::{self, StreamExt};
use kmsaudit_model::{
    AccessAnalyzerRecord, AccountAccess, AccountRecord, CallerIdentity, Issue, KeyRecord,
    Organization, RegionAccess, RegionRecord, ScanMetadata, ScanScope, Snapshot, Tag,
    SCHEMA_VERSION,
};
use tokio::sync::Semaphore;

mod classify;
mod convert;
mod counter;
mod credentials;
mod regions;

pub use counter::CallCounter;
pub use regions::{is_opt_in, partition_regions};

use classify::{issue, sanitize};
use credentials::AssumedRole;

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    /// Audit role assumed in every member account.
    pub role_name: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub session_duration: Option<Duration>,
    /// `None`: every region of the partition that the account has enabled.
    pub regions: Option<Vec<String>>,
    /// Only these accounts (empty: all).
    pub accounts: Vec<String>,
    pub exclude_accounts: Vec<String>,
    /// AWS calls in flight at once, scan-wide.
    pub concurrency: usize,
    /// Attempts per call, retries included.
    pub max_attempts: u32,
    pub adaptive_retry: bool,
    /// Query IAM Access Analyzer.
    pub access_analyzer: bool,
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
            concurrency: 32,
            max_attempts: 8,
            adaptive_retry: false,
            access_analyzer: true,
        }
    }
}

/// What the scanner reports as it goes (for progress bars).
#[derive(Debug, Clone)]
pub enum Progress {
    /// The organization's accounts are known; this many will be scanned.
    AccountsListed {
        total: usize,
    },
    AccountStarted {
        account_id: String,
    },
    /// A region of an account was read, with how many keys it held.
    RegionDone {
        account_id: String,
        region: String,
        keys: usize,
    },
    AccountDone {
        account_id: String,
        keys: usize,
        assessed: bool,
    },
}

/// Callback for [`Progress`] events.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Failures that stop the scan before it starts: nothing can be assessed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot identify the caller (sts:GetCallerIdentity): {0}")]
    CallerIdentity(Issue),
    #[error("cannot list the organization's accounts: {0}; run from the management account or a delegated administrator, or name the accounts with --accounts")]
    ListAccounts(Issue),
}

/// Scan-wide shared state.
struct Scanner {
    base: SdkConfig,
    plan: ScanPlan,
    counter: CallCounter,
    permits: Semaphore,
    progress: ProgressFn,
    partition: String,
}

/// The clients of one account × region.
struct RegionClients {
    kms: aws_sdk_kms::Client,
    aa: aws_sdk_accessanalyzer::Client,
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
    let mode = if plan.adaptive_retry {
        RetryConfig::adaptive()
    } else {
        RetryConfig::standard()
    };
    let retry = mode
        .with_max_attempts(plan.max_attempts.max(1))
        .with_max_backoff(Duration::from_secs(20));
    let base = base
        .to_builder()
        .retry_config(retry)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        )
        .build();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&base)
            .interceptor(counter.clone())
            .build(),
    );
    let caller = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| ScanError::CallerIdentity(issue("STS.GetCallerIdentity", &e)))?;
    let caller = CallerIdentity {
        arn: caller.arn().unwrap_or_default().to_string(),
        account_id: caller.account().unwrap_or_default().to_string(),
        user_id: caller.user_id().unwrap_or_default().to_string(),
    };
    let partition = caller
        .arn
        .split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_string();
    let scanner = Arc::new(Scanner {
        base,
        plan: plan.clone(),
        counter: counter.clone(),
        permits: Semaphore::new(plan.concurrency.max(1)),
        progress,
        partition: partition.clone(),
    });

    let (organization, listed) = scanner.list_accounts().await?;
    let mut accounts = Vec::new();
    let mut to_scan = Vec::new();
    for (id, name, email, status) in listed {
        let skip = if plan.exclude_accounts.contains(&id) {
            Some("excluded by --exclude-accounts".to_string())
        } else if !plan.accounts.is_empty() && !plan.accounts.contains(&id) {
            Some("not selected by --accounts".to_string())
        } else if status.as_deref().is_some_and(|s| s != "ACTIVE") {
            Some(format!(
                "account status is {}",
                status.as_deref().unwrap_or_default()
            ))
        } else {
            None
        };
        match skip {
            Some(reason) => accounts.push(AccountRecord {
                id,
                name,
                email,
                org_status: status,
                access: AccountAccess::Skipped { reason },
                regions: vec![],
            }),
            None => to_scan.push((id, name, email, status)),
        }
    }
    (scanner.progress)(Progress::AccountsListed {
        total: to_scan.len(),
    });
    let caller_account = caller.account_id.clone();
    let scanned: Vec<AccountRecord> = stream::iter(to_scan)
        .map(|(id, name, email, status)| {
            let scanner = scanner.clone();
            let caller_account = caller_account.clone();
            // Each account on its own task: accounts proceed independently and use both cores.
            async move {
                let fallback = (id.clone(), name.clone(), email.clone(), status.clone());
                let handle = tokio::spawn(async move {
                    scanner
                        .scan_account(id, name, email, status, &caller_account)
                        .await
                });
                match handle.await {
                    Ok(record) => record,
                    Err(e) => {
                        let (id, name, email, status) = fallback;
                        AccountRecord {
                            id,
                            name,
                            email,
                            org_status: status,
                            access: AccountAccess::NotAssessed {
                                issue: Issue::new("kmsaudit", "InternalError", e.to_string()),
                            },
                            regions: vec![],
                        }
                    }
                }
            }
        })
        .buffer_unordered(plan.concurrency.max(1))
        .collect()
        .await;
    accounts.extend(scanned);

    let (api_calls, api_errors) = counter.snapshot();
    let mut snapshot = Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            tool_name: "kmsaudit".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            caller: Some(caller),
            started_at: started_at.to_string(),
            finished_at: jiff::Timestamp::now().to_string(),
            scope: ScanScope {
                role_name: plan.role_name.clone(),
                external_id_used: plan.external_id.is_some(),
                partition,
                regions: plan.regions.clone(),
                accounts: plan.accounts.clone(),
                exclude_accounts: plan.exclude_accounts.clone(),
                access_analyzer: plan.access_analyzer,
            },
            api_calls,
            api_errors,
        },
        organization,
        accounts,
    };
    snapshot.normalize();
    Ok(snapshot)
}

type ListedAccount = (String, Option<String>, Option<String>, Option<String>);

impl Scanner {
    /// One of the scan-wide permits: held for the duration of one AWS call (or paginated list).
    async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.permits
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    async fn call<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        let _permit = self.permit().await;
        f.await
    }

    /// The organization and its accounts; without Organizations, the accounts of `--accounts`.
    async fn list_accounts(&self) -> Result<(Option<Organization>, Vec<ListedAccount>), ScanError> {
        let orgs = aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&self.base)
                .interceptor(self.counter.clone())
                .build(),
        );
        let organization = match self.call(orgs.describe_organization().send()).await {
            Ok(out) => out.organization().map(|o| Organization {
                id: o.id().unwrap_or_default().to_string(),
                arn: o.arn().unwrap_or_default().to_string(),
                management_account_id: o.master_account_id().unwrap_or_default().to_string(),
                feature_set: o.feature_set().map(|f| f.as_str().to_string()),
            }),
            Err(e) => {
                let i = issue("Organizations.DescribeOrganization", &e);
                if self.plan.accounts.is_empty() {
                    return Err(ScanError::ListAccounts(i));
                }
                tracing::warn!(error = %i, "Organizations not available; scanning the accounts named with --accounts");
                return Ok((
                    None,
                    self.plan
                        .accounts
                        .iter()
                        .map(|a| (a.clone(), None, None, None))
                        .collect(),
                ));
            }
        };
        let _permit = self.permit().await;
        let pages = orgs
            .list_accounts()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| ScanError::ListAccounts(issue("Organizations.ListAccounts", &e)))?;
        let listed: Vec<&aws_sdk_organizations::types::Account> =
            pages.iter().flat_map(|p| p.accounts()).collect();
        let mut out: Vec<ListedAccount> = listed
            .iter()
            .map(|a| {
                // `State` is the newer field (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED).
                let status = a
                    .state()
                    .map(|s| s.as_str().to_string())
                    .or_else(|| a.status().map(|s| s.as_str().to_string()));
                (
                    a.id().unwrap_or_default().to_string(),
                    a.name().map(sanitize),
                    a.email().map(sanitize),
                    status,
                )
            })
            .collect();
        // Accounts named with --accounts that the organization does not list are still shown.
        for wanted in &self.plan.accounts {
            if !out.iter().any(|(id, ..)| id == wanted) {
                out.push((
                    wanted.clone(),
                    None,
                    None,
                    Some("NOT_IN_ORGANIZATION".into()),
                ));
            }
        }
        Ok((organization, out))
    }

    /// The SDK config of one account: the caller's own for the caller's account, an assumed
    /// role for the others.
    async fn account_config(
        &self,
        account_id: &str,
        caller_account: &str,
    ) -> Result<(SdkConfig, String), Issue> {
        if account_id == caller_account {
            return Ok((self.base.clone(), "caller credentials".into()));
        }
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.base)
                .interceptor(self.counter.clone())
                .build(),
        );
        let role_arn = format!(
            "arn:{}:iam::{account_id}:role/{}",
            self.partition, self.plan.role_name
        );
        let role = AssumedRole::new(
            sts,
            role_arn.clone(),
            self.plan.session_name.clone(),
            self.plan.external_id.clone(),
            self.plan.session_duration.map(|d| d.as_secs() as i32),
        );
        self.call(role.credentials())
            .await
            .map_err(|e| issue("STS.AssumeRole", &e))?;
        let config = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(role.clone()))
            .identity_cache(
                aws_config::identity::IdentityCache::lazy()
                    .load_timeout(Duration::from_secs(30))
                    .build(),
            )
            .build();
        Ok((config, role.role_arn().to_string()))
    }

    fn region_clients(&self, config: &SdkConfig, account_id: &str, region: &str) -> RegionClients {
        // Retry settings come from the base config. Own retry partition per account × region:
        // clients of one service and region would otherwise share one retry-token bucket, and
        // one throttled account would starve the retries of every other account.
        let kms = aws_sdk_kms::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .retry_partition(RetryPartition::new(format!("kms-{account_id}-{region}")))
            .interceptor(self.counter.clone())
            .build();
        let aa = aws_sdk_accessanalyzer::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .retry_partition(RetryPartition::new(format!(
                "accessanalyzer-{account_id}-{region}"
            )))
            .interceptor(self.counter.clone())
            .build();
        RegionClients {
            kms: aws_sdk_kms::Client::from_conf(kms),
            aa: aws_sdk_accessanalyzer::Client::from_conf(aa),
        }
    }

    async fn scan_account(
        self: Arc<Self>,
        id: String,
        name: Option<String>,
        email: Option<String>,
        status: Option<String>,
        caller_account: &str,
    ) -> AccountRecord {
        (self.progress)(Progress::AccountStarted {
            account_id: id.clone(),
        });
        let mut record = AccountRecord {
            id: id.clone(),
            name,
            email,
            org_status: status,
            access: AccountAccess::Scanned { via: String::new() },
            regions: vec![],
        };
        let (config, via) = match self.account_config(&id, caller_account).await {
            Ok(c) => c,
            Err(issue) => {
                tracing::warn!(account = %id, error = %issue, "account not assessed");
                record.access = AccountAccess::NotAssessed { issue };
                (self.progress)(Progress::AccountDone {
                    account_id: id,
                    keys: 0,
                    assessed: false,
                });
                return record;
            }
        };
        record.access = AccountAccess::Scanned { via };
        let regions = self
            .plan
            .regions
            .clone()
            .unwrap_or_else(|| partition_regions(&self.partition));
        let this = &self;
        let config = &config;
        let id_ref = &id;
        record.regions = stream::iter(regions)
            .map(|region| async move {
                let r = this.scan_region(config, id_ref, region).await;
                (this.progress)(Progress::RegionDone {
                    account_id: id_ref.clone(),
                    region: r.region.clone(),
                    keys: r.keys.len(),
                });
                r
            })
            .buffer_unordered(64)
            .collect()
            .await;
        let keys = record.regions.iter().map(|r| r.keys.len()).sum();
        (self.progress)(Progress::AccountDone {
            account_id: id,
            keys,
            assessed: true,
        });
        record
    }

    async fn scan_region(
        &self,
        config: &SdkConfig,
        account_id: &str,
        region: String,
    ) -> RegionRecord {
        let clients = self.region_clients(config, account_id, &region);
        self.scan_region_with(&clients, account_id, region).await
    }

    async fn scan_region_with(
        &self,
        clients: &RegionClients,
        account_id: &str,
        region: String,
    ) -> RegionRecord {
        let mut record = RegionRecord {
            region: region.clone(),
            access: RegionAccess::Scanned,
            aliases_error: None,
            keys: vec![],
            access_analyzer: None,
        };
        let listed: Result<Vec<aws_sdk_kms::types::KeyListEntry>, _> = {
            let _permit = self.permit().await;
            clients
                .kms
                .list_keys()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
        };
        let key_ids = match listed {
            Ok(keys) => keys,
            Err(e) => {
                let i = issue("KMS.ListKeys", &e);
                record.access = if classify::is_region_not_enabled(&i.code) && is_opt_in(&region) {
                    RegionAccess::Skipped {
                        reason: format!("region not enabled for this account ({})", i.code),
                    }
                } else {
                    tracing::warn!(account = %account_id, region = %region, error = %i, "region not assessed");
                    RegionAccess::NotAssessed { issue: i }
                };
                return record;
            }
        };
        let aliases = async {
            let _permit = self.permit().await;
            clients
                .kms
                .list_aliases()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
        };
        let keys = stream::iter(key_ids)
            .map(|k| self.scan_key(&clients.kms, k))
            .buffer_unordered(self.plan.concurrency.max(1))
            .collect::<Vec<KeyRecord>>();
        let analyzer = async {
            if self.plan.access_analyzer {
                Some(self.scan_access_analyzer(&clients.aa).await)
            } else {
                None
            }
        };
        let (aliases, mut keys, analyzer) = tokio::join!(aliases, keys, analyzer);
        match aliases {
            Ok(aliases) => {
                let mut by_key: BTreeMap<&str, Vec<String>> = BTreeMap::new();
                for a in &aliases {
                    if let (Some(name), Some(target)) = (a.alias_name(), a.target_key_id()) {
                        by_key.entry(target).or_default().push(name.to_string());
                    }
                }
                for k in &mut keys {
                    if let Some(names) = by_key.get(k.key_id.as_str()) {
                        k.aliases = names.clone();
                    }
                }
            }
            Err(e) => record.aliases_error = Some(issue("KMS.ListAliases", &e)),
        }
        record.keys = keys;
        record.access_analyzer = analyzer;
        record
    }

    async fn scan_key(
        &self,
        kms: &aws_sdk_kms::Client,
        entry: aws_sdk_kms::types::KeyListEntry,
    ) -> KeyRecord {
        let key_id = entry.key_id().unwrap_or_default().to_string();
        let mut key = KeyRecord {
            arn: entry.key_arn().unwrap_or_default().to_string(),
            key_id: key_id.clone(),
            ..Default::default()
        };
        let meta = match self.call(kms.describe_key().key_id(&key_id).send()).await {
            Ok(out) => match out.key_metadata() {
                Some(m) => convert::key_metadata(m),
                None => {
                    key.errors.push(Issue::new(
                        "KMS.DescribeKey",
                        "EmptyResponse",
                        "DescribeKey returned no KeyMetadata",
                    ));
                    return key;
                }
            },
            Err(e) => {
                key.errors.push(issue("KMS.DescribeKey", &e));
                return key;
            }
        };
        if !meta.arn.is_empty() {
            key.arn = meta.arn.clone();
        }
        let customer = meta.key_manager == "CUSTOMER";
        let rotation_applies =
            customer && meta.rotation_applies() && !meta.key_state.contains("Deletion");
        key.metadata = Some(meta);
        if !customer {
            // AWS-managed keys: AWS owns their policy, rotation and grants; no rule reads them.
            return key;
        }
        let policy = self.call(
            kms.get_key_policy()
                .key_id(&key_id)
                .policy_name("default")
                .send(),
        );
        let grants = async {
            let _permit = self.permit().await;
            kms.list_grants()
                .key_id(&key_id)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
        };
        let rotation = async {
            if rotation_applies {
                Some(
                    self.call(kms.get_key_rotation_status().key_id(&key_id).send())
                        .await,
                )
            } else {
                None
            }
        };
        let tags = async {
            let _permit = self.permit().await;
            kms.list_resource_tags()
                .key_id(&key_id)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
        };
        let (policy, grants, rotation, tags) = tokio::join!(policy, grants, rotation, tags);
        match policy {
            Ok(out) => key.policy = Some(out.policy().unwrap_or_default().to_string()),
            Err(e) => key.errors.push(issue("KMS.GetKeyPolicy", &e)),
        }
        match grants {
            Ok(g) => key.grants = Some(g.iter().map(convert::grant).collect()),
            Err(e) => key.errors.push(issue("KMS.ListGrants", &e)),
        }
        match rotation {
            Some(Ok(out)) => {
                key.rotation = Some(kmsaudit_model::RotationStatus {
                    enabled: out.key_rotation_enabled(),
                    period_days: out.rotation_period_in_days(),
                    next_rotation_date: out.next_rotation_date().map(convert::time),
                })
            }
            Some(Err(e)) => key.errors.push(issue("KMS.GetKeyRotationStatus", &e)),
            None => {}
        }
        match tags {
            Ok(t) => {
                key.tags = Some(
                    t.iter()
                        .map(|t| Tag {
                            key: t.tag_key().to_string(),
                            value: t.tag_value().to_string(),
                        })
                        .collect(),
                )
            }
            Err(e) => key.errors.push(issue("KMS.ListResourceTags", &e)),
        }
        key
    }

    /// Analyzers of this account × region and their active findings on KMS keys.
    async fn scan_access_analyzer(
        &self,
        aa: &aws_sdk_accessanalyzer::Client,
    ) -> AccessAnalyzerRecord {
        let mut record = AccessAnalyzerRecord::default();
        let analyzers: Vec<_> = {
            let _permit = self.permit().await;
            match aa
                .list_analyzers()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
            {
                Ok(a) => a,
                Err(e) => {
                    record.error = Some(issue("AccessAnalyzer.ListAnalyzers", &e));
                    return record;
                }
            }
        };
        record.analyzers = analyzers
            .iter()
            .map(convert::analyzer)
            .filter(|a| a.analyzer_type == "ACCOUNT" || a.analyzer_type == "ORGANIZATION")
            .collect();
        for analyzer in record
            .analyzers
            .clone()
            .iter()
            .filter(|a| a.status == "ACTIVE")
        {
            use aws_sdk_accessanalyzer::types::Criterion;
            let listed = {
                let _permit = self.permit().await;
                aa.list_findings_v2()
                    .analyzer_arn(&analyzer.arn)
                    .filter(
                        "resourceType",
                        Criterion::builder().eq("AWS::KMS::Key").build(),
                    )
                    .filter("status", Criterion::builder().eq("ACTIVE").build())
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
            };
            let summaries = match listed {
                Ok(s) => s,
                Err(e) => {
                    record.error = Some(issue("AccessAnalyzer.ListFindingsV2", &e));
                    return record;
                }
            };
            for s in summaries.iter().filter(|s| s.status().as_str() == "ACTIVE") {
                let mut f = convert::finding_summary(&analyzer.arn, s);
                match self
                    .call(
                        aa.get_finding_v2()
                            .analyzer_arn(&analyzer.arn)
                            .id(s.id())
                            .send(),
                    )
                    .await
                {
                    Ok(out) => convert::add_finding_details(&mut f, &out),
                    Err(e) => {
                        tracing::warn!(finding = %s.id(), error = %issue("AccessAnalyzer.GetFindingV2", &e), "finding details not read")
                    }
                }
                record.findings.push(f);
            }
        }
        record
    }
}

#[cfg(test)]
mod tests;

/// Builds the base SDK config from the usual sources (profile, environment, endpoint overrides).
pub async fn load_base_config(
    profile: Option<&str>,
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    if let Some(e) = endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return config.to_builder().region(Region::new("us-east-1")).build();
    }
    config
}
