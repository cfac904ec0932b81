//! What moto does not do, served beside it on loopback:
//!
//! * a **proxy** between the SDK and moto that plays the fixture's faults (STS AccessDenied for
//!   denied audit roles, AccessDenied on GetKeyPolicy, UnrecognizedClientException in opt-in
//!   regions an account has not enabled), fills fields moto does not model (imported material
//!   expiry, rotation period), and injects random throttling, 5xx and latency for the fault
//!   profile named in the request path (`/_faults/throttle=0.1,seed=3/...`), so tests with
//!   different profiles share one proxy (the Access Analyzer stand-in plays the same profiles; `iam=1` extends the faults to IAM and the organization's tree and policy reads). `/_proxy/stats` reports requests, faults and the most
//!   calls ever in flight per account × region × operation;
//! * an **IAM Access Analyzer** stand-in (restJson1: ListAnalyzers, ListFindings, shaped as
//!   the Rust SDK's deserializers expect) that answers from the fixture.
//!
//! The account of a request is learnt from the AssumeRole responses the proxy relays (access
//! key id → account); anything else is moto's default account, the management account.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::fixture::{Fixture, MANAGEMENT_ACCOUNT};
use crate::seed::Seeded;

/// What the fixture declares beyond moto's data: its faults (denied roles and key policies,
/// regions not enabled), the fields to patch into answers, and the Access Analyzer state, with
/// the seeded ids.
#[derive(Debug, Default)]
pub struct FixtureFaults {
    pub deny_assume_accounts: BTreeSet<String>,
    pub deny_key_policy: BTreeSet<String>,
    pub regions_not_enabled: BTreeSet<(String, String)>,
    pub describe_patch: BTreeMap<String, serde_json::Map<String, Value>>,
    pub rotation_patch: BTreeMap<String, serde_json::Map<String, Value>>,
    /// Each key's last use as the fixture declares it, by key id (moto has no GetKeyLastUsage).
    pub last_use: BTreeMap<String, crate::fixture::LastUseDef>,
    pub analyzers: Vec<StandInAnalyzer>,
    pub findings: Vec<StandInFinding>,
    /// CloudWatch DescribeAlarms answers (CBOR, which moto does not speak), by account and
    /// region, from the fixture's `[[monitoring.alarms]]`.
    pub alarms: BTreeMap<(String, String), Vec<u8>>,
    /// CloudTrail LookupEvents answers by key ARN (moto has none).
    pub calls: BTreeMap<String, Vec<crate::fixture::CallDef>>,
}

#[derive(Debug, Clone)]
pub struct StandInAnalyzer {
    pub arn: String,
    pub name: String,
    pub analyzer_type: String,
    pub status: String,
    pub account: String,
    pub region: String,
}

#[derive(Debug, Clone)]
pub struct StandInFinding {
    pub id: String,
    pub key_arn: String,
    pub account: String,
    pub region: String,
    pub is_public: bool,
    pub principal: BTreeMap<String, String>,
    pub condition: BTreeMap<String, String>,
    pub status: String,
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        // `+10d`: ten days from now (the stand-in's clock, i.e. the scan's).
        toml::Value::String(s) if s.starts_with('+') && s.ends_with('d') => {
            match s[1..s.len() - 1].parse::<i64>() {
                Ok(days) => json!(jiff::Timestamp::now().as_second() + days * 86_400),
                Err(_) => json!(s),
            }
        }
        toml::Value::String(s) => match s.parse::<jiff::Timestamp>() {
            // awsJson timestamps are epoch seconds.
            Ok(t) => json!(t.as_second()),
            Err(_) => json!(s),
        },
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        other => json!(other.to_string()),
    }
}

impl FixtureFaults {
    pub fn from_fixture(fixture: &Fixture, seeded: &Seeded) -> anyhow::Result<FixtureFaults> {
        let mut faults = FixtureFaults::default();
        for id in seeded.accounts.values() {
            for region in kmsaudit_scanner::partition_regions("aws") {
                faults.alarms.insert(
                    (id.clone(), region.to_string()),
                    crate::seed_monitoring::alarms_cbor(&fixture.monitoring, seeded, id, &region),
                );
            }
        }
        for a in &fixture.accounts {
            let id = seeded.account(&a.name)?.to_string();
            if a.deny_assume_role {
                faults.deny_assume_accounts.insert(id.clone());
            }
            for r in &a.regions_not_enabled {
                faults.regions_not_enabled.insert((id.clone(), r.clone()));
            }
        }
        for k in &fixture.keys {
            let (_, key_id) = &seeded.keys[&k.name];
            if k.deny_key_policy {
                faults.deny_key_policy.insert(key_id.clone());
            }
            if !k.describe_patch.is_empty() {
                faults.describe_patch.insert(
                    key_id.clone(),
                    k.describe_patch
                        .iter()
                        .map(|(f, v)| (f.clone(), toml_to_json(v)))
                        .collect(),
                );
            }
            if let Some(u) = &k.last_use {
                faults.last_use.insert(key_id.clone(), u.clone());
            }
            faults
                .calls
                .insert(seeded.keys[&k.name].0.clone(), k.calls.clone());
            if !k.rotation_patch.is_empty() {
                faults.rotation_patch.insert(
                    key_id.clone(),
                    k.rotation_patch
                        .iter()
                        .map(|(f, v)| (f.clone(), toml_to_json(v)))
                        .collect(),
                );
            }
        }
        for a in &fixture.analyzers {
            let account = seeded.account(&a.account)?.to_string();
            faults.analyzers.push(StandInAnalyzer {
                arn: format!(
                    "arn:aws:access-analyzer:{}:{account}:analyzer/{}",
                    a.region, a.name
                ),
                name: a.name.clone(),
                analyzer_type: a.analyzer_type.clone(),
                status: a.status.clone(),
                account,
                region: a.region.clone(),
            });
        }
        for f in &fixture.aa_findings {
            let key = fixture
                .keys
                .iter()
                .find(|k| k.name == f.key)
                .with_context(|| format!("aa finding {} names unknown key", f.id))?;
            faults.findings.push(StandInFinding {
                id: f.id.clone(),
                key_arn: seeded.keys[&f.key].0.clone(),
                account: seeded.account(&key.account)?.to_string(),
                region: key.region.clone(),
                is_public: f.is_public,
                principal: f
                    .principal
                    .iter()
                    .map(|(k, v)| (k.clone(), seeded.substitute(v, "")))
                    .collect(),
                condition: f.condition.clone(),
                status: f.status.clone(),
            });
        }
        Ok(faults)
    }
}

/// A random fault profile, from the request path.
#[derive(Debug, Clone, Copy, Default)]
struct Profile {
    throttle: f64,
    error5xx: f64,
    latency_ms: u64,
    seed: u64,
    /// Security Hub's BatchImportFindings answers AccessDenied for this account (0: none).
    deny_import_account: u64,
    /// The random faults also hit IAM (GetAccountAuthorizationDetails, GetPolicy,
    /// GetPolicyVersion) and Organizations' tree and policy reads (`iam=1`).
    iam_org: bool,
}

impl Profile {
    fn parse(spec: &str) -> Profile {
        let mut p = Profile::default();
        for part in spec.split(',') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            match k {
                "throttle" => p.throttle = v.parse().unwrap_or(0.0),
                "error5xx" => p.error5xx = v.parse().unwrap_or(0.0),
                "latency_ms" => p.latency_ms = v.parse().unwrap_or(0),
                "seed" => p.seed = v.parse().unwrap_or(0),
                "deny_import_account" => p.deny_import_account = v.parse().unwrap_or(0),
                "iam" => p.iam_org = v == "1",
                _ => {}
            }
        }
        p
    }
}

/// splitmix64 of (seed, n): deterministic bits.
pub(crate) fn splitmix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic draw in [0, 1) for (seed, request number).
pub(crate) fn draw(seed: u64, n: u64) -> f64 {
    (splitmix(seed, n) >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Default)]
struct Stats {
    requests: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
    in_flight: HashMap<String, u64>,
    max_in_flight: BTreeMap<String, u64>,
}

struct State {
    faults: FixtureFaults,
    moto: String,
    client: Client<HttpConnector, Full<Bytes>>,
    accounts_by_key: Mutex<HashMap<String, String>>,
    stats: Mutex<Stats>,
    requests: AtomicU64,
}

impl State {
    /// The account an access key belongs to: learnt from AssumeRole, else moto's default.
    fn account_of(&self, access_key: &str) -> String {
        self.accounts_by_key
            .lock()
            .expect("lock")
            .get(access_key)
            .cloned()
            .unwrap_or_else(|| MANAGEMENT_ACCOUNT.to_string())
    }
}

/// The running stand-in; its servers stop when the runtime does.
pub struct StandIn {
    pub proxy_url: String,
    pub access_analyzer_url: String,
}

pub async fn start(moto: &str, faults: FixtureFaults) -> anyhow::Result<StandIn> {
    let state = Arc::new(State {
        faults,
        moto: moto.to_string(),
        client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        accounts_by_key: Mutex::new(HashMap::new()),
        stats: Mutex::new(Stats::default()),
        requests: AtomicU64::new(0),
    });
    let proxy = TcpListener::bind("127.0.0.1:0").await?;
    let aa = TcpListener::bind("127.0.0.1:0").await?;
    let urls = StandIn {
        proxy_url: format!("http://{}", proxy.local_addr()?),
        access_analyzer_url: format!("http://{}", aa.local_addr()?),
    };
    serve(proxy, state.clone(), false);
    serve(aa, state, true);
    Ok(urls)
}

fn serve(listener: TcpListener, state: Arc<State>, access_analyzer: bool) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move {
                        let resp = if access_analyzer {
                            handle_aa(&state, req).await
                        } else {
                            handle_proxy(&state, req).await
                        };
                        Ok::<_, Infallible>(resp.unwrap_or_else(|e| {
                            text(StatusCode::BAD_GATEWAY, &format!("stand-in error: {e:#}"))
                        }))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

fn aws_json_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"__type": code, "message": message}).to_string();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.1".parse().expect("static header"),
    );
    r
}

fn sts_error(code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>standin</RequestId></ErrorResponse>"
    );
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r.headers_mut()
        .insert("content-type", "text/xml".parse().expect("static header"));
    r
}

/// An error of a query-protocol service (IAM) with this status.
/// The Organizations operations that read the tree and its SCPs and RCPs (effective access).
pub(crate) const ORG_POLICY_READS: [&str; 6] = [
    "ListRoots",
    "ListOrganizationalUnitsForParent",
    "ListAccountsForParent",
    "ListPolicies",
    "DescribePolicy",
    "ListTargetsForPolicy",
];

/// An IAM (query protocol) error answer.
pub(crate) fn query_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>standin</RequestId></ErrorResponse>"
    );
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "text/xml".parse().expect("static header"));
    r
}

/// (access key id, region) from a SigV4 Authorization header (empty when unsigned).
fn credential_scope(req: &Request<Incoming>) -> (String, String) {
    sigv4_scope(req)
        .map(|(akid, region, _)| (akid, region))
        .unwrap_or_default()
}

/// (access key id, region, service) from a SigV4 Authorization header.
pub(crate) fn sigv4_scope(req: &Request<Incoming>) -> Option<(String, String, String)> {
    let auth = req.headers().get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    let mut parts = scope.split('/');
    let akid = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    Some((akid, region, service))
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `name` in a form body or query string, decoded.
pub(crate) fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        pair.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
    })
}

fn xml_value(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].to_string())
}

struct InFlight<'a> {
    state: &'a State,
    key: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut s = self.state.stats.lock().expect("stats lock");
        if let Some(n) = s.in_flight.get_mut(&self.key) {
            *n -= 1;
        }
    }
}

/// Counts a request in flight under `{profile}|{account}|{region}|{op}` and `{profile}|ALL`
/// (tests with their own fault profile get their own counters).
fn track<'a>(
    state: &'a State,
    profile: &str,
    op: &str,
    account: &str,
    region: &str,
) -> [InFlight<'a>; 2] {
    let keys = [
        format!("{profile}|{account}|{region}|{op}"),
        format!("{profile}|ALL"),
    ];
    let mut s = state.stats.lock().expect("stats lock");
    *s.requests.entry(op.to_string()).or_default() += 1;
    for key in &keys {
        let n = s.in_flight.entry(key.clone()).or_default();
        *n += 1;
        let now = *n;
        let max = s.max_in_flight.entry(key.clone()).or_default();
        *max = (*max).max(now);
    }
    keys.map(|key| InFlight { state, key })
}

fn count_fault(state: &State, op: &str, kind: &str) {
    *state
        .stats
        .lock()
        .expect("stats lock")
        .faults
        .entry(format!("{op}:{kind}"))
        .or_default() += 1;
}

/// A fault the random profile plays on one request.
enum RandomFault {
    Throttle,
    ServerError,
}

/// Sleeps the profile's latency, then draws this request's fault (counted in the stats).
async fn random_fault(state: &State, profile: &Profile, op_label: &str) -> Option<RandomFault> {
    let n = state.requests.fetch_add(1, Ordering::Relaxed);
    if profile.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(profile.latency_ms)).await;
    }
    let d = draw(profile.seed, n);
    if d < profile.throttle {
        count_fault(state, op_label, "Throttling");
        Some(RandomFault::Throttle)
    } else if d < profile.throttle + profile.error5xx {
        count_fault(state, op_label, "ServerError");
        Some(RandomFault::ServerError)
    } else {
        None
    }
}

/// Splits `/_faults/<profile>/rest` into the profile's spec, the profile and `/rest`.
fn fault_profile(path: &str) -> (String, Profile, String) {
    match path.strip_prefix("/_faults/") {
        Some(rest) => {
            let (spec, tail) = rest.split_once('/').unwrap_or((rest, ""));
            (spec.to_string(), Profile::parse(spec), format!("/{tail}"))
        }
        None => (String::new(), Profile::default(), path.to_string()),
    }
}

async fn handle_proxy(
    state: &State,
    req: Request<Incoming>,
) -> anyhow::Result<Response<Full<Bytes>>> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    if path_and_query.starts_with("/_proxy/stats") {
        let s = state.stats.lock().expect("stats lock");
        let body =
            json!({"requests": s.requests, "faults": s.faults, "max_in_flight": s.max_in_flight});
        return Ok(text(StatusCode::OK, &body.to_string()));
    }
    let (spec, profile, forward_path) = fault_profile(&path_and_query);
    let (akid, region) = credential_scope(&req);
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .context("reading request body")?
        .to_bytes();
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let (service, op) = match target.split_once('.') {
        Some(("TrentService", op)) => ("KMS", op.to_string()),
        Some((_, op)) => ("Organizations", op.to_string()),
        None => {
            let action = form_value(&body_text, "Action").unwrap_or_default();
            let iam = matches!(
                action.as_str(),
                "GetAccountAuthorizationDetails" | "GetPolicy" | "GetPolicyVersion"
            );
            (if iam { "IAM" } else { "STS" }, action)
        }
    };
    let account = state.account_of(&akid);
    let op_label = format!("{service}.{op}");
    let _in_flight = track(state, &spec, &op_label, &account, &region);
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key_id = json_body
        .get("KeyId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();

    if forward_path.split('?').next() == Some("/listRegions") {
        return Ok(crate::list_regions::answer(
            &account,
            &json_body,
            &state.faults.regions_not_enabled,
        ));
    }

    if profile.deny_import_account != 0
        && forward_path.starts_with("/findings/import")
        && account == format!("{:012}", profile.deny_import_account)
    {
        count_fault(state, "SecurityHub.BatchImportFindings", "AccessDenied");
        return Ok(aws_json_error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            &format!("User: arn:aws:sts::{account}:assumed-role/OrganizationAccountAccessRole/kmsaudit is not authorized to perform: securityhub:BatchImportFindings"),
        ));
    }

    // The fixture's faults.
    if service == "STS" && op == "AssumeRole" {
        let role = form_value(&body_text, "RoleArn").unwrap_or_default();
        let target_account = role.split(':').nth(4).unwrap_or("").to_string();
        if state.faults.deny_assume_accounts.contains(&target_account) {
            count_fault(state, &op_label, "AccessDenied");
            return Ok(sts_error(
                "AccessDenied",
                &format!("User: arn:aws:iam::{account}:user/auditor is not authorized to perform: sts:AssumeRole on resource: {role}"),
            ));
        }
    }
    if service == "KMS" {
        if state
            .faults
            .regions_not_enabled
            .contains(&(account.clone(), region.clone()))
        {
            count_fault(state, &op_label, "UnrecognizedClientException");
            return Ok(aws_json_error(
                StatusCode::BAD_REQUEST,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        }
        if op == "GetKeyPolicy"
            && state
                .faults
                .deny_key_policy
                .iter()
                .any(|k| key_id.ends_with(k.as_str()))
        {
            count_fault(state, &op_label, "AccessDenied");
            return Ok(aws_json_error(
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                &format!("User: arn:aws:sts::{account}:assumed-role/OrganizationAccountAccessRole/kmsaudit is not authorized to perform: kms:GetKeyPolicy on this resource because the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access"),
            ));
        }
        match random_fault(state, &profile, &op_label).await {
            Some(RandomFault::Throttle) => {
                return Ok(aws_json_error(
                    StatusCode::BAD_REQUEST,
                    "ThrottlingException",
                    "Rate exceeded",
                ))
            }
            Some(RandomFault::ServerError) => {
                return Ok(aws_json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "KMSInternalException",
                    "internal failure (injected)",
                ))
            }
            None => {}
        }
    }

    if service == "KMS" && op == "GetKeyLastUsage" {
        return Ok(last_use(state, &key_id));
    }
    if target.ends_with(".LookupEvents") {
        return Ok(lookup_events(state, &json_body));
    }
    if forward_path.ends_with("/operation/DescribeAlarms") {
        let body = state
            .faults
            .alarms
            .get(&(account.clone(), region.clone()))
            .cloned()
            .unwrap_or_default();
        let mut r = Response::new(Full::new(Bytes::from(body)));
        for (name, value) in [
            ("content-type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
        ] {
            r.headers_mut()
                .insert(name, value.parse().expect("static header"));
        }
        return Ok(r);
    }

    // IAM and the organization's tree and policies, when the profile says so.
    let org_read = ORG_POLICY_READS.contains(&op.as_str());
    if profile.iam_org && (service == "IAM" || (service == "Organizations" && org_read)) {
        let fault = random_fault(state, &profile, &op_label).await;
        match (fault, service) {
            (Some(RandomFault::Throttle), "IAM") => {
                return Ok(query_error(
                    StatusCode::BAD_REQUEST,
                    "Throttling",
                    "Rate exceeded",
                ))
            }
            (Some(RandomFault::ServerError), "IAM") => {
                return Ok(query_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceFailure",
                    "internal failure (injected)",
                ))
            }
            (Some(RandomFault::Throttle), _) => {
                return Ok(aws_json_error(
                    StatusCode::BAD_REQUEST,
                    "TooManyRequestsException",
                    "Rate exceeded",
                ))
            }
            (Some(RandomFault::ServerError), _) => {
                return Ok(aws_json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceException",
                    "internal failure (injected)",
                ))
            }
            (None, _) => {}
        }
    }

    // Forward to moto.
    let mut builder = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{}{}", state.moto, forward_path));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            builder = builder.header(name, value);
        }
    }
    let upstream = state
        .client
        .request(builder.body(Full::new(body.clone()))?)
        .await
        .context("forwarding to moto")?;
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let mut out = upstream
        .into_body()
        .collect()
        .await
        .context("reading moto's answer")?
        .to_bytes();

    if status.is_success() {
        if service == "STS" && op == "AssumeRole" {
            let text = String::from_utf8_lossy(&out);
            if let (Some(akid), Some(role)) = (
                xml_value(&text, "AccessKeyId"),
                form_value(&body_text, "RoleArn"),
            ) {
                let acct = role.split(':').nth(4).unwrap_or("").to_string();
                state
                    .accounts_by_key
                    .lock()
                    .expect("lock")
                    .insert(akid, acct);
            }
        }
        let patch = match op.as_str() {
            "DescribeKey" => state
                .faults
                .describe_patch
                .iter()
                .find(|(k, _)| key_id.ends_with(k.as_str()))
                .map(|(_, p)| ("KeyMetadata", p)),
            "GetKeyRotationStatus" => state
                .faults
                .rotation_patch
                .iter()
                .find(|(k, _)| key_id.ends_with(k.as_str()))
                .map(|(_, p)| ("", p)),
            _ => None,
        };
        if let (Some((field, patch)), true) = (patch, service == "KMS") {
            let mut v: Value = serde_json::from_slice(&out).context("moto answered non-JSON")?;
            let target = if field.is_empty() {
                Some(&mut v)
            } else {
                v.get_mut(field)
            };
            if let Some(Value::Object(map)) = target {
                for (k, val) in patch {
                    map.insert(k.clone(), val.clone());
                }
            }
            out = Bytes::from(serde_json::to_vec(&v)?);
        }
    }
    let mut resp = Response::new(Full::new(out));
    *resp.status_mut() = status;
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            resp.headers_mut().insert(name, value.clone());
        }
    }
    Ok(resp)
}

/// CloudTrail LookupEvents by resource name (a key ARN) as the fixture declares its calls.
fn lookup_events(state: &State, request: &Value) -> Response<Full<Bytes>> {
    let arn = request["LookupAttributes"][0]["AttributeValue"]
        .as_str()
        .unwrap_or_default();
    let today = jiff::Timestamp::now().as_second() / 86_400 * 86_400;
    let events: Vec<Value> = state
        .faults
        .calls
        .get(arn)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let mut record = json!({"eventSource": "kms.amazonaws.com", "eventName": c.name});
            if let Some(e) = &c.error {
                record["errorCode"] = json!(e);
            }
            json!({
                "EventId": format!("{i:08}-0000-4000-8000-00000000e0e0"),
                "EventName": c.name,
                "EventTime": today - c.days_ago * 86_400 + 3600,
                "Username": c.caller,
                "EventSource": "kms.amazonaws.com",
                "CloudTrailEvent": record.to_string(),
            })
        })
        .collect();
    let mut r = Response::new(Full::new(Bytes::from(
        json!({"Events": events}).to_string(),
    )));
    r.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.1".parse().expect("static header"),
    );
    r
}

/// GetKeyLastUsage as the fixture declares it, in days before the start of today (UTC: the
/// same answer all day); undeclared keys were used by a Decrypt a day before.
fn last_use(state: &State, key_id: &str) -> Response<Full<Bytes>> {
    use kmsaudit_model::LastUseState as S;
    let declared = (state.faults.last_use.iter())
        .find(|(k, _)| key_id.ends_with(k.as_str()))
        .map(|(_, u)| u.clone());
    let u = declared.unwrap_or(crate::fixture::LastUseDef {
        state: "used".into(),
        days_ago: 1,
        operation: None,
    });
    let today = jiff::Timestamp::now().as_second() / 86_400 * 86_400;
    let ago =
        |days: i64| jiff::Timestamp::from_second(today - days * 86_400).expect("a valid time");
    let long_ago: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().expect("a valid time");
    let (last, created) = match u.state.as_str() {
        "used" => (
            S::Used {
                operation: u.operation.clone().unwrap_or_else(|| "Decrypt".into()),
                at: ago(u.days_ago),
                cloudtrail_event_id: Some(format!("{:0>8}-0000-4000-8000-000000000001", u.days_ago)),
            },
            long_ago,
        ),
        "never_used" => (S::NeverUsed { since: ago(u.days_ago) }, ago(u.days_ago)),
        "no_recorded_use" => (
            S::NoRecordedUse {
                since: "2026-04-23T00:00:00Z".parse().expect("a valid time"),
            },
            long_ago,
        ),
        _ => {
            return aws_json_error(
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                "not authorized to perform: kms:GetKeyLastUsage on this resource because no resource-based policy allows it",
            )
        }
    };
    let meta = kmsaudit_model::KeyMetadata {
        arn: key_id.to_string(),
        creation_date: Some(created),
        ..Default::default()
    };
    let body = crate::scale::last_use_answer(&last, &meta).expect("an answer for an allowed key");
    let mut resp = text(StatusCode::OK, &body.to_string());
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

fn aa_json(status: StatusCode, v: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("static header"),
    );
    r
}

const STAMP: &str = "2026-01-01T00:00:00Z";

/// A ListFindings (v1) summary: external access details included.
fn finding_summary(f: &StandInFinding) -> Value {
    json!({
        "id": f.id, "resource": f.key_arn, "resourceType": "AWS::KMS::Key", "resourceOwnerAccount": f.account,
        "status": f.status, "analyzedAt": STAMP, "createdAt": STAMP, "updatedAt": STAMP,
        "action": ["kms:Decrypt"], "condition": f.condition, "isPublic": f.is_public, "principal": f.principal,
    })
}

fn in_zone(a: &StandInAnalyzer, f: &StandInFinding) -> bool {
    a.region == f.region && (a.analyzer_type == "ORGANIZATION" || a.account == f.account)
}

async fn handle_aa(state: &State, req: Request<Incoming>) -> anyhow::Result<Response<Full<Bytes>>> {
    let (akid, region) = credential_scope(&req);
    let account = state.account_of(&akid);
    let (spec, profile, path) = fault_profile(req.uri().path());
    let method = req.method().clone();
    let body = req.into_body().collect().await?.to_bytes();
    let op = match (method.as_str(), path.as_str()) {
        ("GET", "/analyzer") => "ListAnalyzers",
        ("POST", "/finding") => "ListFindings",
        _ => "Unknown",
    };
    let op_label = format!("AccessAnalyzer.{op}");
    let _in_flight = track(state, &spec, &op_label, &account, &region);
    // restJson1 errors: the code in `x-amzn-errortype`.
    let error = |status: StatusCode, code: &str| {
        let mut r = aa_json(status, json!({"message": format!("{code} (injected)")}));
        r.headers_mut()
            .insert("x-amzn-errortype", code.parse().expect("static header"));
        r
    };
    match random_fault(state, &profile, &op_label).await {
        Some(RandomFault::Throttle) => {
            return Ok(error(StatusCode::TOO_MANY_REQUESTS, "ThrottlingException"))
        }
        Some(RandomFault::ServerError) => {
            return Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
            ))
        }
        None => {}
    }
    match op {
        "ListAnalyzers" => {
            let analyzers: Vec<Value> = state
                .faults
                .analyzers
                .iter()
                .filter(|a| a.account == account && a.region == region)
                .map(|a| json!({"arn": a.arn, "name": a.name, "type": a.analyzer_type, "status": a.status, "createdAt": STAMP}))
                .collect();
            Ok(aa_json(StatusCode::OK, json!({ "analyzers": analyzers })))
        }
        "ListFindings" => {
            let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let arn = input
                .get("analyzerArn")
                .and_then(Value::as_str)
                .unwrap_or("");
            let Some(analyzer) = state.faults.analyzers.iter().find(|a| a.arn == arn) else {
                return Ok(aa_json(
                    StatusCode::NOT_FOUND,
                    json!({"message": format!("analyzer {arn} not found")}),
                ));
            };
            let eq = |field: &str| {
                input
                    .pointer(&format!("/filter/{field}/eq/0"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let (want_type, want_status) = (eq("resourceType"), eq("status"));
            let findings: Vec<Value> = state
                .faults
                .findings
                .iter()
                .filter(|f| in_zone(analyzer, f))
                .filter(|_| want_type.as_deref().is_none_or(|t| t == "AWS::KMS::Key"))
                .filter(|f| want_status.as_deref().is_none_or(|s| s == f.status))
                .map(finding_summary)
                .collect();
            Ok(aa_json(StatusCode::OK, json!({ "findings": findings })))
        }
        _ => Ok(aa_json(
            StatusCode::NOT_FOUND,
            json!({"message": format!("{method} {path} is not served by the stand-in")}),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_and_spread() {
        assert_eq!(draw(7, 100), draw(7, 100));
        let below = (0..10_000).filter(|&n| draw(1, n) < 0.1).count();
        assert!((800..1200).contains(&below), "{below}");
    }

    #[test]
    fn form_and_percent_decoding() {
        let body = "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FAudit&Version=2011-06-15";
        assert_eq!(
            form_value(body, "RoleArn").as_deref(),
            Some("arn:aws:iam::111122223333:role/Audit")
        );
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
