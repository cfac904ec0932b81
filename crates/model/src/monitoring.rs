//! What an account shows of the monitoring of its keys: the CloudTrail trails that log its
//! regions, the CloudWatch Logs metric filters on the trails' log groups, the alarms on those
//! metrics and the SNS topics they notify, and its EventBridge rules on KMS events.
//!
//! Read once per account: a trail (a multi-Region one logs every region) is kept once, by ARN,
//! and each region with keys lists the ARNs of the trails that log it. An organization trail is
//! read from the account that owns it (member accounts may not see it whole).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Issue;

/// One account's monitoring, as read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitoringRecord {
    /// Each region read (those holding keys, and every region of the account owning an
    /// organization trail), sorted by region.
    pub regions: Vec<RegionMonitoring>,
    /// Every trail some region lists, sorted by ARN.
    pub trails: Vec<Trail>,
    /// The metric filters of the log groups this account's trails deliver to.
    pub log_groups: Vec<LogGroupFilters>,
    /// The metric alarms of each region holding such a log group.
    pub alarms: Vec<RegionAlarms>,
    /// The SNS topics those alarms notify.
    pub topics: Vec<Topic>,
}

/// What one region of the account shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RegionMonitoring {
    /// e.g. `eu-west-1`.
    pub region: String,
    /// The ARNs of the trails that log this region (DescribeTrails, shadow trails included).
    pub trails: Vec<String>,
    /// DescribeTrails failed: the region's trails are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trails_error: Option<Issue>,
    /// Rules of the default event bus whose pattern names KMS.
    pub event_rules: Vec<EventRule>,
    /// ListRules failed: the region's rules are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_rules_error: Option<Issue>,
}

/// One CloudTrail trail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Trail {
    /// `arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// The region it was created in.
    pub home_region: String,
    /// Whether it logs every region.
    pub multi_region: bool,
    /// Whether it logs every account of the organization.
    pub organization_trail: bool,
    /// Whether log file integrity validation is on.
    pub log_file_validation: bool,
    /// The KMS key its log files are encrypted with (SSE-KMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// The CloudWatch Logs log group it delivers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group_arn: Option<String>,
    /// GetTrailStatus's IsLogging (`None`: not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<bool>,
    /// GetEventSelectors (`None`: not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selectors: Option<TrailSelectors>,
    /// Why its status or selectors were not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Issue>,
}

/// Which events a trail logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrailSelectors {
    /// Event selectors (none: every management event, read and write).
    Basic {
        /// The selectors.
        selectors: Vec<BasicSelector>,
    },
    /// Advanced event selectors.
    Advanced {
        /// The selectors: an event is logged when one of them holds.
        selectors: Vec<AdvancedSelector>,
    },
}

/// One basic event selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BasicSelector {
    /// `All`, `ReadOnly` or `WriteOnly`.
    pub read_write_type: String,
    /// Whether management events are logged.
    pub include_management_events: bool,
    /// Event sources left out (`kms.amazonaws.com`, `rdsdata.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_management_event_sources: Vec<String>,
}

/// One advanced event selector: every field selector must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdvancedSelector {
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its field selectors.
    pub fields: Vec<FieldSelector>,
}

/// One field of an advanced event selector (`eventCategory`, `eventSource`, `readOnly`...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)]
pub struct FieldSelector {
    pub field: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ends_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ends_with: Vec<String>,
}

/// The metric filters of one log group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogGroupFilters {
    /// The log group's ARN (as the trail names it).
    pub log_group_arn: String,
    /// Its region.
    pub region: String,
    /// Its metric filters.
    pub filters: Vec<MetricFilter>,
    /// DescribeMetricFilters failed: its filters are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Issue>,
}

/// One metric filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricFilter {
    /// Its name.
    pub name: String,
    /// The filter pattern, as written.
    pub pattern: String,
    /// The metrics it publishes to.
    pub metrics: Vec<MetricName>,
}

/// A CloudWatch metric.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct MetricName {
    /// e.g. `CISBenchmark`.
    pub namespace: String,
    /// e.g. `DisableOrDeleteCMK`.
    pub name: String,
}

/// The metric alarms of one region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RegionAlarms {
    /// e.g. `us-east-1`.
    pub region: String,
    /// Alarms on a metric some filter publishes.
    pub alarms: Vec<Alarm>,
    /// DescribeAlarms failed: the region's alarms are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Issue>,
}

/// One metric alarm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Alarm {
    /// Its name.
    pub name: String,
    /// The metric it watches.
    pub metric: MetricName,
    /// Whether its actions run.
    pub actions_enabled: bool,
    /// What it does in ALARM state (ARNs: SNS topics, Auto Scaling, SSM...).
    pub alarm_actions: Vec<String>,
}

/// One SNS topic an alarm notifies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Topic {
    /// Its ARN.
    pub arn: String,
    /// Subscriptions confirmed (not `PendingConfirmation`).
    pub confirmed_subscriptions: u32,
    /// ListSubscriptionsByTopic failed: its subscriptions are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Issue>,
}

/// One EventBridge rule of the default bus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventRule {
    /// Its name.
    pub name: String,
    /// `ENABLED`, `DISABLED`...
    pub state: String,
    /// Its event pattern (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    /// How many targets it has.
    pub targets: u32,
    /// ListTargetsByRule failed: its targets are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Issue>,
}
