//! Errors as clients see them: OpenAI-shaped JSON with the right status.

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

    /// An upstream error response: the status is kept, the provider's message is
    /// extracted from its error JSON (any provider's shape), and `secret` (the key the
    /// gateway sent) is masked wherever it appears.
    pub fn from_upstream(
        status: StatusCode,
        body: &[u8],
        retry_after: Option<HeaderValue>,
        secret: Option<&str>,
    ) -> Self {
        let status = if status.is_client_error() || status.is_server_error() {
            status
        } else {
            StatusCode::BAD_GATEWAY
        };
        let (message, code) = match serde_json::from_slice::<Value>(body) {
            Ok(json) => extract(&json),
            Err(_) => (None, None),
        };
        // Masked before anything is cut, so a key across the cut leaves no part of it.
        let mask = |text: String| mask_secret(text, secret);
        let message = match message {
            Some(message) => mask(message),
            None => {
                let text = mask(String::from_utf8_lossy(body).into_owned());
                let text = cut(text.trim(), MAX_RAW_MESSAGE).to_string();
                if text.is_empty() {
                    format!("upstream returned {status}")
                } else {
                    text
                }
            }
        };
        let code = code.map(mask);
        let reason = classify(status, code.as_deref(), &message);
        Self {
            status,
            code,
            message: format!("upstream error: {message}"),
            retry_after,
            reason,
            source: None,
        }
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

/// The message and code of any provider's error JSON: OpenAI and Gemini
/// `{"error":{"message",...}}`, Anthropic `{"type":"error","error":{"type","message"}}`,
/// Ollama `{"error":"..."}`.
fn extract(json: &Value) -> (Option<String>, Option<String>) {
    let error = json.get("error").unwrap_or(json);
    if let Some(text) = error.as_str() {
        return (Some(text.to_string()), None);
    }
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string);
    // OpenAI: `code`; Gemini: `status` (its `code` is the HTTP number); Anthropic: `type`.
    let code = ["code", "status", "type"]
        .iter()
        .find_map(|k| error.get(*k).and_then(Value::as_str).map(str::to_string));
    (message, code)
}

/// The kind of an upstream error response. OpenAI (and every OpenAI-compatible
/// server) names context-window and policy refusals by `code`; Anthropic and Gemini
/// send a generic `invalid_request_error` / `INVALID_ARGUMENT` whose only distinguishing
/// part is the message their API documents for it, so for those two codes (and only
/// those) the message is what tells them apart, as in every other gateway.
fn classify(status: StatusCode, code: Option<&str>, message: &str) -> ErrorKind {
    if !status.is_client_error() {
        return ErrorKind::Upstream;
    }
    match code {
        Some("context_length_exceeded" | "string_above_max_length") => {
            return ErrorKind::ContextWindowExceeded
        }
        Some("content_policy_violation" | "content_filter") => {
            return ErrorKind::ContentPolicyViolation
        }
        _ => {}
    }
    let lower = message.to_ascii_lowercase();
    let generic = matches!(
        code,
        Some("invalid_request_error" | "INVALID_ARGUMENT") | None
    );
    let too_long = lower.contains("prompt is too long")
        || (lower.contains("input token count") && lower.contains("exceeds the maximum"))
        || lower.contains("maximum context length");
    if generic && too_long {
        ErrorKind::ContextWindowExceeded
    } else {
        ErrorKind::Upstream
    }
}

/// Longest upstream error text kept when the body is not error JSON, in bytes.
const MAX_RAW_MESSAGE: usize = 512;

/// `text` with every occurrence of `secret` (4 bytes or longer) replaced by `***`.
fn mask_secret(text: String, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if secret.len() >= 4 && text.contains(secret) => text.replace(secret, "***"),
        _ => text,
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_providers_error_shape_keeps_its_message() {
        let cases: [(&[u8], &str); 4] = [
            (br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#, "Rate limit reached"),
            (br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, "Overloaded"),
            (br#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}"#, "API key not valid."),
            (br#"{"error":"model \"llama9\" not found, try pulling it first"}"#, "model \"llama9\" not found, try pulling it first"),
        ];
        for (body, message) in cases {
            let err = ProviderError::from_upstream(StatusCode::TOO_MANY_REQUESTS, body, None, None);
            assert_eq!(err.message(), format!("upstream error: {message}"));
            assert_eq!(err.status(), 429);
        }
    }

    #[test]
    fn each_providers_context_window_error_is_recognised() {
        let cases: [&[u8]; 3] = [
            br#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#,
            br#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#,
        ];
        for body in cases {
            let err = ProviderError::from_upstream(StatusCode::BAD_REQUEST, body, None, None);
            assert!(err.is_context_window_exceeded(), "{err:?}");
            assert!(!err.is_retryable());
        }
        let other = br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: must be positive"}}"#;
        let err = ProviderError::from_upstream(StatusCode::BAD_REQUEST, other, None, None);
        assert!(err.is_upstream());
    }

    #[test]
    fn a_content_policy_refusal_is_recognised() {
        let body = br#"{"error":{"message":"The response was filtered","type":null,"code":"content_filter","param":"prompt"}}"#;
        let err = ProviderError::from_upstream(StatusCode::BAD_REQUEST, body, None, None);
        assert!(err.is_content_policy_violation());
    }

    #[test]
    fn retry_after_in_seconds_is_read() {
        let err = ProviderError::from_upstream(
            StatusCode::TOO_MANY_REQUESTS,
            b"{}",
            Some(HeaderValue::from_static("7")),
            None,
        );
        assert_eq!(
            err.retry_after_duration(),
            Some(std::time::Duration::from_secs(7))
        );
        let date = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        let err =
            ProviderError::from_upstream(StatusCode::TOO_MANY_REQUESTS, b"{}", Some(date), None);
        assert_eq!(err.retry_after_duration(), None);
    }

    #[test]
    fn the_gateways_key_is_masked_in_upstream_messages() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-live-abcdef."}}"#;
        let err = ProviderError::from_upstream(
            StatusCode::UNAUTHORIZED,
            body,
            None,
            Some("sk-live-abcdef"),
        );
        assert!(!err.to_json().to_string().contains("sk-live-abcdef"));
        assert_eq!(err.kind(), "authentication_error");
    }

    #[test]
    fn a_key_across_the_cut_of_a_raw_error_leaves_no_part_of_it() {
        let key = "sk-live-0123456789abcdef";
        // Plain text whose key starts 10 bytes before the 512-byte cut.
        let body = format!("{}{key} trailing", "x".repeat(MAX_RAW_MESSAGE - 10));
        let err =
            ProviderError::from_upstream(StatusCode::BAD_GATEWAY, body.as_bytes(), None, Some(key));
        let json = err.to_json().to_string();
        assert!(!json.contains(&key[..10]), "{json}");
        assert!(json.contains("***"), "{json}");
        assert!(err.message().len() <= MAX_RAW_MESSAGE + "upstream error: ".len());
    }

    #[test]
    fn the_key_is_masked_in_the_code_too() {
        let body = br#"{"error":{"message":"bad key","code":"invalid key sk-live-abcdef"}}"#;
        let err = ProviderError::from_upstream(
            StatusCode::UNAUTHORIZED,
            body,
            None,
            Some("sk-live-abcdef"),
        );
        assert!(!err.to_json().to_string().contains("sk-live-abcdef"));
        assert_eq!(err.to_json()["error"]["code"], "invalid key ***");
    }

    #[test]
    fn raw_error_text_is_cut_on_a_character() {
        let body = "é".repeat(400);
        let err =
            ProviderError::from_upstream(StatusCode::BAD_GATEWAY, body.as_bytes(), None, None);
        assert!(err.message().ends_with('é'));
    }
}
