//! One assume-role credentials source per member account.
//!
//! Hand-written instead of `aws_config::sts::AssumeRoleProvider` for two reasons: the scanner
//! must see the typed STS error (AccessDenied vs throttling vs region disabled) to record why an
//! account was not assessed, and it assumes the role once up front to learn that. The
//! credentials are cached here and refreshed five minutes before they expire, so every client
//! of the account shares one session (one AssumeRole per account per session lifetime), and a
//! scan longer than the session keeps working.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use tokio::sync::Mutex;

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
        let Some(c) = out.credentials() else {
            return Err(SdkError::construction_failure(
                "AssumeRole returned no credentials",
            ));
        };
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "kmsaudit-assume-role",
        );
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
