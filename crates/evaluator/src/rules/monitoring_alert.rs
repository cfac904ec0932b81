//! Rule: KMS-MONITORING-ALERT
//!
//! An account × region holding customer-managed keys where nothing would alert on
//! `DisableKey`, `ScheduleKeyDeletion` or `PutKeyPolicy`: neither a CloudWatch Logs metric filter
//! on the log group of a trail that logs the region, whose pattern means those events (parsed,
//! not compared as text), with an alarm on its metric that has an action (an SNS topic with a
//! confirmed subscription, or another action); nor an enabled EventBridge rule of the region
//! that matches them and has a target. Whether Security Hub's CloudWatch.7, which accepts one
//! exact filter text only, would pass is said beside the verdict. What was not read is
//! NOT_ASSESSED, with the reason.

use kmsaudit_model::{AccountRecord, Evidence, MetricFilter, RegionRecord, Severity};

use super::{Ctx, Outcome, RuleDef};
use crate::monitor::region_monitoring;
use crate::monitor::{filter_meaning, is_cloudwatch_7_text, rule_alerts, FilterMeaning};

pub(crate) const RULE: RuleDef = RuleDef {
    id: "KMS-MONITORING-ALERT",
    severity: Severity::Medium,
    title: "Nothing alerts when a key is disabled, scheduled for deletion or has its policy changed",
    rationale: "Disabling a key breaks everything that uses it, scheduling its deletion loses its data for good once the waiting period ends, and a changed key policy can hand the key to anyone: each must reach a person within the waiting period. An alert counts only if it would fire: a metric filter that looks right but matches nothing, an alarm without an action or a topic nobody confirmed does not.",
    remediation: "Add an EventBridge rule on the default bus matching source aws.kms, detail-type AWS API Call via CloudTrail and eventName DisableKey, ScheduleKeyDeletion and PutKeyPolicy, with an SNS target someone is subscribed to; or a metric filter on the trail's log group with the CIS pattern extended to PutKeyPolicy, an alarm on its metric, and an SNS topic with a confirmed subscription.",
};

/// What the search found.
#[derive(Default)]
struct Search {
    /// An alert that would fire, in words.
    found: Option<String>,
    /// Why the near misses do not count.
    notes: Vec<String>,
    /// What could not be read.
    unknown: Vec<String>,
    cloudwatch_7_text: bool,
}

pub(crate) fn check(
    account: &AccountRecord,
    region: &RegionRecord,
    ctx: &Ctx<'_>,
) -> Option<Outcome> {
    let rm = match region_monitoring(account, region) {
        Ok(rm) => rm,
        Err(why) => return why.map(Outcome::not_assessed),
    };
    let mut s = Search::default();
    // EventBridge rules of the region.
    match &rm.event_rules_error {
        Some(e) => s.unknown.push(format!("EventBridge rules not listed: {e}")),
        None => {
            for rule in &rm.event_rules {
                match (rule_alerts(rule), &rule.error) {
                    (Ok(true), _) => {
                        s.found.get_or_insert(format!("EventBridge rule {}", rule.name));
                    }
                    (Ok(false), Some(e)) => s.unknown.push(format!("targets of rule {}: {e}", rule.name)),
                    (Ok(false), None) => s.notes.push(format!(
                        "EventBridge rule {} does not match all three events, is not enabled or has no target",
                        rule.name
                    )),
                    (Err(e), _) => s.notes.push(format!("EventBridge rule {}: {e}", rule.name)),
                }
            }
        }
    }
    // Metric filters on the log groups of the trails that log the region.
    let covering = ctx.monitor.covering(account, rm);
    s.unknown.extend(covering.unknown);
    for t in covering.trails.iter().filter(|t| t.logging != Some(false)) {
        let Some(group_arn) = &t.log_group_arn else {
            continue;
        };
        let Some(group) = ctx.monitor.log_group(group_arn) else {
            s.unknown
                .push(format!("the metric filters of {group_arn} were not read"));
            continue;
        };
        if let Some(e) = &group.error {
            s.unknown
                .push(format!("the metric filters of {group_arn}: {e}"));
        }
        let owner = kmsaudit_model::arn_account(group_arn).unwrap_or(&account.id);
        for f in &group.filters {
            s.cloudwatch_7_text |= is_cloudwatch_7_text(&f.pattern);
            match filter_meaning(f) {
                FilterMeaning::All => alarmed(f, owner, &group.region, ctx, &mut s),
                FilterMeaning::Some(only) if only.is_empty() => s.notes.push(format!(
                    "metric filter {} matches none of the three events",
                    f.name
                )),
                FilterMeaning::Some(only) => s.notes.push(format!(
                    "metric filter {} matches {} only",
                    f.name,
                    only.join(" and ")
                )),
                FilterMeaning::NotUnderstood(e) => {
                    s.notes.push(format!("metric filter {}: {e}", f.name))
                }
            }
        }
    }
    let cw7 = if s.cloudwatch_7_text {
        "present: CloudWatch.7 would pass on the text"
    } else {
        "absent: CloudWatch.7 would fail"
    };
    let ev = Evidence::default()
        .detail("account", account.id.clone())
        .detail("cloudwatch_7_exact_filter", cw7);
    if let Some(found) = s.found {
        return Some(Outcome::pass(format!(
            "{found} alerts on DisableKey, ScheduleKeyDeletion and PutKeyPolicy (CloudWatch.7's exact filter text: {cw7})"
        )));
    }
    if !s.unknown.is_empty() {
        return Some(Outcome::not_assessed(s.unknown.join("; ")).with_evidence(ev));
    }
    let why = if s.notes.is_empty() {
        "no metric filter on a trail's log group and no EventBridge rule is about these events"
            .to_string()
    } else {
        s.notes.join("; ")
    };
    Some(Outcome::fail(
        format!(
            "Nothing in {} of account {} alerts on DisableKey, ScheduleKeyDeletion and PutKeyPolicy: {why}",
            region.region, account.id
        ),
        ev.detail("checked", why.clone()),
    ))
}

/// Whether an alarm with an action watches one of the filter's metrics.
fn alarmed(f: &MetricFilter, account: &str, region: &str, ctx: &Ctx<'_>, s: &mut Search) {
    let Some(alarms) = ctx.monitor.alarms(account, region) else {
        s.unknown
            .push(format!("the alarms of {account} in {region} were not read"));
        return;
    };
    if let Some(e) = &alarms.error {
        s.unknown
            .push(format!("the alarms of {account} in {region}: {e}"));
    }
    let watching: Vec<_> = alarms
        .alarms
        .iter()
        .filter(|a| f.metrics.contains(&a.metric))
        .collect();
    if watching.is_empty() {
        s.notes
            .push(format!("no alarm watches the metric of filter {}", f.name));
    }
    for a in watching {
        if !a.actions_enabled || a.alarm_actions.is_empty() {
            s.notes.push(format!("alarm {} has no action", a.name));
            continue;
        }
        for action in &a.alarm_actions {
            if !action.contains(":sns:") {
                s.found.get_or_insert(format!(
                    "filter {} with alarm {} ({action})",
                    f.name, a.name
                ));
                continue;
            }
            match ctx.monitor.topic(action) {
                None => s
                    .unknown
                    .push(format!("the subscriptions of {action} were not read")),
                Some(t) if t.confirmed_subscriptions > 0 => {
                    s.found.get_or_insert(format!(
                        "filter {} with alarm {} notifying {action}",
                        f.name, a.name
                    ));
                }
                Some(t) => match &t.error {
                    Some(e) => s
                        .unknown
                        .push(format!("the subscriptions of {action}: {e}")),
                    None => s.notes.push(format!(
                        "alarm {} notifies {action}, which has no confirmed subscription",
                        a.name
                    )),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Outcome;
    use kmsaudit_model::Status::*;
    use kmsaudit_model::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:111111111111:key-alerts";
    const EXTENDED: &str = "{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion) || ($.eventName = PutKeyPolicy)) }";

    fn metric() -> MetricName {
        MetricName {
            namespace: "CISBenchmark".into(),
            name: "KmsKeyChanges".into(),
        }
    }

    /// The management account's monitoring: the organization trail, a filter with `pattern`
    /// on its log group, an alarm on its metric notifying a topic with `confirmed`
    /// subscriptions.
    fn management(pattern: &str, confirmed: u32) -> MonitoringRecord {
        let trail = org_trail();
        let mut m = monitoring_of(vec![trail.clone()]);
        m.log_groups = vec![LogGroupFilters {
            log_group_arn: trail.log_group_arn.clone().unwrap(),
            region: "us-east-1".into(),
            filters: vec![MetricFilter {
                name: "kms-changes".into(),
                pattern: pattern.into(),
                metrics: vec![metric()],
            }],
            error: None,
        }];
        m.alarms = vec![RegionAlarms {
            region: "us-east-1".into(),
            alarms: vec![Alarm {
                name: "kms-changes".into(),
                metric: metric(),
                actions_enabled: true,
                alarm_actions: vec![TOPIC.into()],
            }],
            error: None,
        }];
        m.topics = vec![Topic {
            arn: TOPIC.into(),
            confirmed_subscriptions: confirmed,
            error: None,
        }];
        m
    }

    fn member(management: MonitoringRecord, member: MonitoringRecord) -> Outcome {
        let s = monitored_org(Some(management), Some(member));
        check_monitored("KMS-MONITORING-ALERT", &s, MONITOR_MEMBER).unwrap()
    }

    #[test]
    fn a_filter_that_means_the_events_with_an_alarm_and_a_subscriber_passes() {
        let o = member(management(EXTENDED, 1), monitoring_of(vec![]));
        assert_eq!(o.status, Pass, "{}", o.message);
        assert!(
            o.message.contains("CloudWatch.7 would fail"),
            "{}",
            o.message
        );
    }

    #[test]
    fn look_alikes_the_cis_text_alone_and_unconfirmed_topics_fail() {
        let lookalike = EXTENDED.replace("||", "&&");
        let o = member(management(&lookalike, 1), monitoring_of(vec![]));
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("matches none"), "{}", o.message);
        let o = member(
            management(crate::monitor::CLOUDWATCH_7, 1),
            monitoring_of(vec![]),
        );
        assert_eq!(o.status, Fail);
        assert!(
            o.message
                .contains("DisableKey and ScheduleKeyDeletion only"),
            "{}",
            o.message
        );
        assert_eq!(
            o.evidence.details.get("cloudwatch_7_exact_filter"),
            Some("present: CloudWatch.7 would pass on the text")
        );
        let o = member(management(EXTENDED, 0), monitoring_of(vec![]));
        assert_eq!(o.status, Fail);
        assert!(
            o.message.contains("no confirmed subscription"),
            "{}",
            o.message
        );
    }

    #[test]
    fn an_eventbridge_rule_in_the_region_is_an_alert() {
        let mut m = monitoring_of(vec![]);
        m.regions[0].event_rules = vec![EventRule {
            name: "kms-destroy".into(),
            state: "ENABLED".into(),
            event_pattern: Some(r#"{"source":["aws.kms"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["kms.amazonaws.com"],"eventName":["DisableKey","ScheduleKeyDeletion","PutKeyPolicy"]}}"#.into()),
            targets: 1,
            error: None,
        }];
        // The organization trail delivers to no log group: EventBridge is the only way.
        let mut trail = org_trail();
        trail.log_group_arn = None;
        let o = member(monitoring_of(vec![trail.clone()]), m.clone());
        assert_eq!(o.status, Pass, "{}", o.message);
        m.regions[0].event_rules[0].targets = 0;
        let o = member(monitoring_of(vec![trail]), m);
        assert_eq!(o.status, Fail);
        assert!(o.message.contains("no target"), "{}", o.message);
    }

    #[test]
    fn what_was_not_read_is_not_assessed() {
        let mut m = monitoring_of(vec![]);
        m.regions[0].event_rules_error = Some(Issue::new(
            "EventBridge.ListRules",
            "AccessDeniedException",
            "no",
        ));
        assert_eq!(
            member(monitoring_of(vec![org_trail()]), m).status,
            NotAssessed
        );
        let mut unread = management(EXTENDED, 1);
        unread.alarms.clear();
        assert_eq!(member(unread, monitoring_of(vec![])).status, NotAssessed);
    }
}
