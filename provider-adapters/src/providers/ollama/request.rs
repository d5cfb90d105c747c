//! The canonical request → an Ollama `/api/chat` request.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::model::{ChatRequest, Effort, Part, ResponseFormat, Role, Source, ToolChoice};
use crate::shared::args_object;
use crate::ProviderError;

#[derive(Serialize)]
struct Out<'r> {
    model: &'r str,
    messages: Vec<OutMessage<'r>>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<Options<'r>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<Cow<'r, RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    think: Option<Think>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    logprobs: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u32>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Think {
    On(bool),
    Level(&'static str),
}

#[derive(Serialize)]
struct OutMessage<'r> {
    role: &'static str,
    content: Cow<'r, str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<&'r str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutCall<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Cow<'r, str>>,
}

#[derive(Serialize)]
struct OutCall<'r> {
    function: OutFunction<'r>,
}

#[derive(Serialize)]
struct OutFunction<'r> {
    name: &'r str,
    arguments: Cow<'r, RawValue>,
}

#[derive(Serialize)]
struct OutTool<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutDecl<'r>,
}

#[derive(Serialize)]
struct OutDecl<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'r RawValue>,
}

#[derive(Serialize, Default)]
struct Options<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_predict: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'r [Cow<'r, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
}

/// Encodes `req` as an `/api/chat` request for `model`. `stream` is always explicit:
/// Ollama streams unless told not to.
pub(crate) fn encode(req: &ChatRequest<'_>, model: &str) -> Result<Bytes, ProviderError> {
    let s = &req.sampling;
    let options = Options {
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        seed: s.seed,
        num_predict: s.max_tokens,
        stop: &s.stop,
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
    };
    let has_options = options.temperature.is_some()
        || options.top_p.is_some()
        || options.top_k.is_some()
        || options.seed.is_some()
        || options.num_predict.is_some()
        || !options.stop.is_empty()
        || options.presence_penalty.is_some()
        || options.frequency_penalty.is_some();
    // `tool_choice: none` is honoured by offering no tools.
    let tools = if req.tool_choice == Some(ToolChoice::None) {
        Vec::new()
    } else {
        req.tools
            .iter()
            .map(|t| OutTool {
                kind: "function",
                function: OutDecl {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: t.parameters,
                },
            })
            .collect()
    };
    let out = Out {
        model,
        messages: req
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| message(req, i, m))
            .collect(),
        stream: req.stream,
        options: has_options.then_some(options),
        tools,
        format: match &req.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonObject) => Some(Cow::Owned(raw(r#""json""#))),
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(match schema {
                Some(s) => Cow::Borrowed(*s),
                None => Cow::Owned(raw(r#""json""#)),
            }),
        },
        think: req
            .reasoning
            .map(|r| match (r.effort(), model.contains("gpt-oss")) {
                (Effort::None, _) => Think::On(false),
                (e, true) => Think::Level(match e {
                    Effort::None | Effort::Minimal | Effort::Low => "low",
                    Effort::Medium => "medium",
                    Effort::High => "high",
                }),
                (_, false) => Think::On(true),
            }),
        logprobs: s.logprobs,
        top_logprobs: s.top_logprobs.filter(|_| s.logprobs),
    };
    crate::shared::body_with_extra(&out, &req.extra, req.size_hint)
}

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_string()).unwrap_or_else(|_| crate::shared::empty_object())
}

fn message<'r>(
    req: &'r ChatRequest<'r>,
    at: usize,
    m: &'r crate::model::Message<'r>,
) -> OutMessage<'r> {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let images = m
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Image {
                source: Source::Base64 { data, .. },
                ..
            } => Some(data.as_ref()),
            _ => None,
        })
        .collect();
    // Ollama answers a call by the tool's name, found from the call id.
    let tool_name = (m.role == Role::Tool).then(|| {
        m.name.as_deref().or_else(|| {
            let id = m.tool_call_id.as_deref()?;
            req.messages[..at]
                .iter()
                .rev()
                .flat_map(|m| m.tool_calls.iter())
                .find(|c| c.id == id)
                .map(|c| c.name.as_ref())
        })
    });
    let thinking: Vec<&str> = m.thinking.iter().map(|t| t.text.as_ref()).collect();
    OutMessage {
        role,
        content: m.text(),
        images,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| OutCall {
                function: OutFunction {
                    name: &c.name,
                    arguments: args_object(&c.arguments),
                },
            })
            .collect(),
        tool_name: tool_name.flatten(),
        thinking: (!thinking.is_empty()).then(|| Cow::Owned(thinking.concat())),
    }
}
