//! A request against a provider's capabilities: which parameters it uses, and what
//! becomes of those the provider refuses (an error naming them, or with `drop_params`,
//! cleared from the request).

use super::{Param, Support};
use crate::model::{ChatRequest, Part, ResponseFormat, ToolChoice};
use crate::ProviderError;

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
