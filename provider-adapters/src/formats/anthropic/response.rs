//! The canonical answer → an Anthropic Messages response.

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::model::{ChatResponse, Choice, Thinking, ToolCall, Usage};

#[derive(Serialize)]
struct Out<'r> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'r str,
    content: Vec<Block<'r>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'r str>,
    usage: OutUsage,
}

/// A content block of an answer.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Block<'r> {
    Thinking {
        thinking: &'r str,
        signature: &'r str,
    },
    RedactedThinking {
        data: &'r str,
    },
    Text {
        text: &'r str,
    },
    ToolUse {
        id: &'r str,
        name: &'r str,
        input: std::borrow::Cow<'r, RawValue>,
    },
}

/// Anthropic `usage`: `input_tokens` leaves out cached tokens, counted apart.
#[derive(Serialize, Debug, Clone, Copy)]
pub(crate) struct OutUsage {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_tokens: Option<u64>,
}

impl From<Usage> for OutUsage {
    fn from(u: Usage) -> Self {
        let cached = u.cached_input + u.cache_creation;
        Self {
            input_tokens: u.input.saturating_sub(cached),
            output_tokens: u.output,
            cache_read_input_tokens: (u.cached_input > 0).then_some(u.cached_input),
            cache_creation_input_tokens: (u.cache_creation > 0).then_some(u.cache_creation),
        }
    }
}

/// `msg_`-prefixed, as Anthropic SDKs expect.
pub(crate) fn message_id(id: &str) -> String {
    match id {
        "" => "msg_gateway".to_string(),
        id if id.starts_with("msg_") => id.to_string(),
        id => format!("msg_{id}"),
    }
}

/// The blocks of a choice: thinking (signed blocks only can go back upstream, but
/// all are shown), text, tool calls.
pub(crate) fn blocks<'r>(
    thinking: &'r [Thinking<'r>],
    text: &'r str,
    calls: &'r [ToolCall<'r>],
) -> Vec<Block<'r>> {
    let mut out = Vec::with_capacity(thinking.len() + 1 + calls.len());
    for t in thinking {
        out.push(match (&t.signature, t.redacted) {
            (Some(data), true) => Block::RedactedThinking { data },
            (signature, _) => Block::Thinking {
                thinking: &t.text,
                signature: signature.as_deref().unwrap_or(""),
            },
        });
    }
    if !text.is_empty() {
        out.push(Block::Text { text });
    }
    for c in calls {
        out.push(Block::ToolUse {
            id: &c.id,
            name: &c.name,
            input: crate::shared::args_object(&c.arguments),
        });
    }
    out
}

/// Encodes the first choice of an answer as a Messages response.
pub(crate) fn encode(r: &ChatResponse<'_>, fallback_model: &str) -> Bytes {
    let empty = Choice::default();
    let c = r.choices.first().unwrap_or(&empty);
    let out = Out {
        id: message_id(&r.id),
        kind: "message",
        role: "assistant",
        model: if r.model.is_empty() {
            fallback_model
        } else {
            &r.model
        },
        content: blocks(&c.thinking, &c.text, &c.tool_calls),
        stop_reason: c.finish.anthropic(),
        stop_sequence: None,
        usage: r.usage.unwrap_or_default().into(),
    };
    Bytes::from(serde_json::to_vec(&out).unwrap_or_default())
}
