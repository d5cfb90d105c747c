//! The OpenAI chat request's wire types, as a client sends them (read by
//! [`request`](super::request), which turns them into the canonical model).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::model::{Effort, Reasoning};
use crate::shared::TextOr;

#[derive(Deserialize)]
pub(crate) struct WireMessage<'a> {
    #[serde(borrow)]
    pub(crate) role: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) content: Option<WireContent<'a>>,
    #[serde(default, borrow)]
    pub(crate) tool_calls: Option<Vec<WireToolCall<'a>>>,
    #[serde(default, borrow)]
    pub(crate) tool_call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) thinking_blocks: Option<Vec<WireThinking<'a>>>,
}

/// A string, or content parts.
type WireContent<'a> = TextOr<'a, WirePart<'a>>;

#[derive(Deserialize)]
pub(crate) struct WirePart<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) image_url: Option<WireUrl<'a>>,
    #[serde(default, borrow)]
    pub(crate) input_audio: Option<WireAudio<'a>>,
    #[serde(default, borrow)]
    pub(crate) file: Option<WireFile<'a>>,
    #[serde(default, borrow)]
    pub(crate) cache_control: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum WireUrl<'a> {
    Object {
        #[serde(borrow)]
        url: Cow<'a, str>,
    },
    Text(#[serde(borrow)] Cow<'a, str>),
}

#[derive(Deserialize)]
pub(crate) struct WireAudio<'a> {
    #[serde(borrow)]
    pub(crate) data: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) format: Cow<'a, str>,
}

#[derive(Deserialize)]
pub(crate) struct WireFile<'a> {
    #[serde(default, borrow)]
    pub(crate) file_data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) file_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) filename: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct WireToolCall<'a> {
    #[serde(default, borrow)]
    pub(crate) id: Cow<'a, str>,
    #[serde(rename = "type", default = "function")]
    pub(crate) kind: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) function: WireFunctionCall<'a>,
}

pub(crate) fn function() -> Cow<'static, str> {
    Cow::Borrowed("function")
}

#[derive(Deserialize, Serialize)]
pub(crate) struct WireFunctionCall<'a> {
    #[serde(default, borrow)]
    pub(crate) name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) arguments: Cow<'a, str>,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct WireThinking<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) signature: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct WireTool<'a> {
    #[serde(borrow)]
    pub(crate) function: WireFunction<'a>,
    #[serde(default, borrow)]
    pub(crate) cache_control: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct WireFunction<'a> {
    #[serde(borrow)]
    pub(crate) name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) parameters: Option<&'a RawValue>,
    #[serde(default)]
    pub(crate) strict: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum WireToolChoice<'a> {
    Mode(#[serde(borrow)] Cow<'a, str>),
    Named {
        #[serde(borrow)]
        function: WireName<'a>,
    },
}

#[derive(Deserialize)]
pub(crate) struct WireName<'a> {
    #[serde(borrow)]
    pub(crate) name: Cow<'a, str>,
}

/// `response_format` (a struct, not an internally tagged enum: serde's buffering
/// of those cannot hold the raw schema).
#[derive(Deserialize)]
pub(crate) struct WireFormat<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) json_schema: Option<WireSchema<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct WireSchema<'a> {
    #[serde(default, borrow)]
    pub(crate) name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) schema: Option<&'a RawValue>,
    #[serde(default)]
    pub(crate) strict: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum WireStop<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
}

#[derive(Deserialize)]
pub(crate) struct WireStreamOptions {
    #[serde(default)]
    pub(crate) include_usage: Option<bool>,
}

/// LiteLLM's Anthropic-style `thinking` in an OpenAI request.
#[derive(Deserialize)]
pub(crate) struct WireThinkingParam<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(default)]
    pub(crate) budget_tokens: Option<u64>,
}

impl WireThinkingParam<'_> {
    pub(crate) fn reasoning(&self) -> Reasoning {
        match (self.kind.as_ref(), self.budget_tokens) {
            ("enabled", Some(b)) => Reasoning::Budget(b),
            ("enabled" | "adaptive", None) => Reasoning::Effort(Effort::Medium),
            _ => Reasoning::Off,
        }
    }
}
