//! IBM watsonx.ai: the text chat API (`/ml/v1/text/chat`, `/ml/v1/text/chat_stream`
//! with `?version=`), OpenAI-shaped messages with `model_id` and `project_id` (or
//! `space_id`) in the body, models deployed to a space at
//! `/ml/v1/deployments/ID/text/chat`, text embeddings; a bearer token from IBM Cloud
//! IAM ([`crate::ibm`]) or a static `token`.

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{sensitive, Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::formats::openai::{encode, response, stream::OpenAiDecoder};
use crate::ibm::DEFAULT_WATSONX_VERSION;
use crate::model::{ChatRequest, ChatResponse, Delta, ToolChoice};
use crate::request::{edit_top_level, json_string};
use crate::stream::{Decoder, Framing, Sink};
use crate::{Api, Endpoint, Provider, ProviderError};

/// The watsonx.ai adapter.
#[derive(Debug)]
pub(crate) struct Watsonx;

/// `watsonx/MODEL_ID` or `watsonx/deployment/ID`; a deployment id (or serving name)
/// goes into the URL path, so it must be one segment of letters, digits, `-` and `_`.
pub(crate) fn parse_model<'m>(
    model: &str,
    name: &'m str,
) -> Result<(Provider, &'m str, Option<&'static str>), String> {
    if let Some(id) = name.strip_prefix("deployment/") {
        let valid = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!(
                "`{model}`: `{id}` is not a watsonx.ai deployment id or serving name \
                 (letters, digits, `-` and `_`)"
            ));
        }
    }
    Ok((Provider::Watsonx, name, None))
}

/// The deployment id of `watsonx/deployment/ID`, if the model is one.
fn deployment(ep: &Endpoint) -> Option<&str> {
    ep.model.strip_prefix("deployment/")
}

impl Adapter for Watsonx {
    fn provider(&self) -> Provider {
        Provider::Watsonx
    }

    fn support(&self, p: Param) -> Support {
        use Support::{Mapped, Refused};
        match p {
            Param::Tools => Mapped("tools"),
            Param::ToolChoiceNone | Param::ToolChoiceRequired => Mapped("tool_choice_option"),
            Param::ToolChoiceNamed => Mapped("tool_choice"),
            Param::JsonObject | Param::JsonSchema => Mapped("response_format"),
            Param::Temperature => Mapped("temperature"),
            Param::TopP => Mapped("top_p"),
            Param::MaxTokens => Mapped("max_tokens"),
            Param::Stop => Mapped("stop"),
            Param::Seed => Mapped("seed"),
            Param::FrequencyPenalty => Mapped("frequency_penalty"),
            Param::PresencePenalty => Mapped("presence_penalty"),
            Param::N => Mapped("n"),
            Param::Logprobs => Mapped("logprobs"),
            Param::TopLogprobs => Mapped("top_logprobs"),
            // The chat API takes images as base64 data URLs only.
            Param::ImageData => Mapped("image_url (data URL)"),
            Param::ExtraBody => Mapped("merged into the body"),
            Param::ParallelToolCalls
            | Param::ReasoningEffort
            | Param::TopK
            | Param::User
            | Param::ImageUrl
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

    fn default_base(&self, _ep: &Endpoint) -> String {
        // The instance's regional URL (`https://us-south.ml.cloud.ibm.com`) comes from
        // the deployment (`Endpoint::validate` insists), this is the one in IBM's docs.
        "https://us-south.ml.cloud.ibm.com".into()
    }

    fn url(&self, ep: &Endpoint, base: &str, op: Operation) -> Result<String, ProviderError> {
        let version = ep.api_version.as_deref().unwrap_or(DEFAULT_WATSONX_VERSION);
        let method = match op {
            Operation::Chat { stream: false } => "text/chat",
            Operation::Chat { stream: true } => "text/chat_stream",
            Operation::Embeddings if deployment(ep).is_some() => {
                return Err(ProviderError::bad_request(
                    "watsonx.ai deployments have no embeddings API; name the model (`watsonx/MODEL_ID`)",
                ))
            }
            Operation::Embeddings => "text/embeddings",
        };
        Ok(match deployment(ep) {
            Some(id) => format!("{base}/ml/v1/deployments/{id}/{method}?version={version}"),
            None => format!("{base}/ml/v1/{method}?version={version}"),
        })
    }

    fn auth(&self, ep: &Endpoint, headers: &mut http::HeaderMap) -> Result<(), ProviderError> {
        // A static token; an API key's IAM token is added per request.
        if let Some(token) = ep.watsonx.as_ref().and_then(|w| w.token.as_ref()) {
            headers.insert(
                AUTHORIZATION,
                sensitive(&format!("Bearer {}", token.expose()))?,
            );
        }
        Ok(())
    }

    fn native(&self) -> Option<Api> {
        // OpenAI-shaped, but `model` is `model_id` and the project goes in the body.
        None
    }

    fn encode(&self, req: &ChatRequest<'_>, ep: &Endpoint) -> Result<Bytes, ProviderError> {
        let body = encode::encode(req, &ep.model)?;
        let mut set: Vec<(&str, String)> = scope(ep)
            .into_iter()
            .map(|(k, v)| (k, json_string(v)))
            .collect();
        let mut remove = vec!["model", "stream", "stream_options"];
        // `tool_choice` takes a named tool only; the modes are `tool_choice_option`.
        let mode = match req.tool_choice {
            Some(ToolChoice::Auto) => Some("auto"),
            Some(ToolChoice::None) => Some("none"),
            Some(ToolChoice::Required) => Some("required"),
            Some(ToolChoice::Named(_)) | None => None,
        };
        if let Some(mode) = mode {
            set.push(("tool_choice_option", json_string(mode)));
            remove.push("tool_choice");
        }
        let set: Vec<(&str, &str)> = set.iter().map(|(k, v)| (*k, v.as_str())).collect();
        edit_top_level(&body, &set, &remove)
    }

    fn decode<'b>(
        &self,
        body: &'b [u8],
        _ep: &Endpoint,
    ) -> Result<ChatResponse<'b>, ProviderError> {
        // The answer is OpenAI's `chat.completion` with `model_id` for `model`.
        response::decode(body)
    }

    fn stream(&self, _ep: &Endpoint) -> (Framing, Box<dyn Decoder>) {
        (Framing::sse(), Box::new(WatsonxDecoder::default()))
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
        let retry_after = headers.get(http::header::RETRY_AFTER).cloned();
        // `{"errors": [{"code": "…", "message": "…"}], "trace": "…", "status_code": 400}`
        let first = serde_json::from_slice::<WatsonxErrors>(body)
            .ok()
            .and_then(|e| e.errors.into_iter().next());
        match first {
            Some(e) => {
                let inner = json!({"error": {"message": e.message, "code": e.code}}).to_string();
                ProviderError::from_upstream(status, inner.as_bytes(), retry_after, secret)
            }
            None => ProviderError::from_upstream(status, body, retry_after, secret),
        }
    }
}

/// `chat_stream`'s SSE `event: message` events carry OpenAI chunks, but the stream
/// ends without `data: [DONE]`: the last chunk's `finish_reason` (with `usage`) is
/// its end marker. An `event: error` (or an `{"errors": …}` event) ends it with the
/// upstream's error.
#[derive(Debug, Default)]
struct WatsonxDecoder {
    inner: OpenAiDecoder,
    finished: bool,
}

impl Decoder for WatsonxDecoder {
    fn event(
        &mut self,
        event: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError> {
        if event == Some("error") || data.starts_with("{\"errors\"") {
            let status = serde_json::from_str::<Value>(data)
                .ok()
                .and_then(|v| v.get("status_code").and_then(Value::as_u64))
                .and_then(|c| StatusCode::from_u16(u16::try_from(c).ok()?).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
            return Err(Watsonx.upstream_error(
                status,
                &http::HeaderMap::new(),
                data.as_bytes(),
                None,
            ));
        }
        let mut watch = Watch {
            out,
            finished: &mut self.finished,
        };
        self.inner.event(event, data, &mut watch)
    }

    fn complete(&self) -> bool {
        self.finished || self.inner.complete()
    }
}

/// A sink that notes a `finish_reason` on the way through.
struct Watch<'a> {
    out: &'a mut dyn Sink,
    finished: &'a mut bool,
}

impl Sink for Watch<'_> {
    fn delta(&mut self, d: Delta<'_>) {
        if matches!(d, Delta::Finish { .. }) {
            *self.finished = true;
        }
        self.out.delta(d);
    }
}

#[derive(Deserialize)]
struct WatsonxErrors {
    #[serde(default)]
    errors: Vec<WatsonxError>,
}

#[derive(Deserialize)]
struct WatsonxError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: String,
}

/// `model_id` and `project_id` (else `space_id`): a deployment carries its own model
/// and space, so none of them.
fn scope(ep: &Endpoint) -> Vec<(&'static str, &str)> {
    if deployment(ep).is_some() {
        return Vec::new();
    }
    let mut set = vec![("model_id", ep.model.as_str())];
    let w = ep.watsonx.as_ref();
    if let Some(project) = w.and_then(|w| w.project_id.as_deref()) {
        set.push(("project_id", project));
    } else if let Some(space) = w.and_then(|w| w.space_id.as_deref()) {
        set.push(("space_id", space));
    }
    set
}

// === embeddings (`/ml/v1/text/embeddings`) ===

impl Embeddings for Watsonx {
    fn request(&self, req: &Value, ep: &Endpoint) -> Result<Value, ProviderError> {
        let inputs = super::embedding_inputs(req)?;
        let mut body = json!({"inputs": inputs});
        for (key, value) in scope(ep) {
            body[key] = Value::from(value);
        }
        if let Some(d) = req.get("dimensions") {
            // watsonx.ai has no output dimensions: refused rather than ignored.
            return Err(ProviderError::unsupported_params(format!(
                "watsonx.ai embeddings have no `dimensions` (got {d}); leave it out"
            )));
        }
        Ok(body)
    }

    fn response(&self, resp: &Value, model: &str) -> Value {
        // `{"model_id": "…", "results": [{"embedding": [...]}], "input_token_count": 5}`
        let vectors = resp
            .get("results")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|e| e.get("embedding").cloned())
                    .collect()
            })
            .unwrap_or_default();
        let tokens = resp
            .get("input_token_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        super::embeddings_list(vectors, model, tokens)
    }
}
