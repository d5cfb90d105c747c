//! The access token of one deployment's service account: fetched on first use,
//! renewed [`TOKEN_REFRESH_AHEAD`] of expiry, one renewal in flight at a time.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::ServiceAccount;
use crate::renew::{self, Renewing};
use crate::{HttpClient, ProviderError, Secret};

/// A token is renewed this long before it expires.
pub const TOKEN_REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// The longest one token request may take.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Validity assumed when the token endpoint gives no `expires_in`.
const DEFAULT_VALIDITY: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// One deployment's token.
#[derive(Debug)]
pub(crate) struct TokenCache {
    account: ServiceAccount,
    token: Renewing<Secret>,
}

impl TokenCache {
    pub(crate) fn new(account: ServiceAccount) -> Self {
        Self {
            account,
            token: Renewing::new(TOKEN_REFRESH_AHEAD, TOKEN_TIMEOUT),
        }
    }

    /// A bearer token valid now, for the deployment `label`.
    pub(crate) async fn get(
        &self,
        http: &HttpClient,
        label: &str,
    ) -> Result<Secret, ProviderError> {
        let what = format!(
            "the token endpoint of service account `{}`",
            self.account.client_email
        );
        self.token
            .get(&format!("{label}: {what}"), || {
                self.fetch(http, label, &what)
            })
            .await
    }

    async fn fetch(
        &self,
        http: &HttpClient,
        label: &str,
        what: &str,
    ) -> Result<(Secret, Duration), ProviderError> {
        let email = &self.account.client_email;
        let assertion = self
            .account
            .assertion(SystemTime::now())
            .map_err(|e| ProviderError::bad_gateway(format!("{label}: {e}")))?;
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        );
        let uri: http::Uri = self.account.token_uri.parse().map_err(|_| {
            ProviderError::bad_gateway(format!("{label}: the key file's `token_uri` is not a URL"))
        })?;
        let (status, bytes) = renew::post_form(http, uri, body, label, what).await?;
        if !status.is_success() {
            let why = serde_json::from_slice::<TokenError>(&bytes).ok();
            let code = why
                .as_ref()
                .and_then(|w| w.error.clone())
                .unwrap_or_else(|| status.to_string());
            let text = why.and_then(|w| w.error_description).unwrap_or_default();
            return Err(ProviderError::new(
                renew::refused_status(status),
                format!("{label}: service account `{email}` was refused a token ({code}): {text}"),
            )
            .with_code("invalid_credentials"));
        }
        renew::token_in(&bytes, DEFAULT_VALIDITY, label, what)
    }
}
