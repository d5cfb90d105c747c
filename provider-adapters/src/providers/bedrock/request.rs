//! The canonical request → a Bedrock Converse request (`messages`, `system`,
//! `inferenceConfig`, `toolConfig`, `additionalModelRequestFields`).

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::model::{ChatRequest, Part, Reasoning, Role, Source, ToolChoice};
use crate::shared::{args_object, push_merged};
use crate::ProviderError;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Out<'r> {
    messages: Vec<OutMessage<'r>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Block<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inference_config: Option<InferenceConfig<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_model_request_fields: Option<Additional>,
}

#[derive(Serialize)]
struct OutMessage<'r> {
    role: &'static str,
    content: Vec<Block<'r>>,
}

/// A content block: a union with one member set (`{"text": …}`, `{"image": …}`…).
#[derive(Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
enum Block<'r> {
    Text(&'r str),
    Image {
        format: &'static str,
        source: ImageSource<'r>,
    },
    ToolUse {
        tool_use_id: &'r str,
        name: &'r str,
        input: Cow<'r, RawValue>,
    },
    ToolResult {
        tool_use_id: &'r str,
        content: Vec<Block<'r>>,
    },
    ReasoningContent(Reasoned<'r>),
    CachePoint {
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

#[derive(Serialize)]
struct ImageSource<'r> {
    /// Base64 in the JSON protocol.
    bytes: &'r str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Reasoned<'r> {
    ReasoningText { text: &'r str, signature: &'r str },
    RedactedContent(&'r str),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'r [Cow<'r, str>],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'r> {
    tools: Vec<OutTool<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutChoice<'r>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum OutTool<'r> {
    ToolSpec(ToolSpec<'r>),
    CachePoint {
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolSpec<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    input_schema: Schema<'r>,
}

#[derive(Serialize)]
struct Schema<'r> {
    json: Cow<'r, RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum OutChoice<'r> {
    Auto {},
    Any {},
    Tool { name: &'r str },
}

/// Model-specific fields (Anthropic's on Bedrock: `top_k`, `thinking`).
#[derive(Serialize)]
struct Additional {
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking>,
}

#[derive(Serialize)]
struct Thinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u64,
}

const CACHE_POINT: Block<'static> = Block::CachePoint { kind: "default" };

/// Converse's image `format` of a media type.
fn image_format(media_type: &str) -> Result<&'static str, ProviderError> {
    Ok(match media_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(ProviderError::bad_request(format!(
                "bedrock takes png, jpeg, gif or webp images, not `{other}`"
            )))
        }
    })
}

/// The blocks of one part (a cache point after a part marked `cache_control`).
fn blocks<'r>(p: &'r Part<'r>, out: &mut Vec<Block<'r>>) -> Result<(), ProviderError> {
    let cached = match p {
        // Converse refuses blank text blocks.
        Part::Text { text, .. } if text.trim().is_empty() => return Ok(()),
        Part::Text {
            text,
            cache_control,
        } => {
            out.push(Block::Text(text));
            cache_control.is_some()
        }
        Part::Image {
            source: Source::Base64 { media_type, data },
            cache_control,
        } => {
            out.push(Block::Image {
                format: image_format(media_type)?,
                source: ImageSource { bytes: data },
            });
            cache_control.is_some()
        }
        Part::Image { .. } => {
            return Err(ProviderError::unsupported_params(
                "bedrock takes images as base64 data, not URLs or file ids",
            ))
        }
        // Refused by the capability table before encoding.
        Part::Audio { .. } | Part::File { .. } | Part::Unknown { .. } => return Ok(()),
    };
    if cached {
        out.push(CACHE_POINT);
    }
    Ok(())
}

/// The system blocks and the alternating turns of `req`'s messages.
type Turns<'r> = (Vec<Block<'r>>, Vec<(&'static str, Vec<Block<'r>>)>);

fn turns<'r>(req: &'r ChatRequest<'r>) -> Result<Turns<'r>, ProviderError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Block<'_>>)> = Vec::new();
    for m in &req.messages {
        let mut content = Vec::new();
        let role = match m.role {
            Role::System => {
                for p in &m.content {
                    blocks(p, &mut system)?;
                }
                continue;
            }
            Role::User => {
                for p in &m.content {
                    blocks(p, &mut content)?;
                }
                "user"
            }
            Role::Tool => {
                let mut result = Vec::new();
                for p in &m.content {
                    blocks(p, &mut result)?;
                }
                result.retain(|b| !matches!(b, Block::CachePoint { .. }));
                content.push(Block::ToolResult {
                    tool_use_id: m.tool_call_id.as_deref().unwrap_or_default(),
                    content: result,
                });
                "user"
            }
            Role::Assistant => {
                for t in &m.thinking {
                    match (&t.signature, t.redacted) {
                        (Some(data), true) => {
                            content.push(Block::ReasoningContent(Reasoned::RedactedContent(data)))
                        }
                        (Some(signature), false) => {
                            content.push(Block::ReasoningContent(Reasoned::ReasoningText {
                                text: &t.text,
                                signature,
                            }))
                        }
                        // Unsigned reasoning (another provider's) cannot go back.
                        (None, _) => {}
                    }
                }
                for p in &m.content {
                    blocks(p, &mut content)?;
                }
                for c in &m.tool_calls {
                    content.push(Block::ToolUse {
                        tool_use_id: &c.id,
                        name: &c.name,
                        input: args_object(&c.arguments),
                    });
                }
                "assistant"
            }
        };
        // Converse wants alternating turns: parallel tool results share one.
        push_merged(&mut turns, role, content);
    }
    Ok((system, turns))
}

/// Encodes `req` as a Converse request.
pub(crate) fn encode(req: &ChatRequest<'_>) -> Result<Bytes, ProviderError> {
    let (system, turns) = turns(req)?;
    let s = &req.sampling;
    let budget = req.reasoning.and_then(Reasoning::budget);
    let mut max_tokens = s.max_tokens;
    if let (Some(b), Some(max)) = (budget, max_tokens) {
        // Anthropic's models want the thinking budget below `maxTokens`.
        if max <= b {
            max_tokens = Some(max + b);
        }
    }
    let inference = InferenceConfig {
        max_tokens,
        temperature: s.temperature,
        top_p: s.top_p,
        stop_sequences: &s.stop,
    };
    let any_inference = inference.max_tokens.is_some()
        || inference.temperature.is_some()
        || inference.top_p.is_some()
        || !inference.stop_sequences.is_empty();
    let additional = Additional {
        top_k: s.top_k,
        thinking: budget.map(|budget_tokens| Thinking {
            kind: "enabled",
            budget_tokens,
        }),
    };
    let any_additional = additional.top_k.is_some() || additional.thinking.is_some();
    let out = Out {
        messages: turns
            .into_iter()
            .map(|(role, content)| OutMessage { role, content })
            .collect(),
        system,
        inference_config: any_inference.then_some(inference),
        tool_config: tool_config(req),
        additional_model_request_fields: any_additional.then_some(additional),
    };
    crate::shared::body_with_extra(&out, &req.extra, req.size_hint)
}

fn tool_config<'r>(req: &'r ChatRequest<'r>) -> Option<ToolConfig<'r>> {
    if req.tools.is_empty() {
        return None;
    }
    let mut tools = Vec::with_capacity(req.tools.len());
    for t in &req.tools {
        tools.push(OutTool::ToolSpec(ToolSpec {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: Schema {
                json: match t.parameters {
                    Some(raw) => Cow::Borrowed(raw),
                    None => Cow::Owned(object_schema()),
                },
            },
        }));
        if t.cache_control.is_some() {
            tools.push(OutTool::CachePoint { kind: "default" });
        }
    }
    let tool_choice = match &req.tool_choice {
        None | Some(ToolChoice::Auto) => None,
        Some(ToolChoice::Required) => Some(OutChoice::Any {}),
        Some(ToolChoice::Named(name)) => Some(OutChoice::Tool { name }),
        // Refused by the capability table (Converse has no "none").
        Some(ToolChoice::None) => Some(OutChoice::Auto {}),
    };
    Some(ToolConfig { tools, tool_choice })
}

fn object_schema() -> Box<RawValue> {
    RawValue::from_string(r#"{"type":"object"}"#.to_string())
        .unwrap_or_else(|_| crate::shared::empty_object())
}
