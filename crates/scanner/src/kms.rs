//! KMS: one account × region (ListKeys, ListAliases, and the keys' tags from the Resource
//! Groups Tagging API) and every key in it (DescribeKey, then GetKeyPolicy, ListGrants and
//! GetKeyRotationStatus concurrently; ListResourceTags where the tags are read per key).

use std::collections::{BTreeMap, HashMap};

use aws_config::{Region, SdkConfig};
use aws_sdk_kms::config::retry::RetryPartition;
use aws_sdk_kms::types::KeyListEntry;
use futures::stream::{self, StreamExt};
use kmsaudit_model::{Issue, KeyRecord, RegionAccess, RegionRecord, Tag, TagSource};

use crate::classify::{self, issue};
use crate::{convert, is_opt_in, Scanner};

/// Keys of one account × region read at once: at least this many...
const KEYS_IN_FLIGHT_PER_REGION: usize = 16;
/// ...and at most this many, for a region that holds thousands (see `keys_in_flight`).
const MOST_KEYS_IN_FLIGHT_PER_REGION: usize = 128;

/// How many of a region's keys are read at once. A large region is the scan's critical path:
/// its ListGrants run at their pace (50/s at half the quota) only if enough keys are in flight
/// to cover what a key waits for while the whole organization is read at once (a key slot, a
/// request permit, two round trips). Keys waiting for their pace hold no request permit, so
/// more of them cost only a key slot each.
fn keys_in_flight(keys: usize, concurrency: usize) -> usize {
    (keys / 16)
        .clamp(KEYS_IN_FLIGHT_PER_REGION, MOST_KEYS_IN_FLIGHT_PER_REGION)
        .min(concurrency.max(1))
}

/// The clients of one account × region.
pub(crate) struct RegionClients {
    pub kms: aws_sdk_kms::Client,
    pub aa: aws_sdk_accessanalyzer::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// LookupEvents of the keys pending deletion or disabled.
    pub cloudtrail: aws_sdk_cloudtrail::Client,
}

impl Scanner {
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
        let tagging = aws_sdk_resourcegroupstagging::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .retry_partition(RetryPartition::new(format!(
                "tagging-{account_id}-{region}"
            )))
            .interceptor(self.counter.clone())
            .build();
        let cloudtrail = aws_sdk_cloudtrail::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .retry_partition(RetryPartition::new(format!(
                "cloudtrail-{account_id}-{region}"
            )))
            .interceptor(self.counter.clone())
            .build();
        RegionClients {
            cloudtrail: aws_sdk_cloudtrail::Client::from_conf(cloudtrail),
            kms: aws_sdk_kms::Client::from_conf(kms),
            aa: aws_sdk_accessanalyzer::Client::from_conf(aa),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(tagging),
        }
    }

    /// Builds the region's clients from the account's config and reads the region.
    pub(crate) async fn scan_region(
        &self,
        config: &SdkConfig,
        account_id: &str,
        region: String,
    ) -> RegionRecord {
        let clients = self.region_clients(config, account_id, &region);
        self.read_region(&clients, account_id, region).await
    }

    /// Reads one account × region with its clients: keys, aliases and Access Analyzer.
    pub(crate) async fn read_region(
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
        let listed = self
            .all_pages(
                // The largest pages KMS serves: fewer calls in crowded regions.
                clients
                    .kms
                    .list_keys()
                    .limit(1000)
                    .into_paginator()
                    .items()
                    .send(),
            )
            .await;
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
        // Aliases only name keys: a region without keys has none worth a call.
        let has_keys = !key_ids.is_empty();
        let aliases = async {
            if has_keys {
                let listing = clients.kms.list_aliases().limit(100).into_paginator();
                self.all_pages(listing.items().send()).await
            } else {
                Ok(vec![])
            }
        };
        // The region's tags in a few calls (pages of 100 tagged keys), while the keys are read.
        let bulk_tags = self.plan.tags_from == TagSource::TaggingApi && has_keys;
        let tags = async {
            if bulk_tags {
                Some(self.region_tags(&clients.tagging).await)
            } else {
                None
            }
        };
        // Enough keys in flight to cover the latency; the pace of the region's quotas is the
        // limit beyond that, and every region of every account in flight shares the permits.
        let in_flight = keys_in_flight(key_ids.len(), self.plan.concurrency);
        // Each described key goes on to its last use, asked at that operation's own pace.
        let last_use = match (&self.last_use, has_keys) {
            (Some(book), true) => Some(book.start_region(
                clients.kms.clone(),
                clients.cloudtrail.clone(),
                account_id,
                &region,
            )),
            _ => None,
        };
        let keys = stream::iter(key_ids)
            .map(|k| self.read_key(&clients.kms, k, !bulk_tags))
            .buffer_unordered(in_flight)
            .inspect(|k| {
                if let Some(queue) = &last_use {
                    queue.push(k)
                }
            })
            .collect::<Vec<KeyRecord>>();
        let analyzer = async {
            if self.plan.access_analyzer && (has_keys || self.may_hold_org_analyzer(account_id)) {
                Some(self.read_access_analyzer(&clients.aa).await)
            } else {
                None
            }
        };
        let (aliases, mut keys, analyzer, tags) = tokio::join!(aliases, keys, analyzer, tags);
        match tags {
            Some(Ok(mut by_key)) => {
                // A customer managed key the Tagging API does not list has never been tagged.
                for k in keys.iter_mut().filter(|k| k.is_customer_managed()) {
                    k.tags = Some(by_key.remove(&k.key_id).unwrap_or_default());
                }
            }
            Some(Err(e)) => {
                tracing::info!(account = %account_id, region = %record.region, error = %e,
                    "the Tagging API did not answer; reading tags per key");
                let per_key = keys.iter_mut().filter(|k| k.is_customer_managed());
                stream::iter(per_key)
                    .for_each_concurrent(KEYS_IN_FLIGHT_PER_REGION, |k| async {
                        match self.key_tags(&clients.kms, &k.key_id).await {
                            Ok(tags) => k.tags = Some(tags),
                            Err(e) => k.errors.push(e),
                        }
                    })
                    .await;
            }
            None => {}
        }
        match aliases {
            Ok(aliases) => {
                let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (target, name) in aliases.iter().filter_map(convert::alias_target) {
                    by_key.entry(target).or_default().push(name);
                }
                for k in &mut keys {
                    if let Some(names) = by_key.remove(&k.key_id) {
                        k.aliases = names;
                    }
                }
            }
            Err(e) => record.aliases_error = Some(issue("KMS.ListAliases", &e)),
        }
        record.keys = keys;
        record.access_analyzer = analyzer;
        record
    }

    /// Every KMS key's tags in the region, by key id, from the Resource Groups Tagging API
    /// (only keys that have or had tags are listed).
    async fn region_tags(
        &self,
        tagging: &aws_sdk_resourcegroupstagging::Client,
    ) -> Result<HashMap<String, Vec<Tag>>, Issue> {
        let listing = tagging
            .get_resources()
            .resource_type_filters("kms:key")
            .resources_per_page(100)
            .into_paginator()
            .items()
            .send();
        let mappings = self
            .all_pages(listing)
            .await
            .map_err(|e| issue("Tagging.GetResources", &e))?;
        Ok(mappings.iter().filter_map(convert::tagged_key).collect())
    }

    /// One key's tags with ListResourceTags, every page.
    async fn key_tags(&self, kms: &aws_sdk_kms::Client, key_id: &str) -> Result<Vec<Tag>, Issue> {
        let listing = kms
            .list_resource_tags()
            .key_id(key_id)
            .limit(50)
            .into_paginator()
            .items()
            .send();
        match self.all_pages(listing).await {
            Ok(t) => Ok(t.iter().map(convert::tag).collect()),
            Err(e) => Err(issue("KMS.ListResourceTags", &e)),
        }
    }

    /// Everything about one key. AWS-managed keys get DescribeKey only: AWS owns their policy,
    /// rotation and grants, and no rule reads them. The tags are read here only when
    /// `tags_per_key` (otherwise the region's Tagging API listing supplies them).
    async fn read_key(
        &self,
        kms: &aws_sdk_kms::Client,
        entry: KeyListEntry,
        tags_per_key: bool,
    ) -> KeyRecord {
        let _slot = self
            .key_slots
            .acquire()
            .await
            .expect("the key slots are never closed");
        let mut key = convert::listed_key(&entry);
        let key_id = key.key_id.clone();
        let meta = match kms.describe_key().key_id(&key_id).send().await {
            Ok(out) => match convert::described_key(&out) {
                Some(m) => m,
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
        let customer = meta.is_customer_managed();
        let rotation_applies =
            customer && meta.rotation_applies() && !meta.key_state.contains("Deletion");
        key.metadata = Some(meta);
        if !customer {
            return key;
        }
        let policy = kms
            .get_key_policy()
            .key_id(&key_id)
            .policy_name("default")
            .send();
        let grants = self.all_pages(
            kms.list_grants()
                .key_id(&key_id)
                .limit(100)
                .into_paginator()
                .items()
                .send(),
        );
        let rotation = async {
            if rotation_applies {
                Some(kms.get_key_rotation_status().key_id(&key_id).send().await)
            } else {
                None
            }
        };
        let tags = async {
            if tags_per_key {
                Some(self.key_tags(kms, &key_id).await)
            } else {
                None
            }
        };
        let (policy, grants, rotation, tags) = tokio::join!(policy, grants, rotation, tags);
        match policy {
            Ok(out) => key.policy = Some(convert::key_policy(&out).into()),
            Err(e) => key.errors.push(issue("KMS.GetKeyPolicy", &e)),
        }
        match grants {
            Ok(g) => key.grants = Some(g.iter().map(convert::grant).collect()),
            Err(e) => key.errors.push(issue("KMS.ListGrants", &e)),
        }
        match rotation {
            Some(Ok(out)) => key.rotation = Some(convert::rotation_status(&out)),
            Some(Err(e)) => key.errors.push(issue("KMS.GetKeyRotationStatus", &e)),
            None => {}
        }
        match tags {
            Some(Ok(t)) => key.tags = Some(t),
            Some(Err(e)) => key.errors.push(e),
            None => {}
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::keys_in_flight;

    #[test]
    fn a_region_with_more_keys_has_more_of_them_in_flight_within_bounds() {
        assert_eq!(keys_in_flight(0, 256), 16);
        assert_eq!(keys_in_flight(200, 256), 16);
        assert_eq!(keys_in_flight(300, 256), 18);
        assert_eq!(keys_in_flight(1_000, 256), 62);
        assert_eq!(keys_in_flight(4_472, 256), 128);
        // --concurrency caps it, as it caps every request in flight.
        assert_eq!(keys_in_flight(4_472, 8), 8);
        assert_eq!(keys_in_flight(10, 0), 1);
    }
}
