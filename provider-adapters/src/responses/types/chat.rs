//! The parts of OpenAI chat completions (and chunks) the bridge reads back.

use serde::Deserialize;

use super::{InputTokensDetails, OutputTokensDetails, Usage};

/// The parts of an OpenAI `chat.completion` the translation reads.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatCompletion {
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) choices: Vec<ChatChoice>,
    pub(crate) usage: Option<ChatUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatChoice {
    pub(crate) message: Option<ChatMessage>,
    pub(crate) delta: Option<ChatMessage>,
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatMessage {
    pub(crate) content: Option<String>,
    pub(crate) refusal: Option<String>,
    #[serde(default)]
    pub(crate) tool_calls: Vec<ChatToolCall>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatToolCall {
    #[serde(default)]
    pub(crate) index: usize,
    pub(crate) id: Option<String>,
    pub(crate) function: Option<ChatFunction>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatFunction {
    pub(crate) name: Option<String>,
    pub(crate) arguments: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct ChatUsage {
    #[serde(default)]
    pub(crate) prompt_tokens: u64,
    #[serde(default)]
    pub(crate) completion_tokens: u64,
    pub(crate) prompt_tokens_details: Option<CachedTokens>,
    pub(crate) completion_tokens_details: Option<ReasoningTokens>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct CachedTokens {
    #[serde(default)]
    pub(crate) cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct ReasoningTokens {
    #[serde(default)]
    pub(crate) reasoning_tokens: u64,
}

impl From<ChatUsage> for Usage {
    fn from(u: ChatUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            input_tokens_details: InputTokensDetails {
                cached_tokens: u.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
            },
            output_tokens: u.completion_tokens,
            output_tokens_details: OutputTokensDetails {
                reasoning_tokens: u
                    .completion_tokens_details
                    .map_or(0, |d| d.reasoning_tokens),
            },
            total_tokens: u.prompt_tokens + u.completion_tokens,
        }
    }
}
