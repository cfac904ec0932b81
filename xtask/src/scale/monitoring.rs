//! The scale organization's monitoring: the management account owns one organization trail,
//! multi-Region, logging, validated, not encrypted with KMS and without a log group; no account
//! has an EventBridge rule. The truth holds what a scan reads of it ([`truth`]), the stand-in
//! answers CloudTrail (DescribeTrails, GetTrailStatus, GetEventSelectors) and EventBridge
//! (ListRules) from the same ([`answer`]), and LookupEvents with no event.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use kmsaudit_model::{
    AccountRecord, MonitoringRecord, RegionAccess, RegionMonitoring, Trail, TrailSelectors,
};
use serde_json::json;

use super::api::{json, json_error};
use super::generate::account_id;
use super::{Call, State};

/// The organization trail's home region: the first region every account has enabled.
fn home(enabled: &[String]) -> &str {
    enabled
        .iter()
        .find(|r| *r == "us-east-1")
        .or(enabled.first())
        .map(String::as_str)
        .unwrap_or("us-east-1")
}

fn org_trail(enabled: &[String]) -> Trail {
    let home = home(enabled);
    Trail {
        arn: format!(
            "arn:aws:cloudtrail:{home}:{}:trail/org-trail",
            account_id(0)
        ),
        name: "org-trail".into(),
        home_region: home.into(),
        multi_region: true,
        organization_trail: true,
        log_file_validation: true,
        kms_key_id: None,
        log_group_arn: None,
        logging: Some(true),
        selectors: Some(TrailSelectors::Basic { selectors: vec![] }),
        error: None,
    }
}

/// What a scan reads of `account` (the management account is index 0): every scanned region
/// of the management account, the regions holding keys of the others.
pub(crate) fn truth(
    account: &AccountRecord,
    management: bool,
    enabled: &[String],
) -> MonitoringRecord {
    let trail = org_trail(enabled);
    let regions = account
        .regions
        .iter()
        .filter(|r| matches!(r.access, RegionAccess::Scanned))
        .filter(|r| management || !r.keys.is_empty())
        .map(|r| RegionMonitoring {
            region: r.region.clone(),
            trails: if management {
                vec![trail.arn.clone()]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .collect();
    MonitoringRecord {
        regions,
        trails: if management { vec![trail] } else { vec![] },
        ..Default::default()
    }
}

pub(crate) fn answer(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let op = call
        .target
        .as_deref()
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("?");
    let trail = org_trail(&state.org.enabled);
    let description = json!({
        "Name": trail.name, "TrailARN": trail.arn, "HomeRegion": trail.home_region,
        "IsMultiRegionTrail": true, "IsOrganizationTrail": true,
        "LogFileValidationEnabled": true, "S3BucketName": "org-trail-logs",
    });
    match (call.service.as_str(), op) {
        ("cloudtrail", "DescribeTrails") => {
            let trails = if call.account == 0 {
                vec![description]
            } else {
                vec![]
            };
            json(&json!({ "trailList": trails }), false)
        }
        ("cloudtrail", "GetTrailStatus") if call.account == 0 => {
            json(&json!({ "IsLogging": true }), false)
        }
        ("cloudtrail", "GetEventSelectors") if call.account == 0 => json(
            &json!({ "TrailARN": trail.arn, "EventSelectors": [] }),
            false,
        ),
        ("cloudtrail", "LookupEvents") => {
            // One page of at most 50 events, as CloudTrail validates it; no key has events here.
            let input: serde_json::Value = serde_json::from_slice(&call.body).unwrap_or_default();
            match super::api::limit(input.get("MaxResults"), 50, 50, false) {
                Ok(_) => json(&json!({ "Events": [] }), false),
                Err(refused) => refused,
            }
        }
        ("cloudtrail", _) => json_error(
            StatusCode::BAD_REQUEST,
            "TrailNotFoundException",
            "no such trail",
            false,
        ),
        ("events", "ListRules") => json(&json!({ "Rules": [] }), false),
        _ => json_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("{op} is not served"),
            false,
        ),
    }
}
