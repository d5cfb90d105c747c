//! What each provider honours: the request parameters of the canonical model, and per
//! provider whether (and how) it is mapped or refused. A refused parameter gets a 400
//! `unsupported_params` naming it and the provider, unless `drop_params` is on
//! (LiteLLM's rule); it is never silently ignored.

use std::fmt;

use crate::model::{ChatRequest, Part, ResponseFormat, ToolChoice};
use crate::ProviderError;

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

/// The parameters a request uses, each once, in [`Param::ALL`] order.
pub(crate) fn used(req: &ChatRequest<'_>) -> Vec<Param> {
    let s = &req.sampling;
    let mut parts = [false; 6]; // http image, data image, audio, file, cache, unknown
    for m in &req.messages {
        for p in &m.content {
            match p {
                Part::Text { cache_control, .. } => parts[4] |= cache_control.is_some(),
                Part::Image {
                    source,
                    cache_control,
                } => {
                    match source {
                        crate::model::Source::Base64 { .. } => parts[1] = true,
                        crate::model::Source::Url(_) | crate::model::Source::FileId(_) => {
                            parts[0] = true
                        }
                    }
                    parts[4] |= cache_control.is_some();
                }
                Part::Audio { .. } => parts[2] = true,
                Part::File { cache_control, .. } => {
                    parts[3] = true;
                    parts[4] |= cache_control.is_some();
                }
                Part::Unknown { .. } => parts[5] = true,
            }
        }
    }
    parts[4] |= req.tools.iter().any(|t| t.cache_control.is_some());
    let choice = |c: &ToolChoice<'_>| {
        req.tool_choice.as_ref().is_some_and(|t| match (t, c) {
            (ToolChoice::Named(_), ToolChoice::Named(_)) => true,
            (a, b) => a == b,
        })
    };
    let set = |p: Param| -> bool {
        match p {
            Param::Tools => !req.tools.is_empty(),
            Param::ToolChoiceNone => choice(&ToolChoice::None),
            Param::ToolChoiceRequired => choice(&ToolChoice::Required),
            Param::ToolChoiceNamed => choice(&ToolChoice::Named("".into())),
            Param::ParallelToolCalls => req.parallel_tool_calls == Some(false),
            Param::JsonObject => matches!(req.response_format, Some(ResponseFormat::JsonObject)),
            Param::JsonSchema => {
                matches!(req.response_format, Some(ResponseFormat::JsonSchema { .. }))
            }
            Param::ReasoningEffort => req.reasoning.is_some(),
            Param::Temperature => s.temperature.is_some(),
            Param::TopP => s.top_p.is_some(),
            Param::TopK => s.top_k.is_some(),
            Param::MaxTokens => s.max_tokens.is_some(),
            Param::Stop => !s.stop.is_empty(),
            Param::Seed => s.seed.is_some(),
            Param::FrequencyPenalty => s.frequency_penalty.is_some(),
            Param::PresencePenalty => s.presence_penalty.is_some(),
            Param::N => s.n.is_some(),
            Param::Logprobs => s.logprobs,
            Param::TopLogprobs => s.top_logprobs.is_some(),
            Param::User => req.user.is_some(),
            Param::ImageUrl => parts[0],
            Param::ImageData => parts[1],
            Param::InputAudio => parts[2],
            Param::File => parts[3],
            Param::CacheControl => parts[4],
            Param::ExtraBody => !req.extra.is_empty(),
            Param::LogitBias
            | Param::AudioOutput
            | Param::Prediction
            | Param::ServiceTier
            | Param::Store
            | Param::WebSearch
            | Param::Verbosity
            | Param::PromptCacheKey
            | Param::Functions => req.other_params.contains(&p),
            Param::UnknownPart => parts[5],
            Param::ToolResultMedia => req.messages.iter().any(|m| {
                m.role == crate::model::Role::Tool
                    && m.content.iter().any(|p| !matches!(p, Part::Text { .. }))
            }),
        }
    };
    Param::ALL.into_iter().filter(|p| set(*p)).collect()
}

/// Removes what `p` set from `req`.
pub(crate) fn clear(req: &mut ChatRequest<'_>, p: Param) {
    let s = &mut req.sampling;
    match p {
        Param::Tools => {
            req.tools.clear();
            req.tool_choice = None;
        }
        Param::ToolChoiceNone | Param::ToolChoiceRequired | Param::ToolChoiceNamed => {
            req.tool_choice = None
        }
        Param::ParallelToolCalls => req.parallel_tool_calls = None,
        Param::JsonObject | Param::JsonSchema => req.response_format = None,
        Param::ReasoningEffort => req.reasoning = None,
        Param::Temperature => s.temperature = None,
        Param::TopP => s.top_p = None,
        Param::TopK => s.top_k = None,
        Param::MaxTokens => s.max_tokens = None,
        Param::Stop => s.stop.clear(),
        Param::Seed => s.seed = None,
        Param::FrequencyPenalty => s.frequency_penalty = None,
        Param::PresencePenalty => s.presence_penalty = None,
        Param::N => s.n = None,
        Param::Logprobs => {
            s.logprobs = false;
            s.top_logprobs = None;
        }
        Param::TopLogprobs => s.top_logprobs = None,
        Param::User => req.user = None,
        Param::ImageUrl
        | Param::ImageData
        | Param::InputAudio
        | Param::File
        | Param::CacheControl
        | Param::UnknownPart => clear_parts(req, p),
        Param::ToolResultMedia => {
            for m in &mut req.messages {
                if m.role == crate::model::Role::Tool {
                    m.content.retain(|p| matches!(p, Part::Text { .. }));
                }
            }
        }
        Param::ExtraBody => req.extra.clear(),
        Param::LogitBias
        | Param::AudioOutput
        | Param::Prediction
        | Param::ServiceTier
        | Param::Store
        | Param::WebSearch
        | Param::Verbosity
        | Param::PromptCacheKey
        | Param::Functions => req.other_params.retain(|o| *o != p),
    }
}

fn clear_parts(req: &mut ChatRequest<'_>, p: Param) {
    use crate::model::Source;
    for m in &mut req.messages {
        m.content.retain_mut(|part| match (p, part) {
            (Param::CacheControl, Part::Text { cache_control, .. })
            | (Param::CacheControl, Part::Image { cache_control, .. })
            | (Param::CacheControl, Part::File { cache_control, .. }) => {
                *cache_control = None;
                true
            }
            (
                Param::ImageData,
                Part::Image {
                    source: Source::Base64 { .. },
                    ..
                },
            ) => false,
            (
                Param::ImageUrl,
                Part::Image {
                    source: Source::Url(_) | Source::FileId(_),
                    ..
                },
            ) => false,
            (Param::InputAudio, Part::Audio { .. })
            | (Param::File, Part::File { .. })
            | (Param::UnknownPart, Part::Unknown { .. }) => false,
            _ => true,
        });
    }
    if p == Param::CacheControl {
        for t in &mut req.tools {
            t.cache_control = None;
        }
    }
}

/// Applies a provider's capabilities to `req`: refused parameters are an error, or
/// with `drop` removed (logged at debug). Returns the dropped ones.
pub(crate) fn enforce(
    req: &mut ChatRequest<'_>,
    provider: &'static str,
    support: &dyn Fn(Param) -> Support,
    drop: bool,
) -> Result<Vec<Param>, ProviderError> {
    let refused: Vec<Param> = used(req)
        .into_iter()
        .filter(|p| support(*p) == Support::Refused)
        .collect();
    if refused.is_empty() {
        return Ok(refused);
    }
    if !drop {
        let names: Vec<String> = refused.iter().map(|p| format!("`{p}`")).collect();
        return Err(ProviderError::unsupported_params(format!(
            "{provider} does not support {}; remove it, or set `drop_params: true` to drop \
             what the provider cannot honour",
            names.join(", ")
        )));
    }
    for p in &refused {
        tracing::debug!(
            provider,
            param = p.name(),
            "dropped an unsupported parameter"
        );
        clear(req, *p);
    }
    Ok(refused)
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
