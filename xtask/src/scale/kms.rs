//! The scale stand-in's KMS (JSON 1.1): ListKeys, ListAliases, DescribeKey, GetKeyPolicy,
//! GetKeyRotationStatus, ListGrants and ListResourceTags, with KMS's default and maximum page
//! sizes (`Limit`) and `Marker`/`NextMarker`/`Truncated` paging.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use jiff::Timestamp;
use kmsaudit_model::{KeyRecord, RegionRecord};
use serde_json::{json, Value};

use super::api::{json, json_error, limit, page, region_record};
use super::{Call, State};

/// Aliases AWS lists in every region before the service first uses its key (no target key).
const PREDEFINED_ALIASES: [&str; 3] = ["alias/aws/dynamodb", "alias/aws/lambda", "alias/aws/s3"];

fn error(code: &str, message: &str) -> Response<Full<Bytes>> {
    json_error(StatusCode::BAD_REQUEST, code, message, false)
}

fn secs(t: &Option<Timestamp>) -> Value {
    t.map(|t| json!(t.as_second() as f64))
        .unwrap_or(Value::Null)
}

/// A listing's page with KMS's paging fields.
fn listing<T>(
    name: &str,
    items: &[T],
    input: &Value,
    default: usize,
    max: usize,
    each: impl Fn(&T) -> Value,
) -> Response<Full<Bytes>> {
    let limit = match limit(input.get("Limit"), default, max, false) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let start = match input.get("Marker").and_then(Value::as_str) {
        None => 0,
        Some(m) => match m.strip_prefix("m").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return error("InvalidMarkerException", "the marker is not valid"),
        },
    };
    let (items, next) = page(items, start, limit);
    let mut body =
        json!({ name: items.iter().map(each).collect::<Vec<_>>(), "Truncated": next.is_some() });
    if let Some(n) = next {
        body["NextMarker"] = json!(format!("m{n}"));
    }
    json(&body, false)
}

/// The key a request names (id or ARN), if it is in the calling account × region.
fn find_key<'s>(
    state: &'s State,
    region: &'s RegionRecord,
    input: &Value,
) -> Option<&'s KeyRecord> {
    let named = input.get("KeyId")?.as_str()?;
    let id = named.rsplit_once("key/").map_or(named, |(_, id)| id);
    let key = region.keys.get(*state.org.key_index.get(id)?)?;
    (key.key_id == id && (named == id || named == key.arn)).then_some(key)
}

pub(crate) fn answer(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let Some(region) = region_record(state, call) else {
        return error(
            "UnrecognizedClientException",
            "The security token included in the request is invalid (region not enabled)",
        );
    };
    let input: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    let op = call.target.as_deref().unwrap_or("");
    match op {
        "ListKeys" => listing(
            "Keys",
            &region.keys,
            &input,
            100,
            1000,
            |k| json!({"KeyId": k.key_id, "KeyArn": k.arn}),
        ),
        "ListAliases" => {
            let mut aliases: Vec<(String, Option<&str>)> = PREDEFINED_ALIASES
                .iter()
                .map(|a| (a.to_string(), None))
                .collect();
            for k in &region.keys {
                aliases.extend(
                    k.aliases
                        .iter()
                        .map(|a| (a.clone(), Some(k.key_id.as_str()))),
                );
            }
            let arn_prefix = format!(
                "arn:aws:kms:{}:{}:",
                call.region,
                super::generate::account_id(call.account)
            );
            listing("Aliases", &aliases, &input, 50, 100, |(name, target)| {
                let mut v = json!({"AliasName": name, "AliasArn": format!("{arn_prefix}{name}")});
                if let Some(t) = target {
                    v["TargetKeyId"] = json!(t);
                    v["CreationDate"] = json!(1_735_689_600.0);
                }
                v
            })
        }
        _ => {
            let Some(key) = find_key(state, region, &input) else {
                return error(
                    "NotFoundException",
                    "Key does not exist in this account and region",
                );
            };
            key_operation(op, key, &input)
        }
    }
}

fn key_operation(op: &str, key: &KeyRecord, input: &Value) -> Response<Full<Bytes>> {
    let meta = key.metadata.as_ref().expect("generated keys are described");
    match op {
        "DescribeKey" => json(&json!({ "KeyMetadata": describe(meta) }), false),
        "GetKeyPolicy" => {
            let default_policy = format!(
                r#"{{"Version":"2012-10-17","Id":"auto-ebs-2","Statement":[{{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":["kms:Describe*","kms:Get*","kms:List*"],"Resource":"*"}}]}}"#,
                meta.aws_account_id
            );
            match input
                .get("PolicyName")
                .and_then(Value::as_str)
                .unwrap_or("default")
            {
                "default" => json(
                    &json!({"Policy": key.policy.as_deref().map_or(default_policy, str::to_string), "PolicyName": "default"}),
                    false,
                ),
                other => error("NotFoundException", &format!("no policy named {other}")),
            }
        }
        "GetKeyRotationStatus" => match &key.rotation {
            Some(r) => {
                let mut body = json!({"KeyRotationEnabled": r.enabled, "KeyId": meta.arn});
                if let Some(p) = r.period_days {
                    body["RotationPeriodInDays"] = json!(p);
                }
                if r.next_rotation_date.is_some() {
                    body["NextRotationDate"] = secs(&r.next_rotation_date);
                }
                json(&body, false)
            }
            None if meta.key_state == "PendingDeletion" => {
                error("KMSInvalidStateException", "the key is pending deletion")
            }
            None if meta.key_manager == "AWS" => json(
                &json!({"KeyRotationEnabled": true, "KeyId": meta.arn, "RotationPeriodInDays": 365}),
                false,
            ),
            None => error(
                "UnsupportedOperationException",
                "rotation is not supported for this key",
            ),
        },
        "ListGrants" => {
            let grants = key.grants.as_deref().unwrap_or_default();
            listing("Grants", grants, input, 50, 100, |g| {
                let mut v = json!({
                    "KeyId": meta.arn, "GrantId": g.grant_id, "Operations": g.operations,
                    "CreationDate": secs(&g.creation_date),
                });
                for (field, value) in [
                    ("Name", &g.name),
                    ("GranteePrincipal", &g.grantee_principal),
                    ("RetiringPrincipal", &g.retiring_principal),
                    ("IssuingAccount", &g.issuing_account),
                ] {
                    if let Some(value) = value {
                        v[field] = json!(value);
                    }
                }
                if let Some(c) = &g.constraints {
                    let mut constraints = json!({});
                    if !c.encryption_context_subset.is_empty() {
                        constraints["EncryptionContextSubset"] = json!(c.encryption_context_subset);
                    }
                    if !c.encryption_context_equals.is_empty() {
                        constraints["EncryptionContextEquals"] = json!(c.encryption_context_equals);
                    }
                    v["Constraints"] = constraints;
                }
                v
            })
        }
        "GetKeyLastUsage" => match &key.last_use {
            Some(u) => match last_use_answer(&u.state, meta) {
                Some(body) => json(&body, false),
                None => error(
                    "AccessDeniedException",
                    "not authorized to perform kms:GetKeyLastUsage",
                ),
            },
            None => error("UnsupportedOperationException", "no last use for this key"),
        },
        "ListResourceTags" => {
            let tags = key.tags.as_deref().unwrap_or_default();
            listing(
                "Tags",
                tags,
                input,
                50,
                50,
                |t| json!({"TagKey": t.key, "TagValue": t.value}),
            )
        }
        other => error(
            "UnknownOperationException",
            &format!("{other} is not served by the scale stand-in"),
        ),
    }
}

/// GetKeyLastUsage's answer for a key whose last use is `state` (`None`: the call is refused).
/// KMS began tracking on 23 April 2026: the tracking start is that or the key's creation.
pub(crate) fn last_use_answer(
    state: &kmsaudit_model::LastUseState,
    meta: &kmsaudit_model::KeyMetadata,
) -> Option<Value> {
    use kmsaudit_model::LastUseState as S;
    let tracking_began: Timestamp = "2026-04-23T00:00:00Z".parse().expect("a valid time");
    let created = meta.creation_date.unwrap_or(tracking_began);
    let epoch = |t: &Timestamp| t.as_second() as f64;
    let (usage, tracking, created) = match state {
        S::Used {
            operation,
            at,
            cloudtrail_event_id,
        } => {
            let mut usage = json!({"Operation": operation, "Timestamp": epoch(at),
                "KmsRequestId": "00000000-0000-4000-8000-000000000000"});
            if let Some(id) = cloudtrail_event_id {
                usage["CloudTrailEventId"] = json!(id);
            }
            (usage, created.max(tracking_began), created)
        }
        S::NeverUsed { since } => (json!({}), *since, *since),
        S::NoRecordedUse { since } => (json!({}), *since, created.min(*since)),
        S::NotAssessed { .. } => return None,
    };
    Some(json!({"KeyId": meta.arn, "KeyLastUsage": usage,
        "TrackingStartDate": epoch(&tracking), "KeyCreationDate": epoch(&created)}))
}

/// The Resource Groups Tagging API's GetResources for KMS keys: every key of the account ×
/// region that has tags, in pages of `ResourcesPerPage` (50 by default, 100 at most) with a
/// `PaginationToken` that is empty on the last page.
pub(crate) fn tagging(state: &State, call: &Call) -> Response<Full<Bytes>> {
    if call.target.as_deref() != Some("GetResources") {
        return error(
            "UnknownOperationException",
            "only GetResources is served by the scale stand-in",
        );
    }
    let Some(region) = region_record(state, call) else {
        return error(
            "UnrecognizedClientException",
            "The security token included in the request is invalid (region not enabled)",
        );
    };
    let input: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    let wants_keys = input
        .get("ResourceTypeFilters")
        .and_then(Value::as_array)
        .is_none_or(|f| f.iter().any(|t| t == "kms" || t == "kms:key"));
    let tagged: Vec<&KeyRecord> = if wants_keys {
        region
            .keys
            .iter()
            .filter(|k| k.tags.as_ref().is_some_and(|t| !t.is_empty()))
            .collect()
    } else {
        vec![]
    };
    let limit = match limit(input.get("ResourcesPerPage"), 50, 100, false) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let start = match input.get("PaginationToken").and_then(Value::as_str) {
        None | Some("") => 0,
        Some(t) => match t.strip_prefix("t").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => {
                return error(
                    "PaginationTokenExpiredException",
                    "the pagination token is not valid",
                )
            }
        },
    };
    let (items, next) = page(&tagged, start, limit);
    let list: Vec<Value> = items
        .iter()
        .map(|k| {
            let tags: Vec<Value> = k
                .tags
                .iter()
                .flatten()
                .map(|t| json!({"Key": t.key, "Value": t.value}))
                .collect();
            json!({"ResourceARN": k.arn, "Tags": tags})
        })
        .collect();
    json(
        &json!({
            "ResourceTagMappingList": list,
            "PaginationToken": next.map(|n| format!("t{n}")).unwrap_or_default(),
        }),
        false,
    )
}

fn describe(m: &kmsaudit_model::KeyMetadata) -> Value {
    let mut v = json!({
        "AWSAccountId": m.aws_account_id, "KeyId": m.key_id, "Arn": m.arn,
        "CreationDate": secs(&m.creation_date), "Enabled": m.enabled, "Description": m.description,
        "KeyUsage": m.key_usage, "KeyState": m.key_state, "Origin": m.origin, "KeyManager": m.key_manager,
        "CustomerMasterKeySpec": m.key_spec, "KeySpec": m.key_spec,
    });
    if m.key_usage == "ENCRYPT_DECRYPT" && m.key_spec == "SYMMETRIC_DEFAULT" {
        v["EncryptionAlgorithms"] = json!(["SYMMETRIC_DEFAULT"]);
    }
    if let Some(mr) = m.multi_region {
        v["MultiRegion"] = json!(mr);
    }
    if m.deletion_date.is_some() {
        v["DeletionDate"] = secs(&m.deletion_date);
    }
    if let Some(days) = m.pending_deletion_window_in_days {
        v["PendingDeletionWindowInDays"] = json!(days);
    }
    if m.valid_to.is_some() {
        v["ValidTo"] = secs(&m.valid_to);
    }
    if let Some(e) = &m.expiration_model {
        v["ExpirationModel"] = json!(e);
    }
    if let Some(id) = &m.custom_key_store_id {
        v["CustomKeyStoreId"] = json!(id);
    }
    if let Some(c) = &m.multi_region_configuration {
        let primary = c.primary_region.as_deref().unwrap_or("");
        v["MultiRegionConfiguration"] = json!({
            "MultiRegionKeyType": c.key_type,
            "PrimaryKey": {"Arn": m.arn, "Region": primary},
            "ReplicaKeys": c.replica_regions.iter().map(|r| json!({"Arn": m.arn, "Region": r})).collect::<Vec<_>>(),
        });
    }
    v
}
