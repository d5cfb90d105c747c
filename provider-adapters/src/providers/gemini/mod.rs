//! Gemini `generateContent` on Google AI Studio and on Vertex AI: everything about it.

use bytes::Bytes;
use http::header::{HeaderName, AUTHORIZATION};
use serde_json::{json, Value};

mod request;
mod response;

use self::request::encode;
use self::response::{decode, GeminiDecoder, InResponse};
use super::{sensitive, Adapter, Embeddings, Operation};

use crate::capability::{Param, Support};
use crate::model::{ChatRequest, ChatResponse};
use crate::stream::{Decoder, Framing};
use crate::{Api, Endpoint, Provider, ProviderError};

/// Separates a Gemini `thoughtSignature` carried inside an OpenAI tool-call id
/// (LiteLLM's convention), so the signature comes back with the call next turn.
pub const THOUGHT_SEPARATOR: &str = "__thought__";

/// The Gemini adapter; `vertex` for Vertex AI URLs and bearer auth.
#[derive(Debug)]
pub(crate) struct Gemini {
    pub(crate) vertex: bool,
}

impl Adapter for Gemini {
    fn provider(&self) -> Provider {
        if self.vertex {
            Provider::VertexAi
        } else {
            Provider::Gemini
        }
    }

    fn support(&self, p: Param) -> Support {
        use Support::{Mapped, Refused};
        match p {
            Param::Tools => Mapped("functionDeclarations"),
            Param::ToolChoiceNone => Mapped("functionCallingConfig.mode=NONE"),
            Param::ToolChoiceRequired => Mapped("functionCallingConfig.mode=ANY"),
            Param::ToolChoiceNamed => Mapped("allowedFunctionNames"),
            Param::JsonObject => Mapped("responseMimeType"),
            Param::JsonSchema => Mapped("responseSchema (sanitized) / responseJsonSchema"),
            Param::ReasoningEffort => Mapped("thinkingConfig"),
            Param::Temperature => Mapped("temperature"),
            Param::TopP => Mapped("topP"),
            Param::TopK => Mapped("topK"),
            Param::MaxTokens => Mapped("maxOutputTokens"),
            Param::Stop => Mapped("stopSequences"),
            Param::Seed => Mapped("seed"),
            Param::FrequencyPenalty => Mapped("frequencyPenalty"),
            Param::PresencePenalty => Mapped("presencePenalty"),
            Param::N => Mapped("candidateCount"),
            Param::Logprobs => Mapped("responseLogprobs"),
            Param::TopLogprobs => Mapped("logprobs"),
            Param::ImageUrl => Mapped("fileData"),
            Param::ImageData => Mapped("inlineData"),
            Param::InputAudio => Mapped("inlineData"),
            Param::File => Mapped("inlineData / fileData"),
            Param::CacheControl => Mapped("implicit caching"),
            Param::ExtraBody => Mapped("merged into the body"),
            Param::ParallelToolCalls
            | Param::User
            | Param::LogitBias
            | Param::AudioOutput
            | Param::Prediction
            | Param::ServiceTier
            | Param::Store
            | Param::WebSearch
            | Param::Verbosity
            | Param::PromptCacheKey
            | Param::Functions
            | Param::UnknownPart
            | Param::ToolResultMedia => Refused,
        }
    }

    fn default_base(&self, ep: &Endpoint) -> String {
        if self.vertex {
            format!("https://{}-aiplatform.googleapis.com", location(ep))
        } else {
            "https://generativelanguage.googleapis.com".into()
        }
    }

    fn url(&self, ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError> {
        let model = &ep.model;
        let method = match op {
            Operation::Chat { stream: false } => "generateContent",
            Operation::Chat { stream: true } => "streamGenerateContent?alt=sse",
            Operation::Embeddings if self.vertex => "predict",
            Operation::Embeddings => "batchEmbedContents",
        };
        if self.vertex {
            let project = ep.vertex_project.as_deref().unwrap_or_default();
            return Ok(format!(
                "{base}/v1/projects/{project}/locations/{}/publishers/google/models/{model}:{method}",
                location(ep),
            ));
        }
        let root = base.strip_suffix("/v1beta").unwrap_or(base);
        Ok(format!("{root}/v1beta/models/{model}:{method}"))
    }

    fn auth(&self, ep: &Endpoint, headers: &mut http::HeaderMap) -> Result<(), ProviderError> {
        if let Some(key) = &ep.api_key {
            if self.vertex {
                headers.insert(
                    AUTHORIZATION,
                    sensitive(&format!("Bearer {}", key.expose()))?,
                );
            } else {
                headers.insert(
                    HeaderName::from_static("x-goog-api-key"),
                    sensitive(key.expose())?,
                );
            }
        }
        Ok(())
    }

    fn native(&self) -> Option<Api> {
        None
    }

    fn encode(&self, req: &ChatRequest<'_>, ep: &Endpoint) -> Result<Bytes, ProviderError> {
        encode(req, &ep.model)
    }

    fn decode<'b>(&self, body: &'b [u8], ep: &Endpoint) -> Result<ChatResponse<'b>, ProviderError> {
        let r: InResponse<'_> = serde_json::from_slice(body).map_err(|e| {
            ProviderError::bad_gateway(format!("upstream sent an invalid answer: {e}"))
        })?;
        Ok(decode(r, &ep.model))
    }

    fn stream(&self, ep: &Endpoint) -> (Framing, Box<dyn Decoder>) {
        (Framing::sse(), Box::new(GeminiDecoder::new(&ep.model)))
    }

    fn embeddings(&self) -> Option<&dyn Embeddings> {
        Some(self)
    }
}

pub(crate) fn location(ep: &Endpoint) -> &str {
    ep.vertex_location.as_deref().unwrap_or("us-central1")
}

// === embeddings ===

impl Embeddings for Gemini {
    fn request(&self, req: &Value, ep: &Endpoint) -> Result<Value, ProviderError> {
        let inputs = super::embedding_inputs(req)?;
        let dims = req.get("dimensions").cloned();
        if self.vertex {
            let instances: Vec<Value> = inputs.into_iter().map(|t| json!({"content": t})).collect();
            let mut body = json!({"instances": instances});
            if let Some(d) = dims {
                body["parameters"] = json!({"outputDimensionality": d});
            }
            return Ok(body);
        }
        let model = &ep.model;
        let requests: Vec<Value> = inputs
            .into_iter()
            .map(|text| {
                let mut r = json!({"model": format!("models/{model}"), "content": {"parts": [{"text": text}]}});
                if let Some(d) = &dims {
                    r["outputDimensionality"] = d.clone();
                }
                r
            })
            .collect();
        Ok(json!({"requests": requests}))
    }

    fn response(&self, resp: &Value, model: &str) -> Value {
        let vectors: Vec<Value> = match resp.get("embeddings").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .map(|e| e.get("values").cloned().unwrap_or_default())
                .collect(),
            None => resp
                .get("predictions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| p.pointer("/embeddings/values").cloned().unwrap_or_default())
                .collect(),
        };
        super::embeddings_list(vectors, model, 0)
    }
}
