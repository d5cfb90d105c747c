//! OpenAI `chat.completion.chunk` streams ⇄ canonical deltas.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::response::{finish_in, InUsage, OutUsage};
use crate::model::{Delta, FinishReason, Usage};
use crate::stream::{Decoder, Sink};
use crate::ProviderError;

// === decode: an OpenAI-compatible upstream's chunks ===

#[derive(Deserialize)]
struct InChunk<'a> {
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
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    delta: Option<InDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<InCall<'a>>>,
}

#[derive(Deserialize)]
struct InCall<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    function: Option<InFunction<'a>>,
}

#[derive(Deserialize)]
struct InFunction<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// Decodes an OpenAI-format SSE stream; `[DONE]` ends it.
#[derive(Debug, Default)]
pub(crate) struct OpenAiDecoder {
    started: bool,
    done: bool,
}

impl Decoder for OpenAiDecoder {
    fn event(
        &mut self,
        _event: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.starts_with("{\"error\"") {
            return Err(ProviderError::from_upstream(
                http::StatusCode::BAD_GATEWAY,
                data.as_bytes(),
                None,
                None,
            ));
        }
        let chunk: InChunk<'_> = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream chunk"))?;
        if !self.started {
            self.started = true;
            out.delta(Delta::Start {
                id: &chunk.id,
                model: &chunk.model,
                input_tokens: None,
            });
        }
        for c in &chunk.choices {
            let choice = c.index;
            if let Some(d) = &c.delta {
                if let Some(t) = d.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
                    out.delta(Delta::Thinking {
                        choice,
                        text: t,
                        signature: None,
                    });
                }
                if let Some(t) = d.content.as_deref().filter(|t| !t.is_empty()) {
                    out.delta(Delta::Text { choice, text: t });
                }
                for call in d.tool_calls.iter().flatten() {
                    let f = call.function.as_ref();
                    let name = f.and_then(|f| f.name.as_deref());
                    out.delta(Delta::ToolCall {
                        choice,
                        index: call.index,
                        start: match (&call.id, name) {
                            (Some(id), name) => Some((Cow::Borrowed(id), name.unwrap_or(""))),
                            (None, Some(name)) => Some((Cow::Borrowed(""), name)),
                            (None, None) => None,
                        },
                        arguments: Cow::Borrowed(
                            f.and_then(|f| f.arguments.as_deref()).unwrap_or(""),
                        ),
                    });
                }
            }
            if let Some(reason) = &c.finish_reason {
                out.delta(Delta::Finish {
                    choice,
                    reason: finish_in(Some(reason)),
                });
            }
        }
        if let Some(u) = &chunk.usage {
            out.delta(Delta::Usage(u.usage()));
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

// === encode: chunks for an OpenAI-format client ===

#[derive(Serialize)]
struct OutChunk<'r> {
    id: &'r str,
    object: &'static str,
    created: u64,
    model: &'r str,
    choices: [OutChoice<'r>; 1],
}

#[derive(Serialize)]
struct OutUsageChunk<'r> {
    id: &'r str,
    object: &'static str,
    created: u64,
    model: &'r str,
    choices: [(); 0],
    usage: OutUsage,
}

#[derive(Serialize)]
struct OutChoice<'r> {
    index: u32,
    delta: OutDelta<'r>,
    finish_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<&'r serde_json::value::RawValue>,
}

#[derive(Serialize, Default)]
struct OutDelta<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_blocks: Option<[OutThinking<'r>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[OutCall<'r>; 1]>,
}

#[derive(Serialize)]
struct OutThinking<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    thinking: &'r str,
    signature: &'r str,
}

#[derive(Serialize)]
struct OutCall<'r> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'r str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: OutFunction<'r>,
}

#[derive(Serialize)]
struct OutFunction<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'r str>,
    arguments: &'r str,
}

/// Writes canonical deltas as OpenAI chunks (`data: {…}` events).
#[derive(Debug)]
pub(crate) struct OpenAiEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    usage: Option<Usage>,
    finished: bool,
    /// The finish reasons written, in the order they went out (for the event).
    reasons: limits_layer::callbacks::FinishReasons,
}

impl OpenAiEncoder {
    /// An encoder; `include_usage` adds the final usage chunk; `model` is used when
    /// the upstream names none.
    pub(crate) fn new(include_usage: bool, model: &str) -> Self {
        Self {
            id: String::from("chatcmpl-gateway"),
            model: model.to_string(),
            created: crate::shared::now(),
            include_usage,
            usage: None,
            finished: false,
            reasons: limits_layer::callbacks::FinishReasons::default(),
        }
    }

    fn write<T: Serialize>(out: &mut BytesMut, value: &T) {
        out.put_slice(b"data: ");
        let mut w = out.writer();
        // Serializing plain structs into memory cannot fail.
        let _ = serde_json::to_writer(&mut w, value);
        w.into_inner().put_slice(b"\n\n");
    }

    fn chunk(
        &self,
        out: &mut BytesMut,
        choice: u32,
        delta: OutDelta<'_>,
        finish: Option<FinishReason>,
    ) {
        self.chunk_with(out, choice, delta, finish, None);
    }

    fn chunk_with(
        &self,
        out: &mut BytesMut,
        choice: u32,
        delta: OutDelta<'_>,
        finish: Option<FinishReason>,
        logprobs: Option<&serde_json::value::RawValue>,
    ) {
        Self::write(
            out,
            &OutChunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: [OutChoice {
                    index: choice,
                    delta,
                    finish_reason: finish.map(FinishReason::openai),
                    logprobs,
                }],
            },
        );
    }

    /// Handles one delta.
    pub(crate) fn delta(&mut self, d: Delta<'_>, out: &mut BytesMut) {
        match d {
            Delta::Start { id, model, .. } => {
                if !id.is_empty() {
                    self.id = id.to_string();
                }
                if !model.is_empty() {
                    self.model = model.to_string();
                }
                let delta = OutDelta {
                    role: Some("assistant"),
                    content: Some(""),
                    ..OutDelta::default()
                };
                self.chunk(out, 0, delta, None);
            }
            Delta::Text { choice, text } => {
                let delta = OutDelta {
                    content: Some(text),
                    ..OutDelta::default()
                };
                self.chunk(out, choice, delta, None);
            }
            Delta::Thinking {
                choice,
                text,
                signature,
            } => {
                let delta = OutDelta {
                    reasoning_content: Some(text),
                    thinking_blocks: signature.map(|signature| {
                        [OutThinking {
                            kind: "thinking",
                            thinking: text,
                            signature,
                        }]
                    }),
                    ..OutDelta::default()
                };
                self.chunk(out, choice, delta, None);
            }
            Delta::ToolCall {
                choice,
                index,
                start,
                arguments,
            } => {
                let (id, name) = match &start {
                    Some((id, name)) => (Some(id.as_ref()).filter(|i| !i.is_empty()), Some(*name)),
                    None => (None, None),
                };
                let delta = OutDelta {
                    tool_calls: Some([OutCall {
                        index,
                        id,
                        kind: start.as_ref().map(|_| "function"),
                        function: OutFunction {
                            name,
                            arguments: &arguments,
                        },
                    }]),
                    ..OutDelta::default()
                };
                self.chunk(out, choice, delta, None);
            }
            Delta::Finish { choice, reason } => {
                let sent = limits_layer::callbacks::FinishReason::from_static(reason.openai());
                self.reasons.push(sent);
                self.chunk(out, choice, OutDelta::default(), Some(reason));
            }
            Delta::Logprobs { choice, logprobs } => {
                self.chunk_with(out, choice, OutDelta::default(), None, Some(&logprobs));
            }
            Delta::Usage(u) => self.usage = Some(u),
        }
    }

    /// The usage the stream reported so far.
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The finish reasons the client was sent so far.
    pub(crate) fn finish_reasons(&self) -> &limits_layer::callbacks::FinishReasons {
        &self.reasons
    }

    /// Ends a complete stream: the usage chunk if asked for, then `[DONE]`.
    pub(crate) fn finish(&mut self, out: &mut BytesMut) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.include_usage {
            Self::write(
                out,
                &OutUsageChunk {
                    id: &self.id,
                    object: "chat.completion.chunk",
                    created: self.created,
                    model: &self.model,
                    choices: [],
                    usage: self.usage.unwrap_or_default().into(),
                },
            );
        }
        out.put_slice(b"data: [DONE]\n\n");
    }
}
