//! Anthropic Messages requests → the canonical model (for `/v1/messages` clients
//! served by other providers).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::capability::Param;
use crate::formats::openai::request::WireThinkingParam;
use crate::model::{
    ChatRequest, Message, Part, Reasoning, ResponseFormat, Role, Sampling, Source, Thinking, Tool,
    ToolCall, ToolChoice,
};
use crate::shared::TextOr;
use crate::ProviderError;

#[derive(Deserialize)]
struct InRequest<'a> {
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<InMessage<'a>>,
    #[serde(default, borrow)]
    system: Option<InContent<'a>>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    top_k: Option<u64>,
    #[serde(default, borrow)]
    stop_sequences: Option<Vec<Cow<'a, str>>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default, borrow)]
    tools: Option<Vec<InTool<'a>>>,
    #[serde(default, borrow)]
    tool_choice: Option<InToolChoice<'a>>,
    #[serde(default, borrow)]
    thinking: Option<WireThinkingParam<'a>>,
    #[serde(default, borrow)]
    metadata: Option<InMetadata<'a>>,
    #[serde(default, borrow)]
    output_config: Option<InOutputConfig<'a>>,
    #[serde(default, borrow)]
    output_format: Option<InFormat<'a>>,
    #[serde(default, borrow)]
    service_tier: Option<&'a RawValue>,
    #[serde(default, borrow)]
    container: Option<&'a RawValue>,
    #[serde(default, borrow)]
    mcp_servers: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InMessage<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    content: InContent<'a>,
}

/// A string, or content blocks.
type InContent<'a> = TextOr<'a, InBlock<'a>>;

#[derive(Deserialize)]
struct InBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    source: Option<InSource<'a>>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_use_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<InContent<'a>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    title: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    cache_control: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InSource<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    media_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    file_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InTool<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input_schema: Option<&'a RawValue>,
    #[serde(default)]
    strict: Option<bool>,
    #[serde(default, borrow)]
    cache_control: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InToolChoice<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize)]
struct InMetadata<'a> {
    #[serde(default, borrow)]
    user_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InOutputConfig<'a> {
    #[serde(default, borrow)]
    format: Option<InFormat<'a>>,
}

#[derive(Deserialize)]
struct InFormat<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    schema: Option<&'a RawValue>,
}

/// Parses a Messages request into the canonical model.
pub(crate) fn decode(body: &[u8]) -> Result<ChatRequest<'_>, ProviderError> {
    let r: InRequest<'_> = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_request(format!("invalid messages request: {e}"))
            .with_code("invalid_request")
    })?;
    let mut messages = Vec::with_capacity(r.messages.len() + 1);
    if let Some(system) = r.system {
        messages.push(Message::new(Role::System, parts(system)?));
    }
    for m in r.messages {
        message(m, &mut messages)?;
    }
    let mut other_params = Vec::new();
    for (set, p) in [
        (r.service_tier.is_some(), Param::ServiceTier),
        (
            r.container.is_some() || r.mcp_servers.is_some(),
            Param::WebSearch,
        ),
    ] {
        if set {
            other_params.push(p);
        }
    }
    let (tool_choice, parallel) = match r.tool_choice {
        None => (None, None),
        Some(c) => {
            let choice = match (c.kind.as_ref(), c.name) {
                ("auto", _) => ToolChoice::Auto,
                ("any", _) => ToolChoice::Required,
                ("none", _) => ToolChoice::None,
                ("tool", Some(name)) => ToolChoice::Named(name),
                (other, _) => {
                    return Err(ProviderError::bad_request(format!(
                        "unknown `tool_choice.type` `{other}`"
                    )))
                }
            };
            (Some(choice), c.disable_parallel_tool_use.map(|d| !d))
        }
    };
    let format = r
        .output_config
        .and_then(|c| c.format)
        .or(r.output_format)
        .filter(|f| f.kind == "json_schema");
    Ok(ChatRequest {
        model: r.model,
        messages,
        tools: r
            .tools
            .unwrap_or_default()
            .into_iter()
            .map(|t| Tool {
                name: t.name,
                description: t.description,
                parameters: t.input_schema,
                strict: t.strict,
                cache_control: t.cache_control,
            })
            .collect(),
        tool_choice,
        parallel_tool_calls: parallel,
        sampling: Sampling {
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            top_p: r.top_p,
            top_k: r.top_k,
            stop: r.stop_sequences.unwrap_or_default(),
            ..Sampling::default()
        },
        response_format: format.map(|f| ResponseFormat::JsonSchema {
            name: Cow::Borrowed("response"),
            schema: f.schema,
            strict: Some(true),
        }),
        reasoning: r
            .thinking
            .map(|t| t.reasoning())
            .filter(|r| *r != Reasoning::Off),
        stream: r.stream.unwrap_or(false),
        include_usage: true,
        user: r.metadata.and_then(|m| m.user_id),
        extra: Vec::new(),
        other_params,
        drop_params: None,
        size_hint: body.len(),
    })
}

fn parts(content: InContent<'_>) -> Result<Vec<Part<'_>>, ProviderError> {
    Ok(match content {
        TextOr::Text(text) => vec![Part::Text {
            text,
            cache_control: None,
        }],
        TextOr::List(blocks) => blocks.into_iter().map(part).collect(),
    })
}

fn part(b: InBlock<'_>) -> Part<'_> {
    let cache_control = b.cache_control;
    match (b.kind.as_ref(), b.text, b.source) {
        ("text", Some(text), _) => Part::Text {
            text,
            cache_control,
        },
        ("image", _, Some(s)) => Part::Image {
            source: source(s),
            cache_control,
        },
        ("document", _, Some(s)) => Part::File {
            source: source(s),
            filename: b.title,
            cache_control,
        },
        _ => Part::Unknown { kind: b.kind },
    }
}

fn source(s: InSource<'_>) -> Source<'_> {
    match (s.kind.as_ref(), s.data, s.url, s.file_id) {
        ("base64", Some(data), ..) => Source::Base64 {
            media_type: s
                .media_type
                .unwrap_or(Cow::Borrowed("application/octet-stream")),
            data,
        },
        (_, _, Some(url), _) => Source::Url(url),
        (_, _, _, Some(id)) => Source::FileId(id),
        (_, Some(data), ..) => Source::Base64 {
            media_type: s.media_type.unwrap_or(Cow::Borrowed("text/plain")),
            data,
        },
        _ => Source::Url(Cow::Borrowed("")),
    }
}

/// One Messages message as canonical messages: a user turn's tool results become
/// tool messages (before its other content, as OpenAI wants them).
fn message<'a>(m: InMessage<'a>, out: &mut Vec<Message<'a>>) -> Result<(), ProviderError> {
    let role = match m.role.as_ref() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(ProviderError::bad_request(format!(
                "unknown message role `{other}`"
            )))
        }
    };
    let blocks = match m.content {
        TextOr::Text(text) => {
            out.push(Message::new(
                role,
                vec![Part::Text {
                    text,
                    cache_control: None,
                }],
            ));
            return Ok(());
        }
        TextOr::List(blocks) => blocks,
    };
    let mut msg = Message::new(role, Vec::new());
    for b in blocks {
        match b.kind.as_ref() {
            "tool_result" => {
                let mut tool = Message::new(
                    Role::Tool,
                    match b.content {
                        Some(c) => parts(c)?,
                        None => Vec::new(),
                    },
                );
                tool.tool_call_id = b.tool_use_id;
                out.push(tool);
            }
            "tool_use" => msg.tool_calls.push(ToolCall {
                id: b.id.unwrap_or_default(),
                name: b.name.unwrap_or_default(),
                arguments: Cow::Borrowed(b.input.map_or("{}", |i| i.get())),
            }),
            "thinking" => msg.thinking.push(Thinking {
                text: b.thinking.unwrap_or_default(),
                signature: b.signature,
                redacted: false,
            }),
            "redacted_thinking" => msg.thinking.push(Thinking {
                text: Cow::Borrowed(""),
                signature: b.data,
                redacted: true,
            }),
            _ => msg.content.push(part(b)),
        }
    }
    if !msg.content.is_empty() || !msg.tool_calls.is_empty() || !msg.thinking.is_empty() {
        out.push(msg);
    }
    Ok(())
}
