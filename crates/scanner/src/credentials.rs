//! STS: who the caller is, and one assume-role credentials source per member account.
//!
//! Hand-written instead of `aws_config::sts::AssumeRoleProvider` for two reasons: the scanner
//! must see the typed STS error (AccessDenied vs throttling vs region disabled) to record why an
//! account was not assessed, and it assumes the role once up front to learn that. The
//! credentials are cached here and refreshed five minutes before they expire, so every client
//! of the account shares one session (one AssumeRole per account per session lifetime), and a
//! scan longer than the session keeps working.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{
    error::CredentialsError, future, ProvideCredentials, SharedCredentialsProvider,
};
use aws_credential_types::Credentials;
use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use kmsaudit_model::{CallerIdentity, Issue};
use tokio::sync::Mutex;

use crate::classify::issue;
use crate::{convert, CallCounter, ScanError, Scanner};

pub(crate) fn sts_client(base: &SdkConfig, counter: &CallCounter) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(base)
            .interceptor(counter.clone())
            .build(),
    )
}

/// GetCallerIdentity: without it nothing can be scanned.
pub(crate) async fn caller_identity(
    base: &SdkConfig,
    counter: &CallCounter,
) -> Result<CallerIdentity, ScanError> {
    // The scan's first call: an endpoint that refuses connections or credentials that do not
    // work should fail in seconds, not after the scan's full retry budget (8 attempts, backoff
    // up to 20 s). A throttle or a 5xx still gets retried.
    let first_call = aws_sdk_sts::config::Builder::default().retry_config(
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_max_backoff(std::time::Duration::from_secs(1)),
    );
    sts_client(base, counter)
        .get_caller_identity()
        .customize()
        .config_override(first_call)
        .send()
        .await
        .map(|out| convert::caller_identity(&out))
        .map_err(|e| ScanError::CallerIdentity(issue("STS.GetCallerIdentity", &e)))
}

impl Scanner {
    /// The SDK config of one account, and how it was obtained: the caller's own credentials
    /// for the caller's account, the assumed audit role for the others.
    pub(crate) async fn account_config(
        &self,
        account_id: &str,
    ) -> Result<(SdkConfig, String), Issue> {
        if account_id == self.caller_account {
            return Ok((self.base.clone(), "caller credentials".into()));
        }
        let role_arn = format!(
            "arn:{}:iam::{account_id}:role/{}",
            self.partition, self.plan.role_name
        );
        let role = AssumedRole::new(
            sts_client(&self.base, &self.counter),
            role_arn,
            self.plan.session_name.clone(),
            self.plan.external_id.clone(),
            self.plan.session_duration.map(|d| d.as_secs() as i32),
        );
        role.credentials()
            .await
            .map_err(|e| issue("STS.AssumeRole", &e))?;
        let config = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(role.clone()))
            .identity_cache(
                aws_config::identity::IdentityCache::lazy()
                    .load_timeout(Duration::from_secs(30))
                    .build(),
            )
            .build();
        Ok((config, role.role_arn().to_string()))
    }
}

/// Refresh this long before expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub(crate) struct AssumedRole {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    session_name: String,
    external_id: Option<String>,
    duration_seconds: Option<i32>,
    cached: Mutex<Option<Credentials>>,
}

impl AssumedRole {
    pub(crate) fn new(
        sts: aws_sdk_sts::Client,
        role_arn: String,
        session_name: String,
        external_id: Option<String>,
        duration_seconds: Option<i32>,
    ) -> Self {
        AssumedRole {
            inner: Arc::new(Inner {
                sts,
                role_arn,
                session_name,
                external_id,
                duration_seconds,
                cached: Mutex::new(None),
            }),
        }
    }

    pub(crate) fn role_arn(&self) -> &str {
        &self.inner.role_arn
    }

    /// Cached credentials, or a fresh AssumeRole when none are cached or they expire soon.
    pub(crate) async fn credentials(&self) -> Result<Credentials, SdkError<AssumeRoleError>> {
        let mut cached = self.inner.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c
                .expiry()
                .is_none_or(|e| e > SystemTime::now() + REFRESH_MARGIN);
            if fresh {
                return Ok(c.clone());
            }
        }
        let out = self
            .inner
            .sts
            .assume_role()
            .role_arn(&self.inner.role_arn)
            .role_session_name(&self.inner.session_name)
            .set_external_id(self.inner.external_id.clone())
            .set_duration_seconds(self.inner.duration_seconds)
            .send()
            .await?;
        let Some(creds) = out.credentials().map(convert::credentials) else {
            return Err(SdkError::construction_failure(
                "AssumeRole returned no credentials",
            ));
        };
        *cached = Some(creds.clone());
        Ok(creds)
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.credentials().await.map_err(|e| {
                CredentialsError::provider_error(format!(
                    "assuming {} failed: {}",
                    self.inner.role_arn,
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ))
            })
        })
    }
}

/// Builds the base SDK config from the usual sources (profile, environment, endpoint overrides).
pub async fn load_base_config(
    profile: Option<&str>,
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    if let Some(e) = endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return config.to_builder().region(Region::new("us-east-1")).build();
    }
    config
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
    use aws_sdk_sts::types::Credentials as StsCredentials;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    use super::*;

    fn output(expires_in: Duration) -> AssumeRoleOutput {
        let expiration = aws_smithy_types::DateTime::from(SystemTime::now() + expires_in);
        AssumeRoleOutput::builder()
            .credentials(
                StsCredentials::builder()
                    .access_key_id("ASIAEXAMPLE")
                    .secret_access_key("secret")
                    .session_token("token")
                    .expiration(expiration)
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[tokio::test]
    async fn one_assume_role_per_session_and_a_new_one_before_expiry() {
        let long = mock!(aws_sdk_sts::Client::assume_role)
            .then_output(|| output(Duration::from_secs(3600)));
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[&long]);
        let role = AssumedRole::new(
            sts,
            "arn:aws:iam::111122223333:role/Audit".into(),
            "kmsaudit".into(),
            Some("ext".into()),
            None,
        );
        for _ in 0..5 {
            role.credentials().await.unwrap();
        }
        assert_eq!(long.num_calls(), 1, "cached for the session");

        // A session about to expire (inside the refresh margin) is renewed on the next use.
        let short =
            mock!(aws_sdk_sts::Client::assume_role).then_output(|| output(Duration::from_secs(60)));
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[&short]);
        let role = AssumedRole::new(
            sts,
            "arn:aws:iam::111122223333:role/Audit".into(),
            "kmsaudit".into(),
            None,
            None,
        );
        for _ in 0..3 {
            role.credentials().await.unwrap();
        }
        assert_eq!(short.num_calls(), 3);
    }

    #[tokio::test]
    async fn the_sts_error_code_is_kept() {
        let denied = mock!(aws_sdk_sts::Client::assume_role).then_http_response(|| {
            aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>",
                ),
            )
        });
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[&denied]);
        let role = AssumedRole::new(
            sts,
            "arn:aws:iam::111122223333:role/Audit".into(),
            "kmsaudit".into(),
            None,
            None,
        );
        let err = role.credentials().await.unwrap_err();
        let issue = crate::classify::issue("STS.AssumeRole", &err);
        assert_eq!(issue.code, "AccessDenied");
        assert_eq!(issue.message, "not authorized");
    }
}
