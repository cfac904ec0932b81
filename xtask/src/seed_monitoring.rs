//! A fixture's monitoring (`[monitoring]`), seeded into moto with the Rust SDK: CloudTrail
//! trails (moto wants their S3 bucket, made with one plain request: the SDK's S3 crate is not
//! worth its build), CloudWatch Logs log groups and metric filters, SNS topics with a
//! subscription, EventBridge rules with a target. CloudWatch alarms are not seeded: the SDK
//! speaks CBOR to CloudWatch, which moto does not, so the stand-in's proxy answers
//! DescribeAlarms from the fixture ([`alarms_cbor`]).

use std::collections::BTreeMap;

use anyhow::Context;
use aws_config::{Region, SdkConfig};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::seed::Seeded;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringDefs {
    #[serde(default)]
    pub trails: Vec<TrailDef>,
    #[serde(default)]
    pub metric_filters: Vec<MetricFilterDef>,
    #[serde(default)]
    pub alarms: Vec<AlarmDef>,
    #[serde(default)]
    pub topics: Vec<TopicDef>,
    #[serde(default)]
    pub event_rules: Vec<EventRuleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailDef {
    pub account: String,
    pub name: String,
    pub region: String,
    #[serde(default)]
    pub multi_region: bool,
    #[serde(default)]
    pub organization: bool,
    #[serde(default)]
    pub log_file_validation: bool,
    /// A fixture key's name: its ARN encrypts the logs.
    pub kms_key: Option<String>,
    /// A log group of the trail's account and region (created).
    pub log_group: Option<String>,
    /// ExcludeManagementEventSources.
    #[serde(default)]
    pub exclude_sources: Vec<String>,
    #[serde(default = "yes")]
    pub logging: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricFilterDef {
    pub account: String,
    pub region: String,
    pub log_group: String,
    pub name: String,
    pub pattern: String,
    pub namespace: String,
    pub metric: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmDef {
    pub account: String,
    pub region: String,
    pub name: String,
    pub namespace: String,
    pub metric: String,
    /// A topic of the same account and region, by name.
    pub topic: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicDef {
    pub account: String,
    pub region: String,
    pub name: String,
    /// An e-mail address subscribed (moto confirms it at once).
    pub subscriber: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRuleDef {
    pub account: String,
    pub region: String,
    pub name: String,
    pub pattern: String,
    /// A topic of the same account and region, by name, as the target.
    pub topic: Option<String>,
}

fn topic_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:sns:{region}:{account}:{name}")
}

/// Seeds the monitoring; `configs` are each account's credentials.
pub async fn seed(
    defs: &MonitoringDefs,
    seeded: &Seeded,
    seeded_keys: &BTreeMap<String, (String, String)>,
    configs: &BTreeMap<String, SdkConfig>,
    moto: &str,
) -> anyhow::Result<()> {
    let at = |account: &str, region: &str| -> anyhow::Result<SdkConfig> {
        let c = configs
            .get(account)
            .with_context(|| format!("no account {account}"))?;
        Ok(c.to_builder()
            .region(Region::new(region.to_string()))
            .build())
    };
    for t in &defs.topics {
        let sns = aws_sdk_sns::Client::new(&at(&t.account, &t.region)?);
        let arn = sns
            .create_topic()
            .name(&t.name)
            .send()
            .await
            .with_context(|| format!("CreateTopic {}", t.name))?
            .topic_arn()
            .unwrap_or_default()
            .to_string();
        if let Some(email) = &t.subscriber {
            sns.subscribe()
                .topic_arn(&arn)
                .protocol("email")
                .endpoint(email)
                .send()
                .await
                .with_context(|| format!("Subscribe to {}", t.name))?;
        }
    }
    for f in &defs.metric_filters {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&at(&f.account, &f.region)?);
        logs.put_metric_filter()
            .log_group_name(&f.log_group)
            .filter_name(&f.name)
            .filter_pattern(&f.pattern)
            .metric_transformations(
                aws_sdk_cloudwatchlogs::types::MetricTransformation::builder()
                    .metric_namespace(&f.namespace)
                    .metric_name(&f.metric)
                    .metric_value("1")
                    .build()?,
            )
            .send()
            .await
            .with_context(|| format!("PutMetricFilter {}", f.name))?;
    }
    for t in &defs.trails {
        let config = at(&t.account, &t.region)?;
        let account_id = seeded.account(&t.account)?;
        let bucket = format!(
            "kmsaudit-trail-{account_id}-{}",
            t.name.to_ascii_lowercase()
        );
        create_bucket(moto, &config, &bucket).await?;
        let ct = aws_sdk_cloudtrail::Client::new(&config);
        let mut create = ct
            .create_trail()
            .name(&t.name)
            .s3_bucket_name(&bucket)
            .is_multi_region_trail(t.multi_region)
            .is_organization_trail(t.organization)
            .enable_log_file_validation(t.log_file_validation);
        if let Some(key) = &t.kms_key {
            let (arn, _) = seeded_keys
                .get(key)
                .with_context(|| format!("trail {}: no key {key}", t.name))?;
            create = create.kms_key_id(arn);
        }
        if let Some(group) = &t.log_group {
            aws_sdk_cloudwatchlogs::Client::new(&config)
                .create_log_group()
                .log_group_name(group)
                .send()
                .await
                .with_context(|| format!("CreateLogGroup {group}"))?;
            create = create
                .cloud_watch_logs_log_group_arn(format!(
                    "arn:aws:logs:{}:{account_id}:log-group:{group}:*",
                    t.region
                ))
                .cloud_watch_logs_role_arn(format!(
                    "arn:aws:iam::{account_id}:role/CloudTrailToLogs"
                ));
        }
        create
            .send()
            .await
            .with_context(|| format!("CreateTrail {}", t.name))?;
        if !t.exclude_sources.is_empty() {
            ct.put_event_selectors()
                .trail_name(&t.name)
                .event_selectors(
                    aws_sdk_cloudtrail::types::EventSelector::builder()
                        .read_write_type(aws_sdk_cloudtrail::types::ReadWriteType::All)
                        .include_management_events(true)
                        .set_exclude_management_event_sources(Some(t.exclude_sources.clone()))
                        .build(),
                )
                .send()
                .await
                .with_context(|| format!("PutEventSelectors {}", t.name))?;
        }
        if t.logging {
            ct.start_logging()
                .name(&t.name)
                .send()
                .await
                .with_context(|| format!("StartLogging {}", t.name))?;
        }
    }
    for r in &defs.event_rules {
        let events = aws_sdk_eventbridge::Client::new(&at(&r.account, &r.region)?);
        events
            .put_rule()
            .name(&r.name)
            .event_pattern(&r.pattern)
            .state(aws_sdk_eventbridge::types::RuleState::Enabled)
            .send()
            .await
            .with_context(|| format!("PutRule {}", r.name))?;
        if let Some(topic) = &r.topic {
            let arn = topic_arn(&r.region, seeded.account(&r.account)?, topic);
            events
                .put_targets()
                .rule(&r.name)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id("alert")
                        .arn(arn)
                        .build()?,
                )
                .send()
                .await
                .with_context(|| format!("PutTargets {}", r.name))?;
        }
    }
    Ok(())
}

/// An S3 bucket in moto, owned by the account of `config`'s credentials: one PUT, its SigV4
/// scope naming S3 and the access key (moto checks no signature).
async fn create_bucket(moto: &str, config: &SdkConfig, bucket: &str) -> anyhow::Result<()> {
    use aws_credential_types::provider::ProvideCredentials;
    let creds = config
        .credentials_provider()
        .context("no credentials")?
        .provide_credentials()
        .await?;
    let hostport = moto
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&hostport)
        .await
        .with_context(|| format!("connecting to {hostport}"))?;
    let token = creds
        .session_token()
        .map(|t| format!("X-Amz-Security-Token: {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n{token}Content-Length: 0\r\nConnection: close\r\n\r\n",
        creds.access_key_id()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer.lines().next().unwrap_or_default();
    anyhow::ensure!(
        status.contains(" 200"),
        "creating bucket {bucket}: {status}"
    );
    Ok(())
}

/// DescribeAlarms in CloudWatch's RPC v2 CBOR: the fixture's alarms of `account` in `region`
/// (topics named by ARN), all on one page.
pub fn alarms_cbor(defs: &MonitoringDefs, seeded: &Seeded, account: &str, region: &str) -> Vec<u8> {
    let alarms: Vec<&AlarmDef> = defs
        .alarms
        .iter()
        .filter(|a| a.region == region && seeded.account(&a.account).ok() == Some(account))
        .collect();
    let mut e = minicbor::Encoder::new(Vec::new());
    let write = |e: &mut minicbor::Encoder<Vec<u8>>| -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
        e.map(1)?.str("MetricAlarms")?.array(alarms.len() as u64)?;
        for a in &alarms {
            e.map(5)?
                .str("AlarmName")?
                .str(&a.name)?
                .str("Namespace")?
                .str(&a.namespace)?
                .str("MetricName")?
                .str(&a.metric)?
                .str("ActionsEnabled")?
                .bool(true)?
                .str("AlarmActions")?
                .array(1)?
                .str(&topic_arn(region, account, &a.topic))?;
        }
        Ok(())
    };
    write(&mut e).expect("writing to a Vec cannot fail");
    e.into_writer()
}
