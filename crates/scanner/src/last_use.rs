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

use futures::future::{BoxFuture, FutureExt, Shared};
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

type BaselineMap = Arc<HashMap<String, BaselineLastUse>>;

/// A baseline's last-use answers by key ARN, possibly still being read when the scan starts:
/// the queues wait for them before their first call, the rest of the scan does not.
#[derive(Clone)]
pub struct BaselineLastUses(Shared<BoxFuture<'static, BaselineMap>>);

impl BaselineLastUses {
    /// Answers known now.
    pub fn ready(answers: HashMap<String, BaselineLastUse>) -> BaselineLastUses {
        let answers = Arc::new(answers);
        BaselineLastUses(async move { answers }.boxed().shared())
    }

    /// Answers that arrive through `receiver`; none if its sender is dropped unsent.
    pub fn arriving(
        receiver: tokio::sync::oneshot::Receiver<HashMap<String, BaselineLastUse>>,
    ) -> BaselineLastUses {
        BaselineLastUses(
            async move { Arc::new(receiver.await.unwrap_or_default()) }
                .boxed()
                .shared(),
        )
    }

    async fn get(&self) -> BaselineMap {
        self.0.clone().await
    }
}

impl Default for BaselineLastUses {
    fn default() -> Self {
        BaselineLastUses::ready(HashMap::new())
    }
}

impl std::fmt::Debug for BaselineLastUses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.peek() {
            Some(answers) => write!(f, "BaselineLastUses({} answers)", answers.len()),
            None => f.write_str("BaselineLastUses(being read)"),
        }
    }
}

/// A described key, as its region's queue receives it.
struct Described {
    key_id: String,
    arn: String,
    state: String,
}

/// Whether a key should go before others: its deletion or disabling may be a mistake that only
/// its recent use can show; then keys the baseline has no answer for.
fn priority(state: &str, in_baseline: bool) -> u8 {
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
    baseline: BaselineLastUses,
    /// CloudTrail events of keys pending deletion or disabled, by ARN (`key_events.rs`).
    events: Mutex<HashMap<String, kmsaudit_model::KeyEvents>>,
    /// The pause between two LookupEvents of one account × region.
    lookup_pause: Duration,
}

/// One account × region's queue: feed it each described key, then drop it.
pub(crate) struct RegionQueue {
    sender: mpsc::UnboundedSender<Described>,
    /// The region's LookupEvents queue: ARNs of keys pending deletion or disabled.
    events: mpsc::UnboundedSender<String>,
}

impl RegionQueue {
    /// Queues a described customer managed key (its task decides, with the baseline, whether
    /// and when to ask).
    pub(crate) fn push(&self, key: &KeyRecord) {
        if !key.is_customer_managed() {
            return;
        }
        if key
            .metadata
            .as_ref()
            .is_some_and(|m| crate::key_events::wanted(&m.key_state))
        {
            let _ = self.events.send(key.arn.clone());
        }
        let _ = self.sender.send(Described {
            key_id: key.key_id.clone(),
            arn: key.arn.clone(),
            state: key
                .metadata
                .as_ref()
                .map_or(String::new(), |m| m.key_state.clone()),
        });
    }
}

/// Where a described key goes, given the baseline: `None` when its baseline answer stands (the
/// key is enabled and the answer settled), else its place in the queue. Among keys the
/// baseline answered, the oldest answer first; the others in the order described.
fn queued(key: Described, baseline: &HashMap<String, BaselineLastUse>, seq: u64) -> Option<Queued> {
    let known = baseline.get(&key.arn);
    if key.state == "Enabled" && known.is_some_and(|b| b.settled) {
        return None;
    }
    Some(Queued {
        priority: priority(&key.state, known.is_some()),
        order: known.map_or(seq, |b| b.answer.read_at.as_second().max(0) as u64),
        key_id: key.key_id,
        arn: key.arn,
    })
}

impl LastUseBook {
    /// The book of a scan: its baseline's answers, LookupEvents at its quota share.
    pub(crate) fn new(plan: &crate::ScanPlan) -> LastUseBook {
        LastUseBook {
            baseline: plan.baseline_last_use.clone(),
            lookup_pause: crate::key_events::pause(plan.quota_share),
            ..Default::default()
        }
    }

    pub(crate) fn record_events(&self, arn: String, events: kmsaudit_model::KeyEvents) {
        self.events.lock().expect("events lock").insert(arn, events);
    }

    /// Starts the task that asks one account × region's keys, and returns its queue.
    pub(crate) fn start_region(
        self: &Arc<Self>,
        kms: aws_sdk_kms::Client,
        cloudtrail: aws_sdk_cloudtrail::Client,
        account_id: &str,
        region: &str,
    ) -> RegionQueue {
        let (events, lookups) =
            crate::key_events::spawn(self.clone(), cloudtrail, self.lookup_pause);
        let (sender, mut receiver) = mpsc::unbounded_channel::<Described>();
        let book = self.clone();
        let (account, region) = (account_id.to_string(), region.to_string());
        let task = tokio::spawn(async move {
            let baseline = book.baseline.get().await;
            let mut waiting = BinaryHeap::new();
            let mut open = true;
            let mut seq = 0;
            loop {
                while let Ok(key) = receiver.try_recv() {
                    seq += 1;
                    waiting.extend(queued(key, &baseline, seq).map(Reverse));
                }
                let next = match waiting.pop() {
                    Some(Reverse(q)) => q,
                    None if open => match receiver.recv().await {
                        Some(key) => {
                            seq += 1;
                            match queued(key, &baseline, seq) {
                                Some(q) => q,
                                None => continue,
                            }
                        }
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
        let mut tasks = self.tasks.lock().expect("last-use lock");
        tasks.extend([task, lookups]);
        RegionQueue { sender, events }
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
        let baseline = self.baseline.get().await;
        let mut answers = std::mem::take(&mut *self.answers.lock().expect("last-use lock"));
        let mut events = std::mem::take(&mut *self.events.lock().expect("events lock"));
        let mut stats = [0usize; 3];
        for key in accounts
            .iter_mut()
            .flat_map(|a| a.regions.iter_mut())
            .flat_map(|r| r.keys.iter_mut())
            .filter(|k| k.is_customer_managed())
        {
            let wanted =
                (key.metadata.as_ref()).is_some_and(|m| crate::key_events::wanted(&m.key_state));
            if wanted {
                key.recent_events = Some(
                    events
                        .remove(&key.arn)
                        .unwrap_or_else(crate::key_events::not_reached),
                );
            }
            key.last_use = Some(match answers.remove(&key.arn) {
                Some(answer) => {
                    stats[0] += 1;
                    answer
                }
                None => match baseline.get(&key.arn) {
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

    fn described(name: &str, state: &str) -> Described {
        Described {
            key_id: name.into(),
            arn: format!("arn:aws:kms:us-east-1:111122223333:key/{name}"),
            state: state.into(),
        }
    }

    #[test]
    fn keys_that_may_be_destroyed_go_first_then_keys_never_answered() {
        assert_eq!(priority("PendingDeletion", true), 0);
        assert_eq!(priority("Disabled", false), 0);
        assert_eq!(priority("Enabled", false), 1);
        assert_eq!(priority("Enabled", true), 2);
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
        let answer = |read_at: &str| LastUse {
            state: LastUseState::Used {
                operation: "Decrypt".into(),
                at: "2026-11-30T00:00:00Z".parse().unwrap(),
                cloudtrail_event_id: None,
            },
            read_at: read_at.parse().unwrap(),
            from_baseline: false,
        };
        let mut baseline = HashMap::new();
        for (name, settled, read_at) in [
            ("settled", true, "2026-12-01T00:00:00Z"),
            ("disabled", true, "2026-12-01T00:00:00Z"),
            ("newer", false, "2026-12-01T00:00:00Z"),
            ("older", false, "2026-11-01T00:00:00Z"),
        ] {
            let answer = BaselineLastUse {
                answer: answer(read_at),
                settled,
            };
            baseline.insert(described(name, "").arn, answer);
        }
        let keys = [
            described("settled", "Enabled"),
            described("disabled", "Disabled"),
            described("pending", "PendingDeletion"),
            described("newer", "Enabled"),
            described("older", "Enabled"),
            described("unknown", "Enabled"),
        ];
        let mut heap = BinaryHeap::new();
        for (seq, key) in keys.into_iter().enumerate() {
            heap.extend(queued(key, &baseline, seq as u64).map(Reverse));
        }
        let asked: Vec<String> =
            std::iter::from_fn(|| heap.pop().map(|Reverse(q)| q.key_id)).collect();
        // Among keys of one priority, those without an answer before the oldest answers.
        assert_eq!(asked, ["pending", "disabled", "unknown", "older", "newer"]);
    }

    #[tokio::test]
    async fn answers_still_being_read_arrive_and_a_dropped_sender_gives_none() {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let arriving = BaselineLastUses::arriving(receiver);
        assert_eq!(format!("{arriving:?}"), "BaselineLastUses(being read)");
        let mut answers = HashMap::new();
        answers.insert(
            "k".to_string(),
            BaselineLastUse {
                answer: LastUse {
                    state: LastUseState::NeverUsed {
                        since: "2026-01-01T00:00:00Z".parse().unwrap(),
                    },
                    read_at: "2026-12-01T00:00:00Z".parse().unwrap(),
                    from_baseline: false,
                },
                settled: false,
            },
        );
        sender.send(answers).unwrap();
        assert_eq!(arriving.get().await.len(), 1);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        drop(sender);
        assert!(BaselineLastUses::arriving(receiver).get().await.is_empty());
    }
}
