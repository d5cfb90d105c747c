//! What each provider honours: the request parameters of the canonical model, and per
//! provider whether (and how) it is mapped or refused. A refused parameter gets a 400
//! `unsupported_params` naming it and the provider, unless `drop_params` is on
//! (LiteLLM's rule); it is never silently ignored.

use std::fmt;

mod enforce;

pub(crate) use self::enforce::enforce;

/// A request parameter (or a kind of content) a provider may or may not honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Param {
    /// `tools`.
    Tools,
    /// `tool_choice: "none"`.
    ToolChoiceNone,
    /// `tool_choice: "required"`.
    ToolChoiceRequired,
    /// `tool_choice: {"type":"function",…}`.
    ToolChoiceNamed,
    /// `parallel_tool_calls: false`.
    ParallelToolCalls,
    /// `response_format: json_object`.
    JsonObject,
    /// `response_format: json_schema`.
    JsonSchema,
    /// `reasoning_effort` (or Anthropic `thinking`).
    ReasoningEffort,
    /// `temperature`.
    Temperature,
    /// `top_p`.
    TopP,
    /// `top_k`.
    TopK,
    /// `max_tokens` / `max_completion_tokens`.
    MaxTokens,
    /// `stop`.
    Stop,
    /// `seed`.
    Seed,
    /// `frequency_penalty` (non-zero).
    FrequencyPenalty,
    /// `presence_penalty` (non-zero).
    PresencePenalty,
    /// `n` greater than 1.
    N,
    /// `logprobs: true`.
    Logprobs,
    /// `top_logprobs`.
    TopLogprobs,
    /// `user`.
    User,
    /// An image by `http(s)` URL.
    ImageUrl,
    /// An image as base64 data.
    ImageData,
    /// Input audio.
    InputAudio,
    /// A file or document part.
    File,
    /// Anthropic `cache_control` on a part or a tool.
    CacheControl,
    /// `extra_body` (and unknown top-level fields), merged into the provider's body.
    ExtraBody,
    /// `logit_bias`.
    LogitBias,
    /// `modalities` / `audio` output.
    AudioOutput,
    /// `prediction`.
    Prediction,
    /// `service_tier`.
    ServiceTier,
    /// `store` / `metadata`.
    Store,
    /// `web_search_options`.
    WebSearch,
    /// `verbosity`.
    Verbosity,
    /// `prompt_cache_key` / `safety_identifier`.
    PromptCacheKey,
    /// The legacy `functions` / `function_call`.
    Functions,
    /// A content part of a type the gateway does not know.
    UnknownPart,
    /// A tool result holding images or documents, not only text.
    ToolResultMedia,
}

impl Param {
    /// Every parameter, in table order.
    pub const ALL: [Param; 37] = [
        Param::Tools,
        Param::ToolChoiceNone,
        Param::ToolChoiceRequired,
        Param::ToolChoiceNamed,
        Param::ParallelToolCalls,
        Param::JsonObject,
        Param::JsonSchema,
        Param::ReasoningEffort,
        Param::Temperature,
        Param::TopP,
        Param::TopK,
        Param::MaxTokens,
        Param::Stop,
        Param::Seed,
        Param::FrequencyPenalty,
        Param::PresencePenalty,
        Param::N,
        Param::Logprobs,
        Param::TopLogprobs,
        Param::User,
        Param::ImageUrl,
        Param::ImageData,
        Param::InputAudio,
        Param::File,
        Param::CacheControl,
        Param::ExtraBody,
        Param::LogitBias,
        Param::AudioOutput,
        Param::Prediction,
        Param::ServiceTier,
        Param::Store,
        Param::WebSearch,
        Param::Verbosity,
        Param::PromptCacheKey,
        Param::Functions,
        Param::UnknownPart,
        Param::ToolResultMedia,
    ];

    /// The parameter as the OpenAI format spells it.
    pub fn name(self) -> &'static str {
        match self {
            Param::Tools => "tools",
            Param::ToolChoiceNone => "tool_choice=none",
            Param::ToolChoiceRequired => "tool_choice=required",
            Param::ToolChoiceNamed => "tool_choice=function",
            Param::ParallelToolCalls => "parallel_tool_calls=false",
            Param::JsonObject => "response_format=json_object",
            Param::JsonSchema => "response_format=json_schema",
            Param::ReasoningEffort => "reasoning_effort",
            Param::Temperature => "temperature",
            Param::TopP => "top_p",
            Param::TopK => "top_k",
            Param::MaxTokens => "max_tokens",
            Param::Stop => "stop",
            Param::Seed => "seed",
            Param::FrequencyPenalty => "frequency_penalty",
            Param::PresencePenalty => "presence_penalty",
            Param::N => "n",
            Param::Logprobs => "logprobs",
            Param::TopLogprobs => "top_logprobs",
            Param::User => "user",
            Param::ImageUrl => "image_url (http)",
            Param::ImageData => "image_url (data)",
            Param::InputAudio => "input_audio",
            Param::File => "file",
            Param::CacheControl => "cache_control",
            Param::ExtraBody => "extra_body",
            Param::LogitBias => "logit_bias",
            Param::AudioOutput => "audio",
            Param::Prediction => "prediction",
            Param::ServiceTier => "service_tier",
            Param::Store => "store",
            Param::WebSearch => "web_search_options",
            Param::Verbosity => "verbosity",
            Param::PromptCacheKey => "prompt_cache_key",
            Param::Functions => "functions",
            Param::UnknownPart => "content part type",
            Param::ToolResultMedia => "tool result with media",
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The parameters dropped from a request under `drop_params`: a response extension,
/// so the caller can count them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedParams(pub Vec<Param>);

/// How a provider treats a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Carried, as the provider's field named here.
    Mapped(&'static str),
    /// The provider has no equivalent: refused (or dropped with `drop_params`).
    Refused,
}

/// The text above the table in `CAPABILITIES.md`.
#[cfg(test)]
const TABLE_HEADER: &str = "# Parameters × providers\n\n\
Generated from each provider's capability table (`Adapter::support`) and checked by a \
test. A cell names the provider field a parameter becomes; `refused` means a 400 \
`unsupported_params` naming it, or with `drop_params: true` it is dropped (logged, \
counted in `/metrics`). OpenAI-format requests to `openai`/`azure` (and Anthropic-format \
ones to `anthropic`) pass through untouched, so these apply to translated requests.\n\n";

/// The feature × provider table (Markdown) the crate docs show, from the providers'
/// own capability functions.
pub fn table() -> String {
    let providers = crate::providers::ALL;
    let mut out = String::from("| parameter |");
    for p in providers {
        out.push(' ');
        out.push_str(p.as_str());
        out.push_str(" |");
    }
    out.push_str("\n|---|");
    for _ in providers {
        out.push_str("---|");
    }
    out.push('\n');
    for param in Param::ALL {
        out.push_str("| `");
        out.push_str(param.name());
        out.push_str("` |");
        for p in providers {
            let cell = match crate::providers::adapter(*p).support(param) {
                Support::Mapped(how) => format!(" {how} |"),
                Support::Refused => " refused |".to_string(),
            };
            out.push_str(&cell);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table in the crate docs is generated from the capability functions; if this
    /// fails, run with `UPDATE_CAPABILITIES=1` to rewrite `CAPABILITIES.md`.
    #[test]
    fn the_docs_table_is_the_capability_tables() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/CAPABILITIES.md");
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        let want = format!("{TABLE_HEADER}{}", table());
        if std::env::var_os("UPDATE_CAPABILITIES").is_some() {
            std::fs::write(path, &want).unwrap_or_default();
            return;
        }
        assert_eq!(doc, want, "CAPABILITIES.md is stale");
    }

    #[test]
    fn every_param_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for p in Param::ALL {
            assert!(seen.insert(p), "{p} twice");
        }
    }
}
