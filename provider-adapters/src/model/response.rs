//! The canonical answer, whole or as stream deltas.

use std::borrow::Cow;

use super::{RawValue, ToolCall};

/// A whole answer.
#[derive(Debug, Default)]
pub struct ChatResponse<'a> {
    /// The answer's id.
    pub id: Cow<'a, str>,
    /// The model that answered.
    pub model: Cow<'a, str>,
    /// The choices (one unless `n` asked for more).
    pub choices: Vec<Choice<'a>>,
    /// Token counts, if the provider gave them.
    pub usage: Option<Usage>,
}

/// One choice of an answer.
#[derive(Debug, Default)]
pub struct Choice<'a> {
    /// The text.
    pub text: String,
    /// The reasoning, in blocks (with their signatures).
    pub thinking: Vec<Thinking<'a>>,
    /// Tool calls.
    pub tool_calls: Vec<ToolCall<'a>>,
    /// Why it ended.
    pub finish: FinishReason,
    /// OpenAI-shaped `logprobs`, when the provider gave them.
    pub logprobs: Option<Box<RawValue>>,
}

/// A block of reasoning.
#[derive(Debug, Clone)]
pub struct Thinking<'a> {
    /// The reasoning text (empty for a redacted block).
    pub text: Cow<'a, str>,
    /// The provider's signature over it (Anthropic `signature`, Gemini
    /// `thoughtSignature`), needed to send the block back in a later turn.
    pub signature: Option<Cow<'a, str>>,
    /// Anthropic `redacted_thinking`: `text` is empty and `signature` holds the data.
    pub redacted: bool,
}

/// Why an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    #[default]
    Stop,
    /// The token limit.
    Length,
    /// The model called tools.
    ToolCalls,
    /// A safety filter or a refusal.
    ContentFilter,
}

impl FinishReason {
    /// The OpenAI `finish_reason`.
    pub fn openai(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }

    /// The Anthropic `stop_reason`.
    pub fn anthropic(self) -> &'static str {
        match self {
            FinishReason::Stop => "end_turn",
            FinishReason::Length => "max_tokens",
            FinishReason::ToolCalls => "tool_use",
            FinishReason::ContentFilter => "refusal",
        }
    }
}

/// Token counts. `input` counts every prompt token, cached ones included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input: u64,
    /// Generated tokens, reasoning included.
    pub output: u64,
    /// Prompt tokens read from a cache.
    pub cached_input: u64,
    /// Prompt tokens written to a cache (Anthropic).
    pub cache_creation: u64,
    /// Generated tokens spent reasoning.
    pub reasoning: u64,
}

/// One step of a streamed answer, as decoders of provider streams emit them and
/// encoders of client streams consume them.
#[derive(Debug)]
pub enum Delta<'a> {
    /// The answer begins.
    Start {
        /// Its id.
        id: &'a str,
        /// The model.
        model: &'a str,
        /// Prompt tokens, if already known.
        input_tokens: Option<u64>,
    },
    /// Text of a choice.
    Text {
        /// The choice.
        choice: u32,
        /// The text.
        text: &'a str,
    },
    /// Reasoning text of a choice, or its signature.
    Thinking {
        /// The choice.
        choice: u32,
        /// The text (may be empty when only a signature comes).
        text: &'a str,
        /// The block's signature, when it comes.
        signature: Option<&'a str>,
    },
    /// A tool call starts, or more of its arguments come.
    ToolCall {
        /// The choice.
        choice: u32,
        /// The call's index in the choice.
        index: u32,
        /// Id and name, on the call's first delta.
        start: Option<(Cow<'a, str>, &'a str)>,
        /// A piece of the arguments' JSON text.
        arguments: Cow<'a, str>,
    },
    /// A choice ends.
    Finish {
        /// The choice.
        choice: u32,
        /// Why.
        reason: FinishReason,
    },
    /// Log probabilities of a choice's latest tokens (OpenAI's `logprobs` object).
    Logprobs {
        /// The choice.
        choice: u32,
        /// `{"content": [...]}`.
        logprobs: Box<RawValue>,
    },
    /// Token counts so far (the last one wins).
    Usage(Usage),
}
