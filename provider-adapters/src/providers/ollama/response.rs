//! Ollama `/api/chat` answers and NDJSON stream lines → the canonical response.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{Delta, FinishReason, ToolCall, Usage};
use crate::shared::{call_id, openai_logprobs, TokenLogprob, TopLogprob};
use crate::stream::{Decoder, Sink};
use crate::ProviderError;

#[derive(Deserialize)]
pub(super) struct InLine<'a> {
    #[serde(default, borrow)]
    pub(super) model: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) message: Option<InMessage<'a>>,
    #[serde(default)]
    pub(super) done: bool,
    #[serde(default, borrow)]
    pub(super) done_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) prompt_eval_count: u64,
    #[serde(default)]
    pub(super) eval_count: u64,
    #[serde(default, borrow)]
    pub(super) error: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) logprobs: Option<Vec<InLogprob<'a>>>,
}

/// One token's log probability (Ollama 0.12.11+), with its alternatives.
#[derive(Deserialize)]
pub(super) struct InLogprob<'a> {
    #[serde(default, borrow)]
    pub(super) token: Cow<'a, str>,
    #[serde(default)]
    pub(super) logprob: f64,
    #[serde(default, borrow)]
    pub(super) top_logprobs: Vec<InLogprob<'a>>,
}

/// Ollama's `logprobs` as OpenAI's.
pub(super) fn logprobs_of(list: &[InLogprob<'_>]) -> Option<Box<RawValue>> {
    let tokens: Vec<TokenLogprob<'_>> = list
        .iter()
        .map(|t| TokenLogprob {
            token: &t.token,
            logprob: t.logprob,
            bytes: t.token.as_bytes(),
            top_logprobs: t
                .top_logprobs
                .iter()
                .map(|a| TopLogprob {
                    token: &a.token,
                    logprob: a.logprob,
                    bytes: a.token.as_bytes(),
                })
                .collect(),
        })
        .collect();
    openai_logprobs(&tokens)
}

impl InLine<'_> {
    pub(super) fn usage(&self) -> Usage {
        Usage {
            input: self.prompt_eval_count,
            output: self.eval_count,
            ..Usage::default()
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct InMessage<'a> {
    #[serde(default, borrow)]
    pub(super) content: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) tool_calls: Vec<InCall<'a>>,
}

#[derive(Deserialize)]
pub(super) struct InCall<'a> {
    #[serde(borrow)]
    pub(super) function: InFunction<'a>,
}

#[derive(Deserialize)]
pub(super) struct InFunction<'a> {
    #[serde(default, borrow)]
    pub(super) name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) arguments: Option<&'a RawValue>,
}

/// Ollama gives calls no ids: each gets a fresh one. Arguments come as an object (or,
/// from some models, a JSON string holding one).
pub(super) fn call_of(c: InCall<'_>) -> ToolCall<'_> {
    let arguments = match c.function.arguments {
        None => Cow::Borrowed("{}"),
        Some(raw) => match serde_json::from_str::<String>(raw.get()) {
            Ok(text) => Cow::Owned(text),
            Err(_) => Cow::Borrowed(raw.get()),
        },
    };
    ToolCall {
        id: Cow::Owned(call_id()),
        name: c.function.name,
        arguments,
    }
}

pub(super) fn finish_in(done_reason: Option<&str>, has_calls: bool) -> FinishReason {
    match done_reason {
        Some("length") => FinishReason::Length,
        _ if has_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Decodes Ollama's NDJSON stream.
#[derive(Debug, Default)]
pub(super) struct OllamaDecoder {
    started: bool,
    calls: u32,
    done: bool,
}

impl Decoder for OllamaDecoder {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError> {
        let line: InLine<'_> = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream line"))?;
        if line.error.is_some() {
            return Err(ProviderError::from_upstream(
                http::StatusCode::BAD_GATEWAY,
                data.as_bytes(),
                None,
                None,
            ));
        }
        if !self.started {
            self.started = true;
            let id = format!("ollama-{}", crate::shared::now());
            out.delta(Delta::Start {
                id: &id,
                model: &line.model,
                input_tokens: None,
            });
        }
        let usage = line.usage();
        if let Some(logprobs) = line
            .logprobs
            .as_deref()
            .filter(|l| !l.is_empty())
            .and_then(logprobs_of)
        {
            out.delta(Delta::Logprobs {
                choice: 0,
                logprobs,
            });
        }
        if let Some(m) = line.message {
            if let Some(t) = m.thinking.as_deref().filter(|t| !t.is_empty()) {
                out.delta(Delta::Thinking {
                    choice: 0,
                    text: t,
                    signature: None,
                });
            }
            if !m.content.is_empty() {
                out.delta(Delta::Text {
                    choice: 0,
                    text: &m.content,
                });
            }
            for c in m.tool_calls {
                let ToolCall {
                    id,
                    name,
                    arguments,
                } = call_of(c);
                out.delta(Delta::ToolCall {
                    choice: 0,
                    index: self.calls,
                    start: Some((id, &name)),
                    arguments,
                });
                self.calls += 1;
            }
        }
        if line.done {
            out.delta(Delta::Finish {
                choice: 0,
                reason: finish_in(line.done_reason.as_deref(), self.calls > 0),
            });
            out.delta(Delta::Usage(usage));
            self.done = true;
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}
