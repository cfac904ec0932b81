//! Who still calls the keys pending deletion or disabled, and whether those calls fail: CloudTrail
//! LookupEvents by key ARN, one page (the 50 newest events of the last 90 days) per key. Only
//! those few keys are asked, one after another per account × region, paced at `--quota-share`
//! of LookupEvents' quota (2 requests/s per account and region).

use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use kmsaudit_model::{AccountRecord, KeyEvents, RegionRecord};

use crate::classify::issue;
use crate::Scanner;

/// LookupEvents' quota, per account and region.
const LOOKUP_EVENTS_PER_SECOND: f64 = 2.0;
/// Events per page: LookupEvents' largest.
const PAGE: i32 = 50;
/// CloudTrail's event history.
const HISTORY: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

/// Whether a key's state makes its callers worth naming.
fn wanted(state: &str) -> bool {
    matches!(
        state,
        "PendingDeletion" | "PendingReplicaDeletion" | "Disabled"
    )
}

impl Scanner {
    /// What is read of an account once its regions are: the recent events of its keys pending
    /// deletion or disabled (with last use), and its monitoring.
    pub(crate) async fn read_after_regions(&self, config: &SdkConfig, record: &mut AccountRecord) {
        let id = record.id.clone();
        if self.plan.last_use {
            self.read_key_events(config, &id, &mut record.regions).await;
        }
        if self.plan.monitoring {
            record.monitoring = Some(self.read_monitoring(config, &id, &record.regions).await);
        }
    }

    /// Reads the recent events of each customer managed key pending deletion or disabled.
    pub(crate) async fn read_key_events(
        &self,
        config: &SdkConfig,
        account_id: &str,
        regions: &mut [RegionRecord],
    ) {
        let pause = Duration::from_secs_f64(
            1.0 / (LOOKUP_EVENTS_PER_SECOND * self.plan.quota_share.clamp(0.01, 1.0)),
        );
        let reads = regions.iter_mut().map(|r| async move {
            let wanted: Vec<usize> = (0..r.keys.len())
                .filter(|&i| {
                    let k = &r.keys[i];
                    k.is_customer_managed()
                        && k.metadata.as_ref().is_some_and(|m| wanted(&m.key_state))
                })
                .collect();
            if wanted.is_empty() {
                return;
            }
            let ct = aws_sdk_cloudtrail::Client::from_conf(
                aws_sdk_cloudtrail::config::Builder::from(config)
                    .region(Region::new(r.region.clone()))
                    .retry_partition(aws_sdk_cloudtrail::config::retry::RetryPartition::new(
                        format!("cloudtrail-events-{account_id}-{}", r.region),
                    ))
                    .interceptor(self.counter.clone())
                    .build(),
            );
            let since = jiff::Timestamp::now() - HISTORY;
            for (n, i) in wanted.into_iter().enumerate() {
                if n > 0 {
                    tokio::time::sleep(pause).await;
                }
                let events = self.key_events(&ct, &r.keys[i].arn, since).await;
                r.keys[i].recent_events = Some(events);
            }
        });
        futures::future::join_all(reads).await;
    }

    async fn key_events(
        &self,
        ct: &aws_sdk_cloudtrail::Client,
        arn: &str,
        since: jiff::Timestamp,
    ) -> KeyEvents {
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::ResourceName)
            .attribute_value(arn)
            .build();
        let attribute = match attribute {
            Ok(a) => a,
            Err(e) => {
                return KeyEvents {
                    events: vec![],
                    error: Some(kmsaudit_model::Issue::new(
                        "CloudTrail.LookupEvents",
                        "InvalidRequest",
                        e.to_string(),
                    )),
                }
            }
        };
        let answer = ct
            .lookup_events()
            .lookup_attributes(attribute)
            .start_time(aws_smithy_types::DateTime::from_secs(since.as_second()))
            .max_results(PAGE)
            .send()
            .await;
        match answer {
            Ok(page) => KeyEvents {
                events: page
                    .events()
                    .iter()
                    .filter_map(crate::convert::key_event)
                    .collect(),
                error: None,
            },
            Err(e) => KeyEvents {
                events: vec![],
                error: Some(issue("CloudTrail.LookupEvents", &e)),
            },
        }
    }
}
