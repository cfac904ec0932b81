//! The scale stand-in: Organizations, STS, KMS, the Resource Groups Tagging API's GetResources,
//! IAM Access Analyzer, the Account Management API's ListRegions and, for effective access, IAM
//! and the organization's tree and policies (`access.rs`) for a generated organization
//! (`generate.rs`), served on loopback the way
//! the real APIs answer (the Rust SDK's deserializers are the contract), with
//!
//! * the real default and maximum page sizes and markers (`api.rs`, `kms.rs`);
//! * a latency per request with ±20 % jitter;
//! * a token bucket per (account, region, KMS operation) at AWS KMS's published request quotas,
//!   answering `ThrottlingException` beyond them;
//! * random throttling and 5xx on top, for the fault-injection runs;
//! * counts of every request, throttle and fault (`Stats`).
//!
//! Accounts are told apart by their access keys: AssumeRole into account X hands out
//! `ASIA` + X, and any other access key is the management account's.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

mod access;
mod api;
pub mod generate;
mod keys;
mod kms;
#[cfg(test)]
mod last_use_tests;
mod monitoring;
#[cfg(test)]
mod tests;

pub use generate::{ScaleOrg, ScaleSpec};
pub(crate) use kms::last_use_answer;

/// How the stand-in behaves besides answering.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    pub latency_ms: u64,
    /// Share of requests answered with ThrottlingException at random, on top of the quotas.
    pub throttle: f64,
    /// Share of requests answered with a 5xx at random.
    pub error5xx: f64,
    pub seed: u64,
}

/// A token bucket: `rate` tokens a second, holding at most half a second of them.
struct Bucket {
    tokens: f64,
    rate: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let cap = self.rate / 2.0;
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(cap);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the stand-in counted.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub requests: u64,
    /// Requests per `Service.Operation`.
    pub by_operation: std::collections::BTreeMap<String, u64>,
    /// Answered ThrottlingException because a quota's bucket was empty.
    pub throttled_by_quota: u64,
    /// Answered ThrottlingException at random (the fault profile).
    pub throttled_injected: u64,
    /// Answered a 5xx at random.
    pub server_errors_injected: u64,
}

impl Stats {
    pub fn throttled(&self) -> u64 {
        self.throttled_by_quota + self.throttled_injected
    }
}

pub(crate) struct State {
    pub org: ScaleOrg,
    behaviour: Behaviour,
    buckets: Mutex<HashMap<(usize, String, &'static str), Bucket>>,
    stats: Mutex<Stats>,
    counter: AtomicU64,
}

/// The running stand-in; it stops with the runtime.
pub struct ScaleStandIn {
    pub url: String,
    state: Arc<State>,
}

impl ScaleStandIn {
    pub fn org(&self) -> &ScaleOrg {
        &self.state.org
    }

    pub fn stats(&self) -> Stats {
        self.state.stats.lock().expect("stats lock").clone()
    }

    /// Clears the counts (between benchmark runs).
    pub fn reset(&self) {
        *self.state.stats.lock().expect("stats lock") = Stats::default();
        self.state.buckets.lock().expect("buckets lock").clear();
    }

    /// The environment a kmsaudit process needs to scan the stand-in as the management account.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_ACCESS_KEY_ID", "AKIASCALEBENCH".into()),
            ("AWS_SECRET_ACCESS_KEY", "scale-bench-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

/// Serves `org` on a loopback port.
pub async fn start(org: ScaleOrg, behaviour: Behaviour) -> anyhow::Result<ScaleStandIn> {
    let state = Arc::new(State {
        org,
        behaviour,
        buckets: Mutex::new(HashMap::new()),
        stats: Mutex::new(Stats::default()),
        counter: AtomicU64::new(0),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let serving = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = serving.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(&state, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(ScaleStandIn { url, state })
}

/// One request as the handlers see it.
pub(crate) struct Call {
    /// Index of the calling account in the organization.
    pub account: usize,
    pub region: String,
    pub service: String,
    /// `X-Amz-Target`'s operation, for the JSON protocols.
    pub target: Option<String>,
    pub method: hyper::Method,
    pub path: String,
    pub query: String,
    pub body: Bytes,
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some((akid, region, service)) = crate::standin::sigv4_scope(&req) else {
        return api::json_error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "unsigned request",
            false,
        );
    };
    let account = akid
        .strip_prefix("ASIA")
        .and_then(|id| state.org.account_index.get(id).copied())
        .unwrap_or(0);
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split_once('.'))
        .map(|(_, op)| op.to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return api::text(StatusCode::BAD_REQUEST, &format!("unreadable body: {e}")),
    };
    let call = Call {
        account,
        region,
        service,
        target,
        method,
        path,
        query,
        body,
    };
    let operation = api::operation(&call);
    let rest_json = call.service == "access-analyzer" || call.service == "account";
    {
        let mut stats = state.stats.lock().expect("stats lock");
        stats.requests += 1;
        *stats.by_operation.entry(operation.clone()).or_default() += 1;
    }
    let b = state.behaviour;
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    if b.latency_ms > 0 {
        let jitter = 0.8 + 0.4 * crate::standin::draw(b.seed ^ 0x1a7e, n);
        tokio::time::sleep(Duration::from_secs_f64(
            b.latency_ms as f64 * jitter / 1000.0,
        ))
        .await;
    }
    let draw = crate::standin::draw(b.seed, n);
    if draw < b.throttle {
        state.stats.lock().expect("stats lock").throttled_injected += 1;
        return throttle(&call, rest_json);
    }
    if draw < b.throttle + b.error5xx {
        state
            .stats
            .lock()
            .expect("stats lock")
            .server_errors_injected += 1;
        return match call.service.as_str() {
            "sts" => api::sts_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "injected",
            ),
            "kms" => api::json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "KMSInternalException",
                "injected",
                false,
            ),
            "iam" => access::iam_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceFailure",
                "injected",
            ),
            _ => api::json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "injected",
                rest_json,
            ),
        };
    }
    // The published quotas: KMS's from the scanner's own table (the KMS Developer Guide's),
    // CloudTrail LookupEvents' 2/s per account and region.
    let quota = match call.service.as_str() {
        "kms" => kmsaudit_scanner::KMS_QUOTAS
            .iter()
            .find(|(op, _)| Some(*op) == call.target.as_deref())
            .copied(),
        "cloudtrail"
            if call
                .target
                .as_deref()
                .is_some_and(|t| t.ends_with(".LookupEvents")) =>
        {
            Some(("LookupEvents", 2.0))
        }
        _ => None,
    };
    {
        if let Some((op, quota)) = quota {
            let now = Instant::now();
            let allowed = state
                .buckets
                .lock()
                .expect("buckets lock")
                .entry((call.account, call.region.clone(), op))
                .or_insert(Bucket {
                    tokens: quota / 2.0,
                    rate: quota,
                    at: now,
                })
                .take(now);
            if !allowed {
                state.stats.lock().expect("stats lock").throttled_by_quota += 1;
                return throttle(&call, false);
            }
        }
    }
    api::answer(state, &call)
}

fn throttle(call: &Call, rest_json: bool) -> Response<Full<Bytes>> {
    match call.service.as_str() {
        "sts" => api::sts_error(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
        "iam" => access::iam_error(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
        "kms" => api::json_error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
            false,
        ),
        "organizations" => api::json_error(
            StatusCode::BAD_REQUEST,
            "TooManyRequestsException",
            "Rate exceeded",
            false,
        ),
        _ => api::json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Rate exceeded",
            rest_json,
        ),
    }
}

/// How a scan's verdicts compare with the truth's.
#[derive(Debug)]
pub struct Verdicts {
    pub right: usize,
    pub total: usize,
    /// What differs: truth verdicts not reproduced, then verdicts the truth does not have.
    pub wrong: Vec<String>,
    /// Usage verdicts NOT_ASSESSED because the key's last use was not reached within the
    /// scan's wait (counted apart: neither right nor wrong).
    pub not_reached: usize,
    /// Keys whose last use the scan asked, carried from its baseline, or did not reach.
    pub last_use_keys: [usize; 3],
}

/// What of a scan decides which verdicts it can have: its start ("now"), whether it read last
/// use, and the keys whose last use it did not reach in time.
pub struct ScanFacts {
    pub started_at: jiff::Timestamp,
    pub last_use: bool,
    pub monitoring: bool,
    pub not_reached: std::collections::HashSet<String>,
    /// Keys whose last use the scan asked, carried from its baseline, or did not reach.
    pub last_use_keys: [usize; 3],
}

impl ScanFacts {
    pub fn of(scanned: &kmsaudit_model::Snapshot) -> ScanFacts {
        let not_reached: std::collections::HashSet<String> = scanned
            .keys()
            .filter(|(_, _, k)| {
                matches!(&k.last_use, Some(kmsaudit_model::LastUse {
                    state: kmsaudit_model::LastUseState::NotAssessed { issue }, ..
                }) if issue.code == "NotReached")
            })
            .map(|(_, _, k)| k.arn.clone())
            .collect();
        let carried = (scanned.keys())
            .filter(|(_, _, k)| k.last_use.as_ref().is_some_and(|u| u.from_baseline))
            .count();
        let with_answer = (scanned.keys())
            .filter(|(_, _, k)| k.last_use.is_some())
            .count();
        let last_use_keys = [
            with_answer - carried - not_reached.len(),
            carried,
            not_reached.len(),
        ];
        ScanFacts {
            started_at: scanned.metadata.started_at,
            last_use: scanned.metadata.scope.last_use,
            monitoring: scanned.metadata.scope.monitoring,
            not_reached,
            last_use_keys,
        }
    }
}

/// Evaluates the truth as of the scan's start and compares every (rule, resource) verdict of
/// it with `got`.
pub fn compare_verdicts(
    truth: &kmsaudit_model::Snapshot,
    scan: &ScanFacts,
    got: &kmsaudit_model::FindingsDocument<'_>,
) -> Verdicts {
    let mut truth = truth.clone();
    truth.metadata.started_at = scan.started_at;
    truth.metadata.scope.last_use = scan.last_use;
    truth.metadata.scope.monitoring = scan.monitoring;
    if !scan.monitoring {
        truth.accounts.iter_mut().for_each(|a| a.monitoring = None);
    }
    let evaluation =
        kmsaudit_evaluator::evaluate(&truth, &kmsaudit_evaluator::EvalConfig::default());
    let expected = kmsaudit_model::FindingsDocument::new(&truth, &evaluation);
    let mut got: HashMap<(&str, &str), kmsaudit_model::Status> = got
        .outcomes()
        .map(|o| ((o.rule_id, o.resource.id.as_ref()), o.status))
        .collect();
    let (mut right, mut total, mut wrong, mut not_reached) = (0, 0, vec![], 0);
    for o in expected.outcomes() {
        total += 1;
        match got.remove(&(o.rule_id, o.resource.id.as_ref())) {
            Some(s) if s == o.status => right += 1,
            Some(kmsaudit_model::Status::NotAssessed)
                if matches!(
                    o.rule_id,
                    "KMS-KEY-UNUSED" | "KMS-KEY-DESTROY-IN-USE" | "KMS-KEY-DELETION-UNGUARDED"
                ) && scan.not_reached.contains(o.resource.id.as_ref()) =>
            {
                not_reached += 1
            }
            found => wrong.push(format!(
                "{} on {}: expected {:?}, got {found:?}",
                o.rule_id, o.resource.id, o.status
            )),
        }
    }
    if !got.is_empty() {
        wrong.push(format!("{} verdicts the truth does not have", got.len()));
    }
    Verdicts {
        right,
        total,
        wrong,
        not_reached,
        last_use_keys: scan.last_use_keys,
    }
}
