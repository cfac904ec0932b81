//! Rule: KMS-MONITORING-TRAIL
//!
//! An account × region holding customer-managed keys where no CloudTrail trail that logs it (its
//! own, or the organization's as read from the account that owns it) is logging, multi-Region,
//! records KMS management events read and write (not left out by `ExcludeManagementEventSources`
//! or advanced selectors), validates its log files and encrypts them with a KMS key that is
//! itself healthy: enabled, rotated, its policy not open to anyone. What was not read is
//! NOT_ASSESSED, with the reason.

use kmsaudit_model::{AccountRecord, Evidence, RegionRecord, Severity, Trail};

use super::{allows_anyone, Ctx, Outcome, PolicyState, RuleDef};
use crate::monitor::region_monitoring;
use crate::monitor::selectors::kms_logging;

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-MONITORING-TRAIL",
    severity: Severity::Medium,
    title: "No healthy CloudTrail trail records KMS events in a region with keys",
    rationale: "CloudTrail is the only record of who used, disabled, scheduled the deletion of or changed the policy of a key. A trail that is stopped, single-Region, leaves KMS events out, skips log file validation or stores its logs unencrypted (or under a key that is itself disabled, unrotated or public) leaves that record missing or untrustworthy.",
    remediation: "Use one organization trail (or a trail per account) that is multi-Region and logging, records all management events (ReadWriteType All, kms.amazonaws.com not in ExcludeManagementEventSources), has log file validation on and is encrypted with a customer-managed KMS key whose policy lets only CloudTrail and the log readers use it.",
};

pub(crate) fn check(
    account: &AccountRecord,
    region: &RegionRecord,
    ctx: &Ctx<'_>,
) -> Option<Outcome> {
    let rm = match region_monitoring(account, region) {
        Ok(rm) => rm,
        Err(why) => return why.map(Outcome::not_assessed),
    };
    let covering = ctx.monitor.covering(account, rm);
    let mut judged: Vec<(&Trail, Vec<String>, Vec<String>)> = vec![];
    for t in &covering.trails {
        let (problems, unknowns) = problems(t, ctx);
        if problems.is_empty() && unknowns.is_empty() {
            return Some(Outcome::pass(format!(
                "Trail {} logs this region: logging, multi-Region, KMS events read and write, log file validation, logs encrypted with a healthy KMS key",
                t.arn
            )));
        }
        judged.push((t, problems, unknowns));
    }
    let unknown: Vec<String> = covering
        .unknown
        .into_iter()
        .chain(
            judged
                .iter()
                .filter(|(_, p, _)| p.is_empty())
                .flat_map(|(t, _, u)| u.iter().map(move |u| format!("{}: {u}", t.name))),
        )
        .collect();
    if !unknown.is_empty() {
        return Some(Outcome::not_assessed(unknown.join("; ")));
    }
    let mut ev = Evidence::default().detail("account", account.id.clone());
    if judged.is_empty() {
        return Some(Outcome::fail(
            format!(
                "No CloudTrail trail logs {} of account {}",
                region.region, account.id
            ),
            ev,
        ));
    }
    for (t, p, _) in &judged {
        ev = ev.detail(&format!("trail {}", t.arn), p.join("; "));
    }
    let (best, p, _) = judged
        .iter()
        .min_by_key(|(_, p, _)| p.len())
        .expect("judged is not empty");
    Some(Outcome::fail(
        format!(
            "No trail that logs {} of account {} is fit to record KMS events; the closest, {}: {}",
            region.region,
            account.id,
            best.name,
            p.join("; ")
        ),
        ev,
    ))
}

/// What is wrong with a trail, and what could not be read of it.
fn problems(t: &Trail, ctx: &Ctx<'_>) -> (Vec<String>, Vec<String>) {
    let (mut p, mut u) = (vec![], vec![]);
    let unread = |what: &str| match &t.error {
        Some(e) => format!("its {what} was not read: {e}"),
        None => format!("its {what} was not read"),
    };
    match t.logging {
        Some(true) => {}
        Some(false) => p.push("it is not logging".to_string()),
        None => u.push(unread("status")),
    }
    if !t.multi_region {
        p.push("it logs its home region only".into());
    }
    match &t.selectors {
        Some(s) => {
            let logs = kms_logging(s);
            if !logs.writes {
                p.push("its event selectors leave out KMS management events (DisableKey, ScheduleKeyDeletion, PutKeyPolicy)".into());
            } else if !logs.reads {
                p.push(
                    "it does not record read management events (ReadWriteType is not All)".into(),
                );
            }
        }
        None => u.push(unread("event selectors")),
    }
    if !t.log_file_validation {
        p.push("log file validation is off".into());
    }
    match (&t.kms_key_id, ctx.monitor.trail_key(t)) {
        (None, _) => p.push("its logs are not encrypted with a KMS key".into()),
        (Some(id), None) => u.push(format!("its KMS key {id} was not among the keys read")),
        (Some(id), Some(key)) => {
            match key.metadata.as_ref().map(|m| m.key_state.as_str()) {
                Some("Enabled") => {}
                Some(state) => p.push(format!("its KMS key {id} is {state}")),
                None => u.push(format!("its KMS key {id} was not described")),
            }
            match (&key.rotation, key.error_for("KMS.GetKeyRotationStatus")) {
                (Some(r), _) if !r.enabled => p.push(format!("its KMS key {id} is not rotated")),
                (None, Some(e)) => u.push(format!("the rotation of its KMS key {id}: {e}")),
                _ => {}
            }
            match crate::policy_cache::policy_state(key, ctx) {
                PolicyState::Analyzed(a) if allows_anyone(&a) => {
                    p.push(format!("its KMS key {id} has a policy that allows anyone"))
                }
                PolicyState::Analyzed(_) => {}
                PolicyState::Unread(why) => {
                    u.push(format!("the policy of its KMS key {id}: {why}"))
                }
                PolicyState::Unparseable(e) => u.push(format!(
                    "the policy of its KMS key {id} is not understood: {e}"
                )),
            }
        }
    }
    (p, u)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use kmsaudit_model::Status::*;
    use kmsaudit_model::*;

    fn member_verdict(
        management: Option<MonitoringRecord>,
        member: Option<MonitoringRecord>,
    ) -> Outcome {
        let s = monitored_org(management, member);
        check_monitored("KMS-MONITORING-TRAIL", &s, MONITOR_MEMBER).expect("a region with keys")
    }

    use super::super::Outcome;

    #[test]
    fn the_organization_trail_read_in_the_management_account_covers_members() {
        let o = member_verdict(
            Some(monitoring_of(vec![org_trail()])),
            Some(monitoring_of(vec![])),
        );
        assert_eq!(o.status, Pass, "{}", o.message);
        assert!(o.message.contains("trail/org"));
    }

    #[test]
    fn a_trail_that_excludes_kms_events_or_stops_fails_with_the_reason() {
        let mut t = org_trail();
        t.selectors = Some(TrailSelectors::Basic {
            selectors: vec![BasicSelector {
                read_write_type: "All".into(),
                include_management_events: true,
                exclude_management_event_sources: vec!["kms.amazonaws.com".into()],
            }],
        });
        let o = member_verdict(Some(monitoring_of(vec![t])), Some(monitoring_of(vec![])));
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("leave out KMS"), "{}", o.message);
        let mut stopped = org_trail();
        stopped.logging = Some(false);
        stopped.log_file_validation = false;
        let o = member_verdict(
            Some(monitoring_of(vec![stopped])),
            Some(monitoring_of(vec![])),
        );
        assert_eq!(o.status, Fail);
        assert!(
            o.message.contains("not logging") && o.message.contains("validation"),
            "{}",
            o.message
        );
    }

    #[test]
    fn the_trail_key_must_be_healthy() {
        let mut s = monitored_org(
            Some(monitoring_of(vec![org_trail()])),
            Some(monitoring_of(vec![])),
        );
        let key = &mut s.accounts[0].regions[0].keys[0];
        key.metadata.as_mut().unwrap().key_state = "PendingDeletion".into();
        key.rotation.as_mut().unwrap().enabled = false;
        let o = check_monitored("KMS-MONITORING-TRAIL", &s, MONITOR_MEMBER).unwrap();
        assert_eq!(o.status, Fail);
        assert!(
            o.message.contains("PendingDeletion") && o.message.contains("not rotated"),
            "{}",
            o.message
        );
        let mut public = monitored_org(
            Some(monitoring_of(vec![org_trail()])),
            Some(monitoring_of(vec![])),
        );
        public.accounts[0].regions[0].keys[0].policy = Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#.into(),
        );
        let o = check_monitored("KMS-MONITORING-TRAIL", &public, MONITOR_MEMBER).unwrap();
        assert!(o.message.contains("allows anyone"), "{}", o.message);
    }

    #[test]
    fn no_trail_fails_and_what_was_not_read_is_not_assessed() {
        let o = member_verdict(Some(monitoring_of(vec![])), Some(monitoring_of(vec![])));
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("No CloudTrail trail"), "{}", o.message);
        // The management account's monitoring unread: the organization trail is unknown.
        assert_eq!(
            member_verdict(None, Some(monitoring_of(vec![]))).status,
            NotAssessed
        );
        let mut unlisted = monitoring_of(vec![]);
        unlisted.regions[0].trails_error = Some(Issue::new(
            "CloudTrail.DescribeTrails",
            "AccessDeniedException",
            "no",
        ));
        assert_eq!(
            member_verdict(Some(monitoring_of(vec![])), Some(unlisted)).status,
            NotAssessed
        );
        assert_eq!(
            member_verdict(Some(monitoring_of(vec![])), None).status,
            NotAssessed
        );
        // The member's own good trail is enough whatever the organization's.
        let mut own = org_trail();
        own.arn = format!("arn:aws:cloudtrail:us-east-1:{MONITOR_MEMBER}:trail/own");
        own.organization_trail = false;
        assert_eq!(
            member_verdict(None, Some(monitoring_of(vec![own]))).status,
            Pass
        );
    }
}
