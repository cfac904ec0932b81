//! Rule: KMS-KEY-DELETION-WINDOW
//!
//! A customer-managed key that callers of its own account can schedule for deletion with a
//! waiting period shorter than `min_deletion_window_days` (default 30): no explicit Deny in its
//! key policy, or in an SCP or RCP along its account's path, refuses `ScheduleKeyDeletion` with
//! a shorter `kms:ScheduleKeyDeletionPendingWindowInDays`. The waiting period is the only time
//! in which a mistaken deletion can be cancelled. Checked at 7 days (KMS's shortest) and at a
//! day short of the minimum, the two ends of a `NumericLessThan` guard.

use kmsaudit_model::{Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, RuleDef};
use crate::effective::Guard;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-KEY-DELETION-WINDOW",
    severity: Severity::Low,
    title: "A key can be scheduled for deletion with a short waiting period",
    rationale: "The waiting period is the only window in which a mistaken ScheduleKeyDeletion can be cancelled; at KMS's shortest, 7 days, a deletion scheduled on a Friday before a holiday can complete before anyone notices the failing calls. The kms:ScheduleKeyDeletionPendingWindowInDays condition key lets an SCP, RCP or key policy refuse shorter waiting periods for every key at once.",
    remediation: "Attach to the organization's root or OUs an SCP denying kms:ScheduleKeyDeletion with NumericLessThan kms:ScheduleKeyDeletionPendingWindowInDays 30 (aws-samples service-control-policy-examples, Enforce-30-days-for-KMS-deletion), or add that Deny to the key policy.",
};

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let m = input.meta;
    if !matches!(m.key_state.as_str(), "Enabled" | "Disabled") {
        return Outcome::not_applicable(format!("the key is {}", m.key_state));
    }
    let min = ctx.config.min_deletion_window_days;
    let Some(g) = ctx.deletion_guards.get(&input.key.arn) else {
        return Outcome::not_assessed("what guards the key's deletion was not worked out");
    };
    let Some(w) = &g.short_window else {
        return Outcome::not_applicable(format!(
            "the configured minimum waiting period, {min} days, is KMS's shortest"
        ));
    };
    match (&w.guard, w.allowed_window) {
        (Guard::Unknown(why), _) => Outcome::not_assessed(format!(
            "whether a short waiting period is denied is unknown: {why}"
        )),
        (Guard::Denied { by, except }, None) => {
            let unless = if except.is_empty() {
                String::new()
            } else {
                format!(" when {}", except.join(" and "))
            };
            Outcome::pass(format!(
                "{by} denies ScheduleKeyDeletion with a waiting period under {min} days{unless}"
            ))
        }
        (guard, window) => {
            let window = window.unwrap_or(7);
            let mut ev = Evidence::default()
                .detail("account", m.aws_account_id.clone())
                .detail("allowed_window_days", window.to_string())
                .detail("min_deletion_window_days", min.to_string());
            if let Guard::Open(only) = guard {
                if !only.is_empty() {
                    ev = ev.detail("open_denies", only.join("; "));
                }
            }
            Outcome::fail(
                format!(
                    "Callers in account {} can schedule the key's deletion with a {window}-day waiting period: no Deny in its key policy, SCPs or RCPs refuses one under {min} days",
                    m.aws_account_id
                ),
                ev,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::effective::{DeletionGuard, Guard, WindowGuard};
    use kmsaudit_model::Status::*;

    fn window(allowed_window: Option<i64>, guard: Guard) -> DeletionGuard {
        DeletionGuard {
            recent_use: None,
            short_window: Some(WindowGuard {
                allowed_window,
                guard,
            }),
        }
    }

    #[test]
    fn a_window_short_of_the_minimum_fails_and_names_it() {
        let key = test_key();
        let o = check_key_deletion_guarded(
            "KMS-KEY-DELETION-WINDOW",
            &key,
            window(Some(7), Guard::Open(vec![])),
        );
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("7-day"), "{}", o.message);
        let half = Guard::Open(vec!["SCP s denies it only when aws:SourceVpce …".into()]);
        let o = check_key_deletion_guarded("KMS-KEY-DELETION-WINDOW", &key, window(Some(29), half));
        assert_eq!(o.status, Fail);
        assert!(o.evidence.details.get("open_denies").is_some());
    }

    #[test]
    fn denied_passes_unknown_is_not_assessed_pending_is_not_applicable() {
        let key = test_key();
        let by = Guard::Denied {
            by: "SCP deletion-window Sid KMSShortDel".into(),
            except: vec![],
        };
        let o =
            check_key_deletion_guarded("KMS-KEY-DELETION-WINDOW", &key, window(None, by.clone()));
        assert_eq!(o.status, Pass);
        assert!(o.message.contains("KMSShortDel"));
        let unknown = Guard::Unknown("the key policy was not read".into());
        assert_eq!(
            check_key_deletion_guarded("KMS-KEY-DELETION-WINDOW", &key, window(Some(7), unknown))
                .status,
            NotAssessed
        );
        let mut pending = test_key();
        pending.metadata.as_mut().unwrap().key_state = "PendingDeletion".into();
        assert_eq!(
            check_key_deletion_guarded("KMS-KEY-DELETION-WINDOW", &pending, window(None, by))
                .status,
            NotApplicable
        );
    }
}
