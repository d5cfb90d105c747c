//! Ollama's native `/api/chat` and `/api/embed` ↔ OpenAI format.

use serde_json::{json, Map, Value};

use super::gemini::{embedding_inputs, embeddings_list};
use super::openai::{chunk, completion, usage, usage_chunk};
use super::{content_text, copy_sampling, now, Decoder};
use crate::ProviderError;

/// Translates an OpenAI chat request into an `/api/chat` request for `model`.
/// `stream` is always explicit: Ollama streams unless told not to.
pub(crate) fn request_from_openai(
    req: &Value,
    model: &str,
    stream: bool,
) -> Result<Value, ProviderError> {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::bad_request("`messages` must be an array"))?;
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
            let role = if role == "developer" { "system" } else { role };
            let content = m.get("content").unwrap_or(&Value::Null);
            let mut out = json!({"role": role, "content": content_text(content)});
            let images: Vec<Value> = content
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.pointer("/image_url/url").and_then(Value::as_str))
                .filter_map(|url| url.split_once(";base64,").map(|(_, data)| Value::from(data)))
                .collect();
            if !images.is_empty() {
                out["images"] = images.into();
            }
            let calls: Vec<Value> = m
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    let args = c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("{}");
                    json!({"function": {
                        "name": c.pointer("/function/name").cloned().unwrap_or_default(),
                        "arguments": serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!({})),
                    }})
                })
                .collect();
            if !calls.is_empty() {
                out["tool_calls"] = calls.into();
            }
            out
        })
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), messages.into());
    body.insert("stream".into(), stream.into());
    let mut options = Map::new();
    let renames = [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
        ("seed", "seed"),
    ];
    copy_sampling(req, &mut options, &renames, "num_predict", "stop");
    if !options.is_empty() {
        body.insert("options".into(), options.into());
    }
    if let Some(tools) = req.get("tools") {
        body.insert("tools".into(), tools.clone());
    }
    if req.pointer("/response_format/type").and_then(Value::as_str) == Some("json_object") {
        body.insert("format".into(), "json".into());
    }
    Ok(Value::Object(body))
}

fn tool_calls(message: &Value, offset: usize, with_index: bool) -> Vec<Value> {
    message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let index = offset + i;
            let mut call = json!({
                "id": format!("call_{index}"),
                "type": "function",
                "function": {
                    "name": c.pointer("/function/name").cloned().unwrap_or_default(),
                    "arguments": c.pointer("/function/arguments").map_or_else(|| "{}".to_string(), |a| match a {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }),
                },
            });
            if with_index {
                call["index"] = index.into();
            }
            call
        })
        .collect()
}

fn finish(done_reason: Option<&str>, has_calls: bool) -> &'static str {
    match done_reason {
        Some("length") => "length",
        _ if has_calls => "tool_calls",
        _ => "stop",
    }
}

fn usage_of(resp: &Value) -> Value {
    let get = |k: &str| resp.get(k).and_then(Value::as_u64).unwrap_or(0);
    usage(get("prompt_eval_count"), get("eval_count"))
}

/// Translates an `/api/chat` response into a `chat.completion`.
pub(crate) fn response_to_openai(resp: &Value) -> Value {
    let message = resp.get("message").unwrap_or(&Value::Null);
    let calls = tool_calls(message, 0, false);
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    completion(
        &format!("ollama-{}", now()),
        resp.get("model")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        now(),
        (!text.is_empty() || calls.is_empty()).then_some(text),
        calls.clone(),
        finish(
            resp.get("done_reason").and_then(Value::as_str),
            !calls.is_empty(),
        ),
        usage_of(resp),
    )
}

/// Decodes Ollama's NDJSON stream into OpenAI chunks.
pub(crate) struct OllamaDecoder {
    id: String,
    created: u64,
    started: bool,
    calls: usize,
    include_usage: bool,
    done: bool,
}

impl OllamaDecoder {
    pub(crate) fn new(include_usage: bool) -> Self {
        let created = now();
        Self {
            id: format!("ollama-{created}"),
            created,
            started: false,
            calls: 0,
            include_usage,
            done: false,
        }
    }
}

impl Decoder for OllamaDecoder {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut Vec<Value>,
    ) -> Result<(), ProviderError> {
        let line: Value = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream line"))?;
        if line.get("error").is_some() {
            return Err(ProviderError::from_upstream(
                http::StatusCode::BAD_GATEWAY,
                data.as_bytes(),
                None,
                None,
            ));
        }
        let model = line
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !self.started {
            self.started = true;
            out.push(chunk(
                &self.id,
                model,
                self.created,
                json!({"role": "assistant", "content": ""}),
                None,
            ));
        }
        let message = line.get("message").unwrap_or(&Value::Null);
        if let Some(text) = message
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(chunk(
                &self.id,
                model,
                self.created,
                json!({"content": text}),
                None,
            ));
        }
        let calls = tool_calls(message, self.calls, true);
        if !calls.is_empty() {
            self.calls += calls.len();
            out.push(chunk(
                &self.id,
                model,
                self.created,
                json!({"tool_calls": calls}),
                None,
            ));
        }
        if line.get("done").and_then(Value::as_bool) == Some(true) {
            let reason = finish(
                line.get("done_reason").and_then(Value::as_str),
                self.calls > 0,
            );
            out.push(chunk(
                &self.id,
                model,
                self.created,
                json!({}),
                Some(reason),
            ));
            if self.include_usage {
                out.push(usage_chunk(&self.id, model, self.created, usage_of(&line)));
            }
            self.done = true;
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

/// An OpenAI embeddings request as `/api/embed`.
pub(crate) fn embeddings_request(req: &Value, model: &str) -> Result<Value, ProviderError> {
    Ok(json!({"model": model, "input": embedding_inputs(req)?}))
}

/// An `/api/embed` response as an OpenAI list.
pub(crate) fn embeddings_response(resp: &Value, model: &str) -> Value {
    let vectors = resp
        .get("embeddings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let tokens = resp
        .get("prompt_eval_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    embeddings_list(vectors, model, tokens)
}
