//! SDK output → model. The one place SDK shapes are read into snapshot types.

use std::collections::BTreeMap;

use aws_credential_types::Credentials;
use aws_smithy_types::DateTime;
use kmsaudit_model as model;

use crate::classify::sanitize;
use crate::org::ListedAccount;

/// An SDK time as a model time; out-of-range values (never sent by AWS) clamp to the range.
pub(crate) fn time(t: &DateTime) -> model::Timestamp {
    model::Timestamp::new(t.secs(), t.subsec_nanos() as i32).unwrap_or(if t.secs() < 0 {
        model::Timestamp::MIN
    } else {
        model::Timestamp::MAX
    })
}

pub(crate) fn caller_identity(
    out: &aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput,
) -> model::CallerIdentity {
    model::CallerIdentity {
        arn: out.arn().unwrap_or_default().to_string(),
        account_id: out.account().unwrap_or_default().to_string(),
        user_id: out.user_id().unwrap_or_default().to_string(),
    }
}

/// AssumeRole's credentials as a credentials-provider value (expiry kept for refreshing).
pub(crate) fn credentials(c: &aws_sdk_sts::types::Credentials) -> Credentials {
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        std::time::SystemTime::try_from(*c.expiration()).ok(),
        "kmsaudit-assume-role",
    )
}

pub(crate) fn organization(o: &aws_sdk_organizations::types::Organization) -> model::Organization {
    model::Organization {
        id: o.id().unwrap_or_default().to_string(),
        arn: o.arn().unwrap_or_default().to_string(),
        management_account_id: o.master_account_id().unwrap_or_default().to_string(),
        feature_set: o.feature_set().map(|f| f.as_str().to_string()),
        access_analyzer_admins: None,
        policies: None,
    }
}

pub(crate) fn account(a: &aws_sdk_organizations::types::Account) -> ListedAccount {
    // `State` is the newer field (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED).
    let status = a
        .state()
        .map(|s| s.as_str().to_string())
        .or_else(|| a.status().map(|s| s.as_str().to_string()));
    ListedAccount {
        id: a.id().unwrap_or_default().to_string(),
        name: a.name().map(sanitize),
        email: a.email().map(sanitize),
        status,
    }
}

/// A ListKeys entry as a key record yet to be described.
pub(crate) fn listed_key(entry: &aws_sdk_kms::types::KeyListEntry) -> model::KeyRecord {
    model::KeyRecord {
        arn: entry.key_arn().unwrap_or_default().to_string(),
        key_id: entry.key_id().unwrap_or_default().to_string(),
        ..Default::default()
    }
}

/// (target key id, alias name) of an alias that points at a key.
pub(crate) fn alias_target(a: &aws_sdk_kms::types::AliasListEntry) -> Option<(String, String)> {
    Some((a.target_key_id()?.to_string(), a.alias_name()?.to_string()))
}

pub(crate) fn tag(t: &aws_sdk_kms::types::Tag) -> model::Tag {
    model::Tag {
        key: t.tag_key().to_string(),
        value: t.tag_value().to_string(),
    }
}

/// A mapping of the Resource Groups Tagging API: the key id its ARN names, and its tags.
pub(crate) fn tagged_key(
    m: &aws_sdk_resourcegroupstagging::types::ResourceTagMapping,
) -> Option<(String, Vec<model::Tag>)> {
    let key_id = m.resource_arn()?.rsplit_once(":key/")?.1.to_string();
    let tags = m
        .tags()
        .iter()
        .map(|t| model::Tag {
            key: t.key().to_string(),
            value: t.value().to_string(),
        })
        .collect();
    Some((key_id, tags))
}

pub(crate) fn rotation_status(
    out: &aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput,
) -> model::RotationStatus {
    model::RotationStatus {
        enabled: out.key_rotation_enabled(),
        period_days: out.rotation_period_in_days(),
        next_rotation_date: out.next_rotation_date().map(time),
    }
}

/// DescribeKey's metadata, when the answer carries it.
pub(crate) fn described_key(
    out: &aws_sdk_kms::operation::describe_key::DescribeKeyOutput,
) -> Option<model::KeyMetadata> {
    out.key_metadata().map(key_metadata)
}

/// GetKeyPolicy's policy text, exactly as returned.
pub(crate) fn key_policy(
    out: &aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput,
) -> String {
    out.policy().unwrap_or_default().to_string()
}

/// GetKeyLastUsage's answer in one of its states. KMS gives the tracking start as the later of
/// the key's creation and the start of tracking: a later one leaves use before it unknown.
pub(crate) fn last_use(
    out: &aws_sdk_kms::operation::get_key_last_usage::GetKeyLastUsageOutput,
) -> model::LastUseState {
    use model::LastUseState;
    if let Some((data, at)) = out
        .key_last_usage()
        .and_then(|d| d.timestamp().map(|t| (d, t)))
    {
        return LastUseState::Used {
            operation: data
                .operation()
                .map_or("unknown", |o| o.as_str())
                .to_string(),
            at: time(at),
            cloudtrail_event_id: data.cloud_trail_event_id().map(str::to_string),
        };
    }
    match (out.tracking_start_date(), out.key_creation_date()) {
        (Some(tracking), Some(created)) if time(tracking) <= time(created) => {
            LastUseState::NeverUsed {
                since: time(created),
            }
        }
        (Some(tracking), _) => LastUseState::NoRecordedUse {
            since: time(tracking),
        },
        (None, _) => LastUseState::NotAssessed {
            issue: model::Issue::new(
                "KMS.GetKeyLastUsage",
                "IncompleteResponse",
                "neither a last use nor a TrackingStartDate in the answer",
            ),
        },
    }
}

fn key_metadata(m: &aws_sdk_kms::types::KeyMetadata) -> model::KeyMetadata {
    model::KeyMetadata {
        key_id: m.key_id().to_string(),
        arn: m.arn().unwrap_or_default().to_string(),
        aws_account_id: m.aws_account_id().unwrap_or_default().to_string(),
        description: m.description().unwrap_or_default().to_string(),
        creation_date: m.creation_date().map(time),
        enabled: m.enabled(),
        key_state: m
            .key_state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        key_usage: m
            .key_usage()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        key_spec: m
            .key_spec()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        key_manager: m
            .key_manager()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        origin: m
            .origin()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        custom_key_store_id: m.custom_key_store_id().map(str::to_string),
        deletion_date: m.deletion_date().map(time),
        pending_deletion_window_in_days: m.pending_deletion_window_in_days(),
        valid_to: m.valid_to().map(time),
        expiration_model: m.expiration_model().map(|s| s.as_str().to_string()),
        multi_region: m.multi_region(),
        multi_region_configuration: m.multi_region_configuration().map(|c| {
            let mut replicas: Vec<String> = c
                .replica_keys()
                .iter()
                .filter_map(|k| k.region().map(str::to_string))
                .collect();
            replicas.sort();
            model::MultiRegionConfiguration {
                key_type: c
                    .multi_region_key_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                primary_region: c.primary_key().and_then(|k| k.region()).map(str::to_string),
                replica_regions: replicas,
            }
        }),
    }
}

pub(crate) fn grant(g: &aws_sdk_kms::types::GrantListEntry) -> model::Grant {
    let mut operations: Vec<String> = g
        .operations()
        .iter()
        .map(|o| o.as_str().to_string())
        .collect();
    operations.sort();
    let sorted =
        |m: Option<&std::collections::HashMap<String, String>>| -> BTreeMap<String, String> {
            m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default()
        };
    model::Grant {
        grant_id: g.grant_id().unwrap_or_default().to_string(),
        name: g.name().filter(|n| !n.is_empty()).map(str::to_string),
        grantee_principal: g.grantee_principal().map(str::to_string),
        retiring_principal: g.retiring_principal().map(str::to_string),
        issuing_account: g.issuing_account().map(str::to_string),
        operations,
        constraints: g
            .constraints()
            .map(|c| model::GrantConstraints {
                encryption_context_subset: sorted(c.encryption_context_subset()),
                encryption_context_equals: sorted(c.encryption_context_equals()),
            })
            .filter(|c| !c.is_empty()),
        creation_date: g.creation_date().map(time),
    }
}

pub(crate) fn analyzer(a: &aws_sdk_accessanalyzer::types::AnalyzerSummary) -> model::Analyzer {
    model::Analyzer {
        arn: a.arn().to_string(),
        name: a.name().to_string(),
        analyzer_type: a.r#type().as_str().to_string(),
        status: a.status().as_str().to_string(),
    }
}

pub(crate) fn finding_summary(
    analyzer_arn: &str,
    f: &aws_sdk_accessanalyzer::types::FindingSummary,
) -> model::AnalyzerFinding {
    model::AnalyzerFinding {
        id: f.id().to_string(),
        analyzer_arn: analyzer_arn.to_string(),
        resource: f.resource().unwrap_or_default().to_string(),
        resource_owner_account: f.resource_owner_account().to_string(),
        status: f.status().as_str().to_string(),
        // ListFindings lists the findings of external access analyzers only.
        finding_type: Some("ExternalAccess".into()),
        is_public: f.is_public(),
        principal: f
            .principal()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        condition: f
            .condition()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        updated_at: Some(time(f.updated_at())),
    }
}

/// A trail as DescribeTrails lists it, seen from `region` (a trail without a home region is
/// taken as living there).
pub(crate) fn trail(t: &aws_sdk_cloudtrail::types::Trail, region: &str) -> kmsaudit_model::Trail {
    kmsaudit_model::Trail {
        arn: t.trail_arn().unwrap_or_default().to_string(),
        name: t.name().unwrap_or_default().to_string(),
        home_region: t.home_region().unwrap_or(region).to_string(),
        multi_region: t.is_multi_region_trail().unwrap_or(false),
        organization_trail: t.is_organization_trail().unwrap_or(false),
        log_file_validation: t.log_file_validation_enabled().unwrap_or(false),
        kms_key_id: t.kms_key_id().map(str::to_string),
        log_group_arn: t.cloud_watch_logs_log_group_arn().map(str::to_string),
        logging: None,
        selectors: None,
        error: None,
    }
}

/// One event of LookupEvents: its time, name, caller, and the error code its record carries.
pub(crate) fn key_event(e: &aws_sdk_cloudtrail::types::Event) -> Option<kmsaudit_model::KeyEvent> {
    let time = e.event_time()?;
    let record: Option<serde_json::Value> = e
        .cloud_trail_event()
        .and_then(|text| serde_json::from_str(text).ok());
    Some(kmsaudit_model::KeyEvent {
        time: jiff::Timestamp::from_second(time.secs()).ok()?,
        name: crate::classify::sanitize(e.event_name().unwrap_or_default()),
        caller: crate::classify::sanitize(e.username().unwrap_or_default()),
        error_code: record
            .as_ref()
            .and_then(|r| r.get("errorCode"))
            .and_then(|c| c.as_str())
            .map(crate::classify::sanitize),
    })
}
