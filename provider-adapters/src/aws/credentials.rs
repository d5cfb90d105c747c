//! The keys a request is signed with, and the per-deployment cache of an assumed
//! role's session.

use std::fmt;
use std::time::Duration;

use super::{sts, AwsAuth};
use crate::renew::Renewing;
use crate::{HttpClient, ProviderError};
use cache_layer::client::Secret;

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
    session: Renewing<Credentials>,
}

impl CredentialCache {
    pub(crate) fn new(auth: AwsAuth) -> Self {
        Self {
            auth,
            session: Renewing::new(REFRESH_AHEAD, STS_TIMEOUT),
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
        self.session
            .get(&format!("STS AssumeRole of `{role}`"), || {
                sts::assume_role(http, &self.auth, &keys, role)
            })
            .await
    }
}
