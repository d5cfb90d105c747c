//! Anthropic Messages API ↔ OpenAI chat format, both ways, streams included.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Map, Value};

use super::openai::{chunk, completion, usage, usage_chunk};
use super::{content_text, copy_sampling, now, Decoder};
use crate::ProviderError;

/// The `anthropic-version` sent when none is configured.
pub(crate) const DEFAULT_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by Anthropic; used when the client sent none.
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 4096;

// === OpenAI request → Anthropic request ===

/// Translates an OpenAI chat request into a Messages request for `model`.
pub(crate) fn request_from_openai(req: &Value, model: &str) -> Result<Value, ProviderError> {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::bad_request("`messages` must be an array"))?;
    let mut system = Vec::new();
    let mut out: Vec<Value> = Vec::new();
    for message in messages {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let content = message.get("content").unwrap_or(&Value::Null);
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.push(content_text(content));
                continue;
            }
            "assistant" => ("assistant", assistant_blocks(message, content)),
            "tool" => {
                let id = message
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (
                    "user",
                    vec![
                        json!({"type": "tool_result", "tool_use_id": id, "content": content_text(content)}),
                    ],
                )
            }
            _ => ("user", user_blocks(content)),
        };
        if blocks.is_empty() {
            continue;
        }
        // Consecutive messages of one role become one message (tool results that
        // answer parallel calls must share one user message).
        match out.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(list) = last["content"].as_array_mut() {
                    list.extend(blocks);
                }
            }
            _ => out.push(json!({"role": role, "content": blocks})),
        }
    }

    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), Value::Array(out));
    let max_tokens = req
        .get("max_completion_tokens")
        .or_else(|| req.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let system: Vec<String> = system.into_iter().filter(|s| !s.is_empty()).collect();
    if !system.is_empty() {
        body.insert("system".into(), system.join("\n\n").into());
    }
    let renames = [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
        ("stream", "stream"),
    ];
    copy_sampling(req, &mut body, &renames, "max_tokens", "stop_sequences");
    // Required by Anthropic, and an integer: set after the copy, which takes it as is.
    body.insert("max_tokens".into(), max_tokens.into());
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                let mut tool = json!({
                    "name": f.get("name").cloned().unwrap_or_default(),
                    "input_schema": f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"})),
                });
                if let Some(d) = f.get("description") {
                    tool["description"] = d.clone();
                }
                tool
            })
            .collect();
        body.insert("tools".into(), tools.into());
    }
    if let Some(choice) = req.get("tool_choice") {
        let mapped = match choice {
            Value::String(s) if s == "none" => Some(json!({"type": "none"})),
            Value::String(s) if s == "auto" => Some(json!({"type": "auto"})),
            Value::String(s) if s == "required" => Some(json!({"type": "any"})),
            Value::Object(_) => choice
                .pointer("/function/name")
                .map(|name| json!({"type": "tool", "name": name})),
            _ => None,
        };
        if let Some(mapped) = mapped {
            body.insert("tool_choice".into(), mapped);
        }
    }
    if let Some(user) = req.get("user").and_then(Value::as_str) {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(body))
}

fn user_blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => Some(
                    json!({"type": "text", "text": part.get("text").cloned().unwrap_or_default()}),
                ),
                Some("image_url") => {
                    let url = part.pointer("/image_url/url").and_then(Value::as_str)?;
                    Some(json!({"type": "image", "source": image_source(url)}))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn image_source(url: &str) -> Value {
    // data:image/png;base64,AAAA
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media, data)) = rest.split_once(";base64,") {
            return json!({"type": "base64", "media_type": media, "data": data});
        }
    }
    json!({"type": "url", "url": url})
}

/// An OpenAI assistant message as Anthropic content blocks: its text, then a
/// `tool_use` block per tool call (arguments parsed; `{}` if they are not JSON).
fn assistant_blocks(message: &Value, content: &Value) -> Vec<Value> {
    let mut blocks = Vec::new();
    let text = content_text(content);
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let args = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
        blocks.push(json!({
            "type": "tool_use",
            "id": call.get("id").cloned().unwrap_or_default(),
            "name": call.pointer("/function/name").cloned().unwrap_or_default(),
            "input": input,
        }));
    }
    blocks
}

// === Anthropic response → OpenAI response ===

pub(crate) fn finish_to_openai(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

fn usage_of(u: Option<&Value>) -> (u64, u64) {
    let get = |k: &str| {
        u.and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    (
        get("input_tokens") + get("cache_creation_input_tokens") + get("cache_read_input_tokens"),
        get("output_tokens"),
    )
}

/// Translates a Messages response into a `chat.completion`.
pub(crate) fn response_to_openai(resp: &Value) -> Value {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in resp
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or_default()),
            Some("tool_use") => calls.push(json!({
                "id": block.get("id").cloned().unwrap_or_default(),
                "type": "function",
                "function": {
                    "name": block.get("name").cloned().unwrap_or_default(),
                    "arguments": block.get("input").map_or_else(|| "{}".to_string(), Value::to_string),
                },
            })),
            _ => {}
        }
    }
    let (prompt, completion_tokens) = usage_of(resp.get("usage"));
    completion(
        resp.get("id").and_then(Value::as_str).unwrap_or("msg"),
        resp.get("model")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        now(),
        (!text.is_empty() || calls.is_empty()).then_some(text),
        calls,
        finish_to_openai(resp.get("stop_reason").and_then(Value::as_str)),
        usage(prompt, completion_tokens),
    )
}

// === Anthropic stream → OpenAI chunks ===

/// Decodes Anthropic stream events into OpenAI chunks.
pub(crate) struct AnthropicDecoder {
    id: String,
    model: String,
    created: u64,
    input_tokens: u64,
    /// Content block index → OpenAI tool call index.
    tools: HashMap<u64, u64>,
    include_usage: bool,
    done: bool,
}

impl AnthropicDecoder {
    pub(crate) fn new(include_usage: bool) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created: now(),
            input_tokens: 0,
            tools: HashMap::new(),
            include_usage,
            done: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        chunk(&self.id, &self.model, self.created, delta, finish)
    }
}

impl Decoder for AnthropicDecoder {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut Vec<Value>,
    ) -> Result<(), ProviderError> {
        let event: Value = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream event"))?;
        match event.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let message = event.get("message").unwrap_or(&Value::Null);
                self.id = message
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("msg")
                    .to_string();
                self.model = message
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                self.input_tokens = usage_of(message.get("usage")).0;
                out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            Some("content_block_start") => {
                let block = event.get("content_block").unwrap_or(&Value::Null);
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let tool_index = self.tools.len() as u64;
                    self.tools.insert(index, tool_index);
                    out.push(self.chunk(
                        json!({"tool_calls": [{
                            "index": tool_index,
                            "id": block.get("id").cloned().unwrap_or_default(),
                            "type": "function",
                            "function": {"name": block.get("name").cloned().unwrap_or_default(), "arguments": ""},
                        }]}),
                        None,
                    ));
                }
            }
            Some("content_block_delta") => {
                let delta = event.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta.get("text").cloned().unwrap_or_default();
                        out.push(self.chunk(json!({"content": text}), None));
                    }
                    Some("input_json_delta") => {
                        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
                        let tool_index = self.tools.get(&index).copied().unwrap_or(0);
                        let partial = delta.get("partial_json").cloned().unwrap_or_default();
                        out.push(self.chunk(
                            json!({"tool_calls": [{"index": tool_index, "function": {"arguments": partial}}]}),
                            None,
                        ));
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                let stop = event.pointer("/delta/stop_reason").and_then(Value::as_str);
                out.push(self.chunk(json!({}), Some(finish_to_openai(stop))));
                if self.include_usage {
                    let (_, output) = usage_of(event.get("usage"));
                    out.push(usage_chunk(
                        &self.id,
                        &self.model,
                        self.created,
                        usage(self.input_tokens, output),
                    ));
                }
            }
            Some("message_stop") => self.done = true,
            Some("error") => {
                let status = match event.pointer("/error/type").and_then(Value::as_str) {
                    Some("overloaded_error") => http::StatusCode::SERVICE_UNAVAILABLE,
                    Some("rate_limit_error") => http::StatusCode::TOO_MANY_REQUESTS,
                    _ => http::StatusCode::BAD_GATEWAY,
                };
                return Err(ProviderError::from_upstream(
                    status,
                    data.as_bytes(),
                    None,
                    None,
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

// === Anthropic request → OpenAI request (for /v1/messages to other providers) ===

/// Translates a Messages request into an OpenAI chat request.
pub(crate) fn request_to_openai(req: &Value) -> Result<Value, ProviderError> {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::bad_request("`messages` must be an array"))?;
    let mut out = Vec::new();
    match req.get("system") {
        Some(Value::String(s)) => out.push(json!({"role": "system", "content": s})),
        Some(Value::Array(blocks)) => out.push(
            json!({"role": "system", "content": content_text(&Value::Array(blocks.clone()))}),
        ),
        _ => {}
    }
    for message in messages {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let content = message.get("content").unwrap_or(&Value::Null);
        let blocks = match content {
            Value::String(s) => {
                out.push(json!({"role": role, "content": s}));
                continue;
            }
            Value::Array(blocks) => blocks,
            _ => continue,
        };
        if role == "assistant" {
            let text: String = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            let calls: Vec<Value> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
                .map(|b| json!({
                    "id": b.get("id").cloned().unwrap_or_default(),
                    "type": "function",
                    "function": {
                        "name": b.get("name").cloned().unwrap_or_default(),
                        "arguments": b.get("input").map_or_else(|| "{}".to_string(), Value::to_string),
                    },
                }))
                .collect();
            let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { text.into() }});
            if !calls.is_empty() {
                msg["tool_calls"] = calls.into();
            }
            out.push(msg);
            continue;
        }
        let mut parts = Vec::new();
        for block in blocks {
            match block.get("type").and_then(Value::as_str) {
                Some("tool_result") => out.push(json!({
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id").cloned().unwrap_or_default(),
                    "content": content_text(block.get("content").unwrap_or(&Value::Null)),
                })),
                Some("text") => parts.push(
                    json!({"type": "text", "text": block.get("text").cloned().unwrap_or_default()}),
                ),
                Some("image") => {
                    let source = block.get("source").unwrap_or(&Value::Null);
                    let url = match source.get("type").and_then(Value::as_str) {
                        Some("base64") => format!(
                            "data:{};base64,{}",
                            source
                                .get("media_type")
                                .and_then(Value::as_str)
                                .unwrap_or("image/png"),
                            source
                                .get("data")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                        ),
                        _ => source
                            .get("url")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    };
                    parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
                }
                _ => {}
            }
        }
        if !parts.is_empty() {
            out.push(json!({"role": role, "content": parts}));
        }
    }
    let mut body = Map::new();
    body.insert(
        "model".into(),
        req.get("model").cloned().unwrap_or_default(),
    );
    body.insert("messages".into(), out.into());
    if let Some(v) = req.get("max_tokens") {
        body.insert("max_tokens".into(), v.clone());
    }
    for key in ["temperature", "top_p", "stream"] {
        if let Some(v) = req.get(key).filter(|v| !v.is_null()) {
            body.insert(key.into(), v.clone());
        }
    }
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(stop) = req.get("stop_sequences") {
        body.insert("stop".into(), stop.clone());
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| json!({"type": "function", "function": {
                "name": t.get("name").cloned().unwrap_or_default(),
                "description": t.get("description").cloned().unwrap_or_default(),
                "parameters": t.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"})),
            }}))
            .collect();
        body.insert("tools".into(), tools.into());
    }
    if let Some(choice) = req.get("tool_choice") {
        let mapped = match choice.get("type").and_then(Value::as_str) {
            Some("auto") => Some(json!("auto")),
            Some("any") => Some(json!("required")),
            Some("none") => Some(json!("none")),
            Some("tool") => Some(
                json!({"type": "function", "function": {"name": choice.get("name").cloned().unwrap_or_default()}}),
            ),
            _ => None,
        };
        if let Some(mapped) = mapped {
            body.insert("tool_choice".into(), mapped);
        }
    }
    if let Some(user) = req.pointer("/metadata/user_id") {
        body.insert("user".into(), user.clone());
    }
    Ok(Value::Object(body))
}

fn finish_to_anthropic(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls") | Some("function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Translates a `chat.completion` into a Messages response.
pub(crate) fn response_from_openai(resp: &Value) -> Value {
    let choice = resp.pointer("/choices/0").unwrap_or(&Value::Null);
    let message = choice.get("message").unwrap_or(&Value::Null);
    // The same blocks an assistant message in a request becomes.
    let content = assistant_blocks(message, message.get("content").unwrap_or(&Value::Null));
    let get = |k: &str| {
        resp.pointer(&format!("/usage/{k}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    json!({
        "id": message_id(resp.get("id").and_then(Value::as_str)),
        "type": "message",
        "role": "assistant",
        "model": resp.get("model").cloned().unwrap_or_default(),
        "content": content,
        "stop_reason": finish_to_anthropic(choice.get("finish_reason").and_then(Value::as_str)),
        "stop_sequence": null,
        "usage": {"input_tokens": get("prompt_tokens"), "output_tokens": get("completion_tokens")},
    })
}

fn message_id(id: Option<&str>) -> String {
    match id {
        Some(id) if id.starts_with("msg_") => id.to_string(),
        Some(id) => format!("msg_{id}"),
        None => "msg_gateway".to_string(),
    }
}

// === OpenAI chunks → Anthropic stream ===

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Tool(u64),
}

/// Encodes OpenAI chunks as Anthropic stream events.
pub(crate) struct AnthropicEncoder {
    started: bool,
    open: Option<(u64, Open)>,
    next_index: u64,
    stop_reason: Option<&'static str>,
    input_tokens: u64,
    output_tokens: u64,
}

impl AnthropicEncoder {
    pub(crate) fn new() -> Self {
        Self {
            started: false,
            open: None,
            next_index: 0,
            stop_reason: None,
            input_tokens: 0,
            output_tokens: 0,
        }
    }

    fn event(out: &mut BytesMut, name: &str, data: &Value) {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_slice(b"\ndata: ");
        out.put_slice(data.to_string().as_bytes());
        out.put_slice(b"\n\n");
    }

    fn start(&mut self, id: &str, model: &str, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        Self::event(
            out,
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": message_id(Some(id)), "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
            }}),
        );
    }

    fn close(&mut self, out: &mut BytesMut) {
        if let Some((index, _)) = self.open.take() {
            Self::event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn open(&mut self, kind: Open, block: Value, out: &mut BytesMut) -> u64 {
        if let Some((index, open)) = self.open {
            if open == kind {
                return index;
            }
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        Self::event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        index
    }

    /// Encodes one chunk.
    pub(crate) fn chunk(&mut self, chunk: &Value, out: &mut BytesMut) {
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.input_tokens = u
                .get("prompt_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(self.input_tokens);
            self.output_tokens = u
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(self.output_tokens);
        }
        let id = chunk.get("id").and_then(Value::as_str).unwrap_or("gateway");
        let model = chunk
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.start(id, model, out);
        let Some(choice) = chunk.pointer("/choices/0") else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = delta
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            let index = self.open(Open::Text, json!({"type": "text", "text": ""}), out);
            Self::event(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": text}}),
            );
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let tool = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let block = json!({"type": "tool_use", "id": call.get("id").cloned().unwrap_or_default(),
                "name": call.pointer("/function/name").cloned().unwrap_or_default(), "input": {}});
            let index = self.open(Open::Tool(tool), block, out);
            if let Some(args) = call
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                Self::event(
                    out,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": args}}),
                );
            }
        }
        if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop_reason = Some(finish_to_anthropic(Some(finish)));
        }
    }

    /// Ends a complete stream.
    pub(crate) fn finish(&mut self, out: &mut BytesMut) {
        self.start("gateway", "", out);
        self.close(out);
        Self::event(
            out,
            "message_delta",
            &json!({"type": "message_delta",
            "delta": {"stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null},
            "usage": {"output_tokens": self.output_tokens}}),
        );
        Self::event(out, "message_stop", &json!({"type": "message_stop"}));
    }

    /// Ends a broken stream with an `error` event.
    pub(crate) fn error(err: &ProviderError) -> Bytes {
        let mut out = BytesMut::new();
        Self::event(&mut out, "error", &err.to_anthropic_json());
        out.freeze()
    }
}
