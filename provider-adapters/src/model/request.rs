//! The canonical chat request.

use std::borrow::Cow;

use super::RawValue;
use crate::capability::Param;

/// One chat request, whatever format it came in.
#[derive(Debug, Default)]
pub struct ChatRequest<'a> {
    /// The model the client named.
    pub model: Cow<'a, str>,
    /// The conversation, system messages included, in order.
    pub messages: Vec<Message<'a>>,
    /// Tools the model may call.
    pub tools: Vec<Tool<'a>>,
    /// How the model must use the tools.
    pub tool_choice: Option<ToolChoice<'a>>,
    /// `Some(false)`: at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    /// Sampling settings.
    pub sampling: Sampling<'a>,
    /// Structured output.
    pub response_format: Option<ResponseFormat<'a>>,
    /// Reasoning ("thinking") settings.
    pub reasoning: Option<Reasoning>,
    /// Whether the answer streams.
    pub stream: bool,
    /// Whether a stream ends with a usage chunk.
    pub include_usage: bool,
    /// An end-user id.
    pub user: Option<Cow<'a, str>>,
    /// Fields merged into the provider's body as they are: `extra_body`'s members,
    /// then any top-level field the client format does not define.
    pub extra: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// Client-format parameters the canonical model has no place for (`logit_bias`,
    /// `audio`…): no translated provider honours them.
    pub other_params: Vec<Param>,
    /// A per-request `drop_params` (LiteLLM accepts it in bodies).
    pub drop_params: Option<bool>,
    /// The size of the JSON the request was read from: encoders size their output by
    /// it, so a large body is written into one allocation.
    pub size_hint: usize,
}

/// Who speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// System or developer instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

/// One message.
#[derive(Debug)]
pub struct Message<'a> {
    /// Who speaks.
    pub role: Role,
    /// The content parts.
    pub content: Vec<Part<'a>>,
    /// The assistant's reasoning, as it came (thinking blocks with signatures).
    pub thinking: Vec<super::Thinking<'a>>,
    /// The assistant's tool calls.
    pub tool_calls: Vec<ToolCall<'a>>,
    /// For [`Role::Tool`]: the call answered.
    pub tool_call_id: Option<Cow<'a, str>>,
    /// For [`Role::Tool`]: the tool's name, when the client gave it.
    pub name: Option<Cow<'a, str>>,
}

impl<'a> Message<'a> {
    /// A message of `role` with `content` and nothing else.
    pub fn new(role: Role, content: Vec<Part<'a>>) -> Self {
        Self {
            role,
            content,
            thinking: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }

    /// The text parts, joined (borrowed when there is one).
    pub fn text(&self) -> Cow<'_, str> {
        let mut texts = self.content.iter().filter_map(|p| match p {
            Part::Text { text, .. } => Some(text),
            Part::Image { .. } | Part::Audio { .. } | Part::File { .. } | Part::Unknown { .. } => {
                None
            }
        });
        match (texts.next(), texts.next()) {
            (None, _) => Cow::Borrowed(""),
            (Some(one), None) => Cow::Borrowed(one.as_ref()),
            (Some(a), Some(b)) => {
                let mut s = String::from(a.as_ref());
                s.push_str(b);
                for t in texts {
                    s.push_str(t);
                }
                Cow::Owned(s)
            }
        }
    }
}

/// A content part.
#[derive(Debug)]
pub enum Part<'a> {
    /// Text.
    Text {
        /// The text.
        text: Cow<'a, str>,
        /// Anthropic `cache_control`, passed on to providers that have it.
        cache_control: Option<&'a RawValue>,
    },
    /// An image.
    Image {
        /// Where it is.
        source: Source<'a>,
        /// Anthropic `cache_control`.
        cache_control: Option<&'a RawValue>,
    },
    /// Input audio (base64 with its format, e.g. `wav`).
    Audio {
        /// Base64 data.
        data: Cow<'a, str>,
        /// `wav`, `mp3`…
        format: Cow<'a, str>,
    },
    /// A document (PDF…).
    File {
        /// Where it is.
        source: Source<'a>,
        /// Its file name, if given.
        filename: Option<Cow<'a, str>>,
        /// Anthropic `cache_control`.
        cache_control: Option<&'a RawValue>,
    },
    /// A part type this gateway does not know: refused by name.
    Unknown {
        /// Its `type`.
        kind: Cow<'a, str>,
    },
}

/// Where an image or a file is.
#[derive(Debug)]
pub enum Source<'a> {
    /// An `http(s)` URL.
    Url(Cow<'a, str>),
    /// Inline base64 data.
    Base64 {
        /// The MIME type.
        media_type: Cow<'a, str>,
        /// The data.
        data: Cow<'a, str>,
    },
    /// A provider file id.
    FileId(Cow<'a, str>),
}

/// A tool call the assistant made.
#[derive(Debug)]
pub struct ToolCall<'a> {
    /// The call id.
    pub id: Cow<'a, str>,
    /// The function name.
    pub name: Cow<'a, str>,
    /// The arguments as JSON text (OpenAI's form).
    pub arguments: Cow<'a, str>,
}

/// A tool (function) definition.
#[derive(Debug)]
pub struct Tool<'a> {
    /// The name.
    pub name: Cow<'a, str>,
    /// The description.
    pub description: Option<Cow<'a, str>>,
    /// The JSON schema of the arguments.
    pub parameters: Option<&'a RawValue>,
    /// OpenAI `strict`.
    pub strict: Option<bool>,
    /// Anthropic `cache_control`.
    pub cache_control: Option<&'a RawValue>,
}

/// How tools must be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice<'a> {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call.
    Required,
    /// This tool.
    Named(Cow<'a, str>),
}

/// Sampling settings.
#[derive(Debug, Default)]
pub struct Sampling<'a> {
    /// Most tokens to generate.
    pub max_tokens: Option<u64>,
    /// Temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling.
    pub top_k: Option<u64>,
    /// Stop sequences.
    pub stop: Vec<Cow<'a, str>>,
    /// Seed.
    pub seed: Option<i64>,
    /// Frequency penalty (unset if 0).
    pub frequency_penalty: Option<f64>,
    /// Presence penalty (unset if 0).
    pub presence_penalty: Option<f64>,
    /// Choices to generate (unset if 1).
    pub n: Option<u32>,
    /// Whether to return log probabilities.
    pub logprobs: bool,
    /// How many alternatives per token.
    pub top_logprobs: Option<u32>,
}

/// Structured output.
#[derive(Debug)]
pub enum ResponseFormat<'a> {
    /// Plain text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON following a schema.
    JsonSchema {
        /// The schema's name.
        name: Cow<'a, str>,
        /// The schema.
        schema: Option<&'a RawValue>,
        /// OpenAI `strict`.
        strict: Option<bool>,
    },
}

/// Reasoning settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    /// OpenAI `reasoning_effort`.
    Effort(Effort),
    /// Anthropic `thinking.budget_tokens`.
    Budget(u64),
    /// Thinking explicitly off (Anthropic `thinking: {type: disabled}`).
    Off,
}

/// OpenAI's reasoning efforts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// `none`.
    None,
    /// `minimal`.
    Minimal,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
}

impl Effort {
    /// The OpenAI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }

    /// Parses the OpenAI spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Effort::None,
            "minimal" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" | "xhigh" => Effort::High,
            _ => return None,
        })
    }
}

impl Reasoning {
    /// A thinking budget in tokens (LiteLLM's mapping: low 1024, medium 2048, high
    /// 4096), or `None` for no thinking.
    pub fn budget(self) -> Option<u64> {
        match self {
            Reasoning::Budget(b) => Some(b),
            Reasoning::Off | Reasoning::Effort(Effort::None) => None,
            Reasoning::Effort(Effort::Minimal | Effort::Low) => Some(1024),
            Reasoning::Effort(Effort::Medium) => Some(2048),
            Reasoning::Effort(Effort::High) => Some(4096),
        }
    }

    /// An effort level (budgets: < 2048 low, < 8192 medium, else high).
    pub fn effort(self) -> Effort {
        match self {
            Reasoning::Effort(e) => e,
            Reasoning::Off => Effort::None,
            Reasoning::Budget(b) if b < 2048 => Effort::Low,
            Reasoning::Budget(b) if b < 8192 => Effort::Medium,
            Reasoning::Budget(_) => Effort::High,
        }
    }
}
