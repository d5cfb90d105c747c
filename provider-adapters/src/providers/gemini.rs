//! Gemini `generateContent` on Google AI Studio and on Vertex AI: everything about it.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{HeaderName, AUTHORIZATION};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::{sensitive, Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::model::{
    ChatRequest, ChatResponse, Choice, Delta, Effort, FinishReason, Part, Reasoning,
    ResponseFormat, Role, Source, Thinking, ToolCall, ToolChoice, Usage,
};
use crate::shared::{args_object, call_id, push_merged, sanitize_schema, Dialect};
use crate::stream::{Decoder, Framing, Sink};
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
            Param::ImageUrl => Mapped("fileData"),
            Param::ImageData => Mapped("inlineData"),
            Param::InputAudio => Mapped("inlineData"),
            Param::File => Mapped("inlineData / fileData"),
            Param::CacheControl => Mapped("implicit caching"),
            Param::ExtraBody => Mapped("merged into the body"),
            Param::ParallelToolCalls
            | Param::Logprobs
            | Param::TopLogprobs
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
            | Param::UnknownPart => Refused,
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

fn location(ep: &Endpoint) -> &str {
    ep.vertex_location.as_deref().unwrap_or("us-central1")
}

// === canonical → generateContent ===

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Out<'r> {
    contents: Vec<OutContent<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<OutSystem<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<Config<'r>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTools<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'r>>,
}

#[derive(Serialize)]
struct OutContent<'r> {
    role: &'static str,
    parts: Vec<OutPart<'r>>,
}

#[derive(Serialize)]
struct OutSystem<'r> {
    parts: Vec<OutPart<'r>>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct OutPart<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<Blob<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<FileData<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<FunctionCall<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_response: Option<FunctionResponse<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<&'r str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Blob<'r> {
    mime_type: Cow<'r, str>,
    data: &'r str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'r> {
    mime_type: Cow<'r, str>,
    file_uri: &'r str,
}

#[derive(Serialize)]
struct FunctionCall<'r> {
    name: &'r str,
    args: Cow<'r, RawValue>,
}

#[derive(Serialize)]
struct FunctionResponse<'r> {
    name: &'r str,
    response: Value,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Config<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'r [Cow<'r, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingConfig>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    include_thoughts: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_budget: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_level: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutTools<'r> {
    function_declarations: Vec<Declaration<'r>>,
}

#[derive(Serialize)]
struct Declaration<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'r> {
    function_calling_config: CallingConfig<'r>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallingConfig<'r> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<[&'r str; 1]>,
}

/// A tool-call id and the Gemini signature carried in it.
pub(crate) fn split_signature(id: &str) -> (&str, Option<&str>) {
    match id.split_once(THOUGHT_SEPARATOR) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

fn part<'r>(p: &'r Part<'r>) -> Option<OutPart<'r>> {
    Some(match p {
        Part::Text { text, .. } => OutPart {
            text: Some(text),
            ..OutPart::default()
        },
        Part::Image { source, .. } | Part::File { source, .. } => media(source, "image/jpeg"),
        Part::Audio { data, format } => OutPart {
            inline_data: Some(Blob {
                mime_type: Cow::Owned(format!("audio/{format}")),
                data,
            }),
            ..OutPart::default()
        },
        Part::Unknown { .. } => return None,
    })
}

fn media<'r>(source: &'r Source<'r>, default_mime: &'static str) -> OutPart<'r> {
    match source {
        Source::Base64 { media_type, data } => OutPart {
            inline_data: Some(Blob {
                mime_type: Cow::Borrowed(media_type),
                data,
            }),
            ..OutPart::default()
        },
        Source::Url(uri) | Source::FileId(uri) => OutPart {
            file_data: Some(FileData {
                mime_type: Cow::Borrowed(default_mime),
                file_uri: uri,
            }),
            ..OutPart::default()
        },
    }
}

/// Encodes `req` as a `generateContent` request for `model`.
pub(crate) fn encode(req: &ChatRequest<'_>, model: &str) -> Result<Bytes, ProviderError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<OutPart<'_>>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System => {
                system.extend(m.content.iter().filter_map(part));
                continue;
            }
            Role::User => ("user", m.content.iter().filter_map(part).collect()),
            Role::Assistant => ("model", assistant_parts(m)),
            Role::Tool => ("user", vec![tool_result(req, i)]),
        };
        push_merged(&mut turns, role, parts);
    }
    let tools = if req.tools.is_empty() {
        Vec::new()
    } else {
        vec![OutTools {
            function_declarations: req
                .tools
                .iter()
                .map(|t| {
                    Ok(Declaration {
                        name: &t.name,
                        description: t.description.as_deref(),
                        parameters: t
                            .parameters
                            .map(|p| sanitize_schema(p, Dialect::GeminiOpenApi))
                            .transpose()?,
                    })
                })
                .collect::<Result<_, ProviderError>>()?,
        }]
    };
    let out = Out {
        contents: turns
            .into_iter()
            .map(|(role, parts)| OutContent { role, parts })
            .collect(),
        system_instruction: (!system.is_empty()).then_some(OutSystem { parts: system }),
        generation_config: config(req, model)?,
        tools,
        tool_config: req.tool_choice.as_ref().map(|c| ToolConfig {
            function_calling_config: match c {
                ToolChoice::Auto => CallingConfig {
                    mode: "AUTO",
                    allowed_function_names: None,
                },
                ToolChoice::None => CallingConfig {
                    mode: "NONE",
                    allowed_function_names: None,
                },
                ToolChoice::Required => CallingConfig {
                    mode: "ANY",
                    allowed_function_names: None,
                },
                ToolChoice::Named(n) => CallingConfig {
                    mode: "ANY",
                    allowed_function_names: Some([n]),
                },
            },
        }),
    };
    crate::shared::body_with_extra(&out, &req.extra)
}

fn assistant_parts<'r>(m: &'r crate::model::Message<'r>) -> Vec<OutPart<'r>> {
    let mut parts = Vec::new();
    for t in m.thinking.iter().filter(|t| !t.redacted) {
        // Only signed thoughts are worth sending back; the signature is what counts.
        if let Some(sig) = &t.signature {
            parts.push(OutPart {
                text: Some(&t.text),
                thought: Some(true),
                thought_signature: Some(sig),
                ..OutPart::default()
            });
        }
    }
    parts.extend(m.content.iter().filter_map(part));
    for c in &m.tool_calls {
        let (_, signature) = split_signature(&c.id);
        parts.push(OutPart {
            function_call: Some(FunctionCall {
                name: &c.name,
                args: args_object(&c.arguments),
            }),
            thought_signature: signature,
            ..OutPart::default()
        });
    }
    parts
}

/// A tool message as a `functionResponse`: Gemini answers a call by function name,
/// found from the call id in an earlier assistant message.
fn tool_result<'r>(req: &'r ChatRequest<'r>, at: usize) -> OutPart<'r> {
    let m = &req.messages[at];
    let id = m.tool_call_id.as_deref().unwrap_or_default();
    let name = m.name.as_deref().or_else(|| {
        req.messages[..at]
            .iter()
            .rev()
            .flat_map(|m| m.tool_calls.iter())
            .find(|c| c.id == id)
            .map(|c| c.name.as_ref())
    });
    let text = m.text();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"content": text}),
    };
    OutPart {
        function_response: Some(FunctionResponse {
            name: name.unwrap_or_else(|| split_signature(id).0),
            response,
        }),
        ..OutPart::default()
    }
}

fn config<'r>(req: &'r ChatRequest<'r>, model: &str) -> Result<Option<Config<'r>>, ProviderError> {
    let s = &req.sampling;
    let mut c = Config {
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        candidate_count: s.n,
        max_output_tokens: s.max_tokens,
        stop_sequences: &s.stop,
        seed: s.seed,
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
        ..Config::default()
    };
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => c.response_mime_type = Some("application/json"),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            c.response_mime_type = Some("application/json");
            if let Some(schema) = schema {
                // Schemas with references need the JSON Schema field; others go in
                // the OpenAPI subset every Gemini model takes.
                if schema.get().contains("\"$ref\"") {
                    let mut v: Value = serde_json::from_str(schema.get()).map_err(|e| {
                        ProviderError::bad_request(format!("invalid JSON schema: {e}"))
                    })?;
                    if let Some(o) = v.as_object_mut() {
                        o.remove("$schema");
                    }
                    c.response_json_schema = Some(v);
                } else {
                    c.response_schema = Some(sanitize_schema(schema, Dialect::GeminiOpenApi)?);
                }
            }
        }
    }
    c.thinking_config = req.reasoning.map(|r| thinking(r, model));
    let empty = c.temperature.is_none()
        && c.top_p.is_none()
        && c.top_k.is_none()
        && c.candidate_count.is_none()
        && c.max_output_tokens.is_none()
        && c.stop_sequences.is_empty()
        && c.seed.is_none()
        && c.presence_penalty.is_none()
        && c.frequency_penalty.is_none()
        && c.response_mime_type.is_none()
        && c.thinking_config.is_none();
    Ok((!empty).then_some(c))
}

/// Gemini 3 takes a thinking level; earlier models a token budget (0 turns it off).
fn thinking(r: Reasoning, model: &str) -> ThinkingConfig {
    if model.contains("gemini-3") {
        let level = match r.effort() {
            Effort::None | Effort::Minimal | Effort::Low => "low",
            Effort::Medium | Effort::High => "high",
        };
        return ThinkingConfig {
            include_thoughts: true,
            thinking_budget: None,
            thinking_level: Some(level),
        };
    }
    let budget = r.budget().unwrap_or(0);
    ThinkingConfig {
        include_thoughts: budget > 0,
        thinking_budget: Some(budget),
        thinking_level: None,
    }
}

// === generateContent response → canonical ===

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InResponse<'a> {
    #[serde(default, borrow)]
    candidates: Vec<InCandidate<'a>>,
    #[serde(default)]
    usage_metadata: Option<InUsage>,
    #[serde(default, borrow)]
    response_id: Cow<'a, str>,
    #[serde(default, borrow)]
    model_version: Cow<'a, str>,
    #[serde(default, borrow)]
    prompt_feedback: Option<InFeedback<'a>>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InFeedback<'a> {
    #[serde(default, borrow)]
    block_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InCandidate<'a> {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default, borrow)]
    content: Option<InContent<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InContent<'a> {
    #[serde(default, borrow)]
    parts: Vec<InPart<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InPart<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default, borrow)]
    thought_signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    function_call: Option<InCall<'a>>,
}

#[derive(Deserialize)]
struct InCall<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    args: Option<&'a RawValue>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct InUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
}

impl InUsage {
    fn usage(self) -> Usage {
        Usage {
            input: self.prompt_token_count,
            output: self.candidates_token_count + self.thoughts_token_count,
            cached_input: self.cached_content_token_count,
            cache_creation: 0,
            reasoning: self.thoughts_token_count,
        }
    }
}

fn finish_in(reason: Option<&str>, has_calls: bool) -> FinishReason {
    match reason {
        Some("MAX_TOKENS") => FinishReason::Length,
        Some(
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY",
        ) => FinishReason::ContentFilter,
        _ if has_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// A fresh id for a call (Gemini's own if it gave one), with its signature.
fn call_of<'a>(call: InCall<'a>, signature: Option<&str>) -> ToolCall<'a> {
    let id = call.id.map_or_else(call_id, Cow::into_owned);
    ToolCall {
        id: Cow::Owned(match signature {
            Some(sig) => format!("{id}{THOUGHT_SEPARATOR}{sig}"),
            None => id,
        }),
        name: call.name,
        arguments: Cow::Borrowed(call.args.map_or("{}", |a| a.get())),
    }
}

fn choice_of(c: InCandidate<'_>) -> Choice<'_> {
    let mut choice = Choice::default();
    for p in c.content.map(|c| c.parts).unwrap_or_default() {
        match (p.function_call, p.thought == Some(true), p.text) {
            (Some(call), ..) => choice
                .tool_calls
                .push(call_of(call, p.thought_signature.as_deref())),
            (None, true, text) => choice.thinking.push(Thinking {
                text: text.unwrap_or_default(),
                signature: p.thought_signature,
                redacted: false,
            }),
            (None, false, Some(text)) => choice.text.push_str(&text),
            (None, false, None) => {}
        }
    }
    choice.finish = finish_in(c.finish_reason.as_deref(), !choice.tool_calls.is_empty());
    choice
}

fn decode<'a>(r: InResponse<'a>, model: &str) -> ChatResponse<'a> {
    let blocked = r.prompt_feedback.and_then(|f| f.block_reason).is_some();
    let mut choices: Vec<Choice<'a>> = r.candidates.into_iter().map(choice_of).collect();
    if choices.is_empty() {
        choices.push(Choice {
            finish: if blocked {
                FinishReason::ContentFilter
            } else {
                FinishReason::Stop
            },
            ..Choice::default()
        });
    }
    ChatResponse {
        id: if r.response_id.is_empty() {
            Cow::Borrowed("gemini")
        } else {
            r.response_id
        },
        model: if r.model_version.is_empty() {
            Cow::Owned(model.to_string())
        } else {
            r.model_version
        },
        choices,
        usage: Some(r.usage_metadata.map_or_else(Usage::default, InUsage::usage)),
    }
}

// === streamGenerateContent → canonical deltas ===

/// Decodes `streamGenerateContent?alt=sse` events: each one a whole response chunk.
#[derive(Debug)]
pub(crate) struct GeminiDecoder {
    model: String,
    started: bool,
    /// Tool calls so far, per choice.
    calls: Vec<u32>,
    done: bool,
}

impl GeminiDecoder {
    pub(crate) fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            started: false,
            calls: Vec::new(),
            done: false,
        }
    }
}

impl Decoder for GeminiDecoder {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError> {
        let r: InResponse<'_> = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream chunk"))?;
        if r.error.is_some() {
            return Err(ProviderError::from_upstream(
                http::StatusCode::BAD_GATEWAY,
                data.as_bytes(),
                None,
                None,
            ));
        }
        let usage = r.usage_metadata.map(InUsage::usage);
        if !self.started {
            self.started = true;
            let model = if r.model_version.is_empty() {
                self.model.as_str()
            } else {
                &r.model_version
            };
            let id = if r.response_id.is_empty() {
                "gemini"
            } else {
                &r.response_id
            };
            out.delta(Delta::Start {
                id,
                model,
                input_tokens: usage.map(|u| u.input),
            });
        }
        let blocked = r.prompt_feedback.and_then(|f| f.block_reason).is_some();
        let mut finished = false;
        for (i, c) in r.candidates.into_iter().enumerate() {
            let choice = c.index.unwrap_or(i as u32);
            let reason = c.finish_reason.clone();
            self.parts(choice, c, out);
            if let Some(reason) = reason {
                let calls = self.calls.get(choice as usize).copied().unwrap_or(0);
                out.delta(Delta::Finish {
                    choice,
                    reason: finish_in(Some(&reason), calls > 0),
                });
                finished = true;
            }
        }
        if blocked && !finished {
            out.delta(Delta::Finish {
                choice: 0,
                reason: FinishReason::ContentFilter,
            });
            finished = true;
        }
        if let Some(u) = usage {
            out.delta(Delta::Usage(u));
        }
        self.done |= finished;
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

impl GeminiDecoder {
    fn parts(&mut self, choice: u32, c: InCandidate<'_>, out: &mut dyn Sink) {
        for p in c.content.map(|c| c.parts).unwrap_or_default() {
            let signature = p.thought_signature.as_deref();
            match (p.function_call, p.thought == Some(true), p.text.as_deref()) {
                (Some(call), ..) => {
                    if self.calls.len() <= choice as usize {
                        self.calls.resize(choice as usize + 1, 0);
                    }
                    let index = self.calls[choice as usize];
                    self.calls[choice as usize] += 1;
                    let ToolCall {
                        id,
                        name,
                        arguments,
                    } = call_of(call, signature);
                    out.delta(Delta::ToolCall {
                        choice,
                        index,
                        start: Some((id, &name)),
                        arguments,
                    });
                }
                (None, true, text) => out.delta(Delta::Thinking {
                    choice,
                    text: text.unwrap_or_default(),
                    signature,
                }),
                (None, false, Some(text)) if !text.is_empty() => {
                    out.delta(Delta::Text { choice, text })
                }
                (None, false, _) => {}
            }
        }
    }
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
