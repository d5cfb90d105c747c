//! A Responses request as an OpenAI chat request (LiteLLM's responses-to-chat bridge),
//! for providers without a Responses API. What chat cannot carry is refused by name
//! (400 `unsupported_params`), never dropped.

use serde_json::{json, Map, Value};

use super::types::{Content, ContentPart, Input, InputItem, ResponsesRequest, TextFormat};
use crate::ProviderError;

/// Request fields read elsewhere, or that change nothing a translated answer could
/// honour differently, so they are accepted: `store` (nothing is stored here either
/// way), `service_tier`, `prompt_cache_key`, `safety_identifier` and `stream_options`
/// (hints a provider may ignore).
const ACCEPTED_OTHER: &[&str] = &[
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "stream_options",
];

fn unsupported(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::bad_request(format!(
        "{what} cannot be translated to chat for this provider; send it to an openai/ or azure/ model, or leave it out"
    ))
    .with_code("unsupported_params")
}

/// The chat request for `req`, for upstream `model` (the adapter sets it again).
pub fn request_to_chat(req: &ResponsesRequest) -> Result<Value, ProviderError> {
    if let Some(key) = req
        .other
        .iter()
        .find(|(k, v)| !v.is_null() && !ACCEPTED_OTHER.contains(&k.as_str()))
        .map(|(k, _)| k)
    {
        return Err(unsupported(format!("`{key}`")));
    }
    if req.include.as_ref().is_some_and(|i| !i.is_empty()) {
        return Err(unsupported("`include`"));
    }
    if req.truncation.as_deref().is_some_and(|t| t != "disabled") {
        return Err(unsupported("`truncation: auto`"));
    }
    let mut messages = Vec::new();
    if let Some(instructions) = &req.instructions {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match &req.input {
        Input::Text(text) => messages.push(json!({"role": "user", "content": text})),
        Input::Items(items) => items_to_messages(items, &mut messages)?,
    }
    let mut out = Map::new();
    out.insert("model".into(), req.model.clone().into());
    out.insert("messages".into(), Value::Array(messages));
    if req.stream {
        out.insert("stream".into(), true.into());
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let optional = [
        ("temperature", req.temperature.map(Value::from)),
        ("top_p", req.top_p.map(Value::from)),
        (
            "max_completion_tokens",
            req.max_output_tokens.map(Value::from),
        ),
        (
            "parallel_tool_calls",
            req.parallel_tool_calls.map(Value::from),
        ),
        ("user", req.user.clone().map(Value::from)),
        (
            "reasoning_effort",
            req.reasoning
                .as_ref()
                .and_then(|r| r.effort.clone())
                .map(Value::from),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out.insert(key.into(), value);
        }
    }
    if !req.tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools(req)?));
    }
    if let Some(choice) = &req.tool_choice {
        out.insert("tool_choice".into(), tool_choice(choice)?);
    }
    if let Some(format) = req.text.as_ref().and_then(|t| t.format.as_ref()) {
        if let Some(format) = response_format(format)? {
            out.insert("response_format".into(), format);
        }
    }
    Ok(Value::Object(out))
}

fn items_to_messages(items: &[InputItem], messages: &mut Vec<Value>) -> Result<(), ProviderError> {
    for item in items {
        match item.kind.as_deref().unwrap_or("message") {
            "message" => {
                let role = match item.role.as_deref() {
                    Some("developer") => "system",
                    Some(role @ ("user" | "assistant" | "system")) => role,
                    Some(other) => return Err(unsupported(format!("message role `{other}`"))),
                    None => "user",
                };
                let content = match &item.content {
                    None => Value::String(String::new()),
                    Some(content) => content_to_chat(content)?,
                };
                messages.push(json!({"role": role, "content": content}));
            }
            "function_call" => {
                let call = json!({
                    "id": item.call_id.clone().unwrap_or_default(),
                    "type": "function",
                    "function": {
                        "name": item.name.clone().unwrap_or_default(),
                        "arguments": item.arguments.clone().unwrap_or_default(),
                    },
                });
                // Calls in a row are one assistant turn with several tool calls.
                match messages.last_mut() {
                    Some(Value::Object(last))
                        if last.get("role") == Some(&Value::from("assistant"))
                            && last.contains_key("tool_calls") =>
                    {
                        if let Some(Value::Array(calls)) = last.get_mut("tool_calls") {
                            calls.push(call);
                        }
                    }
                    _ => messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            "function_call_output" => {
                let output = match &item.output {
                    None => String::new(),
                    Some(Content::Text(text)) => text.clone(),
                    Some(Content::Parts(parts)) => {
                        parts.iter().filter_map(|p| p.text.clone()).collect()
                    }
                };
                messages.push(json!({
                    "role": "tool",
                    "tool_call_id": item.call_id.clone().unwrap_or_default(),
                    "content": output,
                }));
            }
            other => return Err(unsupported(format!("input item type `{other}`"))),
        }
    }
    Ok(())
}

fn content_to_chat(content: &Content) -> Result<Value, ProviderError> {
    let parts = match content {
        Content::Text(text) => return Ok(Value::String(text.clone())),
        Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        out.push(part_to_chat(part)?);
    }
    Ok(Value::Array(out))
}

fn part_to_chat(part: &ContentPart) -> Result<Value, ProviderError> {
    Ok(match part.kind.as_str() {
        "input_text" | "output_text" | "text" => {
            json!({"type": "text", "text": part.text.clone().unwrap_or_default()})
        }
        "refusal" => json!({"type": "text", "text": part.refusal.clone().unwrap_or_default()}),
        "input_image" => {
            let url = part
                .image_url
                .clone()
                .ok_or_else(|| unsupported("an `input_image` without `image_url` (a `file_id`)"))?;
            let mut image = json!({"url": url});
            if let Some(detail) = &part.detail {
                image["detail"] = detail.clone().into();
            }
            json!({"type": "image_url", "image_url": image})
        }
        other => return Err(unsupported(format!("content part type `{other}`"))),
    })
}

fn tools(req: &ResponsesRequest) -> Result<Vec<Value>, ProviderError> {
    req.tools
        .iter()
        .map(|tool| {
            if tool.kind != "function" {
                return Err(unsupported(format!("the built-in tool `{}`", tool.kind)));
            }
            let name = tool
                .name
                .clone()
                .ok_or_else(|| ProviderError::bad_request("a function tool needs a `name`"))?;
            let mut function = json!({"name": name});
            if let Some(d) = &tool.description {
                function["description"] = d.clone().into();
            }
            function["parameters"] = tool
                .parameters
                .clone()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            if let Some(strict) = tool.strict {
                function["strict"] = strict.into();
            }
            Ok(json!({"type": "function", "function": function}))
        })
        .collect()
}

fn tool_choice(choice: &Value) -> Result<Value, ProviderError> {
    match choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => {
            Ok(choice.clone())
        }
        Value::Object(o) if o.get("type") == Some(&Value::from("function")) => {
            let name = o.get("name").cloned().unwrap_or_default();
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        other => Err(unsupported(format!("`tool_choice: {other}`"))),
    }
}

fn response_format(format: &TextFormat) -> Result<Option<Value>, ProviderError> {
    Ok(match format.kind.as_str() {
        "text" => None,
        "json_object" => Some(json!({"type": "json_object"})),
        "json_schema" => {
            let mut schema = json!({
                "name": format.name.clone().unwrap_or_else(|| "response".into()),
                "schema": format.schema.clone().unwrap_or_else(|| json!({})),
            });
            if let Some(d) = &format.description {
                schema["description"] = d.clone().into();
            }
            if let Some(s) = format.strict {
                schema["strict"] = s.into();
            }
            Some(json!({"type": "json_schema", "json_schema": schema}))
        }
        other => return Err(unsupported(format!("`text.format.type: {other}`"))),
    })
}
