//! Ollama's native `/api/chat` (NDJSON streams) and `/api/embed`: everything about it.

mod request;
mod response;

use std::borrow::Cow;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use serde_json::{json, Value};

use super::{sensitive, Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::model::{ChatRequest, ChatResponse, Choice, Thinking};
use crate::stream::{Decoder, Framing};
use crate::{Api, Endpoint, Provider, ProviderError};

pub(crate) use self::request::encode;
use self::response::{call_of, finish_in, logprobs_of, InLine, OllamaDecoder};

/// The Ollama adapter.
#[derive(Debug)]
pub(crate) struct Ollama;

impl Adapter for Ollama {
    fn provider(&self) -> Provider {
        Provider::Ollama
    }

    fn support(&self, p: Param) -> Support {
        use Support::{Mapped, Refused};
        match p {
            Param::Tools => Mapped("tools"),
            Param::ToolChoiceNone => Mapped("tools left out"),
            Param::JsonObject => Mapped("format=json"),
            Param::JsonSchema => Mapped("format (the schema)"),
            Param::ReasoningEffort => Mapped("think"),
            Param::Temperature => Mapped("options.temperature"),
            Param::TopP => Mapped("options.top_p"),
            Param::TopK => Mapped("options.top_k"),
            Param::MaxTokens => Mapped("options.num_predict"),
            Param::Stop => Mapped("options.stop"),
            Param::Seed => Mapped("options.seed"),
            Param::FrequencyPenalty => Mapped("options.frequency_penalty"),
            Param::PresencePenalty => Mapped("options.presence_penalty"),
            Param::ImageData => Mapped("images"),
            Param::Logprobs => Mapped("logprobs"),
            Param::TopLogprobs => Mapped("top_logprobs"),
            Param::CacheControl => Mapped("prompt prefix cache"),
            Param::ExtraBody => Mapped("merged into the body"),
            Param::ToolChoiceRequired
            | Param::ToolChoiceNamed
            | Param::ParallelToolCalls
            | Param::N
            | Param::User
            | Param::ImageUrl
            | Param::InputAudio
            | Param::File
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

    fn default_base(&self, _ep: &Endpoint) -> String {
        "http://localhost:11434".into()
    }

    fn url(&self, _ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError> {
        Ok(match op {
            Operation::Chat { .. } => format!("{base}/api/chat"),
            Operation::Embeddings => format!("{base}/api/embed"),
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

    fn native(&self) -> Option<Api> {
        None
    }

    fn encode(&self, req: &ChatRequest<'_>, ep: &Endpoint) -> Result<Bytes, ProviderError> {
        encode(req, &ep.model)
    }

    fn decode<'b>(
        &self,
        body: &'b [u8],
        _ep: &Endpoint,
    ) -> Result<ChatResponse<'b>, ProviderError> {
        let r: InLine<'_> = serde_json::from_slice(body).map_err(|e| {
            ProviderError::bad_gateway(format!("upstream sent an invalid answer: {e}"))
        })?;
        let usage = r.usage();
        let message = r.message.unwrap_or_default();
        let mut choice = Choice {
            text: message.content.into_owned(),
            logprobs: r.logprobs.as_deref().and_then(logprobs_of),
            ..Choice::default()
        };
        if let Some(t) = message.thinking.filter(|t| !t.is_empty()) {
            choice.thinking.push(Thinking {
                text: t,
                signature: None,
                redacted: false,
            });
        }
        choice.tool_calls = message.tool_calls.into_iter().map(call_of).collect();
        choice.finish = finish_in(r.done_reason.as_deref(), !choice.tool_calls.is_empty());
        Ok(ChatResponse {
            id: Cow::Owned(format!("ollama-{}", crate::shared::now())),
            model: r.model,
            choices: vec![choice],
            usage: Some(usage),
        })
    }

    fn stream(&self, _ep: &Endpoint) -> (Framing, Box<dyn Decoder>) {
        (Framing::ndjson(), Box::new(OllamaDecoder::default()))
    }

    fn embeddings(&self) -> Option<&dyn Embeddings> {
        Some(self)
    }
}

// === embeddings ===

impl Embeddings for Ollama {
    fn request(&self, req: &Value, ep: &Endpoint) -> Result<Value, ProviderError> {
        Ok(json!({"model": ep.model, "input": super::embedding_inputs(req)?}))
    }

    fn response(&self, resp: &Value, model: &str) -> Value {
        let vectors = resp
            .get("embeddings")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let tokens = resp
            .get("prompt_eval_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        super::embeddings_list(vectors, model, tokens)
    }
}
