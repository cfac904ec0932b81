//! Monitoring coverage per account × region holding keys: which trails log the region (its own,
//! and the organization's trails as read from the account that owns them), and which alerts would
//! fire on `DisableKey`, `ScheduleKeyDeletion` and `PutKeyPolicy` there: a metric filter on a
//! trail's log group whose pattern means those events ([`filter_pattern`]), an alarm on its
//! metric with an action, an SNS topic with a confirmed subscription; or an EventBridge rule that
//! matches them ([`event_pattern`]) with a target.

pub(crate) mod event_pattern;
pub(crate) mod filter_pattern;
mod filter_terms;
pub(crate) mod selectors;

use kmsaudit_model::{
    AccountRecord, EventRule, KeyRecord, LogGroupFilters, MetricFilter, RegionAlarms,
    RegionMonitoring, RegionRecord, Snapshot, Topic, Trail,
};
use rustc_hash::FxHashMap;
use serde_json::Value;

pub(crate) use selectors::WATCHED;

/// CloudWatch.7's metric filter, as Security Hub requires it (spaces aside).
pub(crate) const CLOUDWATCH_7: &str = "{($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion))}";

/// Everything the monitoring rules look up across accounts, built once per evaluation.
#[derive(Default)]
pub(crate) struct MonitorIndex<'s> {
    /// Trails by ARN, as read by the account that owns them where it was read.
    trails: FxHashMap<&'s str, &'s Trail>,
    /// Organization trails, with the account that owns them.
    org_trails: Vec<(&'s str, &'s Trail)>,
    /// The management account, when its monitoring was not read (organization trails are then
    /// unknown).
    management_unread: Option<&'s str>,
    members: rustc_hash::FxHashSet<&'s str>,
    log_groups: FxHashMap<&'s str, &'s LogGroupFilters>,
    alarms: FxHashMap<(&'s str, &'s str), &'s RegionAlarms>,
    topics: FxHashMap<&'s str, &'s Topic>,
    /// Keys by ARN and by `account/region/key-id`, for a trail's key.
    keys: FxHashMap<String, &'s KeyRecord>,
}

/// The monitoring read of an account × region holding customer-managed keys (or keys not
/// described). `Err(None)`: it holds none, so no verdict; `Err(Some(why))`: not read.
pub(crate) fn region_monitoring<'a>(
    account: &'a AccountRecord,
    region: &RegionRecord,
) -> Result<&'a RegionMonitoring, Option<&'static str>> {
    let holds_keys = (region.keys.iter()).any(|k| k.metadata.is_none() || k.is_customer_managed());
    if !holds_keys {
        return Err(None);
    }
    let monitoring =
        (account.monitoring.as_ref()).ok_or(Some("the account's monitoring was not read"))?;
    (monitoring.regions.iter())
        .find(|r| r.region == region.region)
        .ok_or(Some("the region's monitoring was not read"))
}

/// The trails that log one account × region.
pub(crate) struct Covering<'s> {
    pub trails: Vec<&'s Trail>,
    /// Why the list may be short: the region's own trails, or the organization's, not read.
    pub unknown: Option<String>,
}

impl<'s> MonitorIndex<'s> {
    pub fn build(snapshot: &'s Snapshot) -> MonitorIndex<'s> {
        let mut ix = MonitorIndex::default();
        let management = snapshot
            .organization
            .as_ref()
            .map(|o| o.management_account_id.as_str())
            .filter(|m| !m.is_empty());
        for account in &snapshot.accounts {
            if snapshot.organization.is_some() && account.org_status.is_some() {
                ix.members.insert(&account.id);
            }
            for r in &account.regions {
                for k in &r.keys {
                    ix.keys.insert(k.arn.clone(), k);
                    ix.keys
                        .insert(format!("{}/{}/{}", account.id, r.region, k.key_id), k);
                }
            }
            let Some(m) = &account.monitoring else {
                if Some(account.id.as_str()) == management {
                    ix.management_unread = management;
                }
                continue;
            };
            for t in &m.trails {
                let owner = kmsaudit_model::arn_account(&t.arn) == Some(account.id.as_str());
                if owner || !ix.trails.contains_key(t.arn.as_str()) {
                    ix.trails.insert(&t.arn, t);
                }
                if owner && t.organization_trail {
                    ix.org_trails.push((&account.id, t));
                }
            }
            for g in &m.log_groups {
                ix.log_groups.insert(&g.log_group_arn, g);
            }
            for a in &m.alarms {
                ix.alarms.insert((&account.id, &a.region), a);
            }
            for t in &m.topics {
                ix.topics.insert(&t.arn, t);
            }
        }
        if management.is_some_and(|m| !snapshot.accounts.iter().any(|a| a.id == m)) {
            ix.management_unread = management;
        }
        ix
    }

    /// The trails that log `region` of `account`.
    pub fn covering(&self, account: &AccountRecord, region: &'s RegionMonitoring) -> Covering<'s> {
        let mut trails: Vec<&Trail> = region
            .trails
            .iter()
            .filter_map(|arn| self.trails.get(arn.as_str()).copied())
            .collect();
        let mut unknown = region.trails_error.as_ref().map(|i| {
            format!(
                "the trails of {} in {} were not listed: {i}",
                account.id, region.region
            )
        });
        if self.members.contains(account.id.as_str()) {
            for (_, t) in &self.org_trails {
                let covers = t.multi_region || t.home_region == region.region;
                if covers && !trails.iter().any(|o| o.arn == t.arn) {
                    trails.push(t);
                }
            }
            if let Some(m) = self.management_unread.filter(|m| *m != account.id) {
                unknown.get_or_insert_with(|| {
                    format!("the organization's trails were not read (the monitoring of management account {m} was not read)")
                });
            }
        }
        trails.sort_by(|a, b| a.arn.cmp(&b.arn));
        Covering { trails, unknown }
    }

    /// The key a trail encrypts its logs with, when the scan read it.
    pub fn trail_key(&self, trail: &Trail) -> Option<&'s KeyRecord> {
        let id = trail.kms_key_id.as_deref()?;
        if let Some(k) = self.keys.get(id) {
            return Some(k);
        }
        // A bare key id: in the trail's own account and home region.
        let account = kmsaudit_model::arn_account(&trail.arn)?;
        let key_id = id.rsplit('/').next().unwrap_or(id);
        self.keys
            .get(&format!("{account}/{}/{key_id}", trail.home_region))
            .copied()
    }

    pub fn log_group(&self, arn: &str) -> Option<&'s LogGroupFilters> {
        // The trail names the group's ARN with or without the trailing `:*`.
        self.log_groups
            .get(arn)
            .or_else(|| self.log_groups.get(arn.trim_end_matches(":*")))
            .or_else(|| self.log_groups.get(format!("{arn}:*").as_str()))
            .copied()
    }

    pub fn alarms(&self, account: &str, region: &str) -> Option<&'s RegionAlarms> {
        self.alarms.get(&(account, region)).copied()
    }

    pub fn topic(&self, arn: &str) -> Option<&'s Topic> {
        self.topics.get(arn).copied()
    }
}

/// CloudTrail records of the watched events, by two kinds of caller: what a filter must match.
fn watched_records() -> Vec<(&'static str, Value)> {
    let mut out = vec![];
    for name in WATCHED {
        for identity in ["IAMUser", "AssumedRole"] {
            out.push((
                name,
                serde_json::json!({
                    "eventVersion": "1.09",
                    "userIdentity": {"type": identity, "accountId": "111122223333"},
                    "eventTime": "2026-01-01T00:00:00Z",
                    "eventSource": "kms.amazonaws.com",
                    "eventName": name,
                    "awsRegion": "us-east-1",
                    "sourceIPAddress": "203.0.113.10",
                    "requestParameters": {"keyId": "arn:aws:kms:us-east-1:111122223333:key/k"},
                    "responseElements": null,
                    "readOnly": false,
                    "eventType": "AwsApiCall",
                    "managementEvent": true,
                    "recipientAccountId": "111122223333",
                    "eventCategory": "Management",
                }),
            ));
        }
    }
    out
}

/// What a metric filter means for the watched events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterMeaning {
    /// Matches each of them.
    All,
    /// Matches these only (maybe none).
    Some(Vec<&'static str>),
    /// Its pattern is not understood.
    NotUnderstood(String),
}

pub(crate) fn filter_meaning(filter: &MetricFilter) -> FilterMeaning {
    let pattern = match filter_pattern::parse(&filter.pattern) {
        Ok(p) => p,
        Err(e) => return FilterMeaning::NotUnderstood(e),
    };
    let records = watched_records();
    let matched: Vec<&'static str> = WATCHED
        .into_iter()
        .filter(|name| {
            records
                .iter()
                .filter(|(n, _)| n == name)
                .all(|(_, r)| filter_pattern::matches(&pattern, r, &r.to_string()))
        })
        .collect();
    if matched.len() == WATCHED.len() {
        FilterMeaning::All
    } else {
        FilterMeaning::Some(matched)
    }
}

/// Whether the text is CloudWatch.7's, spaces aside.
pub(crate) fn is_cloudwatch_7_text(pattern: &str) -> bool {
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    squeeze(pattern) == squeeze(CLOUDWATCH_7)
}

/// Whether an enabled EventBridge rule matches each watched event (as CloudTrail delivers it)
/// and has a target; `Err` when its pattern is not understood.
pub(crate) fn rule_alerts(rule: &EventRule) -> Result<bool, String> {
    let Some(text) = &rule.event_pattern else {
        return Ok(false);
    };
    let pattern = event_pattern::parse(text)?;
    let all = watched_records().into_iter().all(|(_, detail)| {
        let event = serde_json::json!({
            "version": "0",
            "source": "aws.kms",
            "detail-type": "AWS API Call via CloudTrail",
            "account": "111122223333",
            "region": "us-east-1",
            "detail": detail,
        });
        event_pattern::matches(&pattern, &event)
    });
    Ok(all && rule.state == "ENABLED" && rule.targets > 0)
}
