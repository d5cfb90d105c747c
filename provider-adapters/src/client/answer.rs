//! Turning an upstream answer into the client's response: the provider headers passed
//! back, the JSON response with its usage, the bounded read of a whole body, and the
//! errors of a transport that failed.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Response;
use limits_layer::callbacks::{FinishReasons, ResponseFacts};
use tokio::time::Instant;

use super::ResponseBody;
use crate::body::ReadError;
use crate::{Endpoint, ProviderError};

/// The provider's headers a client gets back: its rate-limit headers as they are
/// (`x-ratelimit-*`, `anthropic-ratelimit-*`), its request id as
/// `llm_provider-x-request-id` / `llm_provider-request-id` (LiteLLM's names; the
/// response's own `x-request-id` is the gateway's). Allocates nothing when there are
/// none.
pub(super) fn passed_back(from: &http::HeaderMap) -> http::HeaderMap {
    const PROVIDER_X_REQUEST_ID: http::HeaderName =
        http::HeaderName::from_static("llm_provider-x-request-id");
    const PROVIDER_REQUEST_ID: http::HeaderName =
        http::HeaderName::from_static("llm_provider-request-id");
    let mut out = http::HeaderMap::new();
    for (name, value) in from {
        let text = name.as_str();
        if text.starts_with("x-ratelimit-") || text.starts_with("anthropic-ratelimit-") {
            out.append(name.clone(), value.clone());
        } else if text == "x-request-id" {
            out.insert(PROVIDER_X_REQUEST_ID, value.clone());
        } else if text == "request-id" {
            out.insert(PROVIDER_REQUEST_ID, value.clone());
        }
    }
    out
}

/// `res` with `usage` and `reasons` as its extensions, for the request's event.
pub(super) fn with_usage(
    mut res: Response<ResponseBody>,
    usage: Option<crate::model::Usage>,
    reasons: FinishReasons,
) -> Response<ResponseBody> {
    if usage.is_some() || !reasons.is_empty() {
        let facts = ResponseFacts::of(res.extensions_mut());
        facts.usage = usage.map(limits_layer::callbacks::Usage::from);
        facts.finish_reasons = (!reasons.is_empty()).then_some(reasons);
    }
    res
}

/// A 200 JSON response of `bytes`, built in the upstream response's parts (its header
/// map's storage is reused; none of its headers, status or extensions are kept).
pub(super) fn json_response(
    mut parts: http::response::Parts,
    bytes: Bytes,
) -> Response<ResponseBody> {
    let body = ResponseBody::whole(bytes);
    parts.status = http::StatusCode::OK;
    parts.version = http::Version::HTTP_11;
    parts.headers.clear();
    parts.extensions.clear();
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, body)
}

/// Reads a whole upstream body, at most `max` bytes, by `deadline`.
pub(super) async fn read_bounded(
    body: pool_layer::Body,
    max: usize,
    deadline: Instant,
) -> Result<Bytes, ProviderError> {
    match tokio::time::timeout_at(deadline, crate::body::read_limited(body, max)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(ReadError::TooLarge { .. })) => Err(ProviderError::bad_gateway(format!(
            "upstream response larger than {max} bytes"
        ))),
        Ok(Err(ReadError::Body(err))) => Err(ProviderError::bad_gateway(format!(
            "upstream response broke: {err}"
        ))),
        Err(_) => Err(ProviderError::timeout(
            "upstream response did not finish within the request timeout",
        )),
    }
}

/// A 429 / 503 for the gateway queue's rejections; else a 502 (504 for connect
/// timeouts) describing a transport failure without the URL's secrets: the host label
/// and the error chain.
pub(super) fn transport_error(err: pool_layer::ClientError, ep: &Endpoint) -> ProviderError {
    // No connection slot: the queue is full, or the wait was too long (the pool's
    // errors carry the shared queue's rejections as their source).
    if let Some(rejection) = limits_layer::http::rejection(&err) {
        return ProviderError::queue_rejection(rejection);
    }
    let mut chain = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    let text = chain.join(": ");
    let label = ep.client_key().label();
    if err.is_timeout() || chain_has_timeout(&err) {
        ProviderError::timeout(format!("could not connect to {label}: {text}")).with_source(err)
    } else {
        ProviderError::unreachable(format!("could not reach {label}: {text}"), err)
    }
}

/// Whether a cause along `err`'s source chain is a timeout by type: the OS's
/// (`ETIMEDOUT` from a connector) or a tokio timer's. Never decided by message text.
fn chain_has_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        let io_timeout = e
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
        if io_timeout || e.is::<tokio::time::error::Elapsed>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    /// Another layer's error whose cause is `0`.
    #[derive(Debug)]
    struct Wrapped(Box<dyn std::error::Error + Send + Sync>);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connect failed")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn a_timeout_is_found_by_type_along_the_chain_and_not_by_text() {
        let os = Wrapped(Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut)));
        assert!(chain_has_timeout(&os));
        let refused = Wrapped(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "timed out (only in the text)",
        )));
        assert!(!chain_has_timeout(&refused));
    }
}
