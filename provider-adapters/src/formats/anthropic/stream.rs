//! Canonical deltas → Anthropic Messages stream events.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::json;

use super::response::{message_id, OutUsage};
use crate::model::{Delta, FinishReason, Usage};
use crate::ProviderError;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Open {
    Thinking,
    Text,
    Tool(u32),
}

/// Encodes canonical deltas (choice 0; Messages has one) as Anthropic events.
#[derive(Debug)]
pub(crate) struct AnthropicEncoder {
    started: bool,
    open: Option<(u64, Open)>,
    next_index: u64,
    stop_reason: Option<FinishReason>,
    /// The `stop_reason` the client was sent (at the end of a complete stream).
    sent: Option<&'static str>,
    usage: Usage,
    model: String,
}

impl AnthropicEncoder {
    /// An encoder; `model` is named when the upstream names none.
    pub(crate) fn new(model: &str) -> Self {
        Self {
            started: false,
            open: None,
            next_index: 0,
            stop_reason: None,
            sent: None,
            usage: Usage::default(),
            model: model.to_string(),
        }
    }

    fn event<T: Serialize>(out: &mut BytesMut, name: &str, data: &T) {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_slice(b"\ndata: ");
        let mut w = out.writer();
        // Serializing plain values into memory cannot fail.
        let _ = serde_json::to_writer(&mut w, data);
        w.into_inner().put_slice(b"\n\n");
    }

    fn start(&mut self, id: &str, model: &str, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let model = if model.is_empty() { &self.model } else { model };
        Self::event(
            out,
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": message_id(id), "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": self.usage.input, "output_tokens": 0},
            }}),
        );
    }

    fn close(&mut self, out: &mut BytesMut) {
        if let Some((index, _)) = self.open.take() {
            Self::event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn open(&mut self, kind: Open, block: serde_json::Value, out: &mut BytesMut) -> u64 {
        if let Some((index, open)) = self.open {
            if open == kind {
                return index;
            }
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        Self::event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        index
    }

    fn block_delta(out: &mut BytesMut, index: u64, delta: serde_json::Value) {
        Self::event(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }

    /// Handles one delta.
    pub(crate) fn delta(&mut self, d: Delta<'_>, out: &mut BytesMut) {
        if let Delta::Start {
            id,
            model,
            input_tokens,
        } = d
        {
            if let Some(n) = input_tokens {
                self.usage.input = n;
            }
            self.start(id, model, out);
            return;
        }
        if let Delta::Usage(u) = d {
            self.usage = u;
            return;
        }
        self.start("", "", out);
        match d {
            // Messages has no log probabilities (and its clients cannot ask for them).
            Delta::Start { .. } | Delta::Usage(_) | Delta::Logprobs { .. } => {}
            Delta::Text { choice: 0, text } if !text.is_empty() => {
                let index = self.open(Open::Text, json!({"type": "text", "text": ""}), out);
                Self::block_delta(out, index, json!({"type": "text_delta", "text": text}));
            }
            Delta::Thinking {
                choice: 0,
                text,
                signature,
            } => {
                let block = json!({"type": "thinking", "thinking": "", "signature": ""});
                let index = self.open(Open::Thinking, block, out);
                if !text.is_empty() {
                    Self::block_delta(
                        out,
                        index,
                        json!({"type": "thinking_delta", "thinking": text}),
                    );
                }
                if let Some(sig) = signature {
                    Self::block_delta(
                        out,
                        index,
                        json!({"type": "signature_delta", "signature": sig}),
                    );
                }
            }
            Delta::ToolCall {
                choice: 0,
                index,
                start,
                arguments,
            } => {
                let (id, name) = start
                    .as_ref()
                    .map_or(("", ""), |(id, name)| (id.as_ref(), *name));
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                let at = self.open(Open::Tool(index), block, out);
                if !arguments.is_empty() {
                    Self::block_delta(
                        out,
                        at,
                        json!({"type": "input_json_delta", "partial_json": arguments}),
                    );
                }
            }
            Delta::Finish { choice: 0, reason } => self.stop_reason = Some(reason),
            // Other choices (`n` > 1) have no place in a Messages stream.
            Delta::Text { .. }
            | Delta::Thinking { .. }
            | Delta::ToolCall { .. }
            | Delta::Finish { .. } => {}
        }
    }

    /// The usage the stream reported so far (`None` before any).
    pub(crate) fn usage(&self) -> Option<Usage> {
        (self.usage != Usage::default()).then_some(self.usage)
    }

    /// The `stop_reason` the client was sent, once the stream was ended.
    pub(crate) fn finish_reasons(&self) -> limits_layer::callbacks::FinishReasons {
        self.sent
            .map(|r| {
                limits_layer::callbacks::FinishReasons::one(
                    limits_layer::callbacks::FinishReason::from_static(r),
                )
            })
            .unwrap_or_default()
    }

    /// Ends a complete stream, with the real token counts.
    pub(crate) fn finish(&mut self, out: &mut BytesMut) {
        self.start("", "", out);
        self.close(out);
        let usage: OutUsage = self.usage.into();
        let stop_reason = self.stop_reason.unwrap_or_default().anthropic();
        self.sent = Some(stop_reason);
        Self::event(
            out,
            "message_delta",
            &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": usage}),
        );
        Self::event(out, "message_stop", &json!({"type": "message_stop"}));
    }

    /// Ends a broken stream with an `error` event.
    pub(crate) fn error(err: &ProviderError) -> Bytes {
        let mut out = BytesMut::new();
        Self::event(&mut out, "error", &err.to_anthropic_json());
        out.freeze()
    }
}
