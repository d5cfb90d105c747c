//! The keys a request is signed with, and the per-deployment cache of an assumed
//! role's session.

use std::fmt;
use std::time::Duration;

use cache_layer::client::Secret;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{sts, AwsAuth};
use crate::{HttpClient, ProviderError};

/// An assumed role's session is renewed this long before it expires, so no request
/// is signed with keys that lapse on the way.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// The longest one STS `AssumeRole` call may take.
pub const STS_TIMEOUT: Duration = Duration::from_secs(10);

/// One set of AWS keys. `Debug` shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (`AKIA…`, `ASIA…` for temporary keys).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary keys.
    pub session_token: Option<Secret>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}

/// The keys of one deployment: its static keys, or the session of the role it
/// assumes, fetched on first use and renewed [`REFRESH_AHEAD`] of expiry.
#[derive(Debug)]
pub(crate) struct CredentialCache {
    auth: AwsAuth,
    // The lock is held across a refresh, so concurrent requests that find the session
    // stale wait for the one refresh in flight instead of each calling STS.
    session: Mutex<Option<(Credentials, Instant)>>,
}

impl CredentialCache {
    pub(crate) fn new(auth: AwsAuth) -> Self {
        Self {
            auth,
            session: Mutex::new(None),
        }
    }

    /// The settings these keys come from.
    pub(crate) fn auth(&self) -> &AwsAuth {
        &self.auth
    }

    /// Keys to sign a request with now.
    pub(crate) async fn get(&self, http: &HttpClient) -> Result<Credentials, ProviderError> {
        let keys = self.auth.keys().ok_or_else(|| {
            ProviderError::new(
                http::StatusCode::UNAUTHORIZED,
                "no AWS keys are configured for this deployment",
            )
            .with_code("invalid_credentials")
        })?;
        let Some(role) = &self.auth.role_arn else {
            return Ok(keys);
        };
        let mut session = self.session.lock().await;
        let now = Instant::now();
        if let Some((creds, expires)) = &*session {
            if now + REFRESH_AHEAD < *expires {
                return Ok(creds.clone());
            }
        }
        let fetched =
            tokio::time::timeout(STS_TIMEOUT, sts::assume_role(http, &self.auth, &keys, role))
                .await;
        let result = match fetched {
            Ok(result) => result,
            Err(_) => Err(ProviderError::timeout(format!(
                "STS AssumeRole of `{role}` did not answer within {STS_TIMEOUT:?}"
            ))),
        };
        match result {
            Ok((creds, valid_for)) => {
                *session = Some((creds.clone(), Instant::now() + valid_for));
                Ok(creds)
            }
            // A session that has not lapsed yet still signs; the next request retries.
            Err(err) => match &*session {
                Some((creds, expires)) if Instant::now() < *expires => {
                    tracing::warn!(error = %err, role = %role, "STS refresh failed; the current session is used until it expires");
                    Ok(creds.clone())
                }
                _ => Err(err),
            },
        }
    }
}
