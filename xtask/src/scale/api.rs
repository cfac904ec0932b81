//! The scale stand-in's answers besides KMS: STS (query protocol, XML), Organizations (JSON
//! 1.1), IAM Access Analyzer and the Account Management API (restJson1), and the helpers every
//! protocol shares (errors, paging).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::generate::{account_id, ROLE};
use super::{Call, State};

pub(crate) fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

/// A JSON answer: JSON 1.1 (KMS, Organizations) or restJson1 (Access Analyzer, Account).
pub(crate) fn json(v: &Value, rest_json: bool) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    let content_type = if rest_json {
        "application/json"
    } else {
        "application/x-amz-json-1.1"
    };
    r.headers_mut()
        .insert("content-type", content_type.parse().expect("static header"));
    r
}

/// An error of the JSON protocols: JSON 1.1 names it in `__type`, restJson1 in a header.
pub(crate) fn json_error(
    status: StatusCode,
    code: &str,
    message: &str,
    rest_json: bool,
) -> Response<Full<Bytes>> {
    let mut r = if rest_json {
        let mut r = json(&json!({ "message": message }), true);
        r.headers_mut()
            .insert("x-amzn-errortype", code.parse().expect("an error code"));
        r
    } else {
        json(&json!({ "__type": code, "message": message }), false)
    };
    *r.status_mut() = status;
    r
}

pub(crate) fn sts_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>scale</RequestId></ErrorResponse>"
    );
    let mut r = text(status, &body);
    r.headers_mut()
        .insert("content-type", "text/xml".parse().expect("static header"));
    r
}

/// One page of `items` from `start`: the page and where the next begins, if anything is left.
pub(crate) fn page<T>(items: &[T], start: usize, limit: usize) -> (&[T], Option<usize>) {
    let start = start.min(items.len());
    let end = (start + limit).min(items.len());
    (&items[start..end], (end < items.len()).then_some(end))
}

// The error is the answer itself, returned as is by the handler.
#[allow(clippy::result_large_err)]
/// A page size as the API validates it: absent → `default`, outside 1..=`max` → an error.
pub(crate) fn limit(
    v: Option<&Value>,
    default: usize,
    max: usize,
    rest_json: bool,
) -> Result<usize, Response<Full<Bytes>>> {
    match v.and_then(Value::as_u64) {
        None => Ok(default),
        Some(n) if (1..=max as u64).contains(&n) => Ok(n as usize),
        Some(n) => Err(json_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &format!("1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {max}"),
            rest_json,
        )),
    }
}

#[allow(clippy::result_large_err)]
/// A paging token of ours back into an index; anything else is refused as AWS refuses it.
pub(crate) fn token(v: Option<&str>, rest_json: bool) -> Result<usize, Response<Full<Bytes>>> {
    match v {
        None => Ok(0),
        Some(t) => t
            .strip_prefix("p")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                json_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidNextTokenException",
                    "invalid token",
                    rest_json,
                )
            }),
    }
}

/// `Service.Operation` of a call, for the counts.
pub(crate) fn operation(call: &Call) -> String {
    match call.service.as_str() {
        "kms" => format!("KMS.{}", call.target.as_deref().unwrap_or("?")),
        "organizations" => format!("Organizations.{}", call.target.as_deref().unwrap_or("?")),
        "sts" => format!("STS.{}", form(&call.body, "Action").unwrap_or_default()),
        "access-analyzer" => format!("AccessAnalyzer.{}", aa_operation(call)),
        "account" => "Account.ListRegions".into(),
        "tagging" => format!("Tagging.{}", call.target.as_deref().unwrap_or("?")),
        "iam" => super::access::iam_operation(call),
        "cloudtrail" | "events" => format!(
            "{}.{}",
            if call.service == "events" {
                "EventBridge"
            } else {
                "CloudTrail"
            },
            call.target
                .as_deref()
                .and_then(|t| t.rsplit('.').next())
                .unwrap_or("?")
        ),
        s => format!("{s}.?"),
    }
}

fn aa_operation(call: &Call) -> &'static str {
    match (call.method.as_str(), call.path.as_str()) {
        ("GET", "/analyzer") => "ListAnalyzers",
        ("POST", "/finding") => "ListFindings",
        _ => "Unknown",
    }
}

fn form(body: &[u8], name: &str) -> Option<String> {
    crate::standin::form_value(&String::from_utf8_lossy(body), name)
}

pub(crate) fn answer(state: &State, call: &Call) -> Response<Full<Bytes>> {
    match call.service.as_str() {
        "kms" => super::kms::answer(state, call),
        "sts" => sts(state, call),
        "organizations" => organizations(state, call),
        "access-analyzer" => access_analyzer(state, call),
        "account" => list_regions(state, call),
        "tagging" => super::kms::tagging(state, call),
        "iam" => super::access::iam(state, call),
        "cloudtrail" | "events" => super::monitoring::answer(state, call),
        s => json_error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            &format!("{s} is not served"),
            true,
        ),
    }
}

fn sts(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let ns = "https://sts.amazonaws.com/doc/2011-06-15/";
    let xml = |body: String| {
        let mut r = text(StatusCode::OK, &body);
        r.headers_mut()
            .insert("content-type", "text/xml".parse().expect("static header"));
        r
    };
    match form(&call.body, "Action").as_deref() {
        Some("GetCallerIdentity") => {
            let id = account_id(call.account);
            let arn = if call.account == 0 {
                format!("arn:aws:iam::{id}:user/bench")
            } else {
                format!("arn:aws:sts::{id}:assumed-role/{ROLE}/kmsaudit")
            };
            xml(format!("<GetCallerIdentityResponse xmlns=\"{ns}\"><GetCallerIdentityResult><Arn>{arn}</Arn><UserId>AIDASCALE</UserId><Account>{id}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>scale</RequestId></ResponseMetadata></GetCallerIdentityResponse>"))
        }
        Some("AssumeRole") => {
            let role = form(&call.body, "RoleArn").unwrap_or_default();
            let target = role
                .strip_prefix("arn:aws:iam::")
                .and_then(|r| r.split_once(":role/"))
                .filter(|(_, name)| *name == ROLE)
                .and_then(|(acct, _)| state.org.account_index.get(acct).map(|_| acct.to_string()));
            let Some(target) = target else {
                return sts_error(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    &format!("not authorized to assume {role}"),
                );
            };
            let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
            xml(format!("<AssumeRoleResponse xmlns=\"{ns}\"><AssumeRoleResult><Credentials><AccessKeyId>ASIA{target}</AccessKeyId><SecretAccessKey>scale-secret</SecretAccessKey><SessionToken>scale-token</SessionToken><Expiration>{}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROASCALE:kmsaudit</AssumedRoleId><Arn>arn:aws:sts::{target}:assumed-role/{ROLE}/kmsaudit</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>scale</RequestId></ResponseMetadata></AssumeRoleResponse>", expires.strftime("%Y-%m-%dT%H:%M:%SZ")))
        }
        other => sts_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("{other:?} is not served"),
        ),
    }
}

fn organizations(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let input: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    let management = account_id(0);
    match call.target.as_deref() {
        Some("DescribeOrganization") => json(
            &json!({"Organization": {
                "Id": super::generate::ORG_ID,
                "Arn": format!("arn:aws:organizations::{management}:organization/{}", super::generate::ORG_ID),
                "FeatureSet": "ALL",
                "MasterAccountArn": format!("arn:aws:organizations::{management}:account/{}/{management}", super::generate::ORG_ID),
                "MasterAccountId": management,
                "MasterAccountEmail": "scale-0@example.com",
            }}),
            false,
        ),
        // No delegated administrator: the management account holds the organization analyzers.
        Some("ListDelegatedAdministrators") => {
            json(&json!({ "DelegatedAdministrators": [] }), false)
        }
        Some("ListAccounts") => {
            let (max, start) = match (
                limit(input.get("MaxResults"), 20, 20, false),
                token(input.get("NextToken").and_then(Value::as_str), false),
            ) {
                (Ok(m), Ok(s)) => (m, s),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            let (accounts, next) = page(&state.org.truth.accounts, start, max);
            let listed: Vec<Value> = accounts
                .iter()
                .map(|a| json!({
                    "Id": a.id,
                    "Arn": format!("arn:aws:organizations::{management}:account/{}/{}", super::generate::ORG_ID, a.id),
                    "Email": a.email, "Name": a.name, "Status": "ACTIVE", "State": "ACTIVE",
                    "JoinedMethod": "CREATED", "JoinedTimestamp": 1_735_689_600,
                }))
                .collect();
            let mut body = json!({ "Accounts": listed });
            if let Some(n) = next {
                body["NextToken"] = json!(format!("p{n}"));
            }
            json(&body, false)
        }
        other => super::access::organization_policies(state, call, &input).unwrap_or_else(|| {
            json_error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!("{other:?} is not served"),
                false,
            )
        }),
    }
}

fn list_regions(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let request: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    if call.account != 0 && request.get("AccountId").is_some() {
        return json_error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "only the management account may name an account",
            true,
        );
    }
    let enabled = &state.org.enabled;
    crate::list_regions::answer_with(&account_id(call.account), &request, |_, region| {
        if !enabled.iter().any(|r| r == region) {
            "DISABLED"
        } else if kmsaudit_scanner::is_opt_in(region) {
            "ENABLED"
        } else {
            "ENABLED_BY_DEFAULT"
        }
    })
}

/// The region record of the calling account × region, if the region is one of the org's.
pub(crate) fn region_record<'s>(
    state: &'s State,
    call: &Call,
) -> Option<&'s kmsaudit_model::RegionRecord> {
    let i = state
        .org
        .region_index
        .get(&(call.account, call.region.clone()))?;
    let record = &state.org.truth.accounts[call.account].regions[*i];
    matches!(record.access, kmsaudit_model::RegionAccess::Scanned).then_some(record)
}

/// A ListFindings (v1) summary, external access details included.
fn finding_json(f: &kmsaudit_model::AnalyzerFinding) -> Value {
    let stamp = "2025-01-01T00:00:00Z";
    json!({
        "id": f.id, "resource": f.resource, "resourceType": "AWS::KMS::Key",
        "resourceOwnerAccount": f.resource_owner_account, "status": f.status,
        "analyzedAt": stamp, "createdAt": stamp, "updatedAt": stamp,
        "action": ["kms:Decrypt"], "condition": f.condition, "isPublic": f.is_public, "principal": f.principal,
    })
}

fn access_analyzer(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let not_found = |what: String| {
        json_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &what,
            true,
        )
    };
    let Some(region) = region_record(state, call) else {
        return json_error(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "region not enabled",
            true,
        );
    };
    let record = region.access_analyzer.clone().unwrap_or_default();
    let query = |name: &str| crate::standin::form_value(&call.query, name);
    match aa_operation(call) {
        "ListAnalyzers" => {
            let max = query("maxResults")
                .and_then(|m| m.parse().ok())
                .unwrap_or(100usize)
                .clamp(1, 100);
            let start = match token(query("nextToken").as_deref(), true) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let (analyzers, next) = page(&record.analyzers, start, max);
            let listed: Vec<Value> = analyzers
                .iter()
                .map(|a| json!({"arn": a.arn, "name": a.name, "type": a.analyzer_type, "status": a.status, "createdAt": "2025-01-01T00:00:00Z"}))
                .collect();
            let mut body = json!({ "analyzers": listed });
            if let Some(n) = next {
                body["nextToken"] = json!(format!("p{n}"));
            }
            json(&body, true)
        }
        "ListFindings" => {
            let input: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
            let arn = input
                .get("analyzerArn")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !record.analyzers.iter().any(|a| a.arn == arn) {
                return not_found(format!("analyzer {arn} not found"));
            }
            let (max, start) = match (
                limit(input.get("maxResults"), 100, 1000, true),
                token(input.get("nextToken").and_then(Value::as_str), true),
            ) {
                (Ok(m), Ok(s)) => (m, s),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            let (findings, next) = page(&record.findings, start, max);
            let listed: Vec<Value> = findings.iter().map(finding_json).collect();
            let mut body = json!({ "findings": listed });
            if let Some(n) = next {
                body["nextToken"] = json!(format!("p{n}"));
            }
            json(&body, true)
        }
        _ => not_found(format!("{} {} is not served", call.method, call.path)),
    }
}
