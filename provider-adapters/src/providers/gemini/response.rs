//! Gemini answers and `streamGenerateContent` events → the canonical model.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{ChatResponse, Choice, Delta, FinishReason, Thinking, ToolCall, Usage};
use crate::shared::{call_id, openai_logprobs, TokenLogprob, TopLogprob};
use crate::stream::{Decoder, Sink};
use crate::ProviderError;

use super::THOUGHT_SEPARATOR;

// === generateContent response → canonical ===

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InResponse<'a> {
    #[serde(default, borrow)]
    candidates: Vec<InCandidate<'a>>,
    #[serde(default)]
    usage_metadata: Option<InUsage>,
    #[serde(default, borrow)]
    response_id: Cow<'a, str>,
    #[serde(default, borrow)]
    model_version: Cow<'a, str>,
    #[serde(default, borrow)]
    prompt_feedback: Option<InFeedback<'a>>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InFeedback<'a> {
    #[serde(default, borrow)]
    block_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InCandidate<'a> {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default, borrow)]
    content: Option<InContent<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    logprobs_result: Option<InLogprobs<'a>>,
}

/// `logprobsResult`: the chosen token at each step, and the likeliest ones.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InLogprobs<'a> {
    #[serde(default, borrow)]
    top_candidates: Vec<InTop<'a>>,
    #[serde(default, borrow)]
    chosen_candidates: Vec<InToken<'a>>,
}

#[derive(Deserialize)]
struct InTop<'a> {
    #[serde(default, borrow)]
    candidates: Vec<InToken<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InToken<'a> {
    #[serde(default, borrow)]
    token: Cow<'a, str>,
    #[serde(default)]
    log_probability: f64,
}

impl InLogprobs<'_> {
    /// As OpenAI's `logprobs`.
    fn openai(&self) -> Option<Box<RawValue>> {
        let tokens: Vec<TokenLogprob<'_>> = self
            .chosen_candidates
            .iter()
            .enumerate()
            .map(|(i, t)| TokenLogprob {
                token: &t.token,
                logprob: t.log_probability,
                bytes: t.token.as_bytes(),
                top_logprobs: self
                    .top_candidates
                    .get(i)
                    .map(|top| {
                        top.candidates
                            .iter()
                            .map(|c| TopLogprob {
                                token: &c.token,
                                logprob: c.log_probability,
                                bytes: c.token.as_bytes(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        openai_logprobs(&tokens)
    }
}

#[derive(Deserialize)]
struct InContent<'a> {
    #[serde(default, borrow)]
    parts: Vec<InPart<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InPart<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default, borrow)]
    thought_signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    function_call: Option<InCall<'a>>,
}

#[derive(Deserialize)]
struct InCall<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    args: Option<&'a RawValue>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct InUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
}

impl InUsage {
    fn usage(self) -> Usage {
        Usage {
            input: self.prompt_token_count,
            output: self.candidates_token_count + self.thoughts_token_count,
            cached_input: self.cached_content_token_count,
            cache_creation: 0,
            reasoning: self.thoughts_token_count,
        }
    }
}

fn finish_in(reason: Option<&str>, has_calls: bool) -> FinishReason {
    match reason {
        Some("MAX_TOKENS") => FinishReason::Length,
        Some(
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY",
        ) => FinishReason::ContentFilter,
        _ if has_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// A fresh id for a call (Gemini's own if it gave one), with its signature.
fn call_of<'a>(call: InCall<'a>, signature: Option<&str>) -> ToolCall<'a> {
    let id = call.id.map_or_else(call_id, Cow::into_owned);
    ToolCall {
        id: Cow::Owned(match signature {
            Some(sig) => format!("{id}{THOUGHT_SEPARATOR}{sig}"),
            None => id,
        }),
        name: call.name,
        arguments: Cow::Borrowed(call.args.map_or("{}", |a| a.get())),
    }
}

fn choice_of(c: InCandidate<'_>) -> Choice<'_> {
    let mut choice = Choice {
        logprobs: c.logprobs_result.as_ref().and_then(InLogprobs::openai),
        ..Choice::default()
    };
    for p in c.content.map(|c| c.parts).unwrap_or_default() {
        match (p.function_call, p.thought == Some(true), p.text) {
            (Some(call), ..) => choice
                .tool_calls
                .push(call_of(call, p.thought_signature.as_deref())),
            (None, true, text) => choice.thinking.push(Thinking {
                text: text.unwrap_or_default(),
                signature: p.thought_signature,
                redacted: false,
            }),
            (None, false, Some(text)) => choice.text.push_str(&text),
            (None, false, None) => {}
        }
    }
    choice.finish = finish_in(c.finish_reason.as_deref(), !choice.tool_calls.is_empty());
    choice
}

pub(super) fn decode<'a>(r: InResponse<'a>, model: &str) -> ChatResponse<'a> {
    let blocked = r.prompt_feedback.and_then(|f| f.block_reason).is_some();
    let mut choices: Vec<Choice<'a>> = r.candidates.into_iter().map(choice_of).collect();
    if choices.is_empty() {
        choices.push(Choice {
            finish: if blocked {
                FinishReason::ContentFilter
            } else {
                FinishReason::Stop
            },
            ..Choice::default()
        });
    }
    ChatResponse {
        id: if r.response_id.is_empty() {
            Cow::Borrowed("gemini")
        } else {
            r.response_id
        },
        model: if r.model_version.is_empty() {
            Cow::Owned(model.to_string())
        } else {
            r.model_version
        },
        choices,
        usage: Some(r.usage_metadata.map_or_else(Usage::default, InUsage::usage)),
    }
}

// === streamGenerateContent → canonical deltas ===

/// Decodes `streamGenerateContent?alt=sse` events: each one a whole response chunk.
#[derive(Debug)]
pub(crate) struct GeminiDecoder {
    model: String,
    started: bool,
    /// Tool calls so far, per choice.
    calls: Vec<u32>,
    done: bool,
}

impl GeminiDecoder {
    pub(crate) fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            started: false,
            calls: Vec::new(),
            done: false,
        }
    }
}

impl Decoder for GeminiDecoder {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError> {
        let r: InResponse<'_> = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream chunk"))?;
        if r.error.is_some() {
            return Err(ProviderError::from_upstream(
                http::StatusCode::BAD_GATEWAY,
                data.as_bytes(),
                None,
                None,
            ));
        }
        let usage = r.usage_metadata.map(InUsage::usage);
        if !self.started {
            self.started = true;
            let model = if r.model_version.is_empty() {
                self.model.as_str()
            } else {
                &r.model_version
            };
            let id = if r.response_id.is_empty() {
                "gemini"
            } else {
                &r.response_id
            };
            out.delta(Delta::Start {
                id,
                model,
                input_tokens: usage.map(|u| u.input),
            });
        }
        let blocked = r.prompt_feedback.and_then(|f| f.block_reason).is_some();
        let mut finished = false;
        for (i, c) in r.candidates.into_iter().enumerate() {
            let choice = c.index.unwrap_or(i as u32);
            let reason = c.finish_reason.clone();
            if let Some(logprobs) = c.logprobs_result.as_ref().and_then(InLogprobs::openai) {
                out.delta(Delta::Logprobs { choice, logprobs });
            }
            self.parts(choice, c, out);
            if let Some(reason) = reason {
                let calls = self.calls.get(choice as usize).copied().unwrap_or(0);
                out.delta(Delta::Finish {
                    choice,
                    reason: finish_in(Some(&reason), calls > 0),
                });
                finished = true;
            }
        }
        if blocked && !finished {
            out.delta(Delta::Finish {
                choice: 0,
                reason: FinishReason::ContentFilter,
            });
            finished = true;
        }
        if let Some(u) = usage {
            out.delta(Delta::Usage(u));
        }
        self.done |= finished;
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

impl GeminiDecoder {
    fn parts(&mut self, choice: u32, c: InCandidate<'_>, out: &mut dyn Sink) {
        for p in c.content.map(|c| c.parts).unwrap_or_default() {
            let signature = p.thought_signature.as_deref();
            match (p.function_call, p.thought == Some(true), p.text.as_deref()) {
                (Some(call), ..) => {
                    if self.calls.len() <= choice as usize {
                        self.calls.resize(choice as usize + 1, 0);
                    }
                    let index = self.calls[choice as usize];
                    self.calls[choice as usize] += 1;
                    let ToolCall {
                        id,
                        name,
                        arguments,
                    } = call_of(call, signature);
                    out.delta(Delta::ToolCall {
                        choice,
                        index,
                        start: Some((id, &name)),
                        arguments,
                    });
                }
                (None, true, text) => out.delta(Delta::Thinking {
                    choice,
                    text: text.unwrap_or_default(),
                    signature,
                }),
                (None, false, Some(text)) if !text.is_empty() => {
                    out.delta(Delta::Text { choice, text })
                }
                (None, false, _) => {}
            }
        }
    }
}
