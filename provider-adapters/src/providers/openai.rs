//! OpenAI and every OpenAI-compatible server: everything about them. OpenAI-format
//! requests pass through with only `model` changed; Anthropic-format ones are
//! encoded with the OpenAI format's codec (`formats::openai`).

use bytes::Bytes;
use http::header::AUTHORIZATION;

use super::{sensitive, Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::formats::openai::{encode, response, stream::OpenAiDecoder};
use crate::model::{ChatRequest, ChatResponse};
use crate::stream::{Decoder, Framing};
use crate::{Api, Endpoint, Provider, ProviderError};

/// The OpenAI adapter.
#[derive(Debug)]
pub(crate) struct OpenAi;

/// What the OpenAI format honours (shared with Azure): everything it defines.
pub(crate) fn support(p: Param) -> Support {
    use Support::{Mapped, Refused};
    match p {
        Param::Tools => Mapped("tools"),
        Param::ToolChoiceNone => Mapped("tool_choice"),
        Param::ToolChoiceRequired => Mapped("tool_choice"),
        Param::ToolChoiceNamed => Mapped("tool_choice"),
        Param::ParallelToolCalls => Mapped("parallel_tool_calls"),
        Param::JsonObject => Mapped("response_format"),
        Param::JsonSchema => Mapped("response_format"),
        Param::ReasoningEffort => Mapped("reasoning_effort"),
        Param::Temperature => Mapped("temperature"),
        Param::TopP => Mapped("top_p"),
        Param::MaxTokens => Mapped("max_tokens / max_completion_tokens"),
        Param::Stop => Mapped("stop"),
        Param::Seed => Mapped("seed"),
        Param::FrequencyPenalty => Mapped("frequency_penalty"),
        Param::PresencePenalty => Mapped("presence_penalty"),
        Param::N => Mapped("n"),
        Param::Logprobs => Mapped("logprobs"),
        Param::TopLogprobs => Mapped("top_logprobs"),
        Param::User => Mapped("user"),
        Param::ImageUrl | Param::ImageData => Mapped("image_url"),
        Param::InputAudio => Mapped("input_audio"),
        Param::File => Mapped("file"),
        Param::CacheControl => Mapped("automatic prompt caching"),
        Param::ExtraBody => Mapped("merged into the body"),
        // Only ever set by OpenAI-format clients, whose requests to OpenAI pass
        // through untouched; the translated path (Anthropic clients) has none of these.
        Param::LogitBias
        | Param::AudioOutput
        | Param::Prediction
        | Param::ServiceTier
        | Param::Store
        | Param::WebSearch
        | Param::Verbosity
        | Param::PromptCacheKey
        | Param::Functions
        | Param::TopK
        | Param::UnknownPart
        | Param::ToolResultMedia => Refused,
    }
}

impl Adapter for OpenAi {
    fn provider(&self) -> Provider {
        Provider::OpenAi
    }

    fn support(&self, p: Param) -> Support {
        support(p)
    }

    fn default_base(&self, _ep: &Endpoint) -> String {
        "https://api.openai.com/v1".into()
    }

    fn url(&self, _ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError> {
        Ok(match op {
            Operation::Chat { .. } => format!("{base}/chat/completions"),
            Operation::Embeddings => format!("{base}/embeddings"),
        })
    }

    fn auth(&self, ep: &Endpoint, headers: &mut http::HeaderMap) -> Result<(), ProviderError> {
        if let Some(key) = &ep.api_key {
            headers.insert(
                AUTHORIZATION,
                sensitive(&format!("Bearer {}", key.expose()))?,
            );
        }
        Ok(())
    }

    fn forwarded_headers(&self) -> &'static [&'static str] {
        &["openai-organization", "openai-project"]
    }

    fn native(&self) -> Option<Api> {
        Some(Api::ChatCompletions)
    }

    fn encode(&self, req: &ChatRequest<'_>, ep: &Endpoint) -> Result<Bytes, ProviderError> {
        encode::encode(req, &ep.model)
    }

    fn decode<'b>(
        &self,
        body: &'b [u8],
        _ep: &Endpoint,
    ) -> Result<ChatResponse<'b>, ProviderError> {
        response::decode(body)
    }

    fn stream(&self, _ep: &Endpoint) -> (Framing, Box<dyn Decoder>) {
        (Framing::sse(), Box::new(OpenAiDecoder::default()))
    }

    fn embeddings(&self) -> Option<&dyn Embeddings> {
        None
    }
}
