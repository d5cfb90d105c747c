//! The canonical request → an Anthropic Messages request.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::model::{ChatRequest, Part, Reasoning, ResponseFormat, Role, Source, ToolChoice};
use crate::shared::{args_object, push_merged};
use crate::ProviderError;

use super::DEFAULT_MAX_TOKENS;

// === canonical → Messages request ===

#[derive(Serialize)]
struct Out<'r> {
    model: &'r str,
    messages: Vec<OutMessage<'r>>,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<OutSystem<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'r [Cow<'r, str>],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutChoice<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutConfig<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<OutMetadata<'r>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutSystem<'r> {
    Text(Cow<'r, str>),
    Blocks(Vec<OutBlock<'r>>),
}

#[derive(Serialize)]
struct OutMessage<'r> {
    role: &'static str,
    content: Vec<OutBlock<'r>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutBlock<'r> {
    Text {
        text: &'r str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'r RawValue>,
    },
    Image {
        source: OutSource<'r>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'r RawValue>,
    },
    Document {
        source: OutSource<'r>,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'r str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'r RawValue>,
    },
    Thinking {
        thinking: &'r str,
        signature: &'r str,
    },
    RedactedThinking {
        data: &'r str,
    },
    ToolUse {
        id: &'r str,
        name: &'r str,
        input: Cow<'r, RawValue>,
    },
    ToolResult {
        tool_use_id: &'r str,
        content: ToolContent<'r>,
    },
}

/// A tool result's content: text, or blocks when it holds images or documents.
#[derive(Serialize)]
#[serde(untagged)]
enum ToolContent<'r> {
    Text(Cow<'r, str>),
    Blocks(Vec<OutBlock<'r>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutSource<'r> {
    Base64 { media_type: &'r str, data: &'r str },
    Url { url: &'r str },
    File { file_id: &'r str },
}

#[derive(Serialize)]
struct OutTool<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    input_schema: Cow<'r, RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'r RawValue>,
}

#[derive(Serialize)]
struct OutChoice<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
struct OutThinking {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    budget_tokens: Option<u64>,
}

#[derive(Serialize)]
struct OutConfig<'r> {
    format: OutFormat<'r>,
}

#[derive(Serialize)]
struct OutFormat<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: Cow<'r, RawValue>,
}

#[derive(Serialize)]
struct OutMetadata<'r> {
    user_id: &'r str,
}

fn source<'r>(s: &'r Source<'r>) -> OutSource<'r> {
    match s {
        Source::Base64 { media_type, data } => OutSource::Base64 { media_type, data },
        Source::Url(url) => OutSource::Url { url },
        Source::FileId(file_id) => OutSource::File { file_id },
    }
}

fn block<'r>(p: &'r Part<'r>) -> Option<OutBlock<'r>> {
    Some(match p {
        Part::Text {
            text,
            cache_control,
        } => OutBlock::Text {
            text,
            cache_control: *cache_control,
        },
        Part::Image {
            source: s,
            cache_control,
        } => OutBlock::Image {
            source: source(s),
            cache_control: *cache_control,
        },
        Part::File {
            source: s,
            filename,
            cache_control,
        } => OutBlock::Document {
            source: source(s),
            title: filename.as_deref(),
            cache_control: *cache_control,
        },
        // Refused by the capability table before encoding.
        Part::Audio { .. } | Part::Unknown { .. } => return None,
    })
}

fn schema_or_object(raw: Option<&RawValue>) -> Cow<'_, RawValue> {
    match raw {
        Some(raw) => Cow::Borrowed(raw),
        None => Cow::Owned(
            RawValue::from_string(r#"{"type":"object"}"#.to_string())
                .unwrap_or_else(|_| crate::shared::empty_object()),
        ),
    }
}

/// Encodes `req` as a Messages request for `model`.
pub(crate) fn encode(req: &ChatRequest<'_>, model: &str) -> Result<Bytes, ProviderError> {
    let mut system: Vec<&Part<'_>> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<OutBlock<'_>>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::System => {
                system.extend(m.content.iter());
                continue;
            }
            Role::User => ("user", m.content.iter().filter_map(block).collect()),
            Role::Tool => (
                "user",
                vec![OutBlock::ToolResult {
                    tool_use_id: m.tool_call_id.as_deref().unwrap_or_default(),
                    content: if m.content.iter().all(|p| matches!(p, Part::Text { .. })) {
                        ToolContent::Text(m.text())
                    } else {
                        ToolContent::Blocks(m.content.iter().filter_map(block).collect())
                    },
                }],
            ),
            Role::Assistant => {
                let mut blocks = Vec::new();
                for t in &m.thinking {
                    match (&t.signature, t.redacted) {
                        (Some(data), true) => blocks.push(OutBlock::RedactedThinking { data }),
                        (Some(signature), false) => blocks.push(OutBlock::Thinking {
                            thinking: &t.text,
                            signature,
                        }),
                        // Unsigned reasoning (another provider's) cannot go back.
                        (None, _) => {}
                    }
                }
                blocks.extend(m.content.iter().filter_map(block));
                for c in &m.tool_calls {
                    blocks.push(OutBlock::ToolUse {
                        id: &c.id,
                        name: &c.name,
                        input: args_object(&c.arguments),
                    });
                }
                ("assistant", blocks)
            }
        };
        // Consecutive messages of one role become one (tool results that answer
        // parallel calls must share one user message).
        push_merged(&mut turns, role, blocks);
    }
    let s = &req.sampling;
    let budget = req.reasoning.and_then(Reasoning::budget);
    let mut max_tokens = s.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(b) = budget {
        // Anthropic wants the thinking budget below `max_tokens`.
        if max_tokens <= b {
            max_tokens += b;
        }
    }
    let out = Out {
        model,
        messages: turns
            .into_iter()
            .map(|(role, content)| OutMessage { role, content })
            .collect(),
        max_tokens,
        system: system_of(&system),
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        stop_sequences: &s.stop,
        stream: req.stream,
        tools: req
            .tools
            .iter()
            .map(|t| OutTool {
                name: &t.name,
                description: t.description.as_deref(),
                input_schema: schema_or_object(t.parameters),
                strict: t.strict,
                cache_control: t.cache_control,
            })
            .collect(),
        tool_choice: tool_choice(req.tool_choice.as_ref(), req.parallel_tool_calls),
        thinking: req.reasoning.map(|r| match r.budget() {
            Some(b) => OutThinking {
                kind: "enabled",
                budget_tokens: Some(b),
            },
            None => OutThinking {
                kind: "disabled",
                budget_tokens: None,
            },
        }),
        output_config: match &req.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(OutConfig {
                format: OutFormat {
                    kind: "json_schema",
                    schema: schema_or_object(*schema),
                },
            }),
            Some(ResponseFormat::Text | ResponseFormat::JsonObject) | None => None,
        },
        metadata: req.user.as_deref().map(|user_id| OutMetadata { user_id }),
    };
    crate::shared::body_with_extra(&out, &req.extra, req.size_hint)
}

fn system_of<'r>(parts: &[&'r Part<'r>]) -> Option<OutSystem<'r>> {
    let cached = parts.iter().any(|p| {
        matches!(
            p,
            Part::Text {
                cache_control: Some(_),
                ..
            }
        )
    });
    if cached {
        return Some(OutSystem::Blocks(
            parts.iter().filter_map(|p| block(p)).collect(),
        ));
    }
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } if !text.is_empty() => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    match texts.as_slice() {
        [] => None,
        [one] => Some(OutSystem::Text(Cow::Borrowed(one))),
        many => Some(OutSystem::Text(Cow::Owned(many.join("\n\n")))),
    }
}

fn tool_choice<'r>(
    choice: Option<&'r ToolChoice<'r>>,
    parallel: Option<bool>,
) -> Option<OutChoice<'r>> {
    let disable = (parallel == Some(false)).then_some(true);
    let (kind, name) = match choice {
        None if disable.is_some() => ("auto", None),
        None => return None,
        Some(ToolChoice::Auto) => ("auto", None),
        Some(ToolChoice::None) => ("none", None),
        Some(ToolChoice::Required) => ("any", None),
        Some(ToolChoice::Named(n)) => ("tool", Some(n.as_ref())),
    };
    Some(OutChoice {
        kind,
        name,
        disable_parallel_tool_use: disable.filter(|_| kind != "none"),
    })
}
