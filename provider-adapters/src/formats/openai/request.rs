//! OpenAI chat requests ⇄ the canonical model.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::capability::Param;
use crate::model::{
    ChatRequest, Effort, Message, Part, Reasoning, ResponseFormat, Role, Source, Thinking, Tool,
    ToolCall, ToolChoice,
};
use crate::request::{BorrowedOrOwned, CLIENT_ONLY_FIELDS};
use crate::shared::TextOr;
use crate::ProviderError;

pub(crate) use super::wire::*;

// === decode ===

/// Parses an OpenAI chat request into the canonical model; strings borrow from
/// `body` where they have no escapes.
pub(crate) fn decode(body: &[u8]) -> Result<ChatRequest<'_>, ProviderError> {
    let wire: Top<'_> = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_request(format!("invalid chat request: {e}"))
            .with_code("invalid_request")
    })?;
    let mut req = wire.0;
    req.size_hint = body.len();
    Ok(req)
}

/// The whole request, read field by field so unknown fields are kept (raw) instead of
/// being lost.
struct Top<'a>(ChatRequest<'a>);

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a chat request object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Top<'de>, M::Error> {
                let mut req = ChatRequest::default();
                let mut messages = None;
                let mut max_completion = None;
                while let Some(BorrowedOrOwned(key)) = map.next_key::<BorrowedOrOwned<'de>>()? {
                    field(&mut req, &key, &mut map, &mut messages, &mut max_completion)?;
                }
                let messages: Vec<WireMessage<'de>> =
                    messages.ok_or_else(|| de::Error::missing_field("messages"))?;
                req.messages = messages
                    .into_iter()
                    .map(message)
                    .collect::<Result<_, String>>()
                    .map_err(de::Error::custom)?;
                if max_completion.is_some() {
                    req.sampling.max_tokens = max_completion;
                }
                Ok(Top(req))
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads one top-level field into `req`.
fn field<'de, M: MapAccess<'de>>(
    req: &mut ChatRequest<'de>,
    key: &Cow<'de, str>,
    map: &mut M,
    messages: &mut Option<Vec<WireMessage<'de>>>,
    max_completion: &mut Option<u64>,
) -> Result<(), M::Error> {
    let s = &mut req.sampling;
    match key.as_ref() {
        "model" => req.model = map.next_value::<BorrowedOrOwned<'de>>()?.0,
        "messages" => *messages = Some(map.next_value()?),
        "tools" => {
            let tools: Option<Vec<WireTool<'de>>> = map.next_value()?;
            req.tools = tools.unwrap_or_default().into_iter().map(tool).collect();
        }
        "tool_choice" => {
            req.tool_choice = map
                .next_value::<Option<WireToolChoice<'de>>>()?
                .map(tool_choice)
                .transpose()
                .map_err(de::Error::custom)?
        }
        "parallel_tool_calls" => req.parallel_tool_calls = map.next_value()?,
        "temperature" => s.temperature = map.next_value()?,
        "top_p" => s.top_p = map.next_value()?,
        "top_k" => s.top_k = map.next_value()?,
        "max_tokens" => s.max_tokens = s.max_tokens.or(map.next_value()?),
        "max_completion_tokens" => *max_completion = map.next_value()?,
        "stop" => {
            s.stop = match map.next_value::<Option<WireStop<'de>>>()? {
                None => Vec::new(),
                Some(WireStop::One(one)) => vec![one],
                Some(WireStop::Many(many)) => many,
            }
        }
        "seed" => s.seed = map.next_value()?,
        "frequency_penalty" => {
            s.frequency_penalty = map.next_value::<Option<f64>>()?.filter(|v| *v != 0.0)
        }
        "presence_penalty" => {
            s.presence_penalty = map.next_value::<Option<f64>>()?.filter(|v| *v != 0.0)
        }
        "n" => s.n = map.next_value::<Option<u32>>()?.filter(|n| *n != 1),
        "logprobs" => s.logprobs = map.next_value::<Option<bool>>()?.unwrap_or(false),
        "top_logprobs" => s.top_logprobs = map.next_value()?,
        "user" => {
            req.user = map
                .next_value::<Option<BorrowedOrOwned<'de>>>()?
                .map(|u| u.0)
        }
        "response_format" => {
            req.response_format = match map.next_value::<Option<WireFormat<'de>>>()? {
                None => None,
                Some(f) => match (f.kind.as_ref(), f.json_schema) {
                    ("text", _) => None,
                    ("json_object", _) => Some(ResponseFormat::JsonObject),
                    ("json_schema", Some(s)) => Some(ResponseFormat::JsonSchema {
                        name: s.name,
                        schema: s.schema,
                        strict: s.strict,
                    }),
                    (other, _) => {
                        return Err(de::Error::custom(format!(
                            "unsupported `response_format.type` `{other}` (json_schema needs `json_schema`)"
                        )))
                    }
                },
            };
        }
        "reasoning_effort" => {
            if let Some(e) = map.next_value::<Option<BorrowedOrOwned<'de>>>()? {
                let effort = Effort::parse(&e.0).ok_or_else(|| {
                    de::Error::custom(format!("unknown `reasoning_effort` `{}`", e.0))
                })?;
                req.reasoning = Some(Reasoning::Effort(effort));
            }
        }
        "thinking" => {
            if let Some(t) = map.next_value::<Option<WireThinkingParam<'de>>>()? {
                req.reasoning = Some(t.reasoning());
            }
        }
        "stream" => req.stream = map.next_value::<Option<bool>>()?.unwrap_or(false),
        "stream_options" => {
            let o: Option<WireStreamOptions> = map.next_value()?;
            req.include_usage = o.and_then(|o| o.include_usage).unwrap_or(false);
        }
        "extra_body" => {
            let extra: Option<Vec<(BorrowedOrOwned<'de>, &'de RawValue)>> =
                map.next_value::<Option<RawMembers<'de>>>()?.map(|m| m.0);
            for (k, v) in extra.into_iter().flatten() {
                req.extra.push((k.0, v));
            }
        }
        "drop_params" => req.drop_params = map.next_value()?,
        "logit_bias" => other(req, map, Param::LogitBias)?,
        "modalities" | "audio" => other(req, map, Param::AudioOutput)?,
        "prediction" => other(req, map, Param::Prediction)?,
        "service_tier" => other(req, map, Param::ServiceTier)?,
        "store" | "metadata" => other(req, map, Param::Store)?,
        "web_search_options" => other(req, map, Param::WebSearch)?,
        "verbosity" => other(req, map, Param::Verbosity)?,
        "prompt_cache_key" | "safety_identifier" => other(req, map, Param::PromptCacheKey)?,
        "functions" | "function_call" => other(req, map, Param::Functions)?,
        k if CLIENT_ONLY_FIELDS.contains(&k) => {
            map.next_value::<de::IgnoredAny>()?;
        }
        _ => {
            let raw: &'de RawValue = map.next_value()?;
            req.extra.push((key.clone(), raw));
        }
    }
    Ok(())
}

/// A parameter with no canonical place: recorded unless null or `false`.
fn other<'de, M: MapAccess<'de>>(
    req: &mut ChatRequest<'de>,
    map: &mut M,
    p: Param,
) -> Result<(), M::Error> {
    let raw: &'de RawValue = map.next_value()?;
    if !matches!(raw.get(), "null" | "false") && !req.other_params.contains(&p) {
        req.other_params.push(p);
    }
    Ok(())
}

/// An object's members, values raw.
pub(crate) struct RawMembers<'a>(pub(crate) Vec<(BorrowedOrOwned<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawMembers<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawMembers<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<BorrowedOrOwned<'de>>()? {
                    out.push((k, map.next_value()?));
                }
                Ok(RawMembers(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn tool(t: WireTool<'_>) -> Tool<'_> {
    Tool {
        name: t.function.name,
        description: t.function.description,
        parameters: t.function.parameters,
        strict: t.function.strict,
        cache_control: t.cache_control,
    }
}

fn tool_choice(c: WireToolChoice<'_>) -> Result<ToolChoice<'_>, String> {
    Ok(match c {
        WireToolChoice::Mode(m) => match m.as_ref() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" | "any" => ToolChoice::Required,
            other => return Err(format!("unknown `tool_choice` `{other}`")),
        },
        WireToolChoice::Named { function } => ToolChoice::Named(function.name),
    })
}

fn message(m: WireMessage<'_>) -> Result<Message<'_>, String> {
    let role = match m.role.as_ref() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" | "function" => Role::Tool,
        other => return Err(format!("unknown message role `{other}`")),
    };
    let content = match m.content {
        None => Vec::new(),
        Some(TextOr::Text(text)) => vec![Part::Text {
            text,
            cache_control: None,
        }],
        Some(TextOr::List(parts)) => parts.into_iter().map(part).collect(),
    };
    let mut out = Message::new(role, content);
    out.tool_call_id = m.tool_call_id;
    out.name = m.name;
    out.tool_calls = m
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| ToolCall {
            id: c.id,
            name: c.function.name,
            arguments: c.function.arguments,
        })
        .collect();
    out.thinking = match (m.thinking_blocks, m.reasoning_content) {
        (Some(blocks), _) => blocks.into_iter().map(thinking_in).collect(),
        (None, Some(text)) if !text.is_empty() => vec![Thinking {
            text,
            signature: None,
            redacted: false,
        }],
        (None, _) => Vec::new(),
    };
    Ok(out)
}

pub(crate) fn thinking_in(b: WireThinking<'_>) -> Thinking<'_> {
    let redacted = b.kind == "redacted_thinking";
    Thinking {
        text: b.thinking.unwrap_or_default(),
        signature: if redacted { b.data } else { b.signature },
        redacted,
    }
}

fn part(p: WirePart<'_>) -> Part<'_> {
    let cache_control = p.cache_control;
    match (p.kind.as_ref(), p.text, p.image_url, p.input_audio, p.file) {
        ("text", Some(text), ..) => Part::Text {
            text,
            cache_control,
        },
        ("image_url", _, Some(url), ..) => {
            let url = match url {
                WireUrl::Object { url } | WireUrl::Text(url) => url,
            };
            Part::Image {
                source: source_of(url),
                cache_control,
            }
        }
        ("input_audio", _, _, Some(a), _) => Part::Audio {
            data: a.data,
            format: a.format,
        },
        ("file", _, _, _, Some(f)) => Part::File {
            source: match (f.file_data, f.file_id) {
                (Some(data), _) => source_of(data),
                (None, Some(id)) => Source::FileId(id),
                (None, None) => Source::Url(Cow::Borrowed("")),
            },
            filename: f.filename,
            cache_control,
        },
        _ => Part::Unknown { kind: p.kind },
    }
}

/// A URL or a data URI as a [`Source`], borrowing from it.
pub(crate) fn source_of(url: Cow<'_, str>) -> Source<'_> {
    match url {
        Cow::Borrowed(u) => match crate::shared::data_uri(u) {
            Some((media, data)) => Source::Base64 {
                media_type: Cow::Borrowed(media),
                data: Cow::Borrowed(data),
            },
            None => Source::Url(Cow::Borrowed(u)),
        },
        Cow::Owned(u) => match crate::shared::data_uri(&u) {
            Some((media, data)) => Source::Base64 {
                media_type: Cow::Owned(media.to_string()),
                data: Cow::Owned(data.to_string()),
            },
            None => Source::Url(Cow::Owned(u)),
        },
    }
}
