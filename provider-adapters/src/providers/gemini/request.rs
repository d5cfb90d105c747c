//! The canonical request → a Gemini `generateContent` request.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::model::{
    ChatRequest, Effort, Part, Reasoning, ResponseFormat, Role, Source, ToolChoice,
};
use crate::shared::{args_object, push_merged, sanitize_schema, Dialect};
use crate::ProviderError;

use super::THOUGHT_SEPARATOR;

// === canonical → generateContent ===

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Out<'r> {
    contents: Vec<OutContent<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<OutSystem<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<Config<'r>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTools<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'r>>,
}

#[derive(Serialize)]
struct OutContent<'r> {
    role: &'static str,
    parts: Vec<OutPart<'r>>,
}

#[derive(Serialize)]
struct OutSystem<'r> {
    parts: Vec<OutPart<'r>>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct OutPart<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<Blob<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<FileData<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<FunctionCall<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_response: Option<FunctionResponse<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<&'r str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Blob<'r> {
    mime_type: Cow<'r, str>,
    data: &'r str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'r> {
    mime_type: Cow<'r, str>,
    file_uri: &'r str,
}

#[derive(Serialize)]
struct FunctionCall<'r> {
    name: &'r str,
    args: Cow<'r, RawValue>,
}

#[derive(Serialize)]
struct FunctionResponse<'r> {
    name: &'r str,
    response: Value,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Config<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'r [Cow<'r, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    include_thoughts: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_budget: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_level: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutTools<'r> {
    function_declarations: Vec<Declaration<'r>>,
}

#[derive(Serialize)]
struct Declaration<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'r> {
    function_calling_config: CallingConfig<'r>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallingConfig<'r> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<[&'r str; 1]>,
}

/// A tool-call id and the Gemini signature carried in it.
pub(crate) fn split_signature(id: &str) -> (&str, Option<&str>) {
    match id.split_once(THOUGHT_SEPARATOR) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

fn part<'r>(p: &'r Part<'r>) -> Option<OutPart<'r>> {
    Some(match p {
        Part::Text { text, .. } => OutPart {
            text: Some(text),
            ..OutPart::default()
        },
        Part::Image { source, .. } | Part::File { source, .. } => media(source, "image/jpeg"),
        Part::Audio { data, format } => OutPart {
            inline_data: Some(Blob {
                mime_type: Cow::Owned(format!("audio/{format}")),
                data,
            }),
            ..OutPart::default()
        },
        Part::Unknown { .. } => return None,
    })
}

fn media<'r>(source: &'r Source<'r>, default_mime: &'static str) -> OutPart<'r> {
    match source {
        Source::Base64 { media_type, data } => OutPart {
            inline_data: Some(Blob {
                mime_type: Cow::Borrowed(media_type),
                data,
            }),
            ..OutPart::default()
        },
        Source::Url(uri) | Source::FileId(uri) => OutPart {
            file_data: Some(FileData {
                mime_type: Cow::Borrowed(default_mime),
                file_uri: uri,
            }),
            ..OutPart::default()
        },
    }
}

/// Encodes `req` as a `generateContent` request for `model`.
pub(crate) fn encode(req: &ChatRequest<'_>, model: &str) -> Result<Bytes, ProviderError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<OutPart<'_>>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System => {
                system.extend(m.content.iter().filter_map(part));
                continue;
            }
            Role::User => ("user", m.content.iter().filter_map(part).collect()),
            Role::Assistant => ("model", assistant_parts(m)),
            Role::Tool => ("user", vec![tool_result(req, i)]),
        };
        push_merged(&mut turns, role, parts);
    }
    let tools = if req.tools.is_empty() {
        Vec::new()
    } else {
        vec![OutTools {
            function_declarations: req
                .tools
                .iter()
                .map(|t| {
                    Ok(Declaration {
                        name: &t.name,
                        description: t.description.as_deref(),
                        parameters: t
                            .parameters
                            .map(|p| sanitize_schema(p, Dialect::GeminiOpenApi))
                            .transpose()?,
                    })
                })
                .collect::<Result<_, ProviderError>>()?,
        }]
    };
    let out = Out {
        contents: turns
            .into_iter()
            .map(|(role, parts)| OutContent { role, parts })
            .collect(),
        system_instruction: (!system.is_empty()).then_some(OutSystem { parts: system }),
        generation_config: config(req, model)?,
        tools,
        tool_config: req.tool_choice.as_ref().map(|c| ToolConfig {
            function_calling_config: match c {
                ToolChoice::Auto => CallingConfig {
                    mode: "AUTO",
                    allowed_function_names: None,
                },
                ToolChoice::None => CallingConfig {
                    mode: "NONE",
                    allowed_function_names: None,
                },
                ToolChoice::Required => CallingConfig {
                    mode: "ANY",
                    allowed_function_names: None,
                },
                ToolChoice::Named(n) => CallingConfig {
                    mode: "ANY",
                    allowed_function_names: Some([n]),
                },
            },
        }),
    };
    crate::shared::body_with_extra(&out, &req.extra, req.size_hint)
}

fn assistant_parts<'r>(m: &'r crate::model::Message<'r>) -> Vec<OutPart<'r>> {
    let mut parts = Vec::new();
    for t in m.thinking.iter().filter(|t| !t.redacted) {
        // Only signed thoughts are worth sending back; the signature is what counts.
        if let Some(sig) = &t.signature {
            parts.push(OutPart {
                text: Some(&t.text),
                thought: Some(true),
                thought_signature: Some(sig),
                ..OutPart::default()
            });
        }
    }
    parts.extend(m.content.iter().filter_map(part));
    for c in &m.tool_calls {
        let (_, signature) = split_signature(&c.id);
        parts.push(OutPart {
            function_call: Some(FunctionCall {
                name: &c.name,
                args: args_object(&c.arguments),
            }),
            thought_signature: signature,
            ..OutPart::default()
        });
    }
    parts
}

/// A tool message as a `functionResponse`: Gemini answers a call by function name,
/// found from the call id in an earlier assistant message.
fn tool_result<'r>(req: &'r ChatRequest<'r>, at: usize) -> OutPart<'r> {
    let m = &req.messages[at];
    let id = m.tool_call_id.as_deref().unwrap_or_default();
    let name = m.name.as_deref().or_else(|| {
        req.messages[..at]
            .iter()
            .rev()
            .flat_map(|m| m.tool_calls.iter())
            .find(|c| c.id == id)
            .map(|c| c.name.as_ref())
    });
    let text = m.text();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"content": text}),
    };
    OutPart {
        function_response: Some(FunctionResponse {
            name: name.unwrap_or_else(|| split_signature(id).0),
            response,
        }),
        ..OutPart::default()
    }
}

fn config<'r>(req: &'r ChatRequest<'r>, model: &str) -> Result<Option<Config<'r>>, ProviderError> {
    let s = &req.sampling;
    let mut c = Config {
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        candidate_count: s.n,
        max_output_tokens: s.max_tokens,
        stop_sequences: &s.stop,
        seed: s.seed,
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
        ..Config::default()
    };
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => c.response_mime_type = Some("application/json"),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            c.response_mime_type = Some("application/json");
            if let Some(schema) = schema {
                // Schemas with references need the JSON Schema field; others go in
                // the OpenAPI subset every Gemini model takes.
                if schema.get().contains("\"$ref\"") {
                    let mut v: Value = serde_json::from_str(schema.get()).map_err(|e| {
                        ProviderError::bad_request(format!("invalid JSON schema: {e}"))
                    })?;
                    if let Some(o) = v.as_object_mut() {
                        o.remove("$schema");
                    }
                    c.response_json_schema = Some(v);
                } else {
                    c.response_schema = Some(sanitize_schema(schema, Dialect::GeminiOpenApi)?);
                }
            }
        }
    }
    c.thinking_config = req.reasoning.map(|r| thinking(r, model));
    c.response_logprobs = s.logprobs.then_some(true);
    c.logprobs = s.top_logprobs.filter(|_| s.logprobs);
    let empty = c.temperature.is_none()
        && c.top_p.is_none()
        && c.top_k.is_none()
        && c.candidate_count.is_none()
        && c.max_output_tokens.is_none()
        && c.stop_sequences.is_empty()
        && c.seed.is_none()
        && c.presence_penalty.is_none()
        && c.frequency_penalty.is_none()
        && c.response_mime_type.is_none()
        && c.thinking_config.is_none()
        && c.response_logprobs.is_none();
    Ok((!empty).then_some(c))
}

/// Gemini 3 takes a thinking level; earlier models a token budget (0 turns it off).
fn thinking(r: Reasoning, model: &str) -> ThinkingConfig {
    if model.contains("gemini-3") {
        let level = match r.effort() {
            Effort::None | Effort::Minimal | Effort::Low => "low",
            Effort::Medium | Effort::High => "high",
        };
        return ThinkingConfig {
            include_thoughts: true,
            thinking_budget: None,
            thinking_level: Some(level),
        };
    }
    let budget = r.budget().unwrap_or(0);
    ThinkingConfig {
        include_thoughts: budget > 0,
        thinking_budget: Some(budget),
        thinking_level: None,
    }
}
