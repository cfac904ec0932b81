//! Client-side pacing of KMS calls below AWS's published request quotas.
//!
//! KMS quotas apply per account, region and operation (the KMS Developer Guide, "Request
//! quotas"), so an organization allows far more calls in flight than one account does. The scan
//! paces each (credentials, region, operation) to a share of its quota instead of throttling and
//! retrying: the HTTP client of every SDK client is wrapped, so each attempt and each page waits
//! its turn. The credentials' access key stands for the account (each account is read with its
//! own credentials); the region and operation come from the signed request. Calls of other
//! services, and KMS operations without a quota here, pass unpaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Default request quotas (requests per second, per account and region) of the KMS operations
/// the scan makes, from the KMS Developer Guide's "Request quotas" table.
pub const KMS_QUOTAS: [(&str, f64); 8] = [
    ("DescribeKey", 2000.0),
    ("GetKeyLastUsage", 5.0),
    ("GetKeyPolicy", 1000.0),
    ("GetKeyRotationStatus", 1000.0),
    ("ListAliases", 500.0),
    ("ListGrants", 100.0),
    ("ListKeys", 500.0),
    ("ListResourceTags", 2000.0),
];

/// How far ahead of its rate a bucket may run after being idle: a quarter of a second's calls.
const BURST: Duration = Duration::from_millis(250);

/// What a call is paced by: (access key, region, operation).
type PaceKey = (String, String, &'static str);

/// One (account, region, operation)'s schedule: the earliest time the next call may start.
#[derive(Debug)]
struct Bucket {
    next: Instant,
    interval: Duration,
}

impl Bucket {
    /// The time the call may go, reserved now (GCRA: a call may run up to `BURST` ahead).
    fn reserve(&mut self, now: Instant) -> Instant {
        let start = self.next.max(now.checked_sub(BURST).unwrap_or(now));
        self.next = start + self.interval;
        start.max(now)
    }
}

/// Paces calls to `share` of each KMS quota, per (account, region, operation).
#[derive(Debug)]
pub(crate) struct Pacer {
    share: f64,
    buckets: Mutex<HashMap<PaceKey, Bucket>>,
}

impl Pacer {
    /// `share` of each quota, clamped to (0, 1].
    pub(crate) fn new(share: f64) -> Pacer {
        Pacer {
            share: if share > 0.0 { share.min(1.0) } else { 1.0 },
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until a call of `operation` may start for these credentials and region.
    pub(crate) async fn wait(&self, access_key: &str, region: &str, operation: &str) {
        let Some(&(op, quota)) = KMS_QUOTAS.iter().find(|(op, _)| *op == operation) else {
            return;
        };
        let now = Instant::now();
        let at = {
            let mut buckets = self.buckets.lock().expect("pacer lock");
            // Forget buckets idle long enough to have nothing left to say (accounts stream by).
            if buckets.len() > 50_000 {
                buckets.retain(|_, b| b.next + BURST > now);
            }
            buckets
                .entry((access_key.to_string(), region.to_string(), op))
                .or_insert_with(|| Bucket {
                    next: now,
                    interval: Duration::from_secs_f64(1.0 / (quota * self.share)),
                })
                .reserve(now)
        };
        if at > now {
            tokio::time::sleep_until(at).await;
        }
    }
}

/// (access key, region, KMS operation) of a signed KMS request; `None` for anything else.
fn pace_key(request: &HttpRequest) -> Option<(String, String, String)> {
    let operation = request
        .headers()
        .get("x-amz-target")?
        .strip_prefix("TrentService.")?;
    // `AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/kms/aws4_request, ...`
    let credential = request
        .headers()
        .get("authorization")?
        .split("Credential=")
        .nth(1)?;
    let mut scope = credential.split(['/', ',']);
    let access_key = scope.next()?;
    let _date = scope.next()?;
    let region = scope.next()?;
    Some((access_key.into(), region.into(), operation.into()))
}

/// An HTTP client whose connectors wait for the pacer before each KMS request, then for one of
/// the scan-wide permits, held while the request is on the wire. Waiting for the pace holds no
/// permit, so a slow quota in one account × region never starves the others.
#[derive(Debug, Clone)]
pub(crate) struct PacedClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
    permits: Arc<Semaphore>,
}

impl PacedClient {
    pub(crate) fn shared(
        inner: SharedHttpClient,
        pacer: Arc<Pacer>,
        permits: Arc<Semaphore>,
    ) -> SharedHttpClient {
        SharedHttpClient::new(PacedClient {
            inner,
            pacer,
            permits,
        })
    }
}

impl HttpClient for PacedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
            permits: self.permits.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
    permits: Arc<Semaphore>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let paced = pace_key(&request);
        let inner = self.inner.clone();
        let pacer = self.pacer.clone();
        let permits = self.permits.clone();
        HttpConnectorFuture::new(async move {
            if let Some((access_key, region, operation)) = paced {
                pacer.wait(&access_key, &region, &operation).await;
            }
            let _permit = permits
                .acquire()
                .await
                .expect("the scan's semaphore is never closed");
            inner.call(request).await
        })
    }
}

/// The plan's retry mode and attempts, and bounded timeouts, on top of the caller's config.
pub(crate) fn with_retries_and_timeouts(
    base: aws_types::SdkConfig,
    plan: &crate::ScanPlan,
) -> aws_types::SdkConfig {
    let mode = if plan.adaptive_retry {
        aws_config::retry::RetryConfig::adaptive()
    } else {
        aws_config::retry::RetryConfig::standard()
    };
    let retry = mode
        .with_max_attempts(plan.max_attempts.max(1))
        .with_max_backoff(Duration::from_secs(20));
    // Every SDK client's HTTP client is paced below the KMS quotas (see `pace`).
    // The SDK's own default when the caller's config names none: hyper 1 with rustls (aws-lc).
    // With a CA bundle, the same client trusting its certificates as well.
    let default_client = || {
        use aws_smithy_http_client::tls::{
            rustls_provider::CryptoMode, Provider, TlsContext, TrustStore,
        };
        let builder = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        let trust = plan.ca_bundle.as_ref().and_then(|pem| {
            TlsContext::builder()
                .with_trust_store(TrustStore::default().with_pem_certificate(pem.clone()))
                .build()
                .map_err(|e| tracing::warn!(error = %e, "the CA bundle is not usable; using the system's roots"))
                .ok()
        });
        match trust {
            Some(ctx) => builder.tls_context(ctx).build_https(),
            None => builder.build_https(),
        }
    };
    let http = match (&plan.ca_bundle, base.http_client()) {
        (None, Some(http)) => http,
        _ => default_client(),
    };
    base.to_builder()
        .http_client(PacedClient::shared(
            http,
            Arc::new(Pacer::new(plan.quota_share)),
            Arc::new(Semaphore::new(plan.concurrency.max(1))),
        ))
        .retry_config(retry)
        // A request waits for its pace and permit inside the HTTP client, before its small body
        // is read: not a stalled upload. Downloads stay protected.
        .stalled_stream_protection(
            aws_types::sdk_config::StalledStreamProtectionConfig::enabled()
                .upload_enabled(false)
                .build(),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ListGrants has a quota of 100/s; at half of it, 60 calls of one account and region
    /// take at least (60 - 12.5 burst) / 50 s, while another account's calls are not held up.
    #[tokio::test(start_paused = true)]
    async fn calls_are_paced_per_account_region_and_operation() {
        let pacer = Arc::new(Pacer::new(0.5));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..60 {
            let p = pacer.clone();
            tasks.push(tokio::spawn(async move {
                p.wait("AKIDA", "us-east-1", "ListGrants").await;
                Instant::now()
            }));
        }
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        let last = done.iter().max().unwrap().duration_since(started);
        assert!(
            last >= Duration::from_millis(940) && last <= Duration::from_millis(1_200),
            "{last:?}"
        );
        // No more than 50/s + the burst in any one second.
        let in_first_second = done
            .iter()
            .filter(|t| t.duration_since(started) < Duration::from_secs(1))
            .count();
        assert!(in_first_second <= 50 + 13, "{in_first_second}");

        let other = Instant::now();
        pacer.wait("AKIDB", "us-east-1", "ListGrants").await;
        pacer.wait("AKIDA", "eu-west-1", "ListGrants").await;
        pacer.wait("AKIDA", "us-east-1", "DescribeKey").await;
        pacer.wait("AKIDA", "us-east-1", "CreateKey").await;
        assert_eq!(other.elapsed(), Duration::ZERO, "other buckets are free");
    }

    #[test]
    fn the_key_comes_from_the_signed_request() {
        let request = |target: &str| {
            let mut r = HttpRequest::empty();
            r.headers_mut().insert("x-amz-target", target.to_string());
            r.headers_mut().insert(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261125/eu-west-1/kms/aws4_request, SignedHeaders=host, Signature=abc".to_string(),
            );
            r
        };
        assert_eq!(
            pace_key(&request("TrentService.ListGrants")),
            Some((
                "ASIAEXAMPLE".into(),
                "eu-west-1".into(),
                "ListGrants".into()
            ))
        );
        assert_eq!(
            pace_key(&request("AWSOrganizationsV20161128.ListAccounts")),
            None
        );
        assert_eq!(pace_key(&HttpRequest::empty()), None);
    }
}
