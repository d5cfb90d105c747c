//! A Converse answer, and ConverseStream's events, → the canonical answer and deltas.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{ChatResponse, Choice, Delta, FinishReason, Thinking, ToolCall, Usage};
use crate::stream::{Decoder, Sink};
use crate::ProviderError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InResponse<'a> {
    #[serde(borrow)]
    output: InOutput<'a>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
struct InOutput<'a> {
    #[serde(default, borrow)]
    message: Option<InMessage<'a>>,
}

#[derive(Deserialize)]
struct InMessage<'a> {
    #[serde(default, borrow)]
    content: Vec<InBlock<'a>>,
}

/// A content block: a union, one member set.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InBlock<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_use: Option<InToolUse<'a>>,
    #[serde(default, borrow)]
    reasoning_content: Option<InReasoning<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InToolUse<'a> {
    #[serde(default, borrow)]
    tool_use_id: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InReasoning<'a> {
    #[serde(default, borrow)]
    reasoning_text: Option<InReasoningText<'a>>,
    #[serde(default, borrow)]
    redacted_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InReasoningText<'a> {
    #[serde(default, borrow)]
    text: Cow<'a, str>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct InUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    cache_write_input_tokens: u64,
}

impl InUsage {
    fn usage(self) -> Usage {
        // `inputTokens` leaves the cached ones out (as Anthropic's does).
        Usage {
            input: self.input_tokens + self.cache_read_input_tokens + self.cache_write_input_tokens,
            output: self.output_tokens,
            cached_input: self.cache_read_input_tokens,
            cache_creation: self.cache_write_input_tokens,
            reasoning: 0,
        }
    }
}

fn finish_in(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("guardrail_intervened" | "content_filtered") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Parses a Converse response for `model` (Converse answers carry no id or model).
pub(crate) fn decode<'b>(body: &'b [u8], model: &str) -> Result<ChatResponse<'b>, ProviderError> {
    let r: InResponse<'_> = serde_json::from_slice(body)
        .map_err(|e| ProviderError::bad_gateway(format!("upstream sent an invalid answer: {e}")))?;
    let mut choice = Choice {
        finish: finish_in(r.stop_reason.as_deref()),
        ..Choice::default()
    };
    for b in r.output.message.map(|m| m.content).unwrap_or_default() {
        if let Some(text) = b.text {
            choice.text.push_str(&text);
        }
        if let Some(t) = b.tool_use {
            choice.tool_calls.push(ToolCall {
                id: t.tool_use_id,
                name: t.name,
                arguments: Cow::Borrowed(t.input.map_or("{}", |i| i.get())),
            });
        }
        if let Some(r) = b.reasoning_content {
            if let Some(t) = r.reasoning_text {
                choice.thinking.push(Thinking {
                    text: t.text,
                    signature: t.signature,
                    redacted: false,
                });
            }
            if let Some(data) = r.redacted_content {
                choice.thinking.push(Thinking {
                    text: Cow::Borrowed(""),
                    signature: Some(data),
                    redacted: true,
                });
            }
        }
    }
    Ok(ChatResponse {
        id: Cow::Owned(format!("chatcmpl-{}", crate::shared::call_id())),
        model: Cow::Owned(model.to_string()),
        choices: vec![choice],
        usage: r.usage.map(InUsage::usage),
    })
}

// === ConverseStream events → canonical deltas ===

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InEvent<'a> {
    #[serde(default)]
    content_block_index: u32,
    #[serde(default, borrow)]
    start: Option<InStart<'a>>,
    #[serde(default, borrow)]
    delta: Option<InDelta<'a>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InStart<'a> {
    #[serde(default, borrow)]
    tool_use: Option<InToolStart<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InToolStart<'a> {
    #[serde(default, borrow)]
    tool_use_id: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InDelta<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_use: Option<InToolDelta<'a>>,
    #[serde(default, borrow)]
    reasoning_content: Option<InReasoningDelta<'a>>,
}

#[derive(Deserialize)]
struct InToolDelta<'a> {
    #[serde(default, borrow)]
    input: Cow<'a, str>,
}

#[derive(Deserialize)]
struct InReasoningDelta<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
}

/// ConverseStream's events (`messageStart`, `contentBlockStart`/`Delta`/`Stop`,
/// `messageStop`, `metadata`) as deltas.
#[derive(Debug)]
pub(crate) struct BedrockDecoder {
    id: String,
    model: String,
    /// Content block index → tool-call index, for the tool calls started so far.
    tools: Vec<(u32, u32)>,
    done: bool,
}

impl BedrockDecoder {
    pub(crate) fn new(model: &str) -> Self {
        Self {
            id: format!("chatcmpl-{}", crate::shared::call_id()),
            model: model.to_string(),
            tools: Vec::new(),
            done: false,
        }
    }

    fn tool_index(&self, block: u32) -> Option<u32> {
        self.tools
            .iter()
            .find(|(b, _)| *b == block)
            .map(|(_, i)| *i)
    }
}

impl Decoder for BedrockDecoder {
    fn event(
        &mut self,
        name: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError> {
        let e: InEvent<'_> = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream event"))?;
        match name.unwrap_or_default() {
            "messageStart" => out.delta(Delta::Start {
                id: &self.id,
                model: &self.model,
                input_tokens: None,
            }),
            "contentBlockStart" => {
                if let Some(t) = e.start.and_then(|s| s.tool_use) {
                    let index = self.tools.len() as u32;
                    self.tools.push((e.content_block_index, index));
                    out.delta(Delta::ToolCall {
                        choice: 0,
                        index,
                        start: Some((t.tool_use_id, &t.name)),
                        arguments: Cow::Borrowed(""),
                    });
                }
            }
            "contentBlockDelta" => {
                let Some(d) = e.delta else { return Ok(()) };
                if let Some(text) = d.text.as_deref().filter(|t| !t.is_empty()) {
                    out.delta(Delta::Text { choice: 0, text });
                }
                if let Some(t) = d.tool_use {
                    let index = self.tool_index(e.content_block_index).ok_or_else(|| {
                        ProviderError::bad_gateway("upstream sent tool input for no tool call")
                    })?;
                    out.delta(Delta::ToolCall {
                        choice: 0,
                        index,
                        start: None,
                        arguments: t.input,
                    });
                }
                if let Some(r) = d.reasoning_content {
                    out.delta(Delta::Thinking {
                        choice: 0,
                        text: r.text.as_deref().unwrap_or_default(),
                        signature: r.signature.as_deref(),
                    });
                }
            }
            "messageStop" => {
                self.done = true;
                out.delta(Delta::Finish {
                    choice: 0,
                    reason: finish_in(e.stop_reason.as_deref()),
                });
            }
            "metadata" => {
                if let Some(u) = e.usage {
                    out.delta(Delta::Usage(u.usage()));
                }
            }
            // `contentBlockStop`, and events added later.
            _ => {}
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}
