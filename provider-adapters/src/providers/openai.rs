//! OpenAI chat format: chunk and response builders shared by every translation.

use serde_json::{json, Map, Value};

/// One `chat.completion.chunk`.
pub(crate) fn chunk(
    id: &str,
    model: &str,
    created: u64,
    delta: Value,
    finish: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

/// A final chunk carrying only usage (as OpenAI sends with `include_usage`).
pub(crate) fn usage_chunk(id: &str, model: &str, created: u64, usage: Value) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    })
}

/// A `chat.completion` with one choice.
pub(crate) fn completion(
    id: &str,
    model: &str,
    created: u64,
    content: Option<String>,
    tool_calls: Vec<Value>,
    finish: &str,
    usage: Value,
) -> Value {
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    message.insert("content".into(), content.map_or(Value::Null, Value::String));
    if !tool_calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    })
}

/// `{"prompt_tokens","completion_tokens","total_tokens"}`.
pub(crate) fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// Decoder for OpenAI-format SSE translated onward (e.g. to Anthropic events): each
/// `data` is already a chunk; `[DONE]` ends the stream.
#[derive(Default)]
pub(crate) struct OpenAiDecoder {
    done: bool,
}

impl super::Decoder for OpenAiDecoder {
    fn event(
        &mut self,
        _event: Option<&str>,
        data: &str,
        out: &mut Vec<Value>,
    ) -> Result<(), crate::ProviderError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|_| {
            crate::ProviderError::bad_gateway("upstream sent an invalid stream chunk")
        })?;
        if chunk.get("error").is_some() {
            return Err(crate::ProviderError::from_upstream(
                http::StatusCode::BAD_GATEWAY,
                data.as_bytes(),
                None,
                None,
            ));
        }
        out.push(chunk);
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}
