//! Helpers every provider translation shares, written once: data URIs, tool-call
//! arguments, unique ids, role merging, JSON-schema sanitizing, extra fields.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::ProviderError;

/// `data:MEDIA;base64,DATA` split into its media type and data.
pub(crate) fn data_uri(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("data:")?.split_once(";base64,")
}

/// Tool-call arguments (JSON text) as a JSON object for providers that take one:
/// the text itself if it is an object, else `{}` (a model may stream invalid JSON).
pub(crate) fn args_object(arguments: &str) -> Cow<'_, RawValue> {
    let trimmed = arguments.trim();
    if trimmed.starts_with('{') {
        if let Ok(raw) = serde_json::from_str::<&RawValue>(trimmed) {
            return Cow::Borrowed(raw);
        }
    }
    Cow::Owned(empty_object())
}

/// `{}` as a raw value.
pub(crate) fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_string()).unwrap_or_else(|_| unreachable_raw())
}

#[cold]
fn unreachable_raw() -> Box<RawValue> {
    // `{}` is valid JSON; this is never reached.
    serde_json::value::to_raw_value(&serde_json::Map::new()).unwrap_or_default()
}

/// A process-unique tool-call id (`call_` + 24 hex digits): providers that give no
/// ids (Gemini, Ollama) get a fresh one per call, never `call_0` each turn.
pub(crate) fn call_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("call_{:016x}{:08x}", *SEED, n as u32)
}

/// Seconds since the Unix epoch, for `created`.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Appends `item` to the last group if it has the same role, else starts a group:
/// providers that want strictly alternating turns (Anthropic, Gemini) get
/// consecutive same-role messages as one (parallel tool results share one turn).
pub(crate) fn push_merged<R: PartialEq, T>(out: &mut Vec<(R, Vec<T>)>, role: R, items: Vec<T>) {
    if items.is_empty() {
        return;
    }
    match out.last_mut() {
        Some((last, list)) if *last == role => list.extend(items),
        _ => out.push((role, items)),
    }
}

/// Serializes an upstream body and merges `extra` (raw members) into its top level,
/// the extra members replacing any of the same name.
pub(crate) fn body_with_extra<T: Serialize>(
    body: &T,
    extra: &[(Cow<'_, str>, &RawValue)],
    size_hint: usize,
) -> Result<Bytes, ProviderError> {
    // Sized for the request it came from: a large body is one allocation, not a
    // series of doublings.
    let mut bytes = Vec::with_capacity(size_hint.saturating_add(512).min(MAX_PRESIZE));
    serde_json::to_writer(&mut bytes, body)
        .map_err(|e| ProviderError::bad_request(format!("could not encode the request: {e}")))?;
    let bytes = Bytes::from(bytes);
    if extra.is_empty() {
        return Ok(bytes);
    }
    let set: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
    crate::request::edit_top_level(&bytes, &set, &[])
}

/// The largest output buffer sized up front (larger bodies grow as they need).
const MAX_PRESIZE: usize = 64 * 1024 * 1024;

/// Which JSON-schema dialect a provider accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Gemini's OpenAPI 3.0 subset (`parameters`, `responseSchema`): no
    /// `additionalProperties`, `$schema`, `$ref`…; `type` lists become `nullable`.
    GeminiOpenApi,
}

/// The keys Gemini's `Schema` object accepts.
const GEMINI_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// A schema rewritten for `dialect`: unknown keys removed, at every depth.
pub(crate) fn sanitize_schema(schema: &RawValue, dialect: Dialect) -> Result<Value, ProviderError> {
    let mut value: Value = serde_json::from_str(schema.get())
        .map_err(|e| ProviderError::bad_request(format!("invalid JSON schema: {e}")))?;
    match dialect {
        Dialect::GeminiOpenApi => gemini_schema(&mut value, 0),
    }
    Ok(value)
}

/// Deepest schema nesting rewritten (a bound on recursion for hostile input).
const MAX_SCHEMA_DEPTH: usize = 64;

fn gemini_schema(value: &mut Value, depth: usize) {
    let Value::Object(map) = value else {
        return;
    };
    if depth > MAX_SCHEMA_DEPTH {
        map.clear();
        return;
    }
    // `const: x` is `enum: [x]`; `type: ["string", "null"]` is a nullable string.
    if let Some(c) = map.remove("const") {
        map.entry("enum").or_insert_with(|| Value::Array(vec![c]));
    }
    if let Some(Value::Array(types)) = map.get("type").cloned() {
        let non_null: Vec<&Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .collect();
        if non_null.len() < types.len() {
            map.insert("nullable".into(), Value::Bool(true));
        }
        match non_null.first() {
            Some(t) => map.insert("type".into(), (*t).clone()),
            None => map.remove("type"),
        };
    }
    map.retain(|k, _| GEMINI_KEYS.contains(&k.as_str()));
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for v in props.values_mut() {
            gemini_schema(v, depth + 1);
        }
    }
    if let Some(items) = map.get_mut("items") {
        gemini_schema(items, depth + 1);
    }
    if let Some(Value::Array(any)) = map.get_mut("anyOf") {
        for v in any {
            gemini_schema(v, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_schemas_lose_what_gemini_refuses() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
                "properties":{"a":{"type":["string","null"],"additionalProperties":false},"b":{"const":"x"},
                "c":{"type":"array","items":{"type":"object","additionalProperties":{}}}},"required":["a"],"strict":true}"#,
        )
        .unwrap_or_else(|_| empty_object());
        let out = sanitize_schema(&raw, Dialect::GeminiOpenApi).unwrap_or_default();
        assert_eq!(
            out,
            serde_json::json!({"type":"object","properties":{"a":{"type":"string","nullable":true},
                "b":{"enum":["x"]},"c":{"type":"array","items":{"type":"object"}}},"required":["a"]})
        );
    }

    #[test]
    fn call_ids_differ_call_to_call() {
        assert_ne!(call_id(), call_id());
    }

    #[test]
    fn arguments_that_are_not_an_object_become_an_empty_one() {
        assert_eq!(args_object(r#" {"a":1} "#).get(), r#"{"a":1}"#);
        assert_eq!(args_object("{\"a\":").get(), "{}");
        assert_eq!(args_object("[1]").get(), "{}");
    }
}

/// A JSON value that is either a string or an array of `T`, read without serde's
/// buffering of untagged enums (which cannot hold the raw values inside `T`).
#[derive(Debug)]
pub(crate) enum TextOr<'a, T> {
    /// A string.
    Text(Cow<'a, str>),
    /// An array.
    List(Vec<T>),
}

impl<'de: 'a, 'a, T: serde::Deserialize<'de>> serde::Deserialize<'de> for TextOr<'a, T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a, T>(std::marker::PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for V<'a, T> {
            type Value = TextOr<'a, T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(TextOr::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextOr::Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(TextOr::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(TextOr::List(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One generated token with its log probability and the likeliest alternatives, as
/// OpenAI's `logprobs.content` entries.
#[derive(Debug, Serialize)]
pub(crate) struct TokenLogprob<'a> {
    pub(crate) token: &'a str,
    pub(crate) logprob: f64,
    pub(crate) bytes: &'a [u8],
    pub(crate) top_logprobs: Vec<TopLogprob<'a>>,
}

/// An alternative token.
#[derive(Debug, Serialize)]
pub(crate) struct TopLogprob<'a> {
    pub(crate) token: &'a str,
    pub(crate) logprob: f64,
    pub(crate) bytes: &'a [u8],
}

/// OpenAI's `logprobs` object (`{"content": [...], "refusal": null}`) as raw JSON.
pub(crate) fn openai_logprobs(tokens: &[TokenLogprob<'_>]) -> Option<Box<RawValue>> {
    #[derive(Serialize)]
    struct Logprobs<'r, 'a> {
        content: &'r [TokenLogprob<'a>],
        refusal: Option<()>,
    }
    serde_json::value::to_raw_value(&Logprobs {
        content: tokens,
        refusal: None,
    })
    .ok()
}
