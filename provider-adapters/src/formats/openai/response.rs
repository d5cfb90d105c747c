//! OpenAI `chat.completion` answers ⇄ the canonical model.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::request::{thinking_in, WireFunctionCall, WireThinking, WireToolCall};
use crate::model::{ChatResponse, Choice, FinishReason, Thinking, ToolCall, Usage};
use crate::ProviderError;

// === in ===

#[derive(Deserialize)]
struct InResponse<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    choices: Vec<InChoice<'a>>,
    #[serde(default)]
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
struct InChoice<'a> {
    #[serde(default, borrow)]
    message: Option<InMessage<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking_blocks: Option<Vec<WireThinking<'a>>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<WireToolCall<'a>>>,
}

/// OpenAI `usage`, with its details.
#[derive(Deserialize, Default)]
pub(crate) struct InUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<Details>,
    #[serde(default)]
    completion_tokens_details: Option<Details>,
}

#[derive(Deserialize, Default)]
struct Details {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl InUsage {
    /// The counts as read another way (`usage`'s one-pass reader): the prompt and
    /// completion tokens, the cached ones of `prompt_tokens_details`, the reasoning ones
    /// of `completion_tokens_details`.
    pub(crate) fn from_counts(
        prompt: u64,
        completion: u64,
        cached: Option<u64>,
        reasoning: Option<u64>,
    ) -> Self {
        let details = |cached_tokens, reasoning_tokens| {
            Some(Details {
                cached_tokens,
                reasoning_tokens,
            })
        };
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            prompt_tokens_details: details(cached, None),
            completion_tokens_details: details(None, reasoning),
        }
    }

    pub(crate) fn usage(&self) -> Usage {
        Usage {
            input: self.prompt_tokens,
            output: self.completion_tokens,
            cached_input: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_creation: 0,
            reasoning: self
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

/// An OpenAI finish reason.
pub(crate) fn finish_in(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Parses an OpenAI `chat.completion`.
pub(crate) fn decode(body: &[u8]) -> Result<ChatResponse<'_>, ProviderError> {
    let r: InResponse<'_> = serde_json::from_slice(body)
        .map_err(|e| ProviderError::bad_gateway(format!("upstream sent an invalid answer: {e}")))?;
    Ok(ChatResponse {
        id: r.id,
        model: r.model,
        usage: r.usage.map(|u| u.usage()),
        choices: r
            .choices
            .into_iter()
            .map(|c| {
                let m = c.message;
                let (text, thinking, calls) = match m {
                    None => (String::new(), Vec::new(), Vec::new()),
                    Some(m) => (
                        m.content.map(Cow::into_owned).unwrap_or_default(),
                        match (m.thinking_blocks, m.reasoning_content) {
                            (Some(b), _) => b.into_iter().map(thinking_in).collect(),
                            (None, Some(t)) if !t.is_empty() => vec![Thinking {
                                text: t,
                                signature: None,
                                redacted: false,
                            }],
                            _ => Vec::new(),
                        },
                        m.tool_calls.unwrap_or_default(),
                    ),
                };
                Choice {
                    text,
                    thinking,
                    tool_calls: calls
                        .into_iter()
                        .map(|c| ToolCall {
                            id: c.id,
                            name: c.function.name,
                            arguments: c.function.arguments,
                        })
                        .collect(),
                    finish: finish_in(c.finish_reason.as_deref()),
                    logprobs: None,
                }
            })
            .collect(),
    })
}

// === out ===

#[derive(Serialize)]
struct OutResponse<'r> {
    id: &'r str,
    object: &'static str,
    created: u64,
    model: &'r str,
    choices: Vec<OutChoice<'r>>,
    usage: OutUsage,
}

#[derive(Serialize)]
struct OutChoice<'r> {
    index: usize,
    message: OutMessage<'r>,
    finish_reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<&'r RawValue>,
}

#[derive(Serialize)]
struct OutMessage<'r> {
    role: &'static str,
    content: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    thinking_blocks: Vec<WireThinking<'r>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'r>>,
}

/// OpenAI `usage` with details.
#[derive(Serialize)]
pub(crate) struct OutUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<OutCached>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens_details: Option<OutReasoning>,
}

#[derive(Serialize)]
struct OutCached {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct OutReasoning {
    reasoning_tokens: u64,
}

impl From<Usage> for OutUsage {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.input,
            completion_tokens: u.output,
            total_tokens: u.input + u.output,
            prompt_tokens_details: (u.cached_input > 0).then_some(OutCached {
                cached_tokens: u.cached_input,
            }),
            completion_tokens_details: (u.reasoning > 0).then_some(OutReasoning {
                reasoning_tokens: u.reasoning,
            }),
        }
    }
}

/// Thinking blocks in LiteLLM's `thinking_blocks` form.
pub(crate) fn thinking_out<'r>(blocks: &'r [Thinking<'r>]) -> Vec<WireThinking<'r>> {
    blocks
        .iter()
        .filter(|b| b.signature.is_some() || b.redacted)
        .map(|b| {
            if b.redacted {
                WireThinking {
                    kind: Cow::Borrowed("redacted_thinking"),
                    thinking: None,
                    signature: None,
                    data: b.signature.as_deref().map(Cow::Borrowed),
                }
            } else {
                WireThinking {
                    kind: Cow::Borrowed("thinking"),
                    thinking: Some(Cow::Borrowed(&b.text)),
                    signature: b.signature.as_deref().map(Cow::Borrowed),
                    data: None,
                }
            }
        })
        .collect()
}

/// Encodes a canonical answer as an OpenAI `chat.completion`.
pub(crate) fn encode(r: &ChatResponse<'_>, fallback_model: &str) -> Bytes {
    let id = if r.id.is_empty() {
        "chatcmpl-gateway"
    } else {
        &r.id
    };
    let model = if r.model.is_empty() {
        fallback_model
    } else {
        &r.model
    };
    let out = OutResponse {
        id,
        object: "chat.completion",
        created: crate::shared::now(),
        model,
        choices: r
            .choices
            .iter()
            .enumerate()
            .map(|(index, c)| OutChoice {
                index,
                message: OutMessage {
                    role: "assistant",
                    content: (!c.text.is_empty() || c.tool_calls.is_empty())
                        .then_some(c.text.as_str()),
                    reasoning_content: (!c.thinking.is_empty())
                        .then(|| c.thinking.iter().map(|t| t.text.as_ref()).collect()),
                    thinking_blocks: thinking_out(&c.thinking),
                    tool_calls: c
                        .tool_calls
                        .iter()
                        .map(|t| WireToolCall {
                            id: Cow::Borrowed(&t.id),
                            kind: Cow::Borrowed("function"),
                            function: WireFunctionCall {
                                name: Cow::Borrowed(&t.name),
                                arguments: Cow::Borrowed(&t.arguments),
                            },
                        })
                        .collect(),
                },
                finish_reason: c.finish.openai(),
                logprobs: c.logprobs.as_deref(),
            })
            .collect(),
        usage: r.usage.unwrap_or_default().into(),
    };
    Bytes::from(serde_json::to_vec(&out).unwrap_or_default())
}
