//! Amazon Bedrock: the Converse and ConverseStream APIs (event-stream framing),
//! InvokeModel for Titan and Cohere embeddings, SigV4-signed.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

mod request;
mod response;

use self::response::{decode, BedrockDecoder};
use super::{Adapter, Embeddings, Operation};

use crate::capability::{Param, Support};
use crate::model::{ChatRequest, ChatResponse};
use crate::stream::{Decoder, Framing};
use crate::{Api, Endpoint, Provider, ProviderError};

/// `Retry-After` (seconds) given with a throttling error, which Bedrock sends without
/// one: the first back-off of AWS's own SDKs.
pub const THROTTLE_RETRY_AFTER_S: u32 = 1;

/// The Bedrock adapter.
#[derive(Debug)]
pub(crate) struct Bedrock;

/// `bedrock/MODEL` as LiteLLM writes it: `bedrock/converse/MODEL` is the same,
/// `MODEL` may be a model id, a cross-region inference profile id (`us.…`) or an ARN.
pub(crate) fn parse_model<'m>(
    model: &str,
    name: &'m str,
) -> Result<(Provider, &'m str, Option<&'static str>), String> {
    let id = name.strip_prefix("converse/").unwrap_or(name);
    if let Some(rest) = id.strip_prefix("invoke/") {
        return Err(format!(
            "`{model}`: the gateway speaks Bedrock's Converse API; write `bedrock/converse/{rest}`"
        ));
    }
    if id.is_empty() {
        return Err(format!("`{model}` names no model after the provider"));
    }
    Ok((Provider::Bedrock, id, None))
}

impl Adapter for Bedrock {
    fn provider(&self) -> Provider {
        Provider::Bedrock
    }

    fn support(&self, p: Param) -> Support {
        use Support::{Mapped, Refused};
        match p {
            Param::Tools => Mapped("toolConfig.tools"),
            Param::ToolChoiceRequired => Mapped("toolChoice.any"),
            Param::ToolChoiceNamed => Mapped("toolChoice.tool"),
            Param::ReasoningEffort => Mapped("additionalModelRequestFields.thinking"),
            Param::Temperature => Mapped("inferenceConfig.temperature"),
            Param::TopP => Mapped("inferenceConfig.topP"),
            Param::TopK => Mapped("additionalModelRequestFields.top_k"),
            Param::MaxTokens => Mapped("inferenceConfig.maxTokens"),
            Param::Stop => Mapped("inferenceConfig.stopSequences"),
            Param::ImageData => Mapped("image.source.bytes"),
            Param::CacheControl => Mapped("cachePoint"),
            Param::ToolResultMedia => Mapped("toolResult content blocks"),
            Param::ExtraBody => Mapped("merged into the body"),
            Param::ToolChoiceNone
            | Param::ParallelToolCalls
            | Param::JsonObject
            | Param::JsonSchema
            | Param::Seed
            | Param::FrequencyPenalty
            | Param::PresencePenalty
            | Param::N
            | Param::Logprobs
            | Param::TopLogprobs
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
            | Param::UnknownPart => Refused,
        }
    }

    fn default_base(&self, ep: &Endpoint) -> String {
        let region = ep.aws.as_ref().map_or("us-east-1", |a| a.region.as_str());
        format!("https://bedrock-runtime.{region}.amazonaws.com")
    }

    fn url(&self, ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError> {
        let method = match op {
            Operation::Chat { stream: false } => "converse",
            Operation::Chat { stream: true } => "converse-stream",
            Operation::Embeddings => "invoke",
        };
        Ok(format!("{base}/model/{}/{method}", path_encode(&ep.model)))
    }

    fn auth(&self, _ep: &Endpoint, _headers: &mut http::HeaderMap) -> Result<(), ProviderError> {
        // Each request is signed as a whole (SigV4) when it is sent.
        Ok(())
    }

    fn native(&self) -> Option<Api> {
        None
    }

    fn encode(&self, req: &ChatRequest<'_>, _ep: &Endpoint) -> Result<Bytes, ProviderError> {
        request::encode(req)
    }

    fn decode<'b>(&self, body: &'b [u8], ep: &Endpoint) -> Result<ChatResponse<'b>, ProviderError> {
        decode(body, &ep.model)
    }

    fn stream(&self, ep: &Endpoint) -> (Framing, Box<dyn Decoder>) {
        (
            Framing::event_stream(),
            Box::new(BedrockDecoder::new(&ep.model)),
        )
    }

    fn embeddings(&self) -> Option<&dyn Embeddings> {
        Some(self)
    }

    fn upstream_error(
        &self,
        status: StatusCode,
        headers: &http::HeaderMap,
        body: &[u8],
        secret: Option<&str>,
    ) -> ProviderError {
        // `x-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/…`
        let kind = headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(':').next())
            .filter(|k| !k.is_empty());
        let status = match kind {
            Some("ThrottlingException" | "ModelNotReadyException") => StatusCode::TOO_MANY_REQUESTS,
            Some("ServiceUnavailableException") => StatusCode::SERVICE_UNAVAILABLE,
            _ => status,
        };
        let retry_after = headers.get(http::header::RETRY_AFTER).cloned().or_else(|| {
            (status == StatusCode::TOO_MANY_REQUESTS)
                .then(|| HeaderValue::from(THROTTLE_RETRY_AFTER_S))
        });
        let err = ProviderError::from_upstream(status, body, retry_after, secret);
        match kind {
            Some(kind) => err.with_code(kind),
            None => err,
        }
    }
}

/// A stream's `:exception-type` message as an error in the OpenAI contract.
pub(crate) fn exception(kind: &str, payload: &str) -> ProviderError {
    let status = match kind {
        "throttlingException" => StatusCode::TOO_MANY_REQUESTS,
        "serviceUnavailableException" => StatusCode::SERVICE_UNAVAILABLE,
        "validationException" => StatusCode::BAD_REQUEST,
        "internalServerException" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    };
    let retry_after = (status == StatusCode::TOO_MANY_REQUESTS)
        .then(|| HeaderValue::from(THROTTLE_RETRY_AFTER_S));
    let err = ProviderError::from_upstream(status, payload.as_bytes(), retry_after, None);
    if kind.is_empty() {
        err
    } else {
        err.with_code(kind)
    }
}

/// A model id, inference profile id or ARN as one path segment (`:` and `/` escaped,
/// as AWS's SDKs send it; the signer encodes the path again, as SigV4 wants).
fn path_encode(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// === embeddings (InvokeModel) ===

/// Which embedding family a model id belongs to.
fn is_cohere(model: &str) -> bool {
    model.contains("cohere.")
}

impl Embeddings for Bedrock {
    fn request(&self, req: &Value, ep: &Endpoint) -> Result<Value, ProviderError> {
        let inputs = super::embedding_inputs(req)?;
        if is_cohere(&ep.model) {
            let input_type = req
                .get("input_type")
                .and_then(Value::as_str)
                .unwrap_or("search_document");
            return Ok(json!({"texts": inputs, "input_type": input_type}));
        }
        // Titan embeds one text per request.
        let [text] = inputs.as_slice() else {
            return Err(ProviderError::bad_request(format!(
                "bedrock `{}` embeds one input per request; got {}",
                ep.model,
                inputs.len()
            )));
        };
        let mut body = json!({"inputText": text});
        if let Some(d) = req.get("dimensions") {
            body["dimensions"] = d.clone();
        }
        Ok(body)
    }

    fn response(&self, resp: &Value, model: &str) -> Value {
        if let Some(vector) = resp.get("embedding") {
            let tokens = resp
                .get("inputTextTokenCount")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            return super::embeddings_list(vec![vector.clone()], model, tokens);
        }
        // Cohere: `embeddings` is a list of vectors, or by type (`{"float": [...]}`).
        let list = match resp.get("embeddings") {
            Some(Value::Array(list)) => list.clone(),
            Some(by_type) => by_type
                .get("float")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            None => Vec::new(),
        };
        super::embeddings_list(list, model, 0)
    }
}
