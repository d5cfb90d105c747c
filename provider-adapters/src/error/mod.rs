//! Errors as clients see them: OpenAI-shaped JSON with the right status.

mod upstream;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

/// What went wrong, for callers that decide by it (never by the message text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client's request cannot be served as sent.
    InvalidRequest,
    /// A parameter the provider cannot honour (LiteLLM's `unsupported_params`).
    UnsupportedParams,
    /// The upstream answered with an error status.
    Upstream,
    /// The upstream could not be reached.
    Unreachable,
    /// The upstream sent something unusable (not JSON, too large, a broken stream).
    InvalidUpstream,
    /// The upstream did not answer (or stream) in time.
    Timeout,
    /// The gateway's own queue refused the request (full, or waited too long): another
    /// deployment behind the same queue would not do better, so it is not retried.
    Queue,
    /// The upstream refused the prompt as longer than the model's context window
    /// (OpenAI `context_length_exceeded`, Anthropic's `prompt is too long`, Gemini's
    /// `input token count ... exceeds the maximum`): another deployment of the same
    /// model would refuse it too, so a router goes to a `context_window_fallbacks` group.
    ContextWindowExceeded,
    /// The upstream refused the content by its policy (OpenAI/Azure
    /// `content_policy_violation` / `content_filter`): a router goes to a
    /// `content_policy_fallbacks` group.
    ContentPolicyViolation,
    /// Any other error (an edge's own).
    Other,
}

/// An error to answer a client with: status, OpenAI error `type` and `code`, the
/// message (the provider's own, when it sent one), and `Retry-After` if the upstream
/// gave one; with its [`ErrorKind`] and, for transport failures, its source.
#[derive(Clone)]
pub struct ProviderError {
    status: StatusCode,
    code: Option<String>,
    message: String,
    retry_after: Option<HeaderValue>,
    reason: ErrorKind,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for ProviderError {
    /// Equal when everything a client sees is (the source is left out).
    fn eq(&self, other: &Self) -> bool {
        (
            self.status,
            &self.code,
            &self.message,
            &self.retry_after,
            self.reason,
        ) == (
            other.status,
            &other.code,
            &other.message,
            &other.retry_after,
            other.reason,
        )
    }
}

impl Eq for ProviderError {}

impl ProviderError {
    /// An error with this status and message; `type` follows the status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: None,
            message: message.into(),
            retry_after: None,
            reason: if status.is_client_error() {
                ErrorKind::InvalidRequest
            } else {
                ErrorKind::Other
            },
            source: None,
        }
    }

    /// 400: the request cannot be served as sent.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 400 `unsupported_params`: the provider cannot honour a parameter.
    pub fn unsupported_params(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
            .with_code("unsupported_params")
            .with_kind(ErrorKind::UnsupportedParams)
    }

    /// 502: the upstream sent something unusable.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, message)
            .with_code("upstream_error")
            .with_kind(ErrorKind::InvalidUpstream)
    }

    /// 502: the upstream could not be reached; `source` is why.
    pub fn unreachable(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let mut err = Self::new(StatusCode::BAD_GATEWAY, message)
            .with_code("upstream_error")
            .with_kind(ErrorKind::Unreachable);
        err.source = Some(Arc::new(source));
        err
    }

    /// 504: the upstream did not answer in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, message)
            .with_code("upstream_timeout")
            .with_kind(ErrorKind::Timeout)
    }

    /// With this kind.
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.reason = kind;
        self
    }

    /// With this source.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What went wrong.
    pub fn error_kind(&self) -> ErrorKind {
        self.reason
    }

    /// Whether the upstream did not answer in time.
    pub fn is_timeout(&self) -> bool {
        self.reason == ErrorKind::Timeout
    }

    /// Whether a parameter was refused (`unsupported_params`).
    pub fn is_unsupported_params(&self) -> bool {
        self.reason == ErrorKind::UnsupportedParams
    }

    /// Whether the upstream itself answered with this error.
    pub fn is_upstream(&self) -> bool {
        self.reason == ErrorKind::Upstream
    }

    /// Whether the prompt did not fit the model's context window.
    pub fn is_context_window_exceeded(&self) -> bool {
        self.reason == ErrorKind::ContextWindowExceeded
    }

    /// Whether the upstream refused the content by its policy.
    pub fn is_content_policy_violation(&self) -> bool {
        self.reason == ErrorKind::ContentPolicyViolation
    }

    /// The upstream's `Retry-After` as a duration: delta seconds (`Retry-After: 7`)
    /// only; an HTTP date or anything else is `None`.
    pub fn retry_after_duration(&self) -> Option<std::time::Duration> {
        let text = self.retry_after.as_ref()?.to_str().ok()?.trim();
        text.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| std::time::Duration::from_secs_f64(s.min(86_400.0)))
    }

    /// The gateway's own queue refused the request (429 `queue_full` at once, 503
    /// `queue_timeout` after the queue timeout), with its `Retry-After`; never retried.
    pub fn queue_rejection(rejection: limits_layer::http::Rejection) -> Self {
        let message = match rejection.code() {
            "queue_full" => {
                "the gateway is at capacity: too many requests in flight and queued; retry later"
            }
            _ => "the request waited too long in the gateway's queue; retry later",
        };
        let mut err = Self::new(rejection.status, message).with_code(rejection.code());
        err.retry_after = Some(rejection.retry_after());
        err.reason = ErrorKind::Queue;
        err
    }

    /// With a `Retry-After` of `after`, in whole seconds (rounded up, at least 1).
    pub fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        self.retry_after = Some(HeaderValue::from(secs.max(1)));
        self
    }

    /// With this machine-readable code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The OpenAI error `type`.
    pub fn kind(&self) -> &'static str {
        match self.reason {
            ErrorKind::Queue => "rate_limit_error",
            _ => kind_of(self.status),
        }
    }

    /// The upstream's `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<&HeaderValue> {
        self.retry_after.as_ref()
    }

    /// Whether trying again (another deployment, or later) may succeed: rate limits,
    /// server errors, unreachable upstreams and timeouts.
    pub fn is_retryable(&self) -> bool {
        self.reason != ErrorKind::Queue
            && (self.status == StatusCode::TOO_MANY_REQUESTS || self.status.is_server_error())
    }

    /// `{"error":{"message","type","code"}}`.
    pub fn to_json(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind(), "code": self.code}})
    }

    /// The error as Anthropic shapes it (`/v1/messages` answers, stream `error` events).
    pub fn to_anthropic_json(&self) -> Value {
        json!({"type": "error", "error": {"type": anthropic_kind(self.status), "message": self.message}})
    }

    /// A complete Anthropic-shaped JSON response, `Retry-After` included.
    pub fn to_anthropic_response(&self) -> Response<Bytes> {
        let mut res = self.to_response();
        *res.body_mut() = Bytes::from(self.to_anthropic_json().to_string());
        res
    }

    /// A complete JSON response, `Retry-After` included.
    pub fn to_response(&self) -> Response<Bytes> {
        let mut res = Response::new(Bytes::from(self.to_json().to_string()));
        *res.status_mut() = self.status;
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(retry) = &self.retry_after {
            res.headers_mut()
                .insert(http::header::RETRY_AFTER, retry.clone());
        }
        res
    }
}

impl fmt::Debug for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderError")
            .field("status", &self.status.as_u16())
            .field("type", &self.kind())
            .field("kind", &self.reason)
            .field("code", &self.code)
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.kind(),
            self.message
        )
    }
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

fn kind_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

/// Anthropic's error `type` for a status, as its API documents them (other 4xx are
/// `invalid_request_error`, other 5xx `api_error`).
fn anthropic_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        413 => "request_too_large",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}
