//! Who still calls the keys pending deletion or disabled, and whether those calls fail: CloudTrail
//! LookupEvents by key ARN, one page (the 50 newest events of the last 90 days) per key. Only
//! those few keys are asked, as they are described, one after another per account × region on a
//! task beside the region's other reads (as last use is), paced at `--quota-share` of
//! LookupEvents' quota (2 requests/s per account and region); the scan's last-use wait bounds
//! it too.

use std::time::Duration;

use std::sync::Arc;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use kmsaudit_model::KeyEvents;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::classify::issue;
use crate::last_use::LastUseBook;

/// LookupEvents' quota, per account and region.
const LOOKUP_EVENTS_PER_SECOND: f64 = 2.0;
/// Events per page: LookupEvents' largest.
const PAGE: i32 = 50;
/// CloudTrail's event history.
const HISTORY: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

/// Whether a key's state makes its callers worth naming.
pub(crate) fn wanted(state: &str) -> bool {
    matches!(
        state,
        "PendingDeletion" | "PendingReplicaDeletion" | "Disabled"
    )
}

/// The pause between two LookupEvents of one account × region at `quota_share` of the quota.
pub(crate) fn pause(quota_share: f64) -> Duration {
    Duration::from_secs_f64(1.0 / (LOOKUP_EVENTS_PER_SECOND * quota_share.clamp(0.01, 1.0)))
}

/// Starts the task that asks one account × region's wanted keys, one after another at `pause`,
/// as its queue receives their ARNs; answers go to the book.
pub(crate) fn spawn(
    book: Arc<LastUseBook>,
    ct: aws_sdk_cloudtrail::Client,
    pause: Duration,
) -> (mpsc::UnboundedSender<String>, JoinHandle<()>) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<String>();
    let task = tokio::spawn(async move {
        let since = jiff::Timestamp::now() - HISTORY;
        let mut first = true;
        while let Some(arn) = receiver.recv().await {
            if !first {
                tokio::time::sleep(pause).await;
            }
            first = false;
            let events = key_events(&ct, &arn, since).await;
            book.record_events(arn, events);
        }
    });
    (sender, task)
}

/// Why a wanted key's events were not read: its region's queue was still being asked when the
/// scan's wait ran out.
pub(crate) fn not_reached() -> KeyEvents {
    KeyEvents {
        events: vec![],
        error: Some(kmsaudit_model::Issue::new(
            "CloudTrail.LookupEvents",
            "NotReached",
            "not asked: LookupEvents is paced to its quota (2 requests/s per account and region) \
             and this region's queue was still being asked when the scan's wait ran out",
        )),
    }
}

async fn key_events(
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
