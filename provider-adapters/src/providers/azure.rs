//! Azure OpenAI: the OpenAI format on deployment URLs, with an `api-key` header and an
//! `api-version` query.

use bytes::Bytes;
use http::header::HeaderName;

use super::{sensitive, Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::formats::openai::{encode, response, stream::OpenAiDecoder};
use crate::model::{ChatRequest, ChatResponse};
use crate::stream::{Decoder, Framing};
use crate::{Api, Endpoint, Provider, ProviderError};

/// The `api-version` used when none is configured.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// The Azure adapter.
#[derive(Debug)]
pub(crate) struct Azure;

impl Adapter for Azure {
    fn provider(&self) -> Provider {
        Provider::Azure
    }

    fn support(&self, p: Param) -> Support {
        super::openai::support(p)
    }

    fn default_base(&self, _ep: &Endpoint) -> String {
        String::new()
    }

    fn url(&self, ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError> {
        let path = match op {
            Operation::Chat { .. } => "chat/completions",
            Operation::Embeddings => "embeddings",
        };
        let version = ep.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION);
        Ok(format!(
            "{base}/openai/deployments/{}/{path}?api-version={version}",
            ep.model
        ))
    }

    fn auth(&self, ep: &Endpoint, headers: &mut http::HeaderMap) -> Result<(), ProviderError> {
        if let Some(key) = &ep.api_key {
            headers.insert(HeaderName::from_static("api-key"), sensitive(key.expose())?);
        }
        Ok(())
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
