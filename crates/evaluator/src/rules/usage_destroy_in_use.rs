//! Rule: KMS-KEY-DESTROY-IN-USE
//!
//! A key that is pending deletion or disabled, yet had a successful cryptographic operation
//! within `unused_days` (default 90) by KMS GetKeyLastUsage: whatever used it will fail, and once
//! the waiting period ends, everything encrypted under it is lost for good. The finding puts the
//! deletion date and the last use side by side. Not read, or nothing recorded since a tracking
//! start inside the window: NOT_ASSESSED, never a pass.

use kmsaudit_model::{Evidence, Idle, LastUseState, Severity};

use super::key_facts::last_use_evidence;
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-KEY-DESTROY-IN-USE",
    severity: Severity::Critical,
    title: "Key pending deletion or disabled was used recently",
    rationale: "Scheduling the deletion of a key still in use is the one KMS mistake that loses data for good: once the waiting period ends, every ciphertext under it is unrecoverable. A disabled key that was used recently is breaking whatever used it.",
    remediation: "Stop the deletion now: aws kms cancel-key-deletion --key-id <key>, then aws kms enable-key --key-id <key> if its users need it. Find who used it from the CloudTrail event of its last use, and only retire the key once they have moved to another.",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let m = input.meta;
    let pending = matches!(
        m.key_state.as_str(),
        "PendingDeletion" | "PendingReplicaDeletion"
    );
    if !pending && m.key_state != "Disabled" {
        return Outcome::not_applicable(format!("the key is {}", m.key_state));
    }
    let Some(last_use) = &input.key.last_use else {
        return Outcome::not_assessed("the key's last use was not read");
    };
    let n = ctx.config.unused_days;
    let mut ev = Evidence::default().detail("key_state", m.key_state.clone());
    if let Some(date) = m.deletion_date {
        ev = ev.detail("deletion_date", date.to_string());
    }
    let mut ev = last_use_evidence(last_use, ev);
    // Who still calls it, and whether those calls fail (CloudTrail LookupEvents).
    let since = ctx.now - jiff::SignedDuration::from_hours(24 * n);
    let mut calls = String::new();
    match &input.key.recent_events {
        Some(events) if events.error.is_none() => {
            let failing: Vec<_> = events.failing_since(since).collect();
            let callers: std::collections::BTreeSet<&str> =
                events.events.iter().map(|e| e.caller.as_str()).collect();
            if !callers.is_empty() {
                ev = ev.detail(
                    "recent_callers",
                    callers.into_iter().collect::<Vec<_>>().join(", "),
                );
            }
            if !failing.is_empty() {
                let codes: std::collections::BTreeSet<&str> = failing
                    .iter()
                    .filter_map(|e| e.error_code.as_deref())
                    .collect();
                let by: std::collections::BTreeSet<&str> =
                    failing.iter().map(|e| e.caller.as_str()).collect();
                calls = format!(
                    "{} call(s) to it failed in the last {n} days ({}), by {}",
                    failing.len(),
                    codes.into_iter().collect::<Vec<_>>().join(", "),
                    by.into_iter().collect::<Vec<_>>().join(", ")
                );
                ev = ev.detail("failing_calls", calls.clone());
            }
        }
        Some(events) => {
            if let Some(e) = &events.error {
                ev = ev.detail("lookup_events", format!("not read: {e}"));
            }
        }
        None => {}
    }
    let fate = match m.deletion_date {
        Some(date) if pending => format!("will be deleted on {date}"),
        _ if pending => "is pending deletion".to_string(),
        _ => "is disabled".to_string(),
    };
    let state = &last_use.state;
    match state.idle(ctx.now) {
        Idle::Days(d) if d < n && matches!(state, LastUseState::Used { .. }) => {
            let also = if calls.is_empty() {
                String::new()
            } else {
                format!("; {calls}")
            };
            Outcome::fail(
                format!(
                    "The key {fate}, but was {} ({d} days ago){also}",
                    state.describe()
                ),
                ev,
            )
        }
        _ if !calls.is_empty() => Outcome::fail(
            format!("The key {fate}, but is still being called: {calls}"),
            ev,
        ),
        Idle::Days(d) | Idle::AtLeast(d) if d >= n => Outcome::pass(format!(
            "The key is {} and was not used in the last {n} days: {}",
            m.key_state,
            state.describe()
        )),
        Idle::Days(_) => Outcome::pass(format!(
            "The key is {} and {}",
            m.key_state,
            state.describe()
        )),
        Idle::AtLeast(d) => Outcome::not_assessed(format!(
            "no recorded use in the {d} days since KMS began tracking this key, fewer than {n}; \
             use before then is unknown"
        ))
        .with_evidence(ev),
        Idle::Unknown => Outcome::not_assessed(format!(
            "the key is {} and its last use could not be read: {}",
            m.key_state,
            state.describe()
        ))
        .with_evidence(ev),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;
    use kmsaudit_model::*;

    fn key(state: &str, last: LastUseState) -> KeyRecord {
        let mut k = test_key();
        let m = k.metadata.as_mut().unwrap();
        m.key_state = state.into();
        m.enabled = false;
        if state == "PendingDeletion" {
            m.deletion_date = Some("2026-11-30T00:00:00Z".parse().unwrap());
        }
        k.last_use = Some(LastUse {
            state: last,
            read_at: "2026-11-23T00:00:00Z".parse().unwrap(),
            from_baseline: false,
        });
        k
    }

    fn used(at: &str) -> LastUseState {
        LastUseState::Used {
            operation: "Decrypt".into(),
            at: at.parse().unwrap(),
            cloudtrail_event_id: Some("0a1b2c3d-ev".into()),
        }
    }

    #[test]
    fn pending_deletion_used_last_week_fails_with_both_dates() {
        let k = key("PendingDeletion", used("2026-11-16T08:00:00Z"));
        let o = check_key_with("KMS-KEY-DESTROY-IN-USE", &k, None, &Default::default());
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("deleted on 2026-11-30"), "{}", o.message);
        assert!(o.message.contains("Decrypt on 2026-11-16"), "{}", o.message);
        let details = &o.evidence.details;
        assert_eq!(details.get("cloudtrail_event_id"), Some("0a1b2c3d-ev"));
        assert_eq!(details.get("deletion_date"), Some("2026-11-30T00:00:00Z"));
        assert_eq!(
            check_key(
                "KMS-KEY-DESTROY-IN-USE",
                &key("Disabled", used("2026-11-22T00:00:00Z"))
            ),
            Fail
        );
    }

    #[test]
    fn not_used_within_the_window_passes() {
        assert_eq!(
            check_key(
                "KMS-KEY-DESTROY-IN-USE",
                &key("PendingDeletion", used("2026-01-02T00:00:00Z"))
            ),
            Pass
        );
        let never = LastUseState::NeverUsed {
            since: "2025-05-01T00:00:00Z".parse().unwrap(),
        };
        assert_eq!(
            check_key("KMS-KEY-DESTROY-IN-USE", &key("PendingDeletion", never)),
            Pass
        );
        let none = LastUseState::NoRecordedUse {
            since: "2026-04-23T00:00:00Z".parse().unwrap(),
        };
        assert_eq!(
            check_key("KMS-KEY-DESTROY-IN-USE", &key("Disabled", none)),
            Pass
        );
        // A key created last week and never used: nothing depends on it.
        let new = LastUseState::NeverUsed {
            since: "2026-11-16T00:00:00Z".parse().unwrap(),
        };
        assert_eq!(
            check_key("KMS-KEY-DESTROY-IN-USE", &key("Disabled", new)),
            Pass
        );
    }

    #[test]
    fn unknown_use_is_not_assessed_and_enabled_keys_are_not_its_concern() {
        let denied = LastUseState::NotAssessed {
            issue: Issue::new(
                "KMS.GetKeyLastUsage",
                "AccessDeniedException",
                "not allowed",
            ),
        };
        assert_eq!(
            check_key("KMS-KEY-DESTROY-IN-USE", &key("PendingDeletion", denied)),
            NotAssessed
        );
        let recent = LastUseState::NoRecordedUse {
            since: "2026-10-01T00:00:00Z".parse().unwrap(),
        };
        assert_eq!(
            check_key("KMS-KEY-DESTROY-IN-USE", &key("PendingDeletion", recent)),
            NotAssessed
        );
        assert_eq!(
            check_key(
                "KMS-KEY-DESTROY-IN-USE",
                &key("Enabled", used("2026-11-22T00:00:00Z"))
            ),
            NotApplicable
        );
    }

    #[test]
    fn calls_failing_now_fail_even_without_a_recent_success() {
        let mut k = key("Disabled", used("2026-01-02T00:00:00Z"));
        let event = |name: &str, at: &str, error: Option<&str>| KeyEvent {
            time: at.parse().unwrap(),
            name: name.into(),
            caller: "orders-app".into(),
            error_code: error.map(str::to_string),
        };
        k.recent_events = Some(KeyEvents {
            events: vec![
                event("Decrypt", "2026-11-21T00:00:00Z", Some("DisabledException")),
                event("DescribeKey", "2026-11-20T00:00:00Z", None),
            ],
            error: None,
        });
        let o = check_key_with("KMS-KEY-DESTROY-IN-USE", &k, None, &Default::default());
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("still being called"), "{}", o.message);
        assert!(o.message.contains("DisabledException") && o.message.contains("orders-app"));
        // Only successful calls: nothing is failing, and the last success is old.
        k.recent_events.as_mut().unwrap().events.remove(0);
        let o = check_key_with("KMS-KEY-DESTROY-IN-USE", &k, None, &Default::default());
        assert_eq!(o.status, Pass);
    }
}
