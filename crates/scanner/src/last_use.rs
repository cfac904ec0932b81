//! Each customer managed key's last use (KMS GetKeyLastUsage), read apart from the rest.
//!
//! GetKeyLastUsage's quota is 5 requests per second per account and region, far below the other
//! KMS operations: a region of thousands of keys takes many minutes to ask. So the answers never
//! hold up the scan: every account × region with keys gets its own task, fed the keys as they
//! are described, which asks one key at a time at the operation's own pace (`pace.rs`) and
//! outlives its account. Keys that would otherwise be deleted or are disabled go first, then keys
//! with no earlier answer, then keys whose baseline answer is oldest. Once everything else is
//! read, the scan waits at most `ScanPlan::last_use_wait` for what is still being asked; a key
//! not reached by then keeps its baseline answer (marked as carried, with when it was read), or
//! is NOT_ASSESSED with that reason, never "unused".

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kmsaudit_model::{AccountRecord, Issue, KeyRecord, LastUse, LastUseState};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::classify::issue;
use crate::convert;

/// The operation as issues name it.
const OPERATION: &str = "KMS.GetKeyLastUsage";

/// A key waiting to be asked: lower `priority` first, then in the order described.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    priority: u8,
    order: u64,
    key_id: String,
    arn: String,
}

/// A baseline's answer for one key, and whether it is settled: a use recent enough that no use
/// since can change a verdict, so that a key still enabled is not asked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineLastUse {
    /// The answer the baseline holds.
    pub answer: LastUse,
    /// Not asked again while the key stays enabled.
    pub settled: bool,
}

/// Whether a key should go before others: its deletion or disabling may be a mistake that only
/// its recent use can show; then keys the baseline has no answer for.
fn priority(key: &KeyRecord, in_baseline: bool) -> u8 {
    let state = key.metadata.as_ref().map_or("", |m| m.key_state.as_str());
    match (state, in_baseline) {
        ("PendingDeletion" | "PendingReplicaDeletion" | "Disabled", _) => 0,
        (_, false) => 1,
        (_, true) => 2,
    }
}

/// The scan-wide book of last-use answers, and the tasks still asking.
#[derive(Default)]
pub(crate) struct LastUseBook {
    /// Answers by key ARN, recorded as they come (a task stopped at the deadline keeps them).
    answers: Mutex<HashMap<String, LastUse>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// A baseline's answers by key ARN: settled ones are not asked again for keys still
    /// enabled, and any stands for a key not reached.
    baseline: Arc<HashMap<String, BaselineLastUse>>,
}

/// One account × region's queue: feed it each described key, then drop it.
pub(crate) struct RegionQueue {
    sender: mpsc::UnboundedSender<Queued>,
    baseline: Arc<HashMap<String, BaselineLastUse>>,
    order: std::sync::atomic::AtomicU64,
}

impl RegionQueue {
    /// Queues a described customer managed key, unless its baseline answer stands: a key that
    /// is enabled and whose carried use cannot change a verdict.
    pub(crate) fn push(&self, key: &KeyRecord) {
        if !key.is_customer_managed() {
            return;
        }
        let enabled = key
            .metadata
            .as_ref()
            .is_some_and(|m| m.key_state == "Enabled");
        let baseline = self.baseline.get(&key.arn);
        if enabled && baseline.is_some_and(|b| b.settled) {
            return;
        }
        // Among keys the baseline answered, the oldest answer first; the others as described.
        let order = match baseline {
            Some(b) => b.answer.read_at.as_second().max(0) as u64,
            None => self
                .order
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        };
        let _ = self.sender.send(Queued {
            priority: priority(key, baseline.is_some()),
            order,
            key_id: key.key_id.clone(),
            arn: key.arn.clone(),
        });
    }
}

impl LastUseBook {
    pub(crate) fn new(baseline: Arc<HashMap<String, BaselineLastUse>>) -> LastUseBook {
        LastUseBook {
            baseline,
            ..Default::default()
        }
    }

    /// Starts the task that asks one account × region's keys, and returns its queue.
    pub(crate) fn start_region(
        self: &Arc<Self>,
        kms: aws_sdk_kms::Client,
        account_id: &str,
        region: &str,
    ) -> RegionQueue {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Queued>();
        let book = self.clone();
        let (account, region) = (account_id.to_string(), region.to_string());
        let task = tokio::spawn(async move {
            let mut waiting = BinaryHeap::new();
            let mut open = true;
            loop {
                while let Ok(q) = receiver.try_recv() {
                    waiting.push(Reverse(q));
                }
                let next = match waiting.pop() {
                    Some(Reverse(q)) => q,
                    None if open => match receiver.recv().await {
                        Some(q) => q,
                        None => {
                            open = false;
                            continue;
                        }
                    },
                    None => break,
                };
                let state = match kms.get_key_last_usage().key_id(&next.key_id).send().await {
                    Ok(out) => convert::last_use(&out),
                    Err(e) => {
                        let issue = issue(OPERATION, &e);
                        tracing::info!(account = %account, region = %region, key = %next.key_id,
                            error = %issue, "last use not read");
                        LastUseState::NotAssessed { issue }
                    }
                };
                let answer = LastUse {
                    state,
                    read_at: jiff::Timestamp::now(),
                    from_baseline: false,
                };
                book.answers
                    .lock()
                    .expect("last-use lock")
                    .insert(next.arn, answer);
            }
        });
        self.tasks.lock().expect("last-use lock").push(task);
        RegionQueue {
            sender,
            baseline: self.baseline.clone(),
            order: Default::default(),
        }
    }

    /// Waits up to `wait` for the tasks still asking, stops the rest, and writes every customer
    /// managed key's answer into the accounts: asked, carried from the baseline, or why not.
    pub(crate) async fn finish(&self, wait: Duration, accounts: &mut [AccountRecord]) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().expect("last-use lock"));
        let pending = tasks.iter().filter(|t| !t.is_finished()).count();
        if pending > 0 {
            tracing::info!(
                regions = pending,
                wait_s = wait.as_secs_f64(),
                "waiting for the last use of keys still being asked"
            );
        }
        let all = futures::future::join_all(tasks.iter_mut());
        if tokio::time::timeout(wait, all).await.is_err() {
            for t in &tasks {
                t.abort();
            }
        }
        let mut answers = std::mem::take(&mut *self.answers.lock().expect("last-use lock"));
        let mut stats = [0usize; 3];
        for key in accounts
            .iter_mut()
            .flat_map(|a| a.regions.iter_mut())
            .flat_map(|r| r.keys.iter_mut())
            .filter(|k| k.is_customer_managed())
        {
            key.last_use = Some(match answers.remove(&key.arn) {
                Some(answer) => {
                    stats[0] += 1;
                    answer
                }
                None => match self.baseline.get(&key.arn) {
                    Some(carried) => {
                        stats[1] += 1;
                        LastUse {
                            from_baseline: true,
                            ..carried.answer.clone()
                        }
                    }
                    None => {
                        stats[2] += 1;
                        LastUse {
                            state: LastUseState::NotAssessed {
                                issue: not_reached(wait),
                            },
                            read_at: jiff::Timestamp::now(),
                            from_baseline: false,
                        }
                    }
                },
            });
        }
        tracing::info!(
            asked = stats[0],
            carried_from_baseline = stats[1],
            not_reached = stats[2],
            "last use read"
        );
    }
}

/// Why a key was not asked: its region's queue was still long when the scan's wait ran out.
fn not_reached(wait: Duration) -> Issue {
    Issue::new(
        OPERATION,
        "NotReached",
        format!(
            "not asked: GetKeyLastUsage is paced to its quota (5 requests/s per account and \
             region), and this region's queue was still being asked {} s after the rest of the \
             scan ended (--last-use-wait); a scan with --baseline asks these keys first",
            wait.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsaudit_model::KeyMetadata;

    fn key(state: &str) -> KeyRecord {
        KeyRecord {
            arn: format!("arn:aws:kms:us-east-1:111122223333:key/{state}"),
            key_id: state.into(),
            metadata: Some(KeyMetadata {
                key_state: state.into(),
                key_manager: "CUSTOMER".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn keys_that_may_be_destroyed_go_first_then_keys_never_answered() {
        assert_eq!(priority(&key("PendingDeletion"), true), 0);
        assert_eq!(priority(&key("Disabled"), false), 0);
        assert_eq!(priority(&key("Enabled"), false), 1);
        assert_eq!(priority(&key("Enabled"), true), 2);
        let mut heap = BinaryHeap::new();
        for (i, (p, id)) in [(1, "b"), (0, "z"), (1, "a"), (2, "c")].iter().enumerate() {
            heap.push(Reverse(Queued {
                priority: *p,
                order: i as u64,
                key_id: id.to_string(),
                arn: String::new(),
            }));
        }
        let order: Vec<String> =
            std::iter::from_fn(|| heap.pop().map(|Reverse(q)| q.key_id)).collect();
        assert_eq!(order, ["z", "b", "a", "c"]);
    }

    #[test]
    fn an_enabled_key_with_a_settled_answer_is_not_asked_again_and_others_are() {
        let mut baseline = HashMap::new();
        for (state, settled) in [("Enabled", true), ("Disabled", true), ("Unsettled", false)] {
            baseline.insert(
                key(state).arn,
                BaselineLastUse {
                    answer: LastUse {
                        state: LastUseState::Used {
                            operation: "Decrypt".into(),
                            at: "2026-11-30T00:00:00Z".parse().unwrap(),
                            cloudtrail_event_id: None,
                        },
                        read_at: "2026-12-01T00:00:00Z".parse().unwrap(),
                        from_baseline: false,
                    },
                    settled,
                },
            );
        }
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let queue = RegionQueue {
            sender,
            baseline: Arc::new(baseline),
            order: Default::default(),
        };
        let mut unsettled = key("Unsettled");
        unsettled.metadata.as_mut().unwrap().key_state = "Enabled".into();
        for k in [
            key("Enabled"),
            key("Disabled"),
            key("PendingDeletion"),
            unsettled,
        ] {
            queue.push(&k);
        }
        let mut aws_managed = key("Enabled");
        aws_managed.metadata.as_mut().unwrap().key_manager = "AWS".into();
        aws_managed.arn.push('2');
        queue.push(&aws_managed);
        drop(queue);
        let mut asked = vec![];
        while let Ok(q) = receiver.try_recv() {
            asked.push(q.key_id);
        }
        assert_eq!(asked, ["Disabled", "PendingDeletion", "Unsettled"]);
    }
}
