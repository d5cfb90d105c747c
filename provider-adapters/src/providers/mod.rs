//! One file per provider, each holding everything about it (URL, auth, encode,
//! decode, stream decoder and framing, embeddings, capability table), behind one
//! trait. Adding a provider is one file, one [`Provider`] variant and one line in
//! [`adapter`].

pub(crate) mod anthropic;
pub(crate) mod azure;
pub(crate) mod bedrock;
pub(crate) mod compatible;
pub(crate) mod gemini;
pub(crate) mod ollama;
pub(crate) mod openai;
pub(crate) mod sagemaker;
pub(crate) mod vertex_anthropic;
pub(crate) mod watsonx;

use bytes::Bytes;
use http::HeaderValue;
use serde_json::{json, Value};

use crate::capability::{Param, Support};
use crate::model::{ChatRequest, ChatResponse};
use crate::stream::{Decoder, Framing};
use crate::{Api, Endpoint, Provider, ProviderError};

/// What is being asked of the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Chat { stream: bool },
    Embeddings,
}

/// Everything about one provider API.
pub(crate) trait Adapter: Sync + std::fmt::Debug {
    /// Which provider this is.
    fn provider(&self) -> Provider;
    /// How the provider treats `p` (an exhaustive `match` in each file).
    fn support(&self, p: Param) -> Support;
    /// The public base URL (no trailing slash).
    fn default_base(&self, ep: &Endpoint) -> String;
    /// The URL of an operation under `base`.
    fn url(&self, ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError>;
    /// Authentication (and version) headers, values marked sensitive.
    fn auth(&self, ep: &Endpoint, headers: &mut http::HeaderMap) -> Result<(), ProviderError>;
    /// Client headers the provider documents and that are passed on as they came.
    fn forwarded_headers(&self) -> &'static [&'static str] {
        &[]
    }
    /// The client API this provider speaks natively (passed through untranslated).
    fn native(&self) -> Option<Api>;
    /// The canonical request as the provider's body.
    fn encode(&self, req: &ChatRequest<'_>, ep: &Endpoint) -> Result<Bytes, ProviderError>;
    /// The provider's whole answer as the canonical one.
    fn decode<'b>(&self, body: &'b [u8], ep: &Endpoint) -> Result<ChatResponse<'b>, ProviderError>;
    /// The framing and decoder of the provider's streams.
    fn stream(&self, ep: &Endpoint) -> (Framing, Box<dyn Decoder>);
    /// The embeddings translation, if the provider's embeddings are not OpenAI's.
    fn embeddings(&self) -> Option<&dyn Embeddings>;
    /// An upstream error answer in the OpenAI contract (`secret` masked).
    fn upstream_error(
        &self,
        status: http::StatusCode,
        headers: &http::HeaderMap,
        body: &[u8],
        secret: Option<&str>,
    ) -> ProviderError {
        let retry_after = headers.get(http::header::RETRY_AFTER).cloned();
        ProviderError::from_upstream(status, body, retry_after, secret)
    }
}

/// An embeddings API that is not OpenAI's.
pub(crate) trait Embeddings: Sync {
    /// An OpenAI embeddings request as the provider's.
    fn request(&self, req: &Value, ep: &Endpoint) -> Result<Value, ProviderError>;
    /// The provider's answer as an OpenAI embeddings list.
    fn response(&self, resp: &Value, model: &str) -> Value;
}

/// Every provider, in table order.
pub(crate) const ALL: &[Provider] = &[
    Provider::OpenAi,
    Provider::Azure,
    Provider::Anthropic,
    Provider::Gemini,
    Provider::VertexAi,
    Provider::Ollama,
    Provider::Bedrock,
    Provider::VertexAiAnthropic,
    Provider::Watsonx,
    Provider::SagemakerChat,
];

/// Every provider's [`Adapter::forwarded_headers`], together (checked by a test).
pub(crate) const FORWARDED_HEADERS: &[&str] =
    &["anthropic-beta", "openai-organization", "openai-project"];

/// The registry: the adapter of each provider.
pub(crate) fn adapter(p: Provider) -> &'static dyn Adapter {
    match p {
        Provider::OpenAi => &openai::OpenAi,
        Provider::Azure => &azure::Azure,
        Provider::Anthropic => &anthropic::Anthropic,
        Provider::Gemini => &gemini::Gemini { vertex: false },
        Provider::VertexAi => &gemini::Gemini { vertex: true },
        Provider::Ollama => &ollama::Ollama,
        Provider::Bedrock => &bedrock::Bedrock,
        Provider::VertexAiAnthropic => &vertex_anthropic::VertexAnthropic,
        Provider::Watsonx => &watsonx::Watsonx,
        Provider::SagemakerChat => &sagemaker::SagemakerChat,
    }
}

/// A header value marked sensitive (never shown by `Debug`).
pub(crate) fn sensitive(value: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::try_from(value).map_err(|_| {
        ProviderError::bad_gateway("the configured API key is not a valid header value")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A JSON body that must be an object, or a 400/502 saying so.
pub(crate) fn parse_object(
    bytes: &[u8],
    what: &str,
    upstream: bool,
) -> Result<Value, ProviderError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) | Err(_) if upstream => Err(ProviderError::bad_gateway(format!(
            "upstream sent a {what} that is not a JSON object"
        ))),
        Ok(_) => Err(ProviderError::bad_request(format!(
            "{what} must be a JSON object"
        ))),
        Err(e) => Err(
            ProviderError::bad_request(format!("{what} is not valid JSON: {e}"))
                .with_code("invalid_json"),
        ),
    }
}

/// The texts of an OpenAI embeddings `input`.
pub(crate) fn embedding_inputs(req: &Value) -> Result<Vec<String>, ProviderError> {
    match req.get("input") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    ProviderError::bad_request("this provider takes `input` as strings, not tokens")
                })
            })
            .collect(),
        _ => Err(ProviderError::bad_request(
            "`input` must be a string or an array of strings",
        )),
    }
}

/// An OpenAI embeddings list from vectors.
pub(crate) fn embeddings_list(vectors: Vec<Value>, model: &str, prompt_tokens: u64) -> Value {
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    json!({"object": "list", "data": data, "model": model,
           "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_header_list_is_every_providers() {
        let mut all: Vec<&str> = ALL
            .iter()
            .flat_map(|p| adapter(*p).forwarded_headers().iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        let mut listed = FORWARDED_HEADERS.to_vec();
        listed.sort_unstable();
        assert_eq!(all, listed);
    }

    #[test]
    fn each_adapter_is_registered_under_its_own_provider() {
        for p in ALL {
            assert_eq!(adapter(*p).provider(), *p);
        }
    }
}
