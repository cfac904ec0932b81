//! The analysis against the reference evaluator on generated policies (biased toward the
//! constructs IAM is subtle about), in both directions:
//!
//! * **soundness**: for each policy, a search over concrete requests from outside the
//!   organization; whenever IAM would allow one, the analysis must report the access;
//! * **precision**: whenever the analysis reports an outsider's access (public, or an outside
//!   account or organization), a search over concrete outsider requests (callers of several
//!   kinds, every value the policy's own conditions name for the keys a caller controls) must
//!   find one the reference evaluator allows, or the finding must say which condition it
//!   assumed an outsider can satisfy.
//!
//! `KMSAUDIT_SOUNDNESS_CASES` sets the number of generated policies (default 1,500, the bounded
//! run of `cargo xtask test`; `cargo xtask bench soundness` runs millions).

use std::collections::BTreeMap;

use kmsaudit_evaluator::policy::parse_policy;
use kmsaudit_evaluator::policy::reference::{decide, Caller, Decision, Request};
use kmsaudit_evaluator::{lint_policy, LintOptions, LintReport};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

const KEY_ACCOUNT: &str = "111122223333";
const ORG_ACCOUNT: &str = "222233334444";
const OUTSIDE: &str = "999988887777";
/// The AWS-owned account a service principal's requests come from.
const SERVICE_ACCOUNT: &str = "777766665555";
/// An account no generated policy names: unrelated to everything.
const UNRELATED: &str = "555566667777";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ORG_ID: &str = "o-exampleorg";
/// The scan's start: time conditions are judged against it.
const NOW: &str = "2026-11-23T00:00:00Z";

fn principal() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!("*"),
        json!({"AWS": "*"}),
        json!({"AWS": format!("arn:aws:iam::{KEY_ACCOUNT}:root")}),
        json!({"AWS": format!("arn:aws:iam::{KEY_ACCOUNT}:role/App")}),
        json!({"AWS": OUTSIDE}),
        json!({"AWS": format!("arn:aws:iam::{OUTSIDE}:role/Partner")}),
        json!({"AWS": format!("arn:aws:iam::{ORG_ACCOUNT}:role/R")}),
        json!({"AWS": ["arn:aws:iam::222233334444:role/R", "*"]}),
        json!({"AWS": [OUTSIDE, KEY_ACCOUNT]}),
        json!({"Service": "logs.amazonaws.com"}),
        json!({"AWS": format!("arn:aws:iam::{OUTSIDE}:user/admin")}),
        // Another partition: never granted anything on a key of `aws`.
        json!({"AWS": "arn:aws-cn:iam::999988887777:root"}),
        // A partial wildcard: KMS refuses the policy.
        json!({"AWS": "arn:aws:iam::999988887777:role/*"}),
    ])
}

fn actions() -> impl Strategy<Value = (&'static str, Value)> {
    let action = prop::sample::select(vec![
        "kms:*",
        "*",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:Create*",
        "kms:PutKeyPolicy",
        "kms:CreateKey",
        "kms:Describe*",
        "KMS:decrypt",
        "kms:ScheduleKeyDeletion",
        "kms:GetKeyPolicy",
    ]);
    (prop::collection::vec(action, 1..3), any::<bool>())
        .prop_map(|(a, not)| (if not { "NotAction" } else { "Action" }, json!(a)))
}

fn condition() -> impl Strategy<Value = (String, String, Value)> {
    prop::sample::select(vec![
        ("StringEquals", "aws:PrincipalOrgID", json!("o-exampleorg")),
        ("StringEquals", "aws:PrincipalOrgID", json!("o-otherorg01")),
        (
            "StringEqualsIgnoreCase",
            "aws:PrincipalOrgID",
            json!("O-EXAMPLEORG"),
        ),
        (
            "StringEqualsIfExists",
            "aws:PrincipalOrgID",
            json!("o-exampleorg"),
        ),
        (
            "ForAllValues:StringEquals",
            "aws:PrincipalOrgID",
            json!("o-exampleorg"),
        ),
        (
            "ForAnyValue:StringEquals",
            "aws:PrincipalOrgID",
            json!("o-exampleorg"),
        ),
        (
            "StringNotEquals",
            "aws:PrincipalOrgID",
            json!("o-exampleorg"),
        ),
        ("StringEquals", "kms:CallerAccount", json!(KEY_ACCOUNT)),
        ("StringEquals", "kms:CallerAccount", json!(OUTSIDE)),
        ("StringNotEquals", "kms:CallerAccount", json!(KEY_ACCOUNT)),
        (
            "StringEquals",
            "aws:PrincipalAccount",
            json!([KEY_ACCOUNT, ORG_ACCOUNT]),
        ),
        (
            "ArnLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::111122223333:*"),
        ),
        (
            "ArnLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::*:role/Partner"),
        ),
        ("StringEquals", "aws:SourceAccount", json!(KEY_ACCOUNT)),
        (
            "StringEquals",
            "kms:ViaService",
            json!("s3.us-east-1.amazonaws.com"),
        ),
        ("StringEquals", "aws:SourceVpce", json!("vpce-1")),
        ("StringNotEquals", "aws:SourceVpce", json!("vpce-1")),
        ("IpAddress", "aws:SourceIp", json!("10.0.0.0/8")),
        ("NotIpAddress", "aws:SourceIp", json!("10.0.0.0/8")),
        ("StringLike", "aws:userid", json!("AROAOUTSIDE*")),
        ("StringEquals", "aws:userid", json!(OUTSIDE)),
        (
            "ArnLike",
            "kms:EncryptionContext:aws:logs:arn",
            json!("arn:aws:logs:*:111122223333:log-group:*"),
        ),
        ("StringEquals", "aws:userid", json!(KEY_ACCOUNT)),
        ("StringLike", "kms:CallerAccount", json!("99998888777?")),
        ("StringLike", "kms:CallerAccount", json!("1111*")),
        ("StringLike", "aws:PrincipalOrgID", json!("o-other*")),
        (
            "StringNotEquals",
            "aws:PrincipalAccount",
            json!([KEY_ACCOUNT, ORG_ACCOUNT]),
        ),
        (
            "IpAddress",
            "aws:SourceIp",
            json!(["0.0.0.0/1", "128.0.0.0/1"]),
        ),
        ("StringEquals", "aws:username", json!("admin")),
        ("Null", "aws:PrincipalOrgID", json!("true")),
        ("Bool", "kms:GrantIsForAWSResource", json!("true")),
        // Policy variables: bound to the caller, to the resource, to nothing; escapes.
        (
            "StringEquals",
            "kms:CallerAccount",
            json!("${aws:PrincipalAccount}"),
        ),
        (
            "StringEquals",
            "kms:CallerAccount",
            json!("${aws:ResourceAccount}"),
        ),
        (
            "StringEquals",
            "aws:PrincipalOrgID",
            json!("${aws:ResourceOrgID}"),
        ),
        (
            "StringEquals",
            "kms:CallerAccount",
            json!("${aws:NoSuchKey}"),
        ),
        ("StringLike", "aws:PrincipalOrgID", json!("o-${*}")),
        (
            "StringEquals",
            "aws:SourceVpce",
            json!("${aws:PrincipalTag/vpce, 'vpce-1'}"),
        ),
        // `*` is no wildcard under StringEquals.
        ("StringEquals", "kms:ViaService", json!("*")),
        ("StringEquals", "aws:username", json!("*")),
        // StringLike spans colons; IAM paths may hold them.
        (
            "StringLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam:*:111122223333:role/*"),
        ),
        (
            "StringLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::111122223333:*"),
        ),
        // Keys in every KMS request.
        ("Null", "aws:PrincipalArn", json!("true")),
        ("Null", "aws:PrincipalOrgID", json!("false")),
        (
            "ForAllValues:StringEquals",
            "kms:CallerAccount",
            json!(KEY_ACCOUNT),
        ),
        // Time windows: past, open now, future.
        (
            "DateLessThan",
            "aws:CurrentTime",
            json!("2020-01-01T00:00:00Z"),
        ),
        (
            "DateGreaterThan",
            "aws:CurrentTime",
            json!("2020-01-01T00:00:00Z"),
        ),
        (
            "DateGreaterThan",
            "aws:CurrentTime",
            json!("2099-01-01T00:00:00Z"),
        ),
        // A wildcard inside a unique id matches every account's principals.
        ("StringLike", "aws:userid", json!("AROAA*")),
        (
            "StringLike",
            "aws:userid",
            json!("AROAOUTSIDEROLEID12345:*"),
        ),
        // The root narrowed to itself.
        (
            "StringEquals",
            "aws:PrincipalArn",
            json!("arn:aws:iam::111122223333:root"),
        ),
        ("StringEquals", "aws:PrincipalType", json!("Account")),
        ("Bool", "aws:SecureTransport", json!("true")),
        ("Bool", "aws:SecureTransport", json!("false")),
    ])
    .prop_map(|(op, key, value)| (op.to_string(), key.to_string(), value))
}

fn statement() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        principal(),
        any::<bool>(),
        actions(),
        prop::collection::vec(condition(), 0..3),
        prop::sample::select(vec![
            "*",
            "*",
            "*",
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:eu-west-1:111122223333:key/*",
            "arn:aws:kms:*:999988887777:key/*",
            "arn:aws:kms:us-east-1:111122223333:alias/app",
            "arn:aws:kms:*:${aws:ResourceAccount}:key/*",
        ]),
    )
        .prop_map(
            |(allow, principal, not_principal, (action_key, action), conditions, resource)| {
                let mut st = json!({
                    "Effect": if allow { "Allow" } else { "Deny" },
                    "Resource": resource,
                });
                // NotPrincipal is only valid with Deny (AWS rejects it with Allow in key policies).
                let principal_key = if not_principal && !allow && principal != json!("*") {
                    "NotPrincipal"
                } else {
                    "Principal"
                };
                st[principal_key] = principal;
                st[action_key] = action;
                let mut cond = serde_json::Map::new();
                for (op, key, value) in conditions {
                    let block = cond.entry(op).or_insert_with(|| json!({}));
                    block[key] = value;
                }
                if !cond.is_empty() {
                    st["Condition"] = Value::Object(cond);
                }
                st
            },
        )
}

fn policy() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(statement(), 1..5),
        prop::sample::select(vec![
            Some("2012-10-17"),
            Some("2012-10-17"),
            Some("2008-10-17"),
            None,
        ]),
    )
        .prop_map(|(s, version)| match version {
            Some(v) => json!({"Version": v, "Statement": s}),
            None => json!({"Statement": s}),
        })
}

fn options() -> LintOptions {
    LintOptions {
        key_account: Some(KEY_ACCOUNT.into()),
        org_accounts: vec![KEY_ACCOUNT.into(), ORG_ACCOUNT.into()],
        org_id: Some(ORG_ID.into()),
        config: Default::default(),
        key_arn: Some(KEY_ARN.into()),
        now: Some(NOW.parse().unwrap()),
    }
}

fn reports_outside_access(report: &LintReport) -> bool {
    report.summary.public
        || report
            .findings
            .iter()
            .any(|f| f.rule_id == "KMS-POLICY-EXTERNAL" || f.rule_id == "KMS-POLICY-PUBLIC")
}

/// A caller outside the organization and the request context its identity fixes: the keys in
/// every authenticated KMS request, and the resource's own account and organization.
struct Outsider {
    caller: Caller,
    context: BTreeMap<String, Vec<String>>,
}

fn identity_context(extra: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    let now: jiff::Timestamp = NOW.parse().unwrap();
    let mut context: BTreeMap<String, Vec<String>> = [
        ("aws:securetransport", "true".to_string()),
        ("aws:currenttime", NOW.to_string()),
        ("aws:epochtime", now.as_second().to_string()),
        ("aws:resourceaccount", KEY_ACCOUNT.to_string()),
        ("aws:resourceorgid", ORG_ID.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), vec![v]))
    .collect();
    for (k, v) in extra {
        context.insert(k.to_string(), vec![v.to_string()]);
    }
    context
}

/// An IAM principal of `account`: its ARN, `aws:userid`, `aws:PrincipalType`, organization.
fn iam_outsider(account: &str, arn: &str, userid: &str, kind: &str, org: Option<&str>) -> Outsider {
    let mut extra = vec![
        ("kms:calleraccount", account),
        ("aws:principalaccount", account),
        ("aws:principalarn", arn),
        ("aws:userid", userid),
        ("aws:principaltype", kind),
    ];
    if let Some(org) = org {
        extra.push(("aws:principalorgid", org));
    }
    if kind == "User" {
        extra.push(("aws:username", arn.rsplit('/').next().unwrap_or("")));
    }
    Outsider {
        caller: Caller::Iam {
            arn: arn.to_string(),
            account: account.to_string(),
        },
        context: identity_context(&extra),
    }
}

/// Every kind of outsider the searches try.
fn outsiders() -> Vec<Outsider> {
    let role = format!("arn:aws:iam::{OUTSIDE}:role/Partner");
    let root = format!("arn:aws:iam::{OUTSIDE}:root");
    let user = format!("arn:aws:iam::{OUTSIDE}:user/admin");
    // A role whose path holds colons and the key account's id (IAM paths may).
    let pathed = format!("arn:aws:iam::{OUTSIDE}:role/x:{KEY_ACCOUNT}:role/Partner");
    let pathed_user = format!("arn:aws:iam::{OUTSIDE}:user/x:{KEY_ACCOUNT}:role/y/admin");
    let unrelated = format!("arn:aws:iam::{UNRELATED}:role/Anyone");
    // A service principal calling with its own identity: the keys every KMS request carries
    // name the service's own (AWS-owned) account, never a customer's or its organization.
    let mut service = identity_context(&[
        ("kms:calleraccount", SERVICE_ACCOUNT),
        ("aws:principalaccount", SERVICE_ACCOUNT),
        ("aws:principalarn", "arn:aws:iam::777766665555:role/logs"),
        ("aws:userid", "AROASERVICEROLEID1234:logs"),
        ("aws:principaltype", "AssumedRole"),
        ("aws:principalservicename", "logs.amazonaws.com"),
        ("aws:sourceaccount", OUTSIDE),
        (
            "kms:encryptioncontext:aws:logs:arn",
            &format!("arn:aws:logs:us-east-1:{OUTSIDE}:log-group:app"),
        ),
    ]);
    service.remove("aws:resourceorgid");
    vec![
        iam_outsider(
            OUTSIDE,
            &role,
            "AROAOUTSIDEROLEID12345:session",
            "AssumedRole",
            Some("o-otherorg01"),
        ),
        // The same role under another unique id (a policy may name one it does not have).
        iam_outsider(
            OUTSIDE,
            &role,
            "AROAOTHERPARTNERID1234:session",
            "AssumedRole",
            None,
        ),
        iam_outsider(OUTSIDE, &pathed_user, "AIDAPATHEDUSERID12345", "User", None),
        iam_outsider(OUTSIDE, &root, OUTSIDE, "Account", None),
        iam_outsider(OUTSIDE, &root, OUTSIDE, "Account", Some("o-otherorg01")),
        iam_outsider(OUTSIDE, &user, "AIDAOUTSIDEUSERID1234", "User", None),
        iam_outsider(
            OUTSIDE,
            &user,
            "AIDAOUTSIDEUSERID1234",
            "User",
            Some("o-otherorg01"),
        ),
        iam_outsider(
            OUTSIDE,
            &pathed,
            "AROAAPATHEDROLEID1234:s",
            "AssumedRole",
            None,
        ),
        iam_outsider(
            UNRELATED,
            &unrelated,
            "AROAUNRELATEDROLE1234:s",
            "AssumedRole",
            None,
        ),
        // The same role outside any organization, and a role of an outside account whose id
        // shares the key account's first digits.
        iam_outsider(
            OUTSIDE,
            &role,
            "AROAOUTSIDEROLEID12345:session",
            "AssumedRole",
            None,
        ),
        iam_outsider(
            "111199998888",
            "arn:aws:iam::111199998888:role/Partner",
            "AROANEIGHBOURROLE1234:s",
            "AssumedRole",
            None,
        ),
        iam_outsider(
            "111199998888",
            "arn:aws:iam::111199998888:role/x:111122223333:role/Partner",
            "AROANEIGHBOURPATHED12:s",
            "AssumedRole",
            None,
        ),
        iam_outsider(
            UNRELATED,
            &format!("arn:aws:iam::{UNRELATED}:root"),
            UNRELATED,
            "Account",
            None,
        ),
        iam_outsider(
            UNRELATED,
            &unrelated,
            "AROAUNRELATEDROLE1234:s",
            "AssumedRole",
            Some("o-otherorg01"),
        ),
        iam_outsider(
            "111199998888",
            "arn:aws:iam::111199998888:role/Partner",
            "AROANEIGHBOURROLE1234:s",
            "AssumedRole",
            Some("o-otherorg01"),
        ),
        // The same role in a third organization.
        iam_outsider(
            OUTSIDE,
            &role,
            "AROAOUTSIDEROLEID12345:session",
            "AssumedRole",
            Some("o-thirdorg02"),
        ),
        // An account whose id differs from the outside one in the last digit.
        iam_outsider(
            "999988887770",
            "arn:aws:iam::999988887770:role/Partner",
            "AROANEARBYROLEID12345:s",
            "AssumedRole",
            None,
        ),
        iam_outsider(
            "111199998888",
            "arn:aws:iam::111199998888:root",
            "111199998888",
            "Account",
            None,
        ),
        iam_outsider(
            "111199998888",
            "arn:aws:iam::111199998888:user/admin",
            "AIDANEIGHBOURUSER1234",
            "User",
            None,
        ),
        iam_outsider(
            OUTSIDE,
            &pathed,
            "AROAAPATHEDROLEID1234:s",
            "AssumedRole",
            Some("o-otherorg01"),
        ),
        Outsider {
            caller: Caller::Service("logs.amazonaws.com".into()),
            context: service,
        },
    ]
}

/// Requests outsiders can make with what their identity fixes, through a service or not.
fn outside_requests() -> Vec<Request> {
    let mut out = Vec::new();
    for o in outsiders() {
        for via in [None, Some("s3.us-east-1.amazonaws.com")] {
            for action in ["kms:Decrypt", "kms:PutKeyPolicy", "kms:CreateGrant"] {
                let mut context = o.context.clone();
                if let Some(via) = via {
                    context.insert("kms:viaservice".into(), vec![via.into()]);
                }
                out.push(Request {
                    caller: o.caller.clone(),
                    action: action.into(),
                    context,
                });
            }
        }
    }
    out
}

/// An IAM principal of an unrelated account, and an anonymous caller, with nothing that pins.
fn unpinned_requests() -> Vec<Request> {
    let unrelated = outsiders()
        .into_iter()
        .find(|o| matches!(&o.caller, Caller::Iam { account, .. } if account == UNRELATED))
        .expect("an unrelated outsider");
    [unrelated.caller, Caller::Anonymous]
        .into_iter()
        .flat_map(|caller| {
            let context = if caller == Caller::Anonymous {
                BTreeMap::new()
            } else {
                unrelated.context.clone()
            };
            ["kms:Decrypt", "kms:PutKeyPolicy"].map(|action| Request {
                caller: caller.clone(),
                action: action.into(),
                context: context.clone(),
            })
        })
        .collect()
}

/// Keys whose value the caller's identity or the clock fixes: the precision search never
/// chooses them.
const FIXED_KEYS: [&str; 14] = [
    "kms:calleraccount",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:userid",
    "aws:username",
    "aws:principaltype",
    "aws:securetransport",
    "aws:currenttime",
    "aws:epochtime",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:sourceaccount",
];

/// Concrete values a caller could send for a condition key the policy names: absent, each of
/// the policy's values made concrete, and one matching none of them.
fn candidate_values(
    policy: &kmsaudit_evaluator::policy::Policy,
) -> Vec<(String, Vec<Option<String>>)> {
    let mut by_key: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    let mut tags: Vec<String> = Vec::new();
    for st in &policy.statements {
        for c in &st.conditions {
            if FIXED_KEYS.contains(&c.key.as_str()) {
                continue;
            }
            let entry = by_key
                .entry(c.key.clone())
                .or_insert_with(|| vec![None, Some("zz-other".into())]);
            for v in &c.values {
                // A variable naming a key the caller sets (its own tags) is a key to choose too.
                if let Some(name) = v
                    .split("${")
                    .nth(1)
                    .and_then(|r| r.split([',', '}']).next())
                {
                    let name = name.trim().to_ascii_lowercase();
                    if name.starts_with("aws:principaltag/") {
                        tags.push(name);
                    }
                }
                // A variable's default (`${key, 'text'}`) is what the value becomes without it.
                let defaulted;
                let v = match v.split_once(", '") {
                    Some((_, d)) if v.ends_with("'}") => {
                        defaulted = d.trim_end_matches("'}").to_string();
                        &defaulted
                    }
                    _ => v,
                };
                let v = v
                    .split('/')
                    .next()
                    .filter(|_| c.key.ends_with("ip"))
                    .unwrap_or(v);
                let concrete = v.replace('*', "").replace('?', "x");
                if !entry.contains(&Some(concrete.clone())) {
                    entry.push(Some(concrete));
                }
            }
        }
    }
    for tag in tags {
        by_key
            .entry(tag)
            .or_insert_with(|| vec![None, Some("zz-other".into())]);
    }
    by_key.into_iter().collect()
}

/// Whether an outsider has a request the reference evaluator allows, among the actions `actions`
/// and every combination of candidate values (at most 256 combinations, spread evenly).
fn outsider_witness(policy: &kmsaudit_evaluator::policy::Policy, actions: &[String]) -> bool {
    find_allowed(policy, actions, 256, true).is_some()
}

/// Network keys: a `*` pinned to a network origin is not reported as outside access (no
/// account can be named), so the soundness search leaves them absent.
const NETWORK_KEYS: [&str; 4] = [
    "aws:sourcevpce",
    "aws:sourcevpc",
    "aws:sourceip",
    "aws:vpcsourceip",
];

/// The first outsider request the reference evaluator allows, among `actions` and at most
/// `max_combos` combinations of candidate values (spread evenly over all of them); network
/// keys take values only when `network`.
fn find_allowed(
    policy: &kmsaudit_evaluator::policy::Policy,
    actions: &[String],
    max_combos: usize,
    network: bool,
) -> Option<Request> {
    let mut keys = candidate_values(policy);
    if !network {
        keys.retain(|(k, _)| !NETWORK_KEYS.contains(&k.as_str()));
    }
    let total: usize = keys.iter().map(|(_, v)| v.len()).product();
    let step = total.div_ceil(max_combos).max(1);
    // A role's unique id is not known in advance: any the policy names may be the outsider's.
    let mut callers = outsiders();
    for st in &policy.statements {
        for c in st.conditions.iter().filter(|c| c.key == "aws:userid") {
            for v in c.values.iter().filter(|v| v.starts_with("AROA")) {
                let id = v.split(':').next().unwrap_or("").replace(['*', '?'], "");
                let id = format!("{id}{}", "X".repeat(21usize.saturating_sub(id.len())));
                for o in outsiders().into_iter().filter(|o| {
                    matches!(o.caller, Caller::Iam { .. })
                        && o.context.get("aws:principaltype").map(Vec::as_slice)
                            == Some(&["AssumedRole".to_string()][..])
                }) {
                    let mut o = o;
                    o.context
                        .insert("aws:userid".into(), vec![format!("{id}:session")]);
                    callers.push(o);
                }
            }
        }
    }
    for o in callers {
        for action in actions {
            let mut n = 0;
            while n < total {
                let mut context = o.context.clone();
                let mut rest = n;
                for (key, values) in &keys {
                    let v = &values[rest % values.len()];
                    rest /= values.len();
                    // A service sets the `aws:` encryption context to the resource it acts for.
                    if matches!(o.caller, Caller::Service(_))
                        && key.starts_with("kms:encryptioncontext:aws:")
                    {
                        continue;
                    }
                    match v {
                        Some(v) => context.insert(key.clone(), vec![v.clone()]),
                        None => context.remove(key),
                    };
                }
                let request = Request {
                    caller: o.caller.clone(),
                    action: action.clone(),
                    context,
                };
                if decide(policy, KEY_ARN, &request) == Decision::Allow {
                    return Some(request);
                }
                n += step;
            }
        }
    }
    None
}

/// How the analysis's reports of outside access fared on one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// No outside access reported.
    NothingReported,
    /// An outsider request the reference evaluator allows was found.
    Witnessed,
    /// None was found, and a finding names the condition it assumed satisfiable.
    Assumed,
    /// None was found and nothing was assumed: the report is a false alarm.
    FalseAlarm,
}

/// Checks the precision of the report on one generated policy (key ARN given).
pub fn precision(policy: &Value) -> (Precision, String) {
    let text = policy.to_string();
    let Ok(parsed) = parse_policy(&text) else {
        return (Precision::NothingReported, text);
    };
    let report = lint_policy(&text, &options());
    let outside: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule_id == "KMS-POLICY-EXTERNAL" || f.rule_id == "KMS-POLICY-PUBLIC")
        .collect();
    if outside.is_empty() && !report.summary.public {
        return (Precision::NothingReported, text);
    }
    let mut actions: Vec<String> = outside
        .iter()
        .flat_map(|f| f.actions.iter().cloned())
        .collect();
    if actions.iter().any(|a| a == "kms:*") || actions.is_empty() {
        actions = kmsaudit_evaluator::policy::ActionSet::ALL.names();
    }
    actions.sort();
    actions.dedup();
    if outsider_witness(&parsed, &actions) {
        return (Precision::Witnessed, text);
    }
    let explanations: Vec<&str> = outside.iter().map(|f| f.explanation.as_str()).collect();
    if explanations.iter().any(|e| e.contains("assumed")) {
        return (Precision::Assumed, text);
    }
    (
        Precision::FalseAlarm,
        format!("{text}\nfindings: {explanations:?}"),
    )
}

/// Checks one generated policy; `Err` describes a counter-example.
pub fn check(policy: &Value) -> Result<(), String> {
    let text = policy.to_string();
    let Ok(parsed) = parse_policy(&text) else {
        return Ok(());
    };
    // Given the key's ARN, and (as `lint-policy --key-account` does) only its account.
    let account_only = LintOptions {
        key_arn: None,
        ..options()
    };
    for options in [options(), account_only] {
        let report = lint_policy(&text, &options);
        for request in outside_requests() {
            if decide(&parsed, KEY_ARN, &request) == Decision::Allow
                && !reports_outside_access(&report)
            {
                return Err(format!(
                    "IAM allows {request:?} but the analysis (key ARN given: {}) reports no outside access\npolicy: {text}\nfindings: {:?}",
                    options.key_arn.is_some(),
                    report.findings.iter().map(|f| &f.explanation).collect::<Vec<_>>()
                ));
            }
        }
        // Every value the policy's own conditions name, for the keys a caller controls.
        let actions = ["kms:Decrypt", "kms:PutKeyPolicy", "kms:CreateGrant"].map(String::from);
        if let Some(request) = find_allowed(&parsed, &actions, 64, false) {
            if !reports_outside_access(&report) {
                return Err(format!(
                    "IAM allows {request:?} but the analysis (key ARN given: {}) reports no outside access\npolicy: {text}\nfindings: {:?}",
                    options.key_arn.is_some(),
                    report.findings.iter().map(|f| &f.explanation).collect::<Vec<_>>()
                ));
            }
        }
        for request in unpinned_requests() {
            if decide(&parsed, KEY_ARN, &request) == Decision::Allow && !report.summary.public {
                return Err(format!(
                    "IAM allows {request:?}, which nothing pins, but the analysis (key ARN given: {}) does not report the key public\npolicy: {text}",
                    options.key_arn.is_some()
                ));
            }
        }
    }
    Ok(())
}

/// Runs `cases` generated policies; returns how many were checked.
pub fn run(cases: u32) -> Result<u32, String> {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&policy(), |p| {
            check(&p).map_err(proptest::test_runner::TestCaseError::fail)
        })
        .map(|()| cases)
        .map_err(|e| e.to_string())
}

#[test]
fn the_analysis_reports_every_access_iam_would_allow_from_outside() {
    let cases = std::env::var("KMSAUDIT_SOUNDNESS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500);
    let start = std::time::Instant::now();
    if let Err(e) = run(cases) {
        panic!("{e}");
    }
    println!(
        "soundness: {cases} generated policies, {} requests each, no counter-example, {:.1} s",
        outside_requests().len() + unpinned_requests().len(),
        start.elapsed().as_secs_f64()
    );
}

/// Counts of one precision run.
#[derive(Debug, Default)]
pub struct PrecisionCounts {
    pub policies: u32,
    pub reported: u32,
    pub witnessed: u32,
    pub assumed: u32,
    pub false_alarms: u32,
    /// The first few false alarms, whole.
    pub examples: Vec<String>,
}

/// Runs the precision check on `cases` generated policies (a fixed seed: the same policies on
/// every run).
pub fn run_precision(cases: u32) -> PrecisionCounts {
    let mut runner = TestRunner::deterministic();
    let strategy = policy();
    let mut counts = PrecisionCounts::default();
    for _ in 0..cases {
        let p = strategy.new_tree(&mut runner).unwrap().current();
        counts.policies += 1;
        let (verdict, detail) = precision(&p);
        match verdict {
            Precision::NothingReported => continue,
            Precision::Witnessed => counts.witnessed += 1,
            Precision::Assumed => counts.assumed += 1,
            Precision::FalseAlarm => {
                counts.false_alarms += 1;
                if counts.examples.len() < 8 {
                    counts.examples.push(detail);
                }
            }
        }
        counts.reported += 1;
    }
    counts
}

#[test]
fn the_analysis_reports_outside_access_only_where_an_outsider_gets_in() {
    let cases = std::env::var("KMSAUDIT_SOUNDNESS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500);
    let start = std::time::Instant::now();
    let c = run_precision(cases);
    println!(
        "precision: {} generated policies, {} reported with outside access: {} witnessed by an outsider request, {} on a named assumption, {} false alarms, {:.1} s",
        c.policies,
        c.reported,
        c.witnessed,
        c.assumed,
        c.false_alarms,
        start.elapsed().as_secs_f64()
    );
    assert!(
        c.false_alarms == 0,
        "{} of {} policies reported with outside access that no outsider request gets:\n{}",
        c.false_alarms,
        c.reported,
        c.examples.join("\n\n")
    );
}

/// Exploration aid: prints the first distinct counter-examples without shrinking
/// (`KMSAUDIT_SOUNDNESS_EXPLORE=N cargo test ... soundness -- --ignored --nocapture`).
#[test]
#[ignore]
fn explore_counter_examples() {
    let n: usize = std::env::var("KMSAUDIT_SOUNDNESS_EXPLORE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut runner = TestRunner::new(Config::default());
    let strategy = policy();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..n {
        let p = strategy.new_tree(&mut runner).unwrap().current();
        if let Err(e) = check(&p) {
            let line = e.lines().nth(1).unwrap_or("").to_string();
            if seen.insert(line.clone()) && seen.len() <= 12 {
                println!("{}\n", e.lines().take(2).collect::<Vec<_>>().join("\n"));
            }
        }
    }
    println!("{} failing policies found", seen.len());
}
