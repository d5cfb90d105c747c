//! Amazon SageMaker endpoints serving the OpenAI-style Messages API (TGI ≥ 1.4, LMI):
//! `sagemaker_chat/ENDPOINT` is `InvokeEndpoint` (`/endpoints/NAME/invocations`) and
//! `InvokeEndpointWithResponseStream` (`…/invocations-response-stream`, the model's
//! SSE stream cut into event-stream `PayloadPart`s), SigV4-signed for `sagemaker`.
//!
//! LiteLLM's plain `sagemaker/ENDPOINT` renders the conversation into one prompt with
//! a model-specific chat template and sends TGI's legacy `{"inputs", "parameters"}`;
//! the gateway renders no chat templates, so that prefix is refused with the way
//! out (see [`parse_legacy`]).

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use serde::Deserialize;

use super::{Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::formats::openai::{encode, response, stream::OpenAiDecoder};
use crate::model::{ChatRequest, ChatResponse};
use crate::stream::{Decoder, Framing};
use crate::{Api, Endpoint, Provider, ProviderError};

/// The SageMaker chat adapter.
#[derive(Debug)]
pub(crate) struct SagemakerChat;

/// `sagemaker_chat/ENDPOINT`: the name is one path segment, so it must be an endpoint
/// name as SageMaker defines them (letters, digits, hyphens; at most 63).
pub(crate) fn parse_model<'m>(
    model: &str,
    name: &'m str,
) -> Result<(Provider, &'m str, Option<&'static str>), String> {
    let valid = name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid {
        return Err(format!(
            "`{model}`: `{name}` is not a SageMaker endpoint name (letters, digits and \
             hyphens, at most 63, starting and ending with a letter or digit)"
        ));
    }
    Ok((Provider::SagemakerChat, name, None))
}

/// `sagemaker/ENDPOINT`: refused, naming what is not carried and the prefix that is.
pub(crate) fn parse_legacy(model: &str, name: &str) -> String {
    format!(
        "`{model}`: LiteLLM's `sagemaker/` sends TGI's legacy text format (`inputs` rendered \
         by a model-specific chat template, `parameters`), which the gateway does not \
         render; an endpoint serving the Messages API (TGI 1.4 or later, LMI) is \
         `sagemaker_chat/{name}`"
    )
}

impl Adapter for SagemakerChat {
    fn provider(&self) -> Provider {
        Provider::SagemakerChat
    }

    fn support(&self, p: Param) -> Support {
        use Support::{Mapped, Refused};
        match p {
            Param::Tools => Mapped("tools"),
            Param::ToolChoiceNone | Param::ToolChoiceRequired | Param::ToolChoiceNamed => {
                Mapped("tool_choice")
            }
            Param::Temperature => Mapped("temperature"),
            Param::TopP => Mapped("top_p"),
            Param::MaxTokens => Mapped("max_tokens"),
            Param::Stop => Mapped("stop"),
            Param::Seed => Mapped("seed"),
            Param::FrequencyPenalty => Mapped("frequency_penalty"),
            Param::PresencePenalty => Mapped("presence_penalty"),
            Param::Logprobs => Mapped("logprobs"),
            Param::TopLogprobs => Mapped("top_logprobs"),
            Param::ImageUrl | Param::ImageData => Mapped("image_url"),
            Param::ExtraBody => Mapped("merged into the body"),
            // TGI's `response_format` is `{"type": "json", "value": SCHEMA}`, not
            // OpenAI's; `n` and the rest are not in its Messages API.
            Param::JsonObject
            | Param::JsonSchema
            | Param::N
            | Param::ParallelToolCalls
            | Param::ReasoningEffort
            | Param::TopK
            | Param::User
            | Param::InputAudio
            | Param::File
            | Param::CacheControl
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
        let region = ep.aws.as_ref().map_or("us-east-1", |a| a.region.as_str());
        format!("https://runtime.sagemaker.{region}.amazonaws.com")
    }

    fn url(&self, ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError> {
        let method = match op {
            Operation::Chat { stream: false } => "invocations",
            Operation::Chat { stream: true } => "invocations-response-stream",
            Operation::Embeddings => {
                return Err(ProviderError::bad_request(
                    "sagemaker_chat endpoints serve chat; embeddings are not carried",
                ))
            }
        };
        Ok(format!("{base}/endpoints/{}/{method}", ep.model))
    }

    fn auth(&self, _ep: &Endpoint, _headers: &mut http::HeaderMap) -> Result<(), ProviderError> {
        // Each request is signed as a whole (SigV4, service `sagemaker`) when sent.
        Ok(())
    }

    fn native(&self) -> Option<Api> {
        // OpenAI's format, but streams come in event-stream frames: always translated.
        None
    }

    fn encode(&self, req: &ChatRequest<'_>, ep: &Endpoint) -> Result<Bytes, ProviderError> {
        // `stream: true` stays in the body: TGI streams only when asked there too.
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
        (
            Framing::event_stream_sse(),
            Box::new(OpenAiDecoder::default()),
        )
    }

    fn embeddings(&self) -> Option<&dyn Embeddings> {
        None
    }

    fn upstream_error(
        &self,
        status: StatusCode,
        headers: &http::HeaderMap,
        body: &[u8],
        secret: Option<&str>,
    ) -> ProviderError {
        // `x-amzn-ErrorType: ModelError:http://internal.amazon.com/…`
        let kind = headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(':').next())
            .filter(|k| !k.is_empty());
        let why = serde_json::from_slice::<AwsError>(body).ok();
        let status = match (kind, &why) {
            // The model container's own answer (424): its status is the one that counts.
            (
                _,
                Some(AwsError {
                    original_status: Some(code),
                    ..
                }),
            ) => StatusCode::from_u16(*code).unwrap_or(status),
            (Some("ThrottlingException" | "ModelNotReadyException"), _) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            (Some("ServiceUnavailable"), _) => StatusCode::SERVICE_UNAVAILABLE,
            _ => status,
        };
        let retry_after = headers.get(http::header::RETRY_AFTER).cloned().or_else(|| {
            (status == StatusCode::TOO_MANY_REQUESTS)
                .then(|| HeaderValue::from(super::bedrock::THROTTLE_RETRY_AFTER_S))
        });
        let message = why.and_then(|w| w.original_message.or(w.message));
        let err = match message {
            Some(m) => {
                let inner = serde_json::json!({"error": {"message": m}}).to_string();
                ProviderError::from_upstream(status, inner.as_bytes(), retry_after, secret)
            }
            None => ProviderError::from_upstream(status, body, retry_after, secret),
        };
        match kind {
            Some(kind) => err.with_code(kind),
            None => err,
        }
    }
}

/// SageMaker runtime's error body: `{"message": …}`, or for a model's own error
/// (`ModelError`, 424) `{"ErrorCode", "Message", "OriginalStatusCode", "OriginalMessage"}`.
#[derive(Deserialize)]
struct AwsError {
    #[serde(default, alias = "Message")]
    message: Option<String>,
    #[serde(default, rename = "OriginalMessage")]
    original_message: Option<String>,
    #[serde(default, rename = "OriginalStatusCode")]
    original_status: Option<u16>,
}

/// A stream's `:exception-type` message (`ModelStreamError`, `InternalStreamFailure`)
/// as an error in the OpenAI contract.
pub(crate) fn exception(kind: &str, payload: &str) -> ProviderError {
    let status = match kind {
        "InternalStreamFailure" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    };
    let message = serde_json::from_str::<AwsError>(payload)
        .ok()
        .and_then(|w| w.message);
    let err = match message {
        Some(m) => {
            let inner = serde_json::json!({"error": {"message": m}}).to_string();
            ProviderError::from_upstream(status, inner.as_bytes(), None, None)
        }
        None => ProviderError::from_upstream(status, payload.as_bytes(), None, None),
    };
    if kind.is_empty() {
        err
    } else {
        err.with_code(kind)
    }
}
