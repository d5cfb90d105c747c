//! Ollama's native `/api/chat` (NDJSON streams) and `/api/embed`: everything about it.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::{sensitive, Adapter, Embeddings, Operation};
use crate::capability::{Param, Support};
use crate::model::{
    ChatRequest, ChatResponse, Choice, Delta, Effort, FinishReason, Part, ResponseFormat, Role,
    Source, Thinking, ToolCall, ToolChoice, Usage,
};
use crate::shared::{args_object, call_id, openai_logprobs, TokenLogprob, TopLogprob};
use crate::stream::{Decoder, Framing, Sink};
use crate::{Api, Endpoint, Provider, ProviderError};

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

// === canonical → /api/chat ===

#[derive(Serialize)]
struct Out<'r> {
    model: &'r str,
    messages: Vec<OutMessage<'r>>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<Options<'r>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<Cow<'r, RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    think: Option<Think>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    logprobs: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u32>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Think {
    On(bool),
    Level(&'static str),
}

#[derive(Serialize)]
struct OutMessage<'r> {
    role: &'static str,
    content: Cow<'r, str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<&'r str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutCall<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Cow<'r, str>>,
}

#[derive(Serialize)]
struct OutCall<'r> {
    function: OutFunction<'r>,
}

#[derive(Serialize)]
struct OutFunction<'r> {
    name: &'r str,
    arguments: Cow<'r, RawValue>,
}

#[derive(Serialize)]
struct OutTool<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutDecl<'r>,
}

#[derive(Serialize)]
struct OutDecl<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'r RawValue>,
}

#[derive(Serialize, Default)]
struct Options<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_predict: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'r [Cow<'r, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
}

/// Encodes `req` as an `/api/chat` request for `model`. `stream` is always explicit:
/// Ollama streams unless told not to.
pub(crate) fn encode(req: &ChatRequest<'_>, model: &str) -> Result<Bytes, ProviderError> {
    let s = &req.sampling;
    let options = Options {
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        seed: s.seed,
        num_predict: s.max_tokens,
        stop: &s.stop,
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
    };
    let has_options = options.temperature.is_some()
        || options.top_p.is_some()
        || options.top_k.is_some()
        || options.seed.is_some()
        || options.num_predict.is_some()
        || !options.stop.is_empty()
        || options.presence_penalty.is_some()
        || options.frequency_penalty.is_some();
    // `tool_choice: none` is honoured by offering no tools.
    let tools = if req.tool_choice == Some(ToolChoice::None) {
        Vec::new()
    } else {
        req.tools
            .iter()
            .map(|t| OutTool {
                kind: "function",
                function: OutDecl {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: t.parameters,
                },
            })
            .collect()
    };
    let out = Out {
        model,
        messages: req
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| message(req, i, m))
            .collect(),
        stream: req.stream,
        options: has_options.then_some(options),
        tools,
        format: match &req.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonObject) => Some(Cow::Owned(raw(r#""json""#))),
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(match schema {
                Some(s) => Cow::Borrowed(*s),
                None => Cow::Owned(raw(r#""json""#)),
            }),
        },
        think: req
            .reasoning
            .map(|r| match (r.effort(), model.contains("gpt-oss")) {
                (Effort::None, _) => Think::On(false),
                (e, true) => Think::Level(match e {
                    Effort::None | Effort::Minimal | Effort::Low => "low",
                    Effort::Medium => "medium",
                    Effort::High => "high",
                }),
                (_, false) => Think::On(true),
            }),
        logprobs: s.logprobs,
        top_logprobs: s.top_logprobs.filter(|_| s.logprobs),
    };
    crate::shared::body_with_extra(&out, &req.extra, req.size_hint)
}

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_string()).unwrap_or_else(|_| crate::shared::empty_object())
}

fn message<'r>(
    req: &'r ChatRequest<'r>,
    at: usize,
    m: &'r crate::model::Message<'r>,
) -> OutMessage<'r> {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let images = m
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Image {
                source: Source::Base64 { data, .. },
                ..
            } => Some(data.as_ref()),
            _ => None,
        })
        .collect();
    // Ollama answers a call by the tool's name, found from the call id.
    let tool_name = (m.role == Role::Tool).then(|| {
        m.name.as_deref().or_else(|| {
            let id = m.tool_call_id.as_deref()?;
            req.messages[..at]
                .iter()
                .rev()
                .flat_map(|m| m.tool_calls.iter())
                .find(|c| c.id == id)
                .map(|c| c.name.as_ref())
        })
    });
    let thinking: Vec<&str> = m.thinking.iter().map(|t| t.text.as_ref()).collect();
    OutMessage {
        role,
        content: m.text(),
        images,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| OutCall {
                function: OutFunction {
                    name: &c.name,
                    arguments: args_object(&c.arguments),
                },
            })
            .collect(),
        tool_name: tool_name.flatten(),
        thinking: (!thinking.is_empty()).then(|| Cow::Owned(thinking.concat())),
    }
}

// === /api/chat answers and NDJSON lines → canonical ===

#[derive(Deserialize)]
struct InLine<'a> {
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<InMessage<'a>>,
    #[serde(default)]
    done: bool,
    #[serde(default, borrow)]
    done_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    prompt_eval_count: u64,
    #[serde(default)]
    eval_count: u64,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
    #[serde(default, borrow)]
    logprobs: Option<Vec<InLogprob<'a>>>,
}

/// One token's log probability (Ollama 0.12.11+), with its alternatives.
#[derive(Deserialize)]
struct InLogprob<'a> {
    #[serde(default, borrow)]
    token: Cow<'a, str>,
    #[serde(default)]
    logprob: f64,
    #[serde(default, borrow)]
    top_logprobs: Vec<InLogprob<'a>>,
}

/// Ollama's `logprobs` as OpenAI's.
fn logprobs_of(list: &[InLogprob<'_>]) -> Option<Box<RawValue>> {
    let tokens: Vec<TokenLogprob<'_>> = list
        .iter()
        .map(|t| TokenLogprob {
            token: &t.token,
            logprob: t.logprob,
            bytes: t.token.as_bytes(),
            top_logprobs: t
                .top_logprobs
                .iter()
                .map(|a| TopLogprob {
                    token: &a.token,
                    logprob: a.logprob,
                    bytes: a.token.as_bytes(),
                })
                .collect(),
        })
        .collect();
    openai_logprobs(&tokens)
}

impl InLine<'_> {
    fn usage(&self) -> Usage {
        Usage {
            input: self.prompt_eval_count,
            output: self.eval_count,
            ..Usage::default()
        }
    }
}

#[derive(Deserialize, Default)]
struct InMessage<'a> {
    #[serde(default, borrow)]
    content: Cow<'a, str>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Vec<InCall<'a>>,
}

#[derive(Deserialize)]
struct InCall<'a> {
    #[serde(borrow)]
    function: InFunction<'a>,
}

#[derive(Deserialize)]
struct InFunction<'a> {
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    arguments: Option<&'a RawValue>,
}

/// Ollama gives calls no ids: each gets a fresh one. Arguments come as an object (or,
/// from some models, a JSON string holding one).
fn call_of(c: InCall<'_>) -> ToolCall<'_> {
    let arguments = match c.function.arguments {
        None => Cow::Borrowed("{}"),
        Some(raw) => match serde_json::from_str::<String>(raw.get()) {
            Ok(text) => Cow::Owned(text),
            Err(_) => Cow::Borrowed(raw.get()),
        },
    };
    ToolCall {
        id: Cow::Owned(call_id()),
        name: c.function.name,
        arguments,
    }
}

fn finish_in(done_reason: Option<&str>, has_calls: bool) -> FinishReason {
    match done_reason {
        Some("length") => FinishReason::Length,
        _ if has_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Decodes Ollama's NDJSON stream.
#[derive(Debug, Default)]
pub(crate) struct OllamaDecoder {
    started: bool,
    calls: u32,
    done: bool,
}

impl Decoder for OllamaDecoder {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError> {
        let line: InLine<'_> = serde_json::from_str(data)
            .map_err(|_| ProviderError::bad_gateway("upstream sent an invalid stream line"))?;
        if line.error.is_some() {
            return Err(ProviderError::from_upstream(
                http::StatusCode::BAD_GATEWAY,
                data.as_bytes(),
                None,
                None,
            ));
        }
        if !self.started {
            self.started = true;
            let id = format!("ollama-{}", crate::shared::now());
            out.delta(Delta::Start {
                id: &id,
                model: &line.model,
                input_tokens: None,
            });
        }
        let usage = line.usage();
        if let Some(logprobs) = line
            .logprobs
            .as_deref()
            .filter(|l| !l.is_empty())
            .and_then(logprobs_of)
        {
            out.delta(Delta::Logprobs {
                choice: 0,
                logprobs,
            });
        }
        if let Some(m) = line.message {
            if let Some(t) = m.thinking.as_deref().filter(|t| !t.is_empty()) {
                out.delta(Delta::Thinking {
                    choice: 0,
                    text: t,
                    signature: None,
                });
            }
            if !m.content.is_empty() {
                out.delta(Delta::Text {
                    choice: 0,
                    text: &m.content,
                });
            }
            for c in m.tool_calls {
                let ToolCall {
                    id,
                    name,
                    arguments,
                } = call_of(c);
                out.delta(Delta::ToolCall {
                    choice: 0,
                    index: self.calls,
                    start: Some((id, &name)),
                    arguments,
                });
                self.calls += 1;
            }
        }
        if line.done {
            out.delta(Delta::Finish {
                choice: 0,
                reason: finish_in(line.done_reason.as_deref(), self.calls > 0),
            });
            out.delta(Delta::Usage(usage));
            self.done = true;
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
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
