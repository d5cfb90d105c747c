//! An upstream's error answer as a [`ProviderError`]: the provider's message and code
//! read from any provider's error JSON, the gateway's key masked, the kind classified.

use http::{HeaderValue, StatusCode};
use serde_json::Value;

use super::{ErrorKind, ProviderError};

impl ProviderError {
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
