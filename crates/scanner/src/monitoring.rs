//! Monitoring of one account, read once its regions are: in each region holding keys (every
//! scanned region of the management account, whose organization trails log every member)
//! the trails that log it (CloudTrail DescribeTrails with shadow trails) and the default event
//! bus's rules (EventBridge ListRules, ListTargetsByRule); then, once per trail the account owns,
//! its status and selectors (GetTrailStatus, GetEventSelectors, in its home region), the metric
//! filters of its log group (CloudWatch Logs DescribeMetricFilters), the alarms on their metrics
//! (CloudWatch DescribeAlarms) and the confirmed subscriptions of the SNS topics those alarms
//! notify (ListSubscriptionsByTopic). Each failure is kept beside what it hides.

use std::collections::{BTreeMap, BTreeSet};

use aws_config::{Region, SdkConfig};
use futures::future::join_all;
use kmsaudit_model::{
    AdvancedSelector, Alarm, BasicSelector, EventRule, FieldSelector, LogGroupFilters,
    MetricFilter, MetricName, MonitoringRecord, RegionAccess, RegionAlarms, RegionMonitoring,
    RegionRecord, Topic, Trail, TrailSelectors,
};

use crate::classify::issue;
use crate::Scanner;

macro_rules! client {
    ($sdk:ident, $scanner:expr, $config:expr, $account:expr, $region:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .region(Region::new($region.to_string()))
                .retry_partition($sdk::config::retry::RetryPartition::new(format!(
                    "{}-{}-{}",
                    stringify!($sdk),
                    $account,
                    $region
                )))
                .interceptor($scanner.counter.clone())
                .build(),
        )
    };
}

impl Scanner {
    /// What is read of an account once its regions are: its monitoring.
    pub(crate) async fn read_after_regions(
        &self,
        config: &SdkConfig,
        record: &mut kmsaudit_model::AccountRecord,
    ) {
        if self.plan.monitoring {
            let id = record.id.clone();
            record.monitoring = Some(self.read_monitoring(config, &id, &record.regions).await);
        }
    }

    /// The account's monitoring, from the regions already read.
    pub(crate) async fn read_monitoring(
        &self,
        config: &SdkConfig,
        account_id: &str,
        regions: &[RegionRecord],
    ) -> MonitoringRecord {
        let management = self.management.get().and_then(|m| m.as_deref()) == Some(account_id);
        let to_read: Vec<&str> = regions
            .iter()
            .filter(|r| matches!(r.access, RegionAccess::Scanned))
            .filter(|r| management || !r.keys.is_empty())
            .map(|r| r.region.as_str())
            .collect();
        let read = join_all(
            to_read
                .iter()
                .map(|region| self.region_monitoring(config, account_id, region)),
        )
        .await;
        let mut record = MonitoringRecord::default();
        let mut trails: BTreeMap<String, Trail> = BTreeMap::new();
        for (region, listed) in read {
            for t in listed {
                trails.entry(t.arn.clone()).or_insert(t);
            }
            record.regions.push(region);
        }
        record.regions.sort_by(|a, b| a.region.cmp(&b.region));
        // What the account's own trails say of themselves, in their home regions.
        let owned = trails
            .values_mut()
            .filter(|t| kmsaudit_model::arn_account(&t.arn) == Some(account_id));
        join_all(owned.map(|t| self.trail_details(config, account_id, t))).await;
        record.log_groups = join_all(
            trails
                .values()
                .filter(|t| kmsaudit_model::arn_account(&t.arn) == Some(account_id))
                .filter_map(|t| t.log_group_arn.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|arn| self.log_group_filters(config, account_id, arn)),
        )
        .await;
        record.trails = trails.into_values().collect();
        // Alarms where filters publish metrics, and the topics they notify.
        let mut metrics: BTreeMap<&str, BTreeSet<&MetricName>> = BTreeMap::new();
        for g in &record.log_groups {
            metrics
                .entry(&g.region)
                .or_default()
                .extend(g.filters.iter().flat_map(|f| &f.metrics));
        }
        let alarms = join_all(
            metrics
                .into_iter()
                .map(|(region, m)| self.region_alarms(config, account_id, region, m)),
        )
        .await;
        let topics: BTreeSet<String> = alarms
            .iter()
            .flat_map(|r| &r.alarms)
            .flat_map(|a| &a.alarm_actions)
            .filter(|a| a.contains(":sns:"))
            .cloned()
            .collect();
        record.alarms = alarms;
        record.topics = join_all(
            topics
                .into_iter()
                .map(|t| self.topic(config, account_id, t)),
        )
        .await;
        record
    }

    /// One region: the trails that log it, and the event bus's rules.
    async fn region_monitoring(
        &self,
        config: &SdkConfig,
        account_id: &str,
        region: &str,
    ) -> (RegionMonitoring, Vec<Trail>) {
        let ct = client!(aws_sdk_cloudtrail, self, config, account_id, region);
        let events = client!(aws_sdk_eventbridge, self, config, account_id, region);
        let mut out = RegionMonitoring {
            region: region.to_string(),
            ..Default::default()
        };
        let (trails, rules) = tokio::join!(
            ct.describe_trails().include_shadow_trails(true).send(),
            self.event_rules(&events)
        );
        let mut listed = vec![];
        match trails {
            Ok(o) => {
                for t in o.trail_list() {
                    let trail = crate::convert::trail(t, region);
                    out.trails.push(trail.arn.clone());
                    listed.push(trail);
                }
                out.trails.sort();
            }
            Err(e) => out.trails_error = Some(issue("CloudTrail.DescribeTrails", &e)),
        }
        match rules {
            Ok(rules) => out.event_rules = rules,
            Err(i) => out.event_rules_error = Some(i),
        }
        (out, listed)
    }

    /// The default bus's rules with an event pattern; targets are counted for those that can
    /// match KMS events (a pattern that names KMS, names no source, or filters by content).
    async fn event_rules(
        &self,
        client: &aws_sdk_eventbridge::Client,
    ) -> Result<Vec<EventRule>, kmsaudit_model::Issue> {
        let mut rules = vec![];
        let mut token = None;
        loop {
            let page = client
                .list_rules()
                .set_next_token(token)
                .limit(100)
                .send()
                .await
                .map_err(|e| issue("EventBridge.ListRules", &e))?;
            for r in page.rules() {
                let Some(pattern) = r.event_pattern() else {
                    continue;
                };
                rules.push(EventRule {
                    name: r.name().unwrap_or_default().to_string(),
                    state: r
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    event_pattern: Some(pattern.to_string()),
                    targets: 0,
                    error: None,
                });
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        for rule in rules.iter_mut().filter(|r| may_match_kms(r)) {
            match self.count_targets(client, &rule.name).await {
                Ok(n) => rule.targets = n,
                Err(i) => rule.error = Some(i),
            }
        }
        Ok(rules)
    }

    async fn count_targets(
        &self,
        client: &aws_sdk_eventbridge::Client,
        rule: &str,
    ) -> Result<u32, kmsaudit_model::Issue> {
        let (mut n, mut token) = (0, None);
        loop {
            let page = client
                .list_targets_by_rule()
                .rule(rule)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| issue("EventBridge.ListTargetsByRule", &e))?;
            n += page.targets().len() as u32;
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(n);
            }
        }
    }

    /// Status and selectors of a trail the account owns, from its home region.
    async fn trail_details(&self, config: &SdkConfig, account_id: &str, t: &mut Trail) {
        let ct = client!(aws_sdk_cloudtrail, self, config, account_id, &t.home_region);
        let (status, selectors) = tokio::join!(
            ct.get_trail_status().name(&t.arn).send(),
            ct.get_event_selectors().trail_name(&t.arn).send()
        );
        match status {
            Ok(s) => t.logging = Some(s.is_logging().unwrap_or(false)),
            Err(e) => t.error = Some(issue("CloudTrail.GetTrailStatus", &e)),
        }
        match selectors {
            Ok(s) if !s.advanced_event_selectors().is_empty() => {
                t.selectors = Some(TrailSelectors::Advanced {
                    selectors: s
                        .advanced_event_selectors()
                        .iter()
                        .map(|a| AdvancedSelector {
                            name: a.name().map(str::to_string),
                            fields: a.field_selectors().iter().map(field).collect(),
                        })
                        .collect(),
                })
            }
            Ok(s) => {
                t.selectors = Some(TrailSelectors::Basic {
                    selectors: s
                        .event_selectors()
                        .iter()
                        .map(|e| BasicSelector {
                            read_write_type: e
                                .read_write_type()
                                .map(|r| r.as_str().to_string())
                                .unwrap_or_else(|| "All".into()),
                            include_management_events: e
                                .include_management_events()
                                .unwrap_or(true),
                            exclude_management_event_sources: e
                                .exclude_management_event_sources()
                                .to_vec(),
                        })
                        .collect(),
                })
            }
            Err(e) => {
                t.error
                    .get_or_insert(issue("CloudTrail.GetEventSelectors", &e));
            }
        }
    }

    /// The metric filters of a log group (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]`).
    async fn log_group_filters(
        &self,
        config: &SdkConfig,
        account_id: &str,
        arn: String,
    ) -> LogGroupFilters {
        let mut parts = arn.splitn(7, ':');
        let region = parts.nth(3).unwrap_or_default().to_string();
        let name = arn
            .split_once(":log-group:")
            .map(|(_, n)| n.trim_end_matches(":*").to_string())
            .unwrap_or_default();
        let logs = client!(aws_sdk_cloudwatchlogs, self, config, account_id, &region);
        let mut out = LogGroupFilters {
            log_group_arn: arn,
            region,
            ..Default::default()
        };
        let listing = logs
            .describe_metric_filters()
            .log_group_name(name)
            .into_paginator()
            .items()
            .send();
        match self.all_pages(listing).await {
            Ok(filters) => {
                out.filters = filters
                    .iter()
                    .map(|f| MetricFilter {
                        name: f.filter_name().unwrap_or_default().to_string(),
                        pattern: f.filter_pattern().unwrap_or_default().to_string(),
                        metrics: f
                            .metric_transformations()
                            .iter()
                            .map(|m| MetricName {
                                namespace: m.metric_namespace().to_string(),
                                name: m.metric_name().to_string(),
                            })
                            .collect(),
                    })
                    .collect()
            }
            Err(e) => out.error = Some(issue("CloudWatchLogs.DescribeMetricFilters", &e)),
        }
        out
    }

    /// The region's metric alarms on `metrics`.
    async fn region_alarms(
        &self,
        config: &SdkConfig,
        account_id: &str,
        region: &str,
        metrics: BTreeSet<&MetricName>,
    ) -> RegionAlarms {
        let cw = client!(aws_sdk_cloudwatch, self, config, account_id, region);
        let mut out = RegionAlarms {
            region: region.to_string(),
            ..Default::default()
        };
        let mut token = None;
        loop {
            let page = match cw.describe_alarms().set_next_token(token).send().await {
                Ok(p) => p,
                Err(e) => {
                    out.error = Some(issue("CloudWatch.DescribeAlarms", &e));
                    return out;
                }
            };
            for a in page.metric_alarms() {
                let metric = MetricName {
                    namespace: a.namespace().unwrap_or_default().to_string(),
                    name: a.metric_name().unwrap_or_default().to_string(),
                };
                if metrics.contains(&metric) {
                    out.alarms.push(Alarm {
                        name: a.alarm_name().unwrap_or_default().to_string(),
                        metric,
                        actions_enabled: a.actions_enabled().unwrap_or(false),
                        alarm_actions: a.alarm_actions().to_vec(),
                    });
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return out;
            }
        }
    }

    /// A topic's confirmed subscriptions, from its own region.
    async fn topic(&self, config: &SdkConfig, account_id: &str, arn: String) -> Topic {
        let region = arn.split(':').nth(3).unwrap_or_default().to_string();
        let sns = client!(aws_sdk_sns, self, config, account_id, &region);
        let listing = sns
            .list_subscriptions_by_topic()
            .topic_arn(&arn)
            .into_paginator()
            .items()
            .send();
        let mut out = Topic {
            arn,
            ..Default::default()
        };
        match self.all_pages(listing).await {
            Ok(subs) => {
                out.confirmed_subscriptions = subs
                    .iter()
                    .filter(|s| s.subscription_arn().is_some_and(|a| a.starts_with("arn:")))
                    .count() as u32
            }
            Err(e) => out.error = Some(issue("SNS.ListSubscriptionsByTopic", &e)),
        }
        out
    }
}

fn field(f: &aws_sdk_cloudtrail::types::AdvancedFieldSelector) -> FieldSelector {
    let v = |l: &[String]| l.to_vec();
    FieldSelector {
        field: f.field().to_string(),
        equals: v(f.equals()),
        starts_with: v(f.starts_with()),
        ends_with: v(f.ends_with()),
        not_equals: v(f.not_equals()),
        not_starts_with: v(f.not_starts_with()),
        not_ends_with: v(f.not_ends_with()),
    }
}

/// Whether a rule's pattern can match a KMS event: it names KMS, names no source, or filters
/// its source by content (prefix, anything-but, wildcard).
fn may_match_kms(rule: &EventRule) -> bool {
    let p = rule
        .event_pattern
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    p.contains("kms")
        || !p.contains("\"source\"")
        || p.contains("prefix")
        || p.contains("anything-but")
        || p.contains("wildcard")
}

#[cfg(test)]
mod tests {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use aws_smithy_types::body::SdkBody;
    use kmsaudit_model::{KeyRecord, RegionAccess, RegionRecord, TrailSelectors};
    use serde_json::json;

    const ACCOUNT: &str = "111122223333";
    const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org";

    /// An HTTP client that answers as CloudTrail and EventBridge would: one multi-Region trail
    /// homed in us-east-1 (its status says where it was asked), advanced selectors, a KMS rule
    /// with a target in us-east-1, and ListRules denied in eu-west-1.
    fn aws() -> SdkConfig {
        let client = aws_smithy_http_client::test_util::infallible_client_fn(|req| {
            let target = req
                .headers()
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_string();
            let host = req.uri().host().unwrap_or_default().to_string();
            let (status, body) = match target.as_str() {
                "DescribeTrails" => (
                    200,
                    json!({"trailList": [{
                    "Name": "org", "TrailARN": TRAIL, "HomeRegion": "us-east-1",
                    "IsMultiRegionTrail": true, "LogFileValidationEnabled": true,
                    "KmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/k"}]}),
                ),
                "GetTrailStatus" => (200, json!({"IsLogging": host.contains("us-east-1")})),
                "GetEventSelectors" => (
                    200,
                    json!({"TrailARN": TRAIL, "AdvancedEventSelectors": [
                    {"Name": "management", "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]}]}]}),
                ),
                "ListRules" if host.contains("eu-west-1") => (
                    400,
                    json!({"__type": "AccessDeniedException", "message": "not allowed"}),
                ),
                "ListRules" => (
                    200,
                    json!({"Rules": [
                    {"Name": "kms", "State": "ENABLED", "EventPattern": "{\"source\":[\"aws.kms\"]}"},
                    {"Name": "nightly", "State": "ENABLED", "ScheduleExpression": "rate(1 day)"}]}),
                ),
                "ListTargetsByRule" => (
                    200,
                    json!({"Targets": [
                    {"Id": "1", "Arn": "arn:aws:sns:us-east-1:111122223333:alerts"}]}),
                ),
                other => (
                    400,
                    json!({"__type": "UnknownOperationException", "message": other}),
                ),
            };
            http::Response::builder()
                .status(status)
                .header("content-type", "application/x-amz-json-1.1")
                .body(SdkBody::from(body.to_string()))
                .unwrap()
        });
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "secret", None, None, "test",
            )))
            .http_client(client)
            .build()
    }

    fn region(name: &str) -> RegionRecord {
        let key = KeyRecord {
            arn: format!("arn:aws:kms:{name}:{ACCOUNT}:key/k-{name}"),
            ..Default::default()
        };
        RegionRecord {
            region: name.into(),
            access: RegionAccess::Scanned,
            aliases_error: None,
            keys: vec![key],
            access_analyzer: None,
        }
    }

    #[tokio::test]
    async fn a_trail_is_read_once_in_its_home_region_and_failures_stay_where_they_belong() {
        let scanner = crate::tests::scanner();
        let regions = [region("eu-west-1"), region("us-east-1")];
        let m = scanner.read_monitoring(&aws(), ACCOUNT, &regions).await;
        assert_eq!(m.trails.len(), 1, "{m:?}");
        let t = &m.trails[0];
        assert_eq!(t.logging, Some(true), "status asked in the home region");
        assert!(
            matches!(&t.selectors, Some(TrailSelectors::Advanced { selectors }) if selectors.len() == 1)
        );
        assert_eq!(m.regions.len(), 2);
        assert!(m.regions.iter().all(|r| r.trails == [TRAIL.to_string()]));
        let eu = &m.regions[0];
        assert_eq!(eu.region, "eu-west-1");
        assert_eq!(
            eu.event_rules_error.as_ref().map(|i| i.code.as_str()),
            Some("AccessDeniedException")
        );
        let us = &m.regions[1];
        // Only rules with an event pattern are kept; targets are counted.
        assert_eq!(us.event_rules.len(), 1);
        assert_eq!(us.event_rules[0].targets, 1);
        // No log group: no filters, alarms or topics asked.
        assert!(m.log_groups.is_empty() && m.alarms.is_empty() && m.topics.is_empty());
    }
}
