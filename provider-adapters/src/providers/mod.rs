//! Per-provider translation between the OpenAI chat format (the canonical form here)
//! and each provider's native format, for requests, responses and streams.

pub(crate) mod anthropic;
pub(crate) mod gemini;
pub(crate) mod ollama;
pub(crate) mod openai;

use serde_json::Value;

use crate::ProviderError;

/// Turns a provider's stream events into OpenAI `chat.completion.chunk` objects.
pub(crate) trait Decoder: Send {
    /// Handles one upstream event (an SSE `data` payload with its `event` name, or one
    /// NDJSON line), pushing zero or more chunks. An upstream error event is an `Err`.
    fn event(
        &mut self,
        event: Option<&str>,
        data: &str,
        out: &mut Vec<Value>,
    ) -> Result<(), ProviderError>;

    /// True once the upstream said the answer is complete.
    fn complete(&self) -> bool;
}

/// A JSON body that must be an object, or a 400/502 saying so.
pub(crate) fn parse_object(
    bytes: &[u8],
    what: &str,
    upstream: bool,
) -> Result<Value, ProviderError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) | Err(_) if upstream => Err(ProviderError::bad_gateway(format!(
            "upstream sent a {what} that is not a JSON object"
        ))),
        Ok(_) => Err(ProviderError::bad_request(format!(
            "{what} must be a JSON object"
        ))),
        Err(e) => Err(
            ProviderError::bad_request(format!("{what} is not valid JSON: {e}"))
                .with_code("invalid_json"),
        ),
    }
}

/// Copies an OpenAI request's sampling settings into `out` under a provider's names:
/// each `(openai, provider)` pair of `renames` (nulls skipped), `max_completion_tokens`
/// or else `max_tokens` as `max_key`, and `stop` (a string or a list) as a list under
/// `stop_key`.
pub(crate) fn copy_sampling(
    req: &Value,
    out: &mut serde_json::Map<String, Value>,
    renames: &[(&str, &str)],
    max_key: &str,
    stop_key: &str,
) {
    for (from, to) in renames {
        if let Some(v) = req.get(*from).filter(|v| !v.is_null()) {
            out.insert((*to).into(), v.clone());
        }
    }
    if let Some(max) = req
        .get("max_completion_tokens")
        .or_else(|| req.get("max_tokens"))
        .filter(|v| !v.is_null())
    {
        out.insert(max_key.into(), max.clone());
    }
    match req.get("stop") {
        Some(Value::String(s)) => {
            out.insert(
                stop_key.into(),
                Value::Array(vec![Value::String(s.clone())]),
            );
        }
        Some(v @ Value::Array(_)) => {
            out.insert(stop_key.into(), v.clone());
        }
        _ => {}
    }
}

/// Seconds since the Unix epoch, for `created`.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The text of an OpenAI message `content`: a string, or the text parts of an array.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}
