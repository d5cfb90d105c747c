//! What the credential caches (a service account's token, an IAM token, an assumed
//! role's session) have in common: a value fetched on first use and renewed ahead of
//! its expiry, one renewal in flight at a time, each bounded by a timeout, the current
//! value kept in use while it has not lapsed if a renewal fails; and the OAuth-style
//! form POST two of them fetch with.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::{HttpClient, ProviderError, Secret};

/// Largest token endpoint answer read.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// A value and when it expires, renewed `ahead` of that.
#[derive(Debug)]
pub(crate) struct Renewing<T> {
    ahead: Duration,
    timeout: Duration,
    // Held across a renewal: concurrent callers that find the value stale wait for
    // the one renewal in flight instead of each fetching.
    slot: Mutex<Option<(T, Instant)>>,
}

impl<T: Clone> Renewing<T> {
    /// Empty: the first [`get`](Self::get) fetches. Renews `ahead` of expiry; each
    /// fetch may take `timeout`.
    pub(crate) fn new(ahead: Duration, timeout: Duration) -> Self {
        Self {
            ahead,
            timeout,
            slot: Mutex::new(None),
        }
    }

    /// The value, fetched by `fetch` (which gives it and how long it is valid) when
    /// there is none or it expires within `ahead`. `what` names the source in the
    /// timeout error and the log line of a failed renewal.
    pub(crate) async fn get<F, Fut>(&self, what: &str, fetch: F) -> Result<T, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Duration), ProviderError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((value, expires)) = &*slot {
            if Instant::now() + self.ahead < *expires {
                return Ok(value.clone());
            }
        }
        let fetched = match tokio::time::timeout(self.timeout, fetch()).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::timeout(format!(
                "{what} did not answer within {:?}",
                self.timeout
            ))),
        };
        match fetched {
            Ok((value, valid_for)) => {
                *slot = Some((value.clone(), Instant::now() + valid_for));
                Ok(value)
            }
            // A value that has not lapsed still works; the next caller retries.
            Err(err) => match &*slot {
                Some((value, expires)) if Instant::now() < *expires => {
                    tracing::warn!(error = %err, "renewal at {what} failed; the current credentials are used until they expire");
                    Ok(value.clone())
                }
                _ => Err(err),
            },
        }
    }
}

/// An OAuth token endpoint's answer.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenAnswer {
    /// The token and how long it is valid (`default` when the answer does not say).
    pub(crate) fn into_token(self, default: Duration) -> (Secret, Duration) {
        let valid_for = self.expires_in.map_or(default, Duration::from_secs);
        (Secret::new(self.access_token), valid_for)
    }
}

/// POSTs the form `body` to the token endpoint `uri` and reads its answer (at most
/// 64 KiB): the status and the bytes. `what` names the endpoint in errors, `label`
/// the deployment.
pub(crate) async fn post_form(
    http: &HttpClient,
    uri: http::Uri,
    body: String,
    label: &str,
    what: &str,
) -> Result<(StatusCode, Bytes), ProviderError> {
    let mut req = Request::new(Full::new(Bytes::from(body)));
    *req.method_mut() = http::Method::POST;
    if let Some(host) = crate::client::host_header(&uri) {
        req.headers_mut().insert(HOST, host);
    }
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let res = http
        .request(req)
        .await
        .map_err(|e| ProviderError::unreachable(format!("{label}: could not reach {what}"), e))?;
    let status = res.status();
    let bytes = crate::body::read_limited(res.into_body(), MAX_TOKEN_BODY)
        .await
        .map_err(|_| {
            ProviderError::bad_gateway(format!("{label}: {what} sent an unreadable answer"))
        })?;
    Ok((status, bytes))
}

/// The token in a successful answer's `bytes`.
pub(crate) fn token_in(
    bytes: &[u8],
    default: Duration,
    label: &str,
    what: &str,
) -> Result<(Secret, Duration), ProviderError> {
    serde_json::from_slice::<TokenAnswer>(bytes)
        .map(|answer| answer.into_token(default))
        .map_err(|_| ProviderError::bad_gateway(format!("{label}: {what} sent no access_token")))
}

/// The status a refused token request is answered with: a refused key or assertion
/// (a 4xx) is the deployment's configuration, not the client's request, so 401;
/// anything else 502.
pub(crate) fn refused_status(status: StatusCode) -> StatusCode {
    if status.is_client_error() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_GATEWAY
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_fresh_value_is_reused_and_a_stale_one_renewed() {
        let cache = Renewing::new(Duration::from_secs(300), Duration::from_secs(10));
        let fetches = AtomicU32::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok((n, Duration::from_secs(3600)))
        };
        assert_eq!(cache.get("test", fetch).await.ok(), Some(0));
        assert_eq!(cache.get("test", fetch).await.ok(), Some(0));
        tokio::time::advance(Duration::from_secs(3600 - 299)).await;
        assert_eq!(cache.get("test", fetch).await.ok(), Some(1));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_renewal_keeps_the_value_until_it_lapses() {
        let cache = Renewing::new(Duration::from_secs(300), Duration::from_secs(10));
        let first = cache
            .get("test", || async { Ok(("a", Duration::from_secs(600))) })
            .await;
        assert_eq!(first.ok(), Some("a"));
        tokio::time::advance(Duration::from_secs(400)).await;
        let failing = || async { Err::<(&str, Duration), _>(ProviderError::bad_gateway("down")) };
        assert_eq!(cache.get("test", failing).await.ok(), Some("a"));
        tokio::time::advance(Duration::from_secs(200)).await;
        assert!(cache.get("test", failing).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_fetch_times_out_with_the_source_named() {
        let cache = Renewing::<u8>::new(Duration::from_secs(300), Duration::from_secs(10));
        let hung = || std::future::pending::<Result<(u8, Duration), ProviderError>>();
        let err = cache.get("the IAM token endpoint", hung).await.err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("the IAM token endpoint did not answer within 10s"),
            "{text}"
        );
    }
}
