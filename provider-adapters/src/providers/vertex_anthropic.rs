//! Claude on Vertex AI (`vertex_ai/claude-*`): Anthropic's Messages format on the
//! publisher's `rawPredict` / `streamRawPredict` URLs, with `anthropic_version` in
//! the body instead of `model`, and a Google bearer token.

use bytes::Bytes;
use http::header::AUTHORIZATION;

use super::anthropic::Anthropic;
use super::{sensitive, Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::model::{ChatRequest, ChatResponse};
use crate::stream::{Decoder, Framing};
use crate::{Api, Endpoint, Provider, ProviderError};

/// The `anthropic_version` Vertex AI takes.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// The Claude-on-Vertex adapter.
#[derive(Debug)]
pub(crate) struct VertexAnthropic;

impl Adapter for VertexAnthropic {
    fn provider(&self) -> Provider {
        Provider::VertexAiAnthropic
    }

    fn support(&self, p: Param) -> Support {
        Anthropic.support(p)
    }

    fn default_base(&self, ep: &Endpoint) -> String {
        format!(
            "https://{}-aiplatform.googleapis.com",
            super::gemini::location(ep)
        )
    }

    fn url(&self, ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError> {
        let method =
            match op {
                Operation::Chat { stream: false } => "rawPredict",
                Operation::Chat { stream: true } => "streamRawPredict",
                Operation::Embeddings => return Err(ProviderError::bad_request(
                    "Claude on Vertex AI has no embeddings API; route embeddings to another model",
                )),
            };
        let project = ep.vertex_project.as_deref().unwrap_or_default();
        Ok(format!(
            "{base}/v1/projects/{project}/locations/{}/publishers/anthropic/models/{}:{method}",
            super::gemini::location(ep),
            ep.model
        ))
    }

    fn auth(&self, ep: &Endpoint, headers: &mut http::HeaderMap) -> Result<(), ProviderError> {
        // A static token; a service account's is added per request.
        if let Some(key) = &ep.api_key {
            headers.insert(
                AUTHORIZATION,
                sensitive(&format!("Bearer {}", key.expose()))?,
            );
        }
        Ok(())
    }

    fn forwarded_headers(&self) -> &'static [&'static str] {
        &["anthropic-beta"]
    }

    fn native(&self) -> Option<Api> {
        // Messages requests are re-encoded too: Vertex wants no `model` in the body.
        None
    }

    fn encode(&self, req: &ChatRequest<'_>, ep: &Endpoint) -> Result<Bytes, ProviderError> {
        let body = Anthropic.encode(req, ep)?;
        let version = crate::request::json_string(VERTEX_ANTHROPIC_VERSION);
        crate::request::edit_top_level(&body, &[("anthropic_version", &version)], &["model"])
    }

    fn decode<'b>(&self, body: &'b [u8], ep: &Endpoint) -> Result<ChatResponse<'b>, ProviderError> {
        Anthropic.decode(body, ep)
    }

    fn stream(&self, ep: &Endpoint) -> (Framing, Box<dyn Decoder>) {
        Anthropic.stream(ep)
    }

    fn embeddings(&self) -> Option<&dyn Embeddings> {
        None
    }
}
