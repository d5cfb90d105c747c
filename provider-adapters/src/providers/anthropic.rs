//! Anthropic's Messages API: everything about it. `/v1/messages` requests from
//! Anthropic-format clients pass through; OpenAI-format ones are encoded here.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{sensitive, Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::model::{
    ChatRequest, ChatResponse, Choice, Delta, FinishReason, Part, Reasoning, ResponseFormat, Role,
    Source, Thinking, ToolCall, ToolChoice, Usage,
};
use crate::shared::{args_object, push_merged};
use crate::stream::{Decoder, Framing, Sink};
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

// === canonical → Messages request ===

#[derive(Serialize)]
struct Out<'r> {
    model: &'r str,
    messages: Vec<OutMessage<'r>>,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<OutSystem<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'r [Cow<'r, str>],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutChoice<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutConfig<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<OutMetadata<'r>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutSystem<'r> {
    Text(Cow<'r, str>),
    Blocks(Vec<OutBlock<'r>>),
}

#[derive(Serialize)]
struct OutMessage<'r> {
    role: &'static str,
    content: Vec<OutBlock<'r>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutBlock<'r> {
    Text {
        text: &'r str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'r RawValue>,
    },
    Image {
        source: OutSource<'r>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'r RawValue>,
    },
    Document {
        source: OutSource<'r>,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'r str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'r RawValue>,
    },
    Thinking {
        thinking: &'r str,
        signature: &'r str,
    },
    RedactedThinking {
        data: &'r str,
    },
    ToolUse {
        id: &'r str,
        name: &'r str,
        input: Cow<'r, RawValue>,
    },
    ToolResult {
        tool_use_id: &'r str,
        content: Cow<'r, str>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutSource<'r> {
    Base64 { media_type: &'r str, data: &'r str },
    Url { url: &'r str },
    File { file_id: &'r str },
}

#[derive(Serialize)]
struct OutTool<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    input_schema: Cow<'r, RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'r RawValue>,
}

#[derive(Serialize)]
struct OutChoice<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
struct OutThinking {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    budget_tokens: Option<u64>,
}

#[derive(Serialize)]
struct OutConfig<'r> {
    format: OutFormat<'r>,
}

#[derive(Serialize)]
struct OutFormat<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: Cow<'r, RawValue>,
}

#[derive(Serialize)]
struct OutMetadata<'r> {
    user_id: &'r str,
}

fn source<'r>(s: &'r Source<'r>) -> OutSource<'r> {
    match s {
        Source::Base64 { media_type, data } => OutSource::Base64 { media_type, data },
        Source::Url(url) => OutSource::Url { url },
        Source::FileId(file_id) => OutSource::File { file_id },
    }
}

fn block<'r>(p: &'r Part<'r>) -> Option<OutBlock<'r>> {
    Some(match p {
        Part::Text {
            text,
            cache_control,
        } => OutBlock::Text {
            text,
            cache_control: *cache_control,
        },
        Part::Image {
            source: s,
            cache_control,
        } => OutBlock::Image {
            source: source(s),
            cache_control: *cache_control,
        },
        Part::File {
            source: s,
            filename,
            cache_control,
        } => OutBlock::Document {
            source: source(s),
            title: filename.as_deref(),
            cache_control: *cache_control,
        },
        // Refused by the capability table before encoding.
        Part::Audio { .. } | Part::Unknown { .. } => return None,
    })
}

fn schema_or_object(raw: Option<&RawValue>) -> Cow<'_, RawValue> {
    match raw {
        Some(raw) => Cow::Borrowed(raw),
        None => Cow::Owned(
            RawValue::from_string(r#"{"type":"object"}"#.to_string())
                .unwrap_or_else(|_| crate::shared::empty_object()),
        ),
    }
}

/// Encodes `req` as a Messages request for `model`.
pub(crate) fn encode(req: &ChatRequest<'_>, model: &str) -> Result<Bytes, ProviderError> {
    let mut system: Vec<&Part<'_>> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<OutBlock<'_>>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::System => {
                system.extend(m.content.iter());
                continue;
            }
            Role::User => ("user", m.content.iter().filter_map(block).collect()),
            Role::Tool => (
                "user",
                vec![OutBlock::ToolResult {
                    tool_use_id: m.tool_call_id.as_deref().unwrap_or_default(),
                    content: m.text(),
                }],
            ),
            Role::Assistant => {
                let mut blocks = Vec::new();
                for t in &m.thinking {
                    match (&t.signature, t.redacted) {
                        (Some(data), true) => blocks.push(OutBlock::RedactedThinking { data }),
                        (Some(signature), false) => blocks.push(OutBlock::Thinking {
                            thinking: &t.text,
                            signature,
                        }),
                        // Unsigned reasoning (another provider's) cannot go back.
                        (None, _) => {}
                    }
                }
                blocks.extend(m.content.iter().filter_map(block));
                for c in &m.tool_calls {
                    blocks.push(OutBlock::ToolUse {
                        id: &c.id,
                        name: &c.name,
                        input: args_object(&c.arguments),
                    });
                }
                ("assistant", blocks)
            }
        };
        // Consecutive messages of one role become one (tool results that answer
        // parallel calls must share one user message).
        push_merged(&mut turns, role, blocks);
    }
    let s = &req.sampling;
    let budget = req.reasoning.and_then(Reasoning::budget);
    let mut max_tokens = s.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(b) = budget {
        // Anthropic wants the thinking budget below `max_tokens`.
        if max_tokens <= b {
            max_tokens += b;
        }
    }
    let out = Out {
        model,
        messages: turns
            .into_iter()
            .map(|(role, content)| OutMessage { role, content })
            .collect(),
        max_tokens,
        system: system_of(&system),
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        stop_sequences: &s.stop,
        stream: req.stream,
        tools: req
            .tools
            .iter()
            .map(|t| OutTool {
                name: &t.name,
                description: t.description.as_deref(),
                input_schema: schema_or_object(t.parameters),
                strict: t.strict,
                cache_control: t.cache_control,
            })
            .collect(),
        tool_choice: tool_choice(req.tool_choice.as_ref(), req.parallel_tool_calls),
        thinking: req.reasoning.map(|r| match r.budget() {
            Some(b) => OutThinking {
                kind: "enabled",
                budget_tokens: Some(b),
            },
            None => OutThinking {
                kind: "disabled",
                budget_tokens: None,
            },
        }),
        output_config: match &req.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(OutConfig {
                format: OutFormat {
                    kind: "json_schema",
                    schema: schema_or_object(*schema),
                },
            }),
            Some(ResponseFormat::Text | ResponseFormat::JsonObject) | None => None,
        },
        metadata: req.user.as_deref().map(|user_id| OutMetadata { user_id }),
    };
    crate::shared::body_with_extra(&out, &req.extra)
}

fn system_of<'r>(parts: &[&'r Part<'r>]) -> Option<OutSystem<'r>> {
    let cached = parts.iter().any(|p| {
        matches!(
            p,
            Part::Text {
                cache_control: Some(_),
                ..
            }
        )
    });
    if cached {
        return Some(OutSystem::Blocks(
            parts.iter().filter_map(|p| block(p)).collect(),
        ));
    }
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } if !text.is_empty() => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    match texts.as_slice() {
        [] => None,
        [one] => Some(OutSystem::Text(Cow::Borrowed(one))),
        many => Some(OutSystem::Text(Cow::Owned(many.join("\n\n")))),
    }
}

fn tool_choice<'r>(
    choice: Option<&'r ToolChoice<'r>>,
    parallel: Option<bool>,
) -> Option<OutChoice<'r>> {
    let disable = (parallel == Some(false)).then_some(true);
    let (kind, name) = match choice {
        None if disable.is_some() => ("auto", None),
        None => return None,
        Some(ToolChoice::Auto) => ("auto", None),
        Some(ToolChoice::None) => ("none", None),
        Some(ToolChoice::Required) => ("any", None),
        Some(ToolChoice::Named(n)) => ("tool", Some(n.as_ref())),
    };
    Some(OutChoice {
        kind,
        name,
        disable_parallel_tool_use: disable.filter(|_| kind != "none"),
    })
}

// === Messages response → canonical ===

#[derive(Deserialize)]
struct InResponse<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    content: Vec<InBlock<'a>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
struct InBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct InUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl InUsage {
    fn usage(self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let created = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input: self.input_tokens.unwrap_or(0) + read + created,
            output: self.output_tokens.unwrap_or(0),
            cached_input: read,
            cache_creation: created,
            reasoning: 0,
        }
    }
}

fn finish_in(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Parses a Messages response.
pub(crate) fn decode(body: &[u8]) -> Result<ChatResponse<'_>, ProviderError> {
    let r: InResponse<'_> = serde_json::from_slice(body)
        .map_err(|e| ProviderError::bad_gateway(format!("upstream sent an invalid answer: {e}")))?;
    let mut choice = Choice {
        finish: finish_in(r.stop_reason.as_deref()),
        ..Choice::default()
    };
    for b in r.content {
        match b.kind.as_ref() {
            "text" => choice.text.push_str(b.text.as_deref().unwrap_or_default()),
            "thinking" => choice.thinking.push(Thinking {
                text: b.thinking.unwrap_or_default(),
                signature: b.signature,
                redacted: false,
            }),
            "redacted_thinking" => choice.thinking.push(Thinking {
                text: Cow::Borrowed(""),
                signature: b.data,
                redacted: true,
            }),
            "tool_use" => choice.tool_calls.push(ToolCall {
                id: b.id.unwrap_or_default(),
                name: b.name.unwrap_or_default(),
                arguments: Cow::Borrowed(b.input.map_or("{}", |i| i.get())),
            }),
            _ => {}
        }
    }
    Ok(ChatResponse {
        id: r.id,
        model: r.model,
        choices: vec![choice],
        usage: r.usage.map(InUsage::usage),
    })
}

// === Messages stream → canonical deltas ===

#[derive(Deserialize)]
struct InEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<InStart<'a>>,
    #[serde(default)]
    index: u64,
    #[serde(default, borrow)]
    content_block: Option<InBlock<'a>>,
    #[serde(default, borrow)]
    delta: Option<InDelta<'a>>,
    #[serde(default)]
    usage: Option<InUsage>,
    #[serde(default, borrow)]
    error: Option<InError<'a>>,
}

#[derive(Deserialize)]
struct InStart<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
struct InDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InError<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Cow<'a, str>,
}

/// Decodes Anthropic stream events.
#[derive(Debug, Default)]
pub(crate) struct AnthropicDecoder {
    usage: Usage,
    /// Content block index → tool call index, for the blocks that are tool calls.
    tools: Vec<(u64, u32)>,
    done: bool,
}

impl Decoder for AnthropicDecoder {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError> {
        let e: InEvent<'_> = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream event"))?;
        match e.kind.as_ref() {
            "message_start" => {
                let m = e.message.unwrap_or(InStart {
                    id: Cow::Borrowed(""),
                    model: Cow::Borrowed(""),
                    usage: None,
                });
                if let Some(u) = m.usage {
                    self.usage = u.usage();
                }
                out.delta(Delta::Start {
                    id: &m.id,
                    model: &m.model,
                    input_tokens: Some(self.usage.input),
                });
            }
            "content_block_start" => {
                if let Some(b) = e.content_block.filter(|b| b.kind == "tool_use") {
                    let index = self.tools.len() as u32;
                    self.tools.push((e.index, index));
                    out.delta(Delta::ToolCall {
                        choice: 0,
                        index,
                        start: Some((
                            b.id.unwrap_or_default(),
                            b.name.as_deref().unwrap_or_default(),
                        )),
                        arguments: Cow::Borrowed(""),
                    });
                }
            }
            "content_block_delta" => self.block_delta(e.index, e.delta, out),
            "message_delta" => {
                if let Some(u) = e.usage {
                    // Output counts are cumulative; input counts come here too lately.
                    let u2 = u.usage();
                    self.usage.output = u2.output;
                    if u.input_tokens.is_some() {
                        self.usage.input = u2.input;
                        self.usage.cached_input = u2.cached_input;
                        self.usage.cache_creation = u2.cache_creation;
                    }
                }
                let stop = e.delta.and_then(|d| d.stop_reason);
                out.delta(Delta::Finish {
                    choice: 0,
                    reason: finish_in(stop.as_deref()),
                });
                out.delta(Delta::Usage(self.usage));
            }
            "message_stop" => self.done = true,
            "error" => {
                let status = match e.error.as_ref().map(|e| e.kind.as_ref()) {
                    Some("overloaded_error") => http::StatusCode::SERVICE_UNAVAILABLE,
                    Some("rate_limit_error") => http::StatusCode::TOO_MANY_REQUESTS,
                    _ => http::StatusCode::BAD_GATEWAY,
                };
                return Err(ProviderError::from_upstream(
                    status,
                    data.as_bytes(),
                    None,
                    None,
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

impl AnthropicDecoder {
    fn block_delta(&self, block: u64, delta: Option<InDelta<'_>>, out: &mut dyn Sink) {
        let Some(d) = delta else { return };
        match d.kind.as_deref() {
            Some("text_delta") => out.delta(Delta::Text {
                choice: 0,
                text: d.text.as_deref().unwrap_or_default(),
            }),
            Some("thinking_delta") => out.delta(Delta::Thinking {
                choice: 0,
                text: d.thinking.as_deref().unwrap_or_default(),
                signature: None,
            }),
            Some("signature_delta") => out.delta(Delta::Thinking {
                choice: 0,
                text: "",
                signature: d.signature.as_deref(),
            }),
            Some("input_json_delta") => {
                let index = self
                    .tools
                    .iter()
                    .find(|(b, _)| *b == block)
                    .map_or(0, |(_, i)| *i);
                out.delta(Delta::ToolCall {
                    choice: 0,
                    index,
                    start: None,
                    arguments: d.partial_json.unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
}
