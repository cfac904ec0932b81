//! SDK output → model. The one place SDK shapes are read into snapshot types.

use std::collections::BTreeMap;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use kmsaudit_model as model;

pub(crate) fn time(t: &DateTime) -> String {
    t.fmt(Format::DateTime)
        .unwrap_or_else(|_| t.secs().to_string())
}

pub(crate) fn key_metadata(m: &aws_sdk_kms::types::KeyMetadata) -> model::KeyMetadata {
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
    f: &aws_sdk_accessanalyzer::types::FindingSummaryV2,
) -> model::AnalyzerFinding {
    model::AnalyzerFinding {
        id: f.id().to_string(),
        analyzer_arn: analyzer_arn.to_string(),
        resource: f.resource().unwrap_or_default().to_string(),
        resource_owner_account: f.resource_owner_account().to_string(),
        status: f.status().as_str().to_string(),
        finding_type: f.finding_type().map(|t| t.as_str().to_string()),
        is_public: None,
        principal: BTreeMap::new(),
        condition: BTreeMap::new(),
        updated_at: Some(time(f.updated_at())),
    }
}

/// Adds GetFindingV2's external-access details (principal, condition, public) to a finding.
pub(crate) fn add_finding_details(
    f: &mut model::AnalyzerFinding,
    out: &aws_sdk_accessanalyzer::operation::get_finding_v2::GetFindingV2Output,
) {
    for d in out.finding_details() {
        if let Ok(ext) = d.as_external_access_details() {
            f.is_public = f.is_public.or(ext.is_public());
            if let Some(p) = ext.principal() {
                f.principal
                    .extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            f.condition
                .extend(ext.condition().iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
}
