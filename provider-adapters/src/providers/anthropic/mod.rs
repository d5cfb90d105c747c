//! Anthropic's Messages API: everything about it. `/v1/messages` requests from
//! Anthropic-format clients pass through; OpenAI-format ones are encoded here.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};

mod request;
pub(crate) mod response;

pub(crate) use self::request::encode;
pub(crate) use self::response::{decode, AnthropicDecoder};
use super::{sensitive, Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::model::{ChatRequest, ChatResponse};
use crate::stream::{Decoder, Framing};
use crate::{Api, Endpoint, Provider, ProviderError};

/// The `anthropic-version` sent when none is configured.
pub(crate) const DEFAULT_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by Anthropic; used when the client sent none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The Anthropic adapter.
#[derive(Debug)]
pub(crate) struct Anthropic;

impl Adapter for Anthropic {
    fn provider(&self) -> Provider {
        Provider::Anthropic
    }

    fn support(&self, p: Param) -> Support {
        use Support::{Mapped, Refused};
        match p {
            Param::Tools => Mapped("tools"),
            Param::ToolChoiceNone => Mapped("tool_choice.type=none"),
            Param::ToolChoiceRequired => Mapped("tool_choice.type=any"),
            Param::ToolChoiceNamed => Mapped("tool_choice.type=tool"),
            Param::ParallelToolCalls => Mapped("disable_parallel_tool_use"),
            Param::JsonSchema => Mapped("output_config.format"),
            Param::ReasoningEffort => Mapped("thinking.budget_tokens"),
            Param::Temperature => Mapped("temperature"),
            Param::TopP => Mapped("top_p"),
            Param::TopK => Mapped("top_k"),
            Param::MaxTokens => Mapped("max_tokens"),
            Param::Stop => Mapped("stop_sequences"),
            Param::User => Mapped("metadata.user_id"),
            Param::ImageUrl => Mapped("image source url"),
            Param::ImageData => Mapped("image source base64"),
            Param::File => Mapped("document"),
            Param::CacheControl => Mapped("cache_control"),
            Param::ToolResultMedia => Mapped("tool_result content blocks"),
            Param::ExtraBody => Mapped("merged into the body"),
            Param::JsonObject
            | Param::Seed
            | Param::FrequencyPenalty
            | Param::PresencePenalty
            | Param::N
            | Param::Logprobs
            | Param::TopLogprobs
            | Param::InputAudio
            | Param::LogitBias
            | Param::AudioOutput
            | Param::Prediction
            | Param::ServiceTier
            | Param::Store
            | Param::WebSearch
            | Param::Verbosity
            | Param::PromptCacheKey
            | Param::Functions
            | Param::UnknownPart => Refused,
        }
    }

    fn default_base(&self, _ep: &Endpoint) -> String {
        "https://api.anthropic.com".into()
    }

    fn url(&self, _ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError> {
        match op {
            Operation::Chat { .. } => {
                let root = base.strip_suffix("/v1").unwrap_or(base);
                Ok(format!("{root}/v1/messages"))
            }
            Operation::Embeddings => Err(ProviderError::bad_request(
                "anthropic has no embeddings API; route embeddings to another model",
            )),
        }
    }

    fn auth(&self, ep: &Endpoint, headers: &mut http::HeaderMap) -> Result<(), ProviderError> {
        if let Some(key) = &ep.api_key {
            headers.insert(
                HeaderName::from_static("x-api-key"),
                sensitive(key.expose())?,
            );
        }
        let version = ep.api_version.as_deref().unwrap_or(DEFAULT_VERSION);
        let version = HeaderValue::try_from(version)
            .map_err(|_| ProviderError::bad_gateway("invalid anthropic api_version"))?;
        headers.insert(HeaderName::from_static("anthropic-version"), version);
        Ok(())
    }

    fn forwarded_headers(&self) -> &'static [&'static str] {
        &["anthropic-beta"]
    }

    fn native(&self) -> Option<Api> {
        Some(Api::Messages)
    }

    fn encode(&self, req: &ChatRequest<'_>, ep: &Endpoint) -> Result<Bytes, ProviderError> {
        encode(req, &ep.model)
    }

    fn decode<'b>(
        &self,
        body: &'b [u8],
        _ep: &Endpoint,
    ) -> Result<ChatResponse<'b>, ProviderError> {
        decode(body)
    }

    fn stream(&self, _ep: &Endpoint) -> (Framing, Box<dyn Decoder>) {
        (Framing::sse(), Box::new(AnthropicDecoder::default()))
    }

    fn embeddings(&self) -> Option<&dyn Embeddings> {
        None
    }
}
