//! Anthropic Messages answers and stream events → the canonical model.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{ChatResponse, Choice, Delta, FinishReason, Thinking, ToolCall, Usage};
use crate::stream::{Decoder, Sink};
use crate::ProviderError;

// === Messages response → canonical ===

#[derive(Deserialize)]
struct InResponse<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    content: Vec<InBlock<'a>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
struct InBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub(crate) struct InUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl InUsage {
    /// The counts as read another way (`usage`'s one-pass reader): input, output,
    /// cache creation and cache read tokens, in that order.
    pub(crate) fn from_counts([input, output, created, read]: [Option<u64>; 4]) -> Self {
        Self {
            input_tokens: input,
            output_tokens: output,
            cache_creation_input_tokens: created,
            cache_read_input_tokens: read,
        }
    }

    pub(crate) fn usage(self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let created = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input: self
                .input_tokens
                .unwrap_or(0)
                .saturating_add(read)
                .saturating_add(created),
            output: self.output_tokens.unwrap_or(0),
            cached_input: read,
            cache_creation: created,
            reasoning: 0,
        }
    }
}

fn finish_in(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Parses a Messages response.
pub(crate) fn decode(body: &[u8]) -> Result<ChatResponse<'_>, ProviderError> {
    let r: InResponse<'_> = serde_json::from_slice(body)
        .map_err(|e| ProviderError::bad_gateway(format!("upstream sent an invalid answer: {e}")))?;
    let mut choice = Choice {
        finish: finish_in(r.stop_reason.as_deref()),
        ..Choice::default()
    };
    for b in r.content {
        match b.kind.as_ref() {
            "text" => choice.text.push_str(b.text.as_deref().unwrap_or_default()),
            "thinking" => choice.thinking.push(Thinking {
                text: b.thinking.unwrap_or_default(),
                signature: b.signature,
                redacted: false,
            }),
            "redacted_thinking" => choice.thinking.push(Thinking {
                text: Cow::Borrowed(""),
                signature: b.data,
                redacted: true,
            }),
            "tool_use" => choice.tool_calls.push(ToolCall {
                id: b.id.unwrap_or_default(),
                name: b.name.unwrap_or_default(),
                arguments: Cow::Borrowed(b.input.map_or("{}", |i| i.get())),
            }),
            _ => {}
        }
    }
    Ok(ChatResponse {
        id: r.id,
        model: r.model,
        choices: vec![choice],
        usage: r.usage.map(InUsage::usage),
    })
}

// === Messages stream → canonical deltas ===

#[derive(Deserialize)]
struct InEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<InStart<'a>>,
    #[serde(default)]
    index: u64,
    #[serde(default, borrow)]
    content_block: Option<InBlock<'a>>,
    #[serde(default, borrow)]
    delta: Option<InDelta<'a>>,
    #[serde(default)]
    usage: Option<InUsage>,
    #[serde(default, borrow)]
    error: Option<InError<'a>>,
}

#[derive(Deserialize)]
struct InStart<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
struct InDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InError<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Cow<'a, str>,
}

/// Decodes Anthropic stream events.
#[derive(Debug, Default)]
pub(crate) struct AnthropicDecoder {
    usage: Usage,
    /// Content block index → tool call index, for the blocks that are tool calls.
    tools: Vec<(u64, u32)>,
    done: bool,
}

impl Decoder for AnthropicDecoder {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError> {
        let e: InEvent<'_> = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream event"))?;
        match e.kind.as_ref() {
            "message_start" => {
                let m = e.message.unwrap_or(InStart {
                    id: Cow::Borrowed(""),
                    model: Cow::Borrowed(""),
                    usage: None,
                });
                if let Some(u) = m.usage {
                    self.usage = u.usage();
                }
                out.delta(Delta::Start {
                    id: &m.id,
                    model: &m.model,
                    input_tokens: Some(self.usage.input),
                });
            }
            "content_block_start" => {
                if let Some(b) = e.content_block.filter(|b| b.kind == "tool_use") {
                    let index = self.tools.len() as u32;
                    self.tools.push((e.index, index));
                    out.delta(Delta::ToolCall {
                        choice: 0,
                        index,
                        start: Some((
                            b.id.unwrap_or_default(),
                            b.name.as_deref().unwrap_or_default(),
                        )),
                        arguments: Cow::Borrowed(""),
                    });
                }
            }
            "content_block_delta" => self.block_delta(e.index, e.delta, out),
            "message_delta" => {
                if let Some(u) = e.usage {
                    // Output counts are cumulative; input counts come here too lately.
                    let u2 = u.usage();
                    self.usage.output = u2.output;
                    if u.input_tokens.is_some() {
                        self.usage.input = u2.input;
                        self.usage.cached_input = u2.cached_input;
                        self.usage.cache_creation = u2.cache_creation;
                    }
                }
                let stop = e.delta.and_then(|d| d.stop_reason);
                out.delta(Delta::Finish {
                    choice: 0,
                    reason: finish_in(stop.as_deref()),
                });
                out.delta(Delta::Usage(self.usage));
            }
            "message_stop" => self.done = true,
            "error" => {
                let status = match e.error.as_ref().map(|e| e.kind.as_ref()) {
                    Some("overloaded_error") => http::StatusCode::SERVICE_UNAVAILABLE,
                    Some("rate_limit_error") => http::StatusCode::TOO_MANY_REQUESTS,
                    _ => http::StatusCode::BAD_GATEWAY,
                };
                return Err(ProviderError::from_upstream(
                    status,
                    data.as_bytes(),
                    None,
                    None,
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

impl AnthropicDecoder {
    fn block_delta(&self, block: u64, delta: Option<InDelta<'_>>, out: &mut dyn Sink) {
        let Some(d) = delta else { return };
        match d.kind.as_deref() {
            Some("text_delta") => out.delta(Delta::Text {
                choice: 0,
                text: d.text.as_deref().unwrap_or_default(),
            }),
            Some("thinking_delta") => out.delta(Delta::Thinking {
                choice: 0,
                text: d.thinking.as_deref().unwrap_or_default(),
                signature: None,
            }),
            Some("signature_delta") => out.delta(Delta::Thinking {
                choice: 0,
                text: "",
                signature: d.signature.as_deref(),
            }),
            Some("input_json_delta") => {
                let index = self
                    .tools
                    .iter()
                    .find(|(b, _)| *b == block)
                    .map_or(0, |(_, i)| *i);
                out.delta(Delta::ToolCall {
                    choice: 0,
                    index,
                    start: None,
                    arguments: d.partial_json.unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
}
