//! Rule: KMS-KEY-UNUSED
//!
//! An enabled customer managed key with no successful cryptographic use for `unused_days`
//! (default 90), by KMS GetKeyLastUsage: last used that long ago, never used since a creation
//! that long ago, or nothing recorded since tracking began that long ago (use before then is
//! unknown, and the finding says so). A key whose last use could not be read is NOT_ASSESSED,
//! never unused. Disabled and pending-deletion keys are KMS-KEY-DESTROY-IN-USE's.

use kmsaudit_model::{Evidence, Idle, LastUseState, Severity};

use super::key_facts::last_use_evidence;
use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-KEY-UNUSED",
    severity: Severity::Low,
    title: "Key has not been used for a long time",
    rationale: "A key nobody uses still costs money, still lets whoever its policy allows decrypt old data, and hides among the keys that matter. AWS records each key's last successful cryptographic operation (GetKeyLastUsage); use outside KMS (cached data keys, public keys used offline, an EBS volume not attached since) is not recorded.",
    remediation: "Confirm with the key's owner. Then, as AWS advises: disable the key first (aws kms disable-key --key-id <key>), watch CloudTrail for DisabledException errors for a while, and only then schedule its deletion with the longest waiting period (aws kms schedule-key-deletion --key-id <key> --pending-window-in-days 30). Never delete a key straight away.",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    if input.meta.key_state != "Enabled" {
        return Outcome::not_applicable(format!(
            "the key is {}, not enabled",
            input.meta.key_state
        ));
    }
    let Some(last_use) = &input.key.last_use else {
        return Outcome::not_assessed("the key's last use was not read");
    };
    let n = ctx.config.unused_days;
    let state = &last_use.state;
    let ev = || last_use_evidence(last_use, Evidence::default());
    let idle = state.idle(ctx.now);
    match idle {
        Idle::Unknown => match state {
            LastUseState::NotAssessed { issue } => {
                Outcome::not_assessed(format!("the key's last use could not be read: {issue}"))
            }
            _ => Outcome::not_assessed("the key's last use is unknown"),
        },
        Idle::Days(d) | Idle::AtLeast(d) if d >= n => {
            let bound = if matches!(idle, Idle::AtLeast(_)) {
                "at least "
            } else {
                ""
            };
            Outcome::fail(
                format!(
                    "The key has had no successful cryptographic use for {bound}{d} days \
                     (limit {n}): {}",
                    state.describe()
                ),
                ev(),
            )
        }
        Idle::AtLeast(d) => Outcome::not_assessed(format!(
            "no recorded use in the {d} days since KMS began tracking this key, fewer than {n}; \
             use before then is unknown"
        ))
        .with_evidence(ev()),
        Idle::Days(_) => Outcome::pass(format!("The key was {}", state.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;
    use kmsaudit_model::*;

    /// The test context's "now" is 2026-11-23.
    fn with_use(state: LastUseState) -> KeyRecord {
        let mut k = test_key();
        k.last_use = Some(LastUse {
            state,
            read_at: "2026-11-23T00:00:00Z".parse().unwrap(),
            from_baseline: false,
        });
        k
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn used_within_the_window_passes_and_used_before_it_fails() {
        let used = |when: &str| LastUseState::Used {
            operation: "Decrypt".into(),
            at: at(when),
            cloudtrail_event_id: Some("ev-1".into()),
        };
        assert_eq!(
            check_key("KMS-KEY-UNUSED", &with_use(used("2026-11-20T00:00:00Z"))),
            Pass
        );
        let o = check_key_with(
            "KMS-KEY-UNUSED",
            &with_use(used("2026-08-01T00:00:00Z")),
            None,
            &Default::default(),
        );
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("for 114 days"), "{}", o.message);
        assert!(o.message.contains("Decrypt on 2026-08-01"), "{}", o.message);
        // A longer configured window lets it pass.
        let config = crate::config::EvalConfig {
            unused_days: 180,
            ..Default::default()
        };
        assert_eq!(
            check_key_with(
                "KMS-KEY-UNUSED",
                &with_use(used("2026-08-01T00:00:00Z")),
                None,
                &config
            )
            .status,
            Pass
        );
    }

    #[test]
    fn never_used_counts_from_creation_and_no_record_from_tracking_start() {
        let never = |since: &str| LastUseState::NeverUsed { since: at(since) };
        assert_eq!(
            check_key("KMS-KEY-UNUSED", &with_use(never("2026-11-01T00:00:00Z"))),
            Pass
        );
        assert_eq!(
            check_key("KMS-KEY-UNUSED", &with_use(never("2026-01-01T00:00:00Z"))),
            Fail
        );
        let none = |since: &str| LastUseState::NoRecordedUse { since: at(since) };
        let o = check_key_with(
            "KMS-KEY-UNUSED",
            &with_use(none("2026-04-23T00:00:00Z")),
            None,
            &Default::default(),
        );
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("at least 214 days"), "{}", o.message);
        // Tracking began too recently to tell: neither unused nor used.
        assert_eq!(
            check_key("KMS-KEY-UNUSED", &with_use(none("2026-10-01T00:00:00Z"))),
            NotAssessed
        );
    }

    #[test]
    fn an_unread_last_use_is_not_assessed_never_unused() {
        for code in ["ThrottlingException", "AccessDeniedException", "NotReached"] {
            let failed = LastUseState::NotAssessed {
                issue: Issue::new("KMS.GetKeyLastUsage", code, "x"),
            };
            let o = check_key_with(
                "KMS-KEY-UNUSED",
                &with_use(failed),
                None,
                &Default::default(),
            );
            assert_eq!(o.status, NotAssessed);
            assert!(o.message.contains(code));
        }
        assert_eq!(check_key("KMS-KEY-UNUSED", &test_key()), NotAssessed);
    }

    #[test]
    fn a_key_not_enabled_is_left_to_the_destroy_rule() {
        let mut k = with_use(LastUseState::NeverUsed {
            since: at("2025-01-01T00:00:00Z"),
        });
        k.metadata.as_mut().unwrap().key_state = "Disabled".into();
        assert_eq!(check_key("KMS-KEY-UNUSED", &k), NotApplicable);
    }
}
