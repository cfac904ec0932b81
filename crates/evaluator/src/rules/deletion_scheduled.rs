//! Rule: KMS-DELETION-SCHEDULED
//!
//! The key is PendingDeletion or PendingReplicaDeletion: once the waiting period ends, data
//! encrypted under it is unrecoverable. The finding carries the deletion date.

use kmsaudit_model::{Evidence, Severity};

use super::{Ctx, KeyInput, Outcome, RuleDef};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-DELETION-SCHEDULED",
    severity: Severity::High,
    title: "Key is scheduled for deletion",
    rationale: "Deleting a KMS key is irreversible: every ciphertext under it becomes unrecoverable. Scheduled deletions must be intended.",
    remediation: "If the deletion is not intended: aws kms cancel-key-deletion --key-id <key>, then re-enable the key.",
};

pub(crate) fn check(input: &KeyInput<'_>, _ctx: &Ctx<'_>) -> Outcome {
    let m = input.meta;
    if m.key_state == "PendingDeletion" || m.key_state == "PendingReplicaDeletion" {
        let date = m
            .deletion_date
            .map(|d| d.to_string())
            .unwrap_or_else(|| "an unknown date".into());
        let mut ev = Evidence::default()
            .detail("key_state", m.key_state.clone())
            .detail("deletion_date", date.clone());
        if let Some(days) = m.pending_deletion_window_in_days {
            ev = ev.detail("pending_window_days", days.to_string());
        }
        Outcome::fail(
            format!("The key is {} and will be deleted on {date}", m.key_state),
            ev,
        )
    } else {
        Outcome::pass(format!("The key is {}", m.key_state))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;

    #[test]
    fn pending_deletion_fails() {
        let mut k = test_key();
        assert_eq!(check_key("KMS-DELETION-SCHEDULED", &k), Pass);
        k.metadata.as_mut().unwrap().key_state = "PendingDeletion".into();
        k.metadata.as_mut().unwrap().deletion_date = Some("2026-12-01T00:00:00Z".parse().unwrap());
        let o = check_key_with("KMS-DELETION-SCHEDULED", &k, None, &Default::default());
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("2026-12-01"));
    }
}
