//! The canonical model → an OpenAI chat request (for Anthropic-format clients served
//! by OpenAI-compatible providers).

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use super::request::{WireFunctionCall, WireThinking, WireToolCall};
use crate::model::{ChatRequest, Message, Part, ResponseFormat, Role, Source, ToolChoice};
use crate::ProviderError;

#[derive(Serialize)]
struct Out<'r> {
    model: &'r str,
    messages: Vec<OutMessage<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'r [Cow<'r, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    logprobs: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutChoice<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<OutFormat<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'r str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct OutMessage<'r> {
    role: &'static str,
    content: OutContent<'r>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'r str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    thinking_blocks: Vec<WireThinking<'r>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutContent<'r> {
    Null(()),
    Text(&'r str),
    Parts(Vec<OutPart<'r>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutPart<'r> {
    Text { text: &'r str },
    ImageUrl { image_url: OutUrl<'r> },
    InputAudio { input_audio: OutAudio<'r> },
    File { file: OutFile<'r> },
}

#[derive(Serialize)]
struct OutUrl<'r> {
    url: Cow<'r, str>,
}

#[derive(Serialize)]
struct OutAudio<'r> {
    data: &'r str,
    format: &'r str,
}

#[derive(Serialize)]
struct OutFile<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<Cow<'r, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_id: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<&'r str>,
}

#[derive(Serialize)]
struct OutTool<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction<'r>,
}

#[derive(Serialize)]
struct OutFunction<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    parameters: &'r RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutChoice<'r> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: Name<'r>,
    },
}

#[derive(Serialize)]
struct Name<'r> {
    name: &'r str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutFormat<'r> {
    JsonObject,
    JsonSchema { json_schema: OutSchema<'r> },
}

#[derive(Serialize)]
struct OutSchema<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<&'r RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

/// Whether an OpenAI model is a reasoning model, which refuses `max_tokens` and
/// takes `max_completion_tokens`.
pub(crate) fn is_reasoning_model(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| name == *p || name.starts_with(&format!("{p}-")))
}

/// Encodes `req` as an OpenAI chat request for `model`.
pub(crate) fn encode(req: &ChatRequest<'_>, model: &str) -> Result<Bytes, ProviderError> {
    let s = &req.sampling;
    let reasoning_model = is_reasoning_model(model);
    let empty_object = crate::shared::empty_object();
    let out = Out {
        model,
        messages: req.messages.iter().map(message).collect(),
        max_tokens: s.max_tokens.filter(|_| !reasoning_model),
        max_completion_tokens: s.max_tokens.filter(|_| reasoning_model),
        temperature: s.temperature,
        top_p: s.top_p,
        stop: &s.stop,
        seed: s.seed,
        frequency_penalty: s.frequency_penalty,
        presence_penalty: s.presence_penalty,
        n: s.n,
        logprobs: s.logprobs,
        top_logprobs: s.top_logprobs,
        tools: req
            .tools
            .iter()
            .map(|t| OutTool {
                kind: "function",
                function: OutFunction {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: t.parameters.unwrap_or(&empty_object),
                    strict: t.strict,
                },
            })
            .collect(),
        tool_choice: req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => OutChoice::Mode("auto"),
            ToolChoice::None => OutChoice::Mode("none"),
            ToolChoice::Required => OutChoice::Mode("required"),
            ToolChoice::Named(name) => OutChoice::Named {
                kind: "function",
                function: Name { name },
            },
        }),
        parallel_tool_calls: req.parallel_tool_calls,
        response_format: req.response_format.as_ref().and_then(|f| match f {
            ResponseFormat::Text => None,
            ResponseFormat::JsonObject => Some(OutFormat::JsonObject),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => Some(OutFormat::JsonSchema {
                json_schema: OutSchema {
                    name: if name.is_empty() { "response" } else { name },
                    schema: *schema,
                    strict: *strict,
                },
            }),
        }),
        reasoning_effort: req.reasoning.map(|r| r.effort().as_str()),
        user: req.user.as_deref(),
        stream: req.stream,
        // Asked for always when streaming: Anthropic-format clients get real counts.
        stream_options: req.stream.then_some(StreamOptions {
            include_usage: true,
        }),
    };
    crate::shared::body_with_extra(&out, &req.extra, req.size_hint)
}

fn message<'r>(m: &'r Message<'r>) -> OutMessage<'r> {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let simple = m.content.iter().all(|p| matches!(p, Part::Text { .. }));
    let content = if m.content.is_empty() {
        OutContent::Null(())
    } else if simple && m.content.len() == 1 {
        match &m.content[0] {
            Part::Text { text, .. } => OutContent::Text(text),
            _ => OutContent::Null(()),
        }
    } else {
        OutContent::Parts(m.content.iter().filter_map(part).collect())
    };
    OutMessage {
        role,
        content,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| WireToolCall {
                id: Cow::Borrowed(&c.id),
                kind: Cow::Borrowed("function"),
                function: WireFunctionCall {
                    name: Cow::Borrowed(&c.name),
                    arguments: Cow::Borrowed(&c.arguments),
                },
            })
            .collect(),
        tool_call_id: m.tool_call_id.as_deref(),
        reasoning_content: None,
        thinking_blocks: Vec::new(),
    }
}

fn part<'r>(p: &'r Part<'r>) -> Option<OutPart<'r>> {
    Some(match p {
        Part::Text { text, .. } => OutPart::Text { text },
        Part::Image { source, .. } => OutPart::ImageUrl {
            image_url: OutUrl {
                url: url_of(source),
            },
        },
        Part::Audio { data, format } => OutPart::InputAudio {
            input_audio: OutAudio { data, format },
        },
        Part::File {
            source, filename, ..
        } => OutPart::File {
            file: match source {
                Source::FileId(id) => OutFile {
                    file_data: None,
                    file_id: Some(id),
                    filename: filename.as_deref(),
                },
                other => OutFile {
                    file_data: Some(url_of(other)),
                    file_id: None,
                    filename: filename.as_deref(),
                },
            },
        },
        Part::Unknown { .. } => return None,
    })
}

/// A source as a URL (a data URI for inline data).
pub(crate) fn url_of<'r>(source: &'r Source<'r>) -> Cow<'r, str> {
    match source {
        Source::Url(u) | Source::FileId(u) => Cow::Borrowed(u),
        Source::Base64 { media_type, data } => {
            Cow::Owned(format!("data:{media_type};base64,{data}"))
        }
    }
}
