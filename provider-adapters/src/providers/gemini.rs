//! Gemini `generateContent` (AI Studio and Vertex AI) ↔ OpenAI chat format.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::openai::{chunk, completion, usage, usage_chunk};
use super::{content_text, copy_sampling, now, Decoder};
use crate::ProviderError;

// === OpenAI request → Gemini request ===

/// Translates an OpenAI chat request into a `generateContent` request.
pub(crate) fn request_from_openai(req: &Value) -> Result<Value, ProviderError> {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::bad_request("`messages` must be an array"))?;
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // Gemini answers a function call by name; OpenAI by call id.
    let mut call_names: HashMap<String, String> = HashMap::new();
    for message in messages {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let content = message.get("content").unwrap_or(&Value::Null);
        let (role, parts) = match role {
            "system" | "developer" => {
                system.push(json!({"text": content_text(content)}));
                continue;
            }
            "assistant" => {
                let mut parts = Vec::new();
                let text = content_text(content);
                if !text.is_empty() {
                    parts.push(json!({"text": text}));
                }
                for call in message
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if let Some(id) = call.get("id").and_then(Value::as_str) {
                        call_names.insert(id.to_string(), name.to_string());
                    }
                    let args = call
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}");
                    let args: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
                    parts.push(json!({"functionCall": {"name": name, "args": args}}));
                }
                ("model", parts)
            }
            "tool" => {
                let id = message
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let name = call_names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string());
                let text = content_text(content);
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => json!({"content": text}),
                };
                (
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                )
            }
            _ => ("user", user_parts(content)),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(list) = last["parts"].as_array_mut() {
                    list.extend(parts);
                }
            }
            _ => contents.push(json!({"role": role, "parts": parts})),
        }
    }

    let mut body = Map::new();
    body.insert("contents".into(), contents.into());
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut config = Map::new();
    let renames = [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("seed", "seed"),
    ];
    copy_sampling(
        req,
        &mut config,
        &renames,
        "maxOutputTokens",
        "stopSequences",
    );
    if matches!(
        req.pointer("/response_format/type").and_then(Value::as_str),
        Some("json_object" | "json_schema")
    ) {
        config.insert("responseMimeType".into(), "application/json".into());
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), config.into());
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let declarations: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                let mut d = json!({"name": f.get("name").cloned().unwrap_or_default()});
                if let Some(desc) = f.get("description") {
                    d["description"] = desc.clone();
                }
                if let Some(params) = f.get("parameters") {
                    d["parameters"] = params.clone();
                }
                d
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(choice) = req.get("tool_choice") {
        let config = match choice {
            Value::String(s) if s == "none" => Some(json!({"mode": "NONE"})),
            Value::String(s) if s == "auto" => Some(json!({"mode": "AUTO"})),
            Value::String(s) if s == "required" => Some(json!({"mode": "ANY"})),
            Value::Object(_) => choice
                .pointer("/function/name")
                .map(|name| json!({"mode": "ANY", "allowedFunctionNames": [name]})),
            _ => None,
        };
        if let Some(config) = config {
            body.insert(
                "toolConfig".into(),
                json!({"functionCallingConfig": config}),
            );
        }
    }
    Ok(Value::Object(body))
}

fn user_parts(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"text": s})],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => {
                    Some(json!({"text": part.get("text").cloned().unwrap_or_default()}))
                }
                Some("image_url") => {
                    let url = part.pointer("/image_url/url").and_then(Value::as_str)?;
                    match url
                        .strip_prefix("data:")
                        .and_then(|r| r.split_once(";base64,"))
                    {
                        Some((mime, data)) => {
                            Some(json!({"inlineData": {"mimeType": mime, "data": data}}))
                        }
                        None => {
                            Some(json!({"fileData": {"mimeType": "image/jpeg", "fileUri": url}}))
                        }
                    }
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

// === Gemini response → OpenAI response ===

fn finish_to_openai(reason: Option<&str>, has_calls: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some(
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY",
        ) => "content_filter",
        _ if has_calls => "tool_calls",
        _ => "stop",
    }
}

fn usage_of(resp: &Value) -> Option<Value> {
    let meta = resp.get("usageMetadata")?;
    let get = |k: &str| meta.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(usage(
        get("promptTokenCount"),
        get("candidatesTokenCount") + get("thoughtsTokenCount"),
    ))
}

/// Text and function calls of the first candidate (thought parts left out).
fn parts_of(resp: &Value, call_offset: usize) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in resp
        .pointer("/candidates/0/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(call) = part.get("functionCall") {
            let index = call_offset + calls.len();
            calls.push(json!({
                "index": index,
                "id": format!("call_{index}"),
                "type": "function",
                "function": {
                    "name": call.get("name").cloned().unwrap_or_default(),
                    "arguments": call.get("args").map_or_else(|| "{}".to_string(), Value::to_string),
                },
            }));
        }
    }
    (text, calls)
}

/// Translates a `generateContent` response into a `chat.completion`.
pub(crate) fn response_to_openai(resp: &Value, model: &str) -> Value {
    let (text, calls) = parts_of(resp, 0);
    let calls: Vec<Value> = calls
        .into_iter()
        .map(|mut c| {
            if let Some(obj) = c.as_object_mut() {
                obj.remove("index");
            }
            c
        })
        .collect();
    let reason = resp
        .pointer("/candidates/0/finishReason")
        .and_then(Value::as_str);
    let blocked =
        resp.pointer("/promptFeedback/blockReason").is_some() && resp.get("candidates").is_none();
    let finish = if blocked {
        "content_filter"
    } else {
        finish_to_openai(reason, !calls.is_empty())
    };
    completion(
        resp.get("responseId")
            .and_then(Value::as_str)
            .unwrap_or("gemini"),
        resp.get("modelVersion")
            .and_then(Value::as_str)
            .unwrap_or(model),
        now(),
        (!text.is_empty() || calls.is_empty()).then_some(text),
        calls,
        finish,
        usage_of(resp).unwrap_or_else(|| usage(0, 0)),
    )
}

// === Gemini stream → OpenAI chunks ===

/// Decodes `streamGenerateContent?alt=sse` events into OpenAI chunks.
pub(crate) struct GeminiDecoder {
    model: String,
    created: u64,
    started: bool,
    calls: usize,
    include_usage: bool,
    done: bool,
}

impl GeminiDecoder {
    pub(crate) fn new(model: &str, include_usage: bool) -> Self {
        Self {
            model: model.to_string(),
            created: now(),
            started: false,
            calls: 0,
            include_usage,
            done: false,
        }
    }
}

impl Decoder for GeminiDecoder {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut Vec<Value>,
    ) -> Result<(), ProviderError> {
        let resp: Value = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream chunk"))?;
        if resp.get("error").is_some() {
            return Err(ProviderError::from_upstream(
                http::StatusCode::BAD_GATEWAY,
                data.as_bytes(),
                None,
                None,
            ));
        }
        let id = resp
            .get("responseId")
            .and_then(Value::as_str)
            .unwrap_or("gemini")
            .to_string();
        if let Some(version) = resp.get("modelVersion").and_then(Value::as_str) {
            self.model = version.to_string();
        }
        if !self.started {
            self.started = true;
            out.push(chunk(
                &id,
                &self.model,
                self.created,
                json!({"role": "assistant", "content": ""}),
                None,
            ));
        }
        let (text, calls) = parts_of(&resp, self.calls);
        self.calls += calls.len();
        if !text.is_empty() {
            out.push(chunk(
                &id,
                &self.model,
                self.created,
                json!({"content": text}),
                None,
            ));
        }
        if !calls.is_empty() {
            out.push(chunk(
                &id,
                &self.model,
                self.created,
                json!({"tool_calls": calls}),
                None,
            ));
        }
        let reason = resp
            .pointer("/candidates/0/finishReason")
            .and_then(Value::as_str);
        let blocked = resp.pointer("/promptFeedback/blockReason").is_some();
        if reason.is_some() || blocked {
            let finish = if blocked && reason.is_none() {
                "content_filter"
            } else {
                finish_to_openai(reason, self.calls > 0)
            };
            out.push(chunk(
                &id,
                &self.model,
                self.created,
                json!({}),
                Some(finish),
            ));
            if self.include_usage {
                if let Some(usage) = usage_of(&resp) {
                    out.push(usage_chunk(&id, &self.model, self.created, usage));
                }
            }
            self.done = true;
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

// === Embeddings ===

/// The texts of an OpenAI embeddings `input`.
pub(crate) fn embedding_inputs(req: &Value) -> Result<Vec<String>, ProviderError> {
    match req.get("input") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    ProviderError::bad_request("this provider takes `input` as strings, not tokens")
                })
            })
            .collect(),
        _ => Err(ProviderError::bad_request(
            "`input` must be a string or an array of strings",
        )),
    }
}

/// An OpenAI embeddings request as `batchEmbedContents`.
pub(crate) fn embeddings_request(req: &Value, model: &str) -> Result<Value, ProviderError> {
    let dims = req.get("dimensions").cloned();
    let requests: Vec<Value> = embedding_inputs(req)?
        .into_iter()
        .map(|text| {
            let mut r =
                json!({"model": format!("models/{model}"), "content": {"parts": [{"text": text}]}});
            if let Some(d) = &dims {
                r["outputDimensionality"] = d.clone();
            }
            r
        })
        .collect();
    Ok(json!({"requests": requests}))
}

/// A Vertex AI `predict` embeddings request.
pub(crate) fn vertex_embeddings_request(req: &Value) -> Result<Value, ProviderError> {
    let instances: Vec<Value> = embedding_inputs(req)?
        .into_iter()
        .map(|t| json!({"content": t}))
        .collect();
    let mut body = json!({"instances": instances});
    if let Some(d) = req.get("dimensions") {
        body["parameters"] = json!({"outputDimensionality": d});
    }
    Ok(body)
}

/// An OpenAI embeddings list from vectors.
pub(crate) fn embeddings_list(vectors: Vec<Value>, model: &str, prompt_tokens: u64) -> Value {
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    json!({"object": "list", "data": data, "model": model,
           "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}})
}

/// `batchEmbedContents` (AI Studio) or `predict` (Vertex AI) response → OpenAI list.
pub(crate) fn embeddings_response(resp: &Value, model: &str) -> Value {
    let vectors: Vec<Value> = if let Some(list) = resp.get("embeddings").and_then(Value::as_array) {
        list.iter()
            .map(|e| e.get("values").cloned().unwrap_or_default())
            .collect()
    } else {
        resp.get("predictions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| p.pointer("/embeddings/values").cloned().unwrap_or_default())
            .collect()
    };
    embeddings_list(vectors, model, 0)
}
