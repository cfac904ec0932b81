//! The scale stand-in's answers for effective access: IAM (query protocol, XML) —
//! GetAccountAuthorizationDetails per account at its real page sizes (MaxItems 100 by default,
//! at most 1,000, a `Marker` between pages), GetPolicy and GetPolicyVersion for the AWS managed
//! policies — and the organization's tree and policies (JSON 1.1, 20 items a page at most):
//! ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent, ListPolicies,
//! DescribePolicy, ListTargetsForPolicy. All from the truth's `iam`, `aws_managed_policies`
//! and `organization.policies`.

use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use kmsaudit_model::{IamPrincipalKind, ManagedPolicy, OrgPolicy, OrgPolicyKind};
use serde_json::{json, Value};

use super::api::{json, json_error, limit, page, text, token};
use super::generate::{account_id, ORG_ID};
use super::{Call, State};

const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// GetAccountAuthorizationDetails' page sizes.
const IAM_DEFAULT_ITEMS: usize = 100;
const IAM_MAX_ITEMS: usize = 1000;
/// The Organizations listings' largest page.
const ORG_MAX_RESULTS: usize = 20;

fn form(call: &Call, name: &str) -> Option<String> {
    crate::standin::form_value(&String::from_utf8_lossy(&call.body), name)
}

fn xml(body: String) -> Response<Full<Bytes>> {
    let mut r = text(StatusCode::OK, &body);
    r.headers_mut()
        .insert("content-type", "text/xml".parse().expect("static header"));
    r
}

pub(crate) use crate::standin::query_error as iam_error;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A policy document as IAM returns it: URL-encoded (RFC 3986).
fn encoded(document: &str) -> String {
    percent_encoding::utf8_percent_encode(document, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `Service.Operation` of an IAM call, for the counts.
pub(crate) fn iam_operation(call: &Call) -> String {
    format!("IAM.{}", form(call, "Action").unwrap_or_default())
}

pub(crate) fn iam(state: &State, call: &Call) -> Response<Full<Bytes>> {
    match form(call, "Action").as_deref() {
        Some("GetAccountAuthorizationDetails") => authorization_details(state, call),
        Some("GetPolicy") => aws_managed(state, call, |p| {
            format!(
                "<GetPolicyResponse xmlns=\"{IAM_NS}\"><GetPolicyResult><Policy><PolicyName>{}</PolicyName><PolicyId>ANPASCALE</PolicyId><Arn>{}</Arn><Path>/</Path><DefaultVersionId>v1</DefaultVersionId><AttachmentCount>1</AttachmentCount><IsAttachable>true</IsAttachable></Policy></GetPolicyResult><ResponseMetadata><RequestId>scale</RequestId></ResponseMetadata></GetPolicyResponse>",
                escape(&p.name),
                escape(&p.arn)
            )
        }),
        Some("GetPolicyVersion") => aws_managed(state, call, |p| {
            format!(
                "<GetPolicyVersionResponse xmlns=\"{IAM_NS}\"><GetPolicyVersionResult><PolicyVersion><Document>{}</Document><VersionId>v1</VersionId><IsDefaultVersion>true</IsDefaultVersion></PolicyVersion></GetPolicyVersionResult><ResponseMetadata><RequestId>scale</RequestId></ResponseMetadata></GetPolicyVersionResponse>",
                encoded(&p.document)
            )
        }),
        other => iam_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("{other:?} is not served"),
        ),
    }
}

fn aws_managed(
    state: &State,
    call: &Call,
    render: impl Fn(&ManagedPolicy) -> String,
) -> Response<Full<Bytes>> {
    let arn = form(call, "PolicyArn").unwrap_or_default();
    match state
        .org
        .truth
        .aws_managed_policies
        .iter()
        .find(|p| p.arn == arn)
    {
        Some(p) => xml(render(p)),
        None => iam_error(
            StatusCode::NOT_FOUND,
            "NoSuchEntity",
            &format!("Policy {arn} was not found."),
        ),
    }
}

/// One page of an account's users, groups, roles and customer managed policies, in that
/// order, as GetAccountAuthorizationDetails counts items.
fn authorization_details(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let max = match form(call, "MaxItems").map(|v| v.parse::<usize>()) {
        None => IAM_DEFAULT_ITEMS,
        Some(Ok(n)) if (1..=IAM_MAX_ITEMS).contains(&n) => n,
        Some(_) => {
            return iam_error(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                "MaxItems must be between 1 and 1000",
            )
        }
    };
    let start = match form(call, "Marker") {
        None => 0,
        Some(m) => match m.strip_prefix("m").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return iam_error(StatusCode::BAD_REQUEST, "ValidationError", "invalid Marker"),
        },
    };
    let account = &state.org.truth.accounts[call.account];
    let Some(record) = account.iam.as_ref() else {
        return iam_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "this account serves no IAM",
        );
    };
    let (users, roles): (Vec<_>, Vec<_>) = record
        .principals
        .iter()
        .partition(|p| p.kind == IamPrincipalKind::User);
    let total = users.len() + record.groups.len() + roles.len() + record.managed_policies.len();
    let end = (start + max).min(total);
    let (mut user_list, mut group_list, mut role_list, mut policy_list) =
        (String::new(), String::new(), String::new(), String::new());
    let inline = |policies: &[kmsaudit_model::InlinePolicy]| {
        policies.iter().fold(String::new(), |mut s, p| {
            let _ = write!(
                s,
                "<member><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument></member>",
                escape(&p.name),
                encoded(&p.document)
            );
            s
        })
    };
    let attached = |arns: &[String]| {
        arns.iter().fold(String::new(), |mut s, arn| {
            let name = arn.rsplit('/').next().unwrap_or(arn);
            let _ = write!(
                s,
                "<member><PolicyName>{}</PolicyName><PolicyArn>{}</PolicyArn></member>",
                escape(name),
                escape(arn)
            );
            s
        })
    };
    let boundary = |b: &Option<String>| {
        b.as_ref().map_or(String::new(), |arn| {
            format!("<PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType><PermissionsBoundaryArn>{}</PermissionsBoundaryArn></PermissionsBoundary>", escape(arn))
        })
    };
    let name_of = |arn: &str| arn.rsplit('/').next().unwrap_or(arn).to_string();
    for i in start..end {
        if let Some(u) = users.get(i) {
            let groups = u.groups.iter().fold(String::new(), |mut s, g| {
                let _ = write!(s, "<member>{}</member>", escape(g));
                s
            });
            let _ = write!(
                user_list,
                "<member><Path>/</Path><UserName>{}</UserName><UserId>AIDASCALE{i}</UserId><Arn>{}</Arn><CreateDate>2025-01-01T00:00:00Z</CreateDate><UserPolicyList>{}</UserPolicyList><GroupList>{groups}</GroupList><AttachedManagedPolicies>{}</AttachedManagedPolicies>{}</member>",
                escape(&name_of(&u.arn)),
                escape(&u.arn),
                inline(&u.inline_policies),
                attached(&u.attached_policies),
                boundary(&u.boundary)
            );
        } else if let Some(g) = record.groups.get(i - users.len()) {
            let _ = write!(
                group_list,
                "<member><Path>/</Path><GroupName>{}</GroupName><GroupId>AGPASCALE{i}</GroupId><Arn>{}</Arn><CreateDate>2025-01-01T00:00:00Z</CreateDate><GroupPolicyList>{}</GroupPolicyList><AttachedManagedPolicies>{}</AttachedManagedPolicies></member>",
                escape(&g.name),
                escape(&g.arn),
                inline(&g.inline_policies),
                attached(&g.attached_policies)
            );
        } else if let Some(r) = roles.get(i - users.len() - record.groups.len()) {
            let _ = write!(
                role_list,
                "<member><Path>/</Path><RoleName>{}</RoleName><RoleId>AROASCALE{i}</RoleId><Arn>{}</Arn><CreateDate>2025-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument><InstanceProfileList/><RolePolicyList>{}</RolePolicyList><AttachedManagedPolicies>{}</AttachedManagedPolicies>{}</member>",
                escape(&name_of(&r.arn)),
                escape(&r.arn),
                encoded(r.trust_policy.as_deref().unwrap_or_default()),
                inline(&r.inline_policies),
                attached(&r.attached_policies),
                boundary(&r.boundary)
            );
        } else if let Some(p) = record
            .managed_policies
            .get(i - users.len() - record.groups.len() - roles.len())
        {
            let _ = write!(
                policy_list,
                "<member><PolicyName>{}</PolicyName><PolicyId>ANPASCALE{i}</PolicyId><Arn>{}</Arn><Path>/</Path><DefaultVersionId>v1</DefaultVersionId><AttachmentCount>1</AttachmentCount><IsAttachable>true</IsAttachable><PolicyVersionList><member><Document>{}</Document><VersionId>v1</VersionId><IsDefaultVersion>true</IsDefaultVersion></member></PolicyVersionList></member>",
                escape(&p.name),
                escape(&p.arn),
                encoded(&p.document)
            );
        }
    }
    let more = if end < total {
        format!("<IsTruncated>true</IsTruncated><Marker>m{end}</Marker>")
    } else {
        "<IsTruncated>false</IsTruncated>".into()
    };
    xml(format!(
        "<GetAccountAuthorizationDetailsResponse xmlns=\"{IAM_NS}\"><GetAccountAuthorizationDetailsResult>{more}<UserDetailList>{user_list}</UserDetailList><GroupDetailList>{group_list}</GroupDetailList><RoleDetailList>{role_list}</RoleDetailList><Policies>{policy_list}</Policies></GetAccountAuthorizationDetailsResult><ResponseMetadata><RequestId>scale</RequestId></ResponseMetadata></GetAccountAuthorizationDetailsResponse>"
    ))
}

fn kind_name(kind: OrgPolicyKind) -> &'static str {
    match kind {
        OrgPolicyKind::ServiceControlPolicy => "SERVICE_CONTROL_POLICY",
        OrgPolicyKind::ResourceControlPolicy => "RESOURCE_CONTROL_POLICY",
    }
}

fn target_type(id: &str) -> &'static str {
    if id.starts_with("r-") {
        "ROOT"
    } else if id.starts_with("ou-") {
        "ORGANIZATIONAL_UNIT"
    } else {
        "ACCOUNT"
    }
}

fn summary(p: &OrgPolicy) -> Value {
    let management = account_id(0);
    json!({
        "Id": p.id,
        "Arn": format!("arn:aws:organizations::{management}:policy/{ORG_ID}/{}/{}", kind_name(p.kind).to_ascii_lowercase(), p.id),
        "Name": p.name,
        "Description": "",
        "Type": kind_name(p.kind),
        "AwsManaged": p.name.contains("FullAWSAccess"),
    })
}

/// One page of `items` as the Organizations listings page (`NextToken` `pN`).
fn listed(input: &Value, field: &str, items: Vec<Value>) -> Response<Full<Bytes>> {
    let (max, start) = match (
        limit(
            input.get("MaxResults"),
            ORG_MAX_RESULTS,
            ORG_MAX_RESULTS,
            false,
        ),
        token(input.get("NextToken").and_then(Value::as_str), false),
    ) {
        (Ok(m), Ok(s)) => (m, s),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let (items, next) = page(&items, start, max);
    let mut body = json!({ field: items });
    if let Some(n) = next {
        body["NextToken"] = json!(format!("p{n}"));
    }
    json(&body, false)
}

/// The organization's tree and policies; `None` when the operation is not one of them.
pub(crate) fn organization_policies(
    state: &State,
    call: &Call,
    input: &Value,
) -> Option<Response<Full<Bytes>>> {
    let op = call.target.as_deref()?;
    let Some(tree) = state
        .org
        .truth
        .organization
        .as_ref()
        .and_then(|o| o.policies.as_ref())
    else {
        return crate::standin::ORG_POLICY_READS.contains(&op).then(|| {
            json_error(
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                "this organization serves no policies",
                false,
            )
        });
    };
    let management = account_id(0);
    let parent = input.get("ParentId").and_then(Value::as_str).unwrap_or("");
    let children = |ou: bool| -> Vec<&String> {
        tree.parents
            .iter()
            .filter(|(child, p)| *p == parent && child.starts_with("ou-") == ou)
            .map(|(child, _)| child)
            .collect()
    };
    let policy = || {
        let id = input.get("PolicyId").and_then(Value::as_str).unwrap_or("");
        tree.policies.iter().find(|p| p.id == id)
    };
    let not_found = || {
        json_error(
            StatusCode::BAD_REQUEST,
            "PolicyNotFoundException",
            "no such policy",
            false,
        )
    };
    Some(match op {
        "ListRoots" => listed(
            input,
            "Roots",
            vec![json!({
                "Id": tree.root_id,
                "Arn": format!("arn:aws:organizations::{management}:root/{ORG_ID}/{}", tree.root_id),
                "Name": "Root",
                "PolicyTypes": tree.enabled.iter().map(|k| json!({"Type": kind_name(*k), "Status": "ENABLED"})).collect::<Vec<_>>(),
            })],
        ),
        "ListOrganizationalUnitsForParent" => listed(
            input,
            "OrganizationalUnits",
            children(true)
                .into_iter()
                .map(|ou| json!({"Id": ou, "Arn": format!("arn:aws:organizations::{management}:ou/{ORG_ID}/{ou}"), "Name": ou}))
                .collect(),
        ),
        "ListAccountsForParent" => listed(
            input,
            "Accounts",
            children(false)
                .into_iter()
                .map(|a| json!({
                    "Id": a,
                    "Arn": format!("arn:aws:organizations::{management}:account/{ORG_ID}/{a}"),
                    "Email": format!("{a}@example.com"), "Name": a, "Status": "ACTIVE", "State": "ACTIVE",
                    "JoinedMethod": "CREATED", "JoinedTimestamp": 1_735_689_600,
                }))
                .collect(),
        ),
        "ListPolicies" => {
            let filter = input.get("Filter").and_then(Value::as_str).unwrap_or("");
            listed(
                input,
                "Policies",
                tree.policies
                    .iter()
                    .filter(|p| kind_name(p.kind) == filter)
                    .map(summary)
                    .collect(),
            )
        }
        "DescribePolicy" => match policy() {
            Some(p) => json(
                &json!({"Policy": {"PolicySummary": summary(p), "Content": &*p.document}}),
                false,
            ),
            None => not_found(),
        },
        "ListTargetsForPolicy" => match policy() {
            Some(p) => listed(
                input,
                "Targets",
                p.targets
                    .iter()
                    .map(|t| json!({"TargetId": t, "Arn": format!("arn:aws:organizations::{management}:target/{ORG_ID}/{t}"), "Name": t, "Type": target_type(t)}))
                    .collect(),
            ),
            None => not_found(),
        },
        _ => return None,
    })
}
