//! The access token of one deployment's service account: fetched on first use,
//! renewed [`TOKEN_REFRESH_AHEAD`] of expiry, one renewal in flight at a time.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::ServiceAccount;
use crate::{HttpClient, ProviderError, Secret};

/// A token is renewed this long before it expires.
pub const TOKEN_REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// The longest one token request may take.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest token endpoint answer read.
const MAX_TOKEN_BODY: usize = 64 * 1024;

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

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
    // Held across a renewal: concurrent requests wait for the one in flight.
    token: Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    pub(crate) fn new(account: ServiceAccount) -> Self {
        Self {
            account,
            token: Mutex::new(None),
        }
    }

    /// A bearer token valid now, for the deployment `label`.
    pub(crate) async fn get(
        &self,
        http: &HttpClient,
        label: &str,
    ) -> Result<Secret, ProviderError> {
        let mut slot = self.token.lock().await;
        if let Some((token, expires)) = &*slot {
            if Instant::now() + TOKEN_REFRESH_AHEAD < *expires {
                return Ok(token.clone());
            }
        }
        let email = &self.account.client_email;
        let fetched = match tokio::time::timeout(TOKEN_TIMEOUT, self.fetch(http, label)).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::timeout(format!(
                "{label}: the token endpoint for service account `{email}` did not answer within {TOKEN_TIMEOUT:?}"
            ))),
        };
        match fetched {
            Ok((token, valid_for)) => {
                *slot = Some((token.clone(), Instant::now() + valid_for));
                Ok(token)
            }
            // A token that has not lapsed still works; the next request retries.
            Err(err) => match &*slot {
                Some((token, expires)) if Instant::now() < *expires => {
                    tracing::warn!(error = %err, "token renewal failed; the current token is used until it expires");
                    Ok(token.clone())
                }
                _ => Err(err),
            },
        }
    }

    async fn fetch(
        &self,
        http: &HttpClient,
        label: &str,
    ) -> Result<(Secret, Duration), ProviderError> {
        let email = &self.account.client_email;
        let assertion = self
            .account
            .assertion(SystemTime::now())
            .map_err(|e| ProviderError::bad_gateway(format!("{label}: {e}")))?;
        let body = Bytes::from(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        ));
        let uri: http::Uri = self.account.token_uri.parse().map_err(|_| {
            ProviderError::bad_gateway(format!("{label}: the key file's `token_uri` is not a URL"))
        })?;
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = http::Method::POST;
        if let Some(host) = crate::client::host_header(&uri) {
            req.headers_mut().insert(HOST, host);
        }
        *req.uri_mut() = uri;
        req.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let res = http.request(req).await.map_err(|e| {
            ProviderError::unreachable(
                format!("{label}: could not reach the token endpoint of `{email}`"),
                e,
            )
        })?;
        let status = res.status();
        let bytes = crate::body::read_limited(res.into_body(), MAX_TOKEN_BODY)
            .await
            .map_err(|_| {
                ProviderError::bad_gateway(format!(
                    "{label}: the token endpoint sent an unreadable answer"
                ))
            })?;
        if !status.is_success() {
            let why = serde_json::from_slice::<TokenError>(&bytes).ok();
            let code = why
                .as_ref()
                .and_then(|w| w.error.clone())
                .unwrap_or_else(|| status.to_string());
            let text = why.and_then(|w| w.error_description).unwrap_or_default();
            // A refused key or assertion is the deployment's configuration, not the client's request.
            let status = if status.is_client_error() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_GATEWAY
            };
            return Err(ProviderError::new(
                status,
                format!("{label}: service account `{email}` was refused a token ({code}): {text}"),
            )
            .with_code("invalid_credentials"));
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|_| {
            ProviderError::bad_gateway(format!("{label}: the token endpoint sent no access_token"))
        })?;
        let valid_for = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        Ok((Secret::new(answer.access_token), valid_for))
    }
}
