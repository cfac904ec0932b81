//! Rule: KMS-KEY-DELETION-UNGUARDED
//!
//! An enabled key that had a successful cryptographic use within `unused_days`, and that callers
//! of its own account can still disable or schedule for deletion: no explicit Deny in its key
//! policy, or in an SCP or RCP along its account's path, refuses `DisableKey` and
//! `ScheduleKeyDeletion` at the key's own days without use (`kms:TrailingDaysWithoutKeyUsage`).
//! The policy engine decides each Deny for any caller of the account; a Deny that leaves out
//! only named principals (a break-glass role) guards, and the finding names the exceptions.
//! With effective access read, the principals that can still do it are listed.

use kmsaudit_model::{AccessVerdict, Capability, Evidence, Idle, LastUseState, Severity};

use super::key_facts::last_use_evidence;
use super::{Ctx, KeyInput, Outcome, RuleDef};
use crate::effective::Guard;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-KEY-DELETION-UNGUARDED",
    severity: Severity::Medium,
    title: "Nothing stops a recently used key from being disabled or scheduled for deletion",
    rationale: "Scheduling the deletion of a key still in use loses every ciphertext under it for good once the waiting period ends, and disabling it breaks whatever uses it now. KMS records each key's last use, and the kms:TrailingDaysWithoutKeyUsage condition key lets a key policy, SCP or RCP refuse DisableKey and ScheduleKeyDeletion on a key used recently, whoever asks.",
    remediation: "Add a Deny on kms:DisableKey and kms:ScheduleKeyDeletion with NumericLessThan kms:TrailingDaysWithoutKeyUsage set to your unused window (90 days) to an SCP (or RCP) over the account's OU, or to the key policy, leaving out only a break-glass role by aws:PrincipalArn. Keys really retired then go through disable, watch for DisabledException, and delete once unused long enough.",
};

/// How many principals that can still do it the evidence names.
const NAMED: usize = 10;

pub(crate) fn check(input: &KeyInput<'_>, ctx: &Ctx<'_>) -> Outcome {
    let m = input.meta;
    if m.key_state != "Enabled" {
        return Outcome::not_applicable(format!("the key is {}", m.key_state));
    }
    let Some(last_use) = &input.key.last_use else {
        return Outcome::not_assessed("the key's last use was not read");
    };
    let n = ctx.config.unused_days;
    let state = &last_use.state;
    let guard = ctx
        .deletion_guards
        .get(&input.key.arn)
        .and_then(|g| g.recent_use.as_ref());
    let (days, guard) = match (state.idle(ctx.now), state, guard) {
        (Idle::Days(d), LastUseState::Used { .. }, Some(g)) if d < n => (d, g),
        (Idle::Days(d), LastUseState::Used { .. }, None) if d < n => {
            return Outcome::not_assessed("what guards the key's deletion was not worked out");
        }
        (Idle::Unknown, ..) => {
            return Outcome::not_assessed(format!(
                "whether the key is in use is unknown: {}",
                state.describe()
            ))
        }
        _ => {
            return Outcome::not_applicable(format!(
                "the key was not used in the last {n} days ({}): retiring it is what KMS-KEY-UNUSED advises",
                state.describe()
            ))
        }
    };
    let actions = [
        ("DisableKey", &guard.disable),
        ("ScheduleKeyDeletion", &guard.schedule),
    ];
    if let Some((action, Guard::Unknown(why))) =
        actions.iter().find(|(_, g)| matches!(g, Guard::Unknown(_)))
    {
        if !actions.iter().any(|(_, g)| matches!(g, Guard::Open(_))) {
            return Outcome::not_assessed(format!(
                "whether {action} is denied on the key is unknown: {why}"
            ));
        }
    }
    let open: Vec<&str> = actions
        .iter()
        .filter(|(_, g)| matches!(g, Guard::Open(_)))
        .map(|(a, _)| *a)
        .collect();
    if open.is_empty() {
        let said: Vec<String> = actions.iter().map(|(a, g)| said(a, g)).collect();
        return Outcome::pass(format!(
            "The key was {} ({}) and {}",
            state.describe(),
            days_ago(days),
            said.join("; ")
        ));
    }
    let mut ev = last_use_evidence(last_use, Evidence::default())
        .detail("days_without_use", days.to_string())
        .detail("account", m.aws_account_id.clone());
    for (action, g) in &actions {
        ev = ev.detail(
            &format!("guard_{}", action.to_ascii_lowercase()),
            said(action, g),
        );
    }
    if let Some(access) = &ctx.access {
        let can: Vec<String> = access
            .of(&input.key.arn)
            .iter()
            .filter(|e| match e.capability {
                Capability::Disable => open.contains(&"DisableKey"),
                Capability::Delete => open.contains(&"ScheduleKeyDeletion"),
                _ => false,
            })
            .filter(|e| e.verdict != AccessVerdict::NotAssessed)
            .map(|e| e.principal.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let shown: Vec<&str> = can.iter().take(NAMED).map(String::as_str).collect();
        let more = can.len().saturating_sub(NAMED);
        let mut list = shown.join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        if !list.is_empty() {
            ev = ev.detail("can_still", list);
        }
    }
    Outcome::fail(
        format!(
            "The key was {} ({}), yet no Deny in its key policy, SCPs or RCPs refuses {} to callers in account {}: it can be destroyed while in use",
            state.describe(),
            days_ago(days),
            open.join(" or "),
            m.aws_account_id
        ),
        ev,
    )
}

fn days_ago(days: i64) -> String {
    match days {
        0 => "today".into(),
        1 => "1 day ago".into(),
        d => format!("{d} days ago"),
    }
}

/// One action's guard in words.
fn said(action: &str, g: &Guard) -> String {
    match g {
        Guard::Denied { by, except } if except.is_empty() => format!("{action} is denied by {by}"),
        Guard::Denied { by, except } => {
            format!("{action} is denied by {by} when {}", except.join(" and "))
        }
        Guard::Open(only) if only.is_empty() => format!("{action} is not denied"),
        Guard::Open(only) => format!("{action} is not denied whoever calls ({})", only.join("; ")),
        Guard::Unknown(why) => format!("{action}: unknown ({why})"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::effective::{DeletionGuard, Guard, RecentUseGuard};
    use kmsaudit_model::Status::*;
    use kmsaudit_model::*;

    fn used(at: &str) -> KeyRecord {
        let mut k = test_key();
        k.last_use = Some(LastUse {
            state: LastUseState::Used {
                operation: "Decrypt".into(),
                at: at.parse().unwrap(),
                cloudtrail_event_id: None,
            },
            read_at: "2026-11-23T00:00:00Z".parse().unwrap(),
            from_baseline: false,
        });
        k
    }

    fn guarded(disable: Guard, schedule: Guard) -> DeletionGuard {
        DeletionGuard {
            recent_use: Some(RecentUseGuard { disable, schedule }),
            short_window: None,
        }
    }

    fn denied(by: &str) -> Guard {
        Guard::Denied {
            by: by.into(),
            except: vec![],
        }
    }

    #[test]
    fn a_recent_key_either_action_open_fails_naming_it() {
        let key = used("2026-11-20T00:00:00Z");
        let g = guarded(denied("SCP guard Sid NoDisable"), Guard::Open(vec![]));
        let o = check_key_deletion_guarded("KMS-KEY-DELETION-UNGUARDED", &key, g);
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("ScheduleKeyDeletion"), "{}", o.message);
        assert!(!o.message.contains("DisableKey or"), "{}", o.message);
        let g = guarded(denied("SCP"), denied("SCP"));
        let o = check_key_deletion_guarded("KMS-KEY-DELETION-UNGUARDED", &key, g);
        assert_eq!(o.status, Pass, "{}", o.message);
    }

    #[test]
    fn exceptions_pass_and_are_named_unknown_layers_are_not_assessed() {
        let key = used("2026-11-20T00:00:00Z");
        let except = Guard::Denied {
            by: "SCP p Sid Guard".into(),
            except: vec!["ArnNotLike aws:PrincipalArn [arn:aws:iam::*:role/BreakGlass]".into()],
        };
        let o = check_key_deletion_guarded(
            "KMS-KEY-DELETION-UNGUARDED",
            &key,
            guarded(except.clone(), except),
        );
        assert_eq!(o.status, Pass);
        assert!(o.message.contains("BreakGlass"), "{}", o.message);
        let unknown = Guard::Unknown("the organization's policies were not read".into());
        let o = check_key_deletion_guarded(
            "KMS-KEY-DELETION-UNGUARDED",
            &key,
            guarded(unknown, denied("key policy")),
        );
        assert_eq!(o.status, NotAssessed);
    }

    #[test]
    fn old_unread_and_disabled_keys_are_not_its_concern() {
        let old = used("2026-01-01T00:00:00Z");
        let g = guarded(Guard::Open(vec![]), Guard::Open(vec![]));
        assert_eq!(
            check_key_deletion_guarded("KMS-KEY-DELETION-UNGUARDED", &old, g.clone()).status,
            NotApplicable
        );
        let mut unread = test_key();
        unread.last_use = None;
        assert_eq!(
            check_key_deletion_guarded("KMS-KEY-DELETION-UNGUARDED", &unread, g.clone()).status,
            NotAssessed
        );
        let mut disabled = used("2026-11-20T00:00:00Z");
        disabled.metadata.as_mut().unwrap().key_state = "Disabled".into();
        assert_eq!(
            check_key_deletion_guarded("KMS-KEY-DELETION-UNGUARDED", &disabled, g).status,
            NotApplicable
        );
    }
}
