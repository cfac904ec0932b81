//! Last use against the scale stand-in: GetKeyLastUsage at its own quota (5/s per account ×
//! region), faults that give NOT_ASSESSED and never "unused", keys not reached in time, and a
//! baseline that spares the calls whose answer cannot change a verdict.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kmsaudit_model::{Issue, LastUse, LastUseState, Snapshot, Status};
use kmsaudit_scanner::{BaselineLastUse, BaselineLastUses, ScanPlan};

use super::tests::{assert_truth, scan_planned};
use super::{start, Behaviour, ScaleSpec, ScaleStandIn};

/// 16 accounts × 2 regions, 60 keys: a few dozen in the busiest account × region.
fn spec() -> ScaleSpec {
    ScaleSpec {
        accounts: 16,
        regions: 2,
        keys: 60,
        seed: 7,
        principals: 0,
    }
}

fn with_last_use(wait: Duration) -> ScanPlan {
    ScanPlan {
        last_use: true,
        last_use_wait: wait,
        ..Default::default()
    }
}

fn customer_keys(s: &Snapshot) -> impl Iterator<Item = &kmsaudit_model::KeyRecord> {
    s.keys()
        .map(|(_, _, k)| k)
        .filter(|k| k.is_customer_managed())
}

/// The verdict of `rule` on the key `arn`.
fn verdict(s: &Snapshot, rule: &str, arn: &str) -> Option<Status> {
    let evaluation = kmsaudit_evaluator::evaluate(s, &Default::default());
    let found = evaluation
        .outcomes()
        .find(|o| o.rule_id == rule && o.resource == arn)
        .map(|o| o.status);
    found
}

/// Denied keys answer AccessDeniedException; 10 % of all requests are throttled at random. Every
/// other key's answer is the truth's, no call exceeds the quota, the busiest region takes as long
/// as its quota says, and a refused key is NOT_ASSESSED, never unused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_use_at_its_quota_with_faults_is_not_assessed_never_unused() {
    let mut org = super::generate::generate(spec(), &crate::project_root()).unwrap();
    let denied: Vec<String> = org
        .truth
        .accounts
        .iter_mut()
        .flat_map(|a| a.regions.iter_mut())
        .flat_map(|r| r.keys.iter_mut())
        .filter(|k| k.is_customer_managed())
        .step_by(9)
        .map(|k| {
            let u = k.last_use.as_mut().unwrap();
            u.state = LastUseState::NotAssessed {
                issue: Issue::new("KMS.GetKeyLastUsage", "AccessDeniedException", "denied"),
            };
            k.arn.clone()
        })
        .collect();
    let busiest = org
        .truth
        .accounts
        .iter()
        .flat_map(|a| &a.regions)
        .map(|r| r.keys.iter().filter(|k| k.is_customer_managed()).count())
        .max()
        .unwrap();
    let behaviour = Behaviour {
        throttle: 0.10,
        seed: 3,
        ..Default::default()
    };
    let standin: ScaleStandIn = start(org, behaviour).await.unwrap();
    let began = Instant::now();
    let scanned = scan_planned(&standin, with_last_use(Duration::from_secs(120))).await;
    let took = began.elapsed();
    let stats = standin.stats();
    // Neither GetKeyLastUsage (5/s) nor LookupEvents (2/s, asked for keys pending deletion
    // or disabled) goes over its quota.
    assert_eq!(stats.throttled_by_quota, 0, "{stats:?}");
    assert!(stats.throttled_injected > 0, "{stats:?}");
    let wanted = customer_keys(&scanned)
        .filter(|k| {
            k.metadata
                .as_ref()
                .is_some_and(|m| m.key_state != "Enabled")
        })
        .count() as u64;
    assert!(
        wanted > 0,
        "the organization holds keys pending deletion or disabled"
    );
    assert!(
        stats.by_operation["CloudTrail.LookupEvents"] >= wanted,
        "{stats:?}"
    );
    let customer = customer_keys(&scanned).count() as u64;
    assert!(
        stats.by_operation["KMS.GetKeyLastUsage"] >= customer,
        "{stats:?}"
    );
    // 5 a second, after the first: the busiest region's keys take at least that long.
    assert!(
        took.as_secs_f64() >= (busiest - 2) as f64 / 5.0,
        "{busiest} keys in {took:?}"
    );
    let truth: HashMap<&str, &LastUse> = customer_keys(&standin.org().truth)
        .map(|k| (k.arn.as_str(), k.last_use.as_ref().unwrap()))
        .collect();
    for k in customer_keys(&scanned) {
        let got = &k
            .last_use
            .as_ref()
            .expect("every customer key has an answer")
            .state;
        let want = &truth[k.arn.as_str()].state;
        match want {
            LastUseState::NotAssessed { .. } => {
                assert!(
                    matches!(got, LastUseState::NotAssessed { issue } if issue.code == "AccessDeniedException"),
                    "{got:?}"
                );
                assert_ne!(
                    verdict(&scanned, "KMS-KEY-UNUSED", &k.arn),
                    Some(Status::Fail)
                );
            }
            want => assert_eq!(got, want, "{}", k.arn),
        }
    }
    assert!(!denied.is_empty());
    assert_truth(&standin, &scanned);
}

/// With no time to wait, keys still queued are NOT_ASSESSED ("NotReached"), never unused. A
/// second scan given the first's recent uses as settled asks only the other keys, carries the
/// settled answers, and reaches every verdict of the truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_not_reached_are_not_assessed_and_a_baseline_spares_settled_keys() {
    let org = super::generate::generate(spec(), &crate::project_root()).unwrap();
    let standin = start(org, Behaviour::default()).await.unwrap();
    let hurried = scan_planned(&standin, with_last_use(Duration::ZERO)).await;
    let not_reached: Vec<&str> = customer_keys(&hurried)
        .filter(|k| {
            matches!(&k.last_use.as_ref().unwrap().state,
                LastUseState::NotAssessed { issue } if issue.code == "NotReached")
        })
        .map(|k| k.arn.as_str())
        .collect();
    assert!(!not_reached.is_empty(), "the busiest region needs seconds");
    let evaluation = kmsaudit_evaluator::evaluate(&hurried, &Default::default());
    for o in evaluation
        .outcomes()
        .filter(|o| not_reached.contains(&o.resource))
    {
        if matches!(
            o.rule_id,
            "KMS-KEY-UNUSED" | "KMS-KEY-DESTROY-IN-USE" | "KMS-KEY-DELETION-UNGUARDED"
        ) {
            assert!(
                matches!(o.status, Status::NotAssessed | Status::NotApplicable),
                "{} {}: {:?}",
                o.rule_id,
                o.resource,
                o.status
            );
        }
    }
    assert_truth(&standin, &hurried);

    standin.reset();
    let full = scan_planned(&standin, with_last_use(Duration::from_secs(120))).await;
    assert_truth(&standin, &full);
    let now = full.metadata.started_at;
    let settled: HashMap<String, BaselineLastUse> = customer_keys(&full)
        .filter_map(|k| {
            let u = k.last_use.clone()?;
            let answer = |u: LastUse| BaselineLastUse {
                answer: u,
                settled: true,
            };
            match u.state {
                LastUseState::Used { at, .. }
                    if (now.as_second() - at.as_second()) < 60 * 86_400 =>
                {
                    Some((k.arn.clone(), answer(u)))
                }
                _ => None,
            }
        })
        .collect();
    let enabled_settled = customer_keys(&full)
        .filter(|k| settled.contains_key(&k.arn))
        .filter(|k| k.metadata.as_ref().unwrap().key_state == "Enabled")
        .count() as u64;
    assert!(enabled_settled > 0);
    standin.reset();
    let plan = ScanPlan {
        baseline_last_use: BaselineLastUses::ready(settled),
        ..with_last_use(Duration::from_secs(120))
    };
    let again = scan_planned(&standin, plan).await;
    let asked = standin.stats().by_operation["KMS.GetKeyLastUsage"];
    assert_eq!(asked, customer_keys(&full).count() as u64 - enabled_settled);
    let carried = customer_keys(&again)
        .filter(|k| k.last_use.as_ref().unwrap().from_baseline)
        .count() as u64;
    assert_eq!(carried, enabled_settled);
    assert_truth(&standin, &again);

    // No time to wait, but a baseline answer for every key: a key not reached keeps it, marked
    // as carried; none is left NOT_ASSESSED.
    let every: HashMap<String, BaselineLastUse> = customer_keys(&full)
        .map(|k| {
            let answer = k.last_use.clone().unwrap();
            (
                k.arn.clone(),
                BaselineLastUse {
                    answer,
                    settled: false,
                },
            )
        })
        .collect();
    standin.reset();
    let plan = ScanPlan {
        baseline_last_use: BaselineLastUses::ready(every),
        ..with_last_use(Duration::ZERO)
    };
    let hurried = scan_planned(&standin, plan).await;
    let unread = customer_keys(&hurried)
        .filter(|k| {
            matches!(
                k.last_use.as_ref().unwrap().state,
                LastUseState::NotAssessed { .. }
            )
        })
        .count();
    assert_eq!(unread, 0);
    assert!(customer_keys(&hurried).any(|k| k.last_use.as_ref().unwrap().from_baseline));
    assert_truth(&standin, &hurried);
}
