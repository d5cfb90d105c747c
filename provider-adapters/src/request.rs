//! Reading what routing needs from a client's JSON body without parsing all of it, and
//! changing the `model` field without re-serializing the rest.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ProviderError;

/// Gateway-only fields a client may send (LiteLLM accepts them in bodies); they never
/// travel upstream: the upstream and its key come from the config alone.
pub const CLIENT_ONLY_FIELDS: &[&str] = &["api_base", "base_url", "api_key", "api_version"];

/// The fields of a request body that routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peek {
    /// The `model` field.
    pub model: String,
    /// The `stream` field (false if absent).
    pub stream: bool,
    /// Whether the body has one of the [`CLIENT_ONLY_FIELDS`], which are dropped before
    /// the body goes upstream. Without any, and with `model` already the upstream's,
    /// an OpenAI-format body is forwarded as it came, without a second parse.
    pub client_fields: bool,
}

/// `model` and `stream` of a JSON object. Written by hand because a derived struct
/// also accepts a JSON array (fields by position), which is not a request.
struct Fields<'a> {
    model: Option<Cow<'a, str>>,
    stream: Option<bool>,
    client_fields: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields = Fields {
                    model: None,
                    stream: None,
                    client_fields: false,
                };
                // serde's own `Cow<str>` always allocates; this borrows when it can.
                while let Some(BorrowedOrOwned(key)) = map.next_key::<BorrowedOrOwned<'de>>()? {
                    match key.as_ref() {
                        "model" if fields.model.is_some() => {
                            return Err(de::Error::duplicate_field("model"))
                        }
                        "model" => fields.model = Some(map.next_value::<BorrowedOrOwned<'de>>()?.0),
                        "stream" if fields.stream.is_some() => {
                            return Err(de::Error::duplicate_field("stream"))
                        }
                        "stream" => {
                            fields.stream = Some(map.next_value::<Option<bool>>()?.unwrap_or(false))
                        }
                        other => {
                            fields.client_fields |= CLIENT_ONLY_FIELDS.contains(&other);
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(fields)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A string that borrows from the input when it has no escapes.
pub(crate) struct BorrowedOrOwned<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedOrOwned<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = BorrowedOrOwned<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedOrOwned(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedOrOwned(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// Reads `model` and `stream` from a JSON object body; every other value is skipped,
/// not built. Errors are client errors (400) that say what is wrong.
///
/// Read by the crate's one-pass JSON reader; where it gives up (an escape in a key or
/// in `model`, a duplicate field, anything not JSON), by serde_json, which then says
/// what is wrong.
pub fn peek(body: &[u8]) -> Result<Peek, ProviderError> {
    match scan_peek(body) {
        Some(peek) => Ok(peek),
        None => parse_peek(body),
    }
}

/// [`peek`] by [`crate::scan`]: `None` where it gives up.
fn scan_peek(body: &[u8]) -> Option<Peek> {
    use crate::scan::{Scan, MAX_DEPTH};
    let mut s = Scan::new(body);
    let (mut model, mut stream, mut client_fields) = (None, None, false);
    s.object(|s, key| {
        match key {
            b"model" if model.is_some() => return None,
            b"model" => model = Some(s.plain_str()?),
            b"stream" if stream.is_some() => return None,
            b"stream" => stream = Some(!s.null() && s.boolean()?),
            other => {
                client_fields |= CLIENT_ONLY_FIELDS.iter().any(|f| f.as_bytes() == other);
                s.skip(MAX_DEPTH - 1)?;
            }
        }
        Some(())
    })?;
    s.end()?;
    Some(Peek {
        model: model?.to_owned(),
        stream: stream.unwrap_or(false),
        client_fields,
    })
}

/// [`peek`] by serde_json.
fn parse_peek(body: &[u8]) -> Result<Peek, ProviderError> {
    let fields: Fields<'_> = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_request(format!("request body is not valid JSON: {e}"))
            .with_code("invalid_json")
    })?;
    let model = fields.model.ok_or_else(|| {
        ProviderError::bad_request("request body has no `model` field").with_code("missing_model")
    })?;
    Ok(Peek {
        model: model.into_owned(),
        stream: fields.stream.unwrap_or(false),
        client_fields: fields.client_fields,
    })
}

/// The top-level members of a JSON object, values left as raw text.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(8);
                while let Some(BorrowedOrOwned(key)) = map.next_key::<BorrowedOrOwned<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    out.push((key, value));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Sets top-level fields of a JSON object body: `set` replaces or adds, `remove`
/// drops. Nested values are copied as raw text, never re-serialized. Returns the body
/// unchanged (no copy) when nothing would change.
pub fn edit_top_level(
    body: &Bytes,
    set: &[(&str, &str)],
    remove: &[&str],
) -> Result<Bytes, ProviderError> {
    let members: Members<'_> = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_request(format!("request body is not a JSON object: {e}"))
    })?;
    let unchanged = set.iter().all(|(k, raw)| {
        members
            .0
            .iter()
            .any(|(key, value)| key == k && value.get() == *raw)
    }) && !members
        .0
        .iter()
        .any(|(key, _)| remove.contains(&key.as_ref()));
    if unchanged {
        return Ok(body.clone());
    }
    let mut out = String::with_capacity(body.len() + 32);
    out.push('{');
    let mut first = true;
    let mut push = |out: &mut String, key: &str, raw: &str| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&serde_json::Value::from(key).to_string());
        out.push(':');
        out.push_str(raw);
    };
    for (key, value) in &members.0 {
        if remove.contains(&key.as_ref()) || set.iter().any(|(k, _)| k == key) {
            continue;
        }
        push(&mut out, key, value.get());
    }
    for (key, raw) in set {
        push(&mut out, key, raw);
    }
    out.push('}');
    Ok(Bytes::from(out))
}

/// A JSON string literal for `s`.
pub(crate) fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_peeks_what_serde_peeks() {
        let body = r#"{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say \"hello\" in caf\u00e9, café"}], "stream": true, "api_key": "sk-x", "temperature": 0.7, "max_tokens": 100, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}], "stream_options": null}"#.as_bytes();
        crate::scan::tests::same_as_serde_on_edits(body, scan_peek, parse_peek);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Whatever the scan peeks from any JSON text (or a one-byte edit of it), serde
        /// peeks too, and the same.
        #[test]
        fn the_scan_never_peeks_other_than_serde(bytes in crate::scan::tests::json_bytes()) {
            crate::scan::tests::same_as_serde(&bytes, scan_peek, parse_peek);
        }
    }

    #[test]
    fn what_the_scan_gives_up_on_serde_still_peeks() {
        for (body, model) in [
            (r#"{"mod\u0065l":"a"}"#, Some("a")),
            (r#"{"model":"a\/b"}"#, Some("a/b")),
            (r#"{"model":"a","model":"b"}"#, None),
            (r#"{"model":"a","stream":null,"stream":true}"#, None),
            (r#"["a"]"#, None),
        ] {
            assert!(scan_peek(body.as_bytes()).is_none(), "{body}");
            assert_eq!(
                peek(body.as_bytes()).ok().map(|p| p.model),
                model.map(String::from),
                "{body}"
            );
        }
    }

    #[test]
    fn peek_reads_model_and_stream_only() {
        let body =
            br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini","stream":true}"#;
        assert_eq!(
            peek(body).unwrap_or_else(|e| panic!("{e}")),
            Peek {
                model: "gpt-4o-mini".into(),
                stream: true,
                client_fields: false,
            }
        );
        let with_key = peek(br#"{"model":"m","api_key":"sk-x","messages":[]}"#).unwrap();
        assert!(with_key.client_fields);
        assert_eq!(peek(b"{nope").unwrap_err().status(), 400);
        assert!(peek(br#"{"messages":[]}"#)
            .unwrap_err()
            .message()
            .contains("`model`"));
    }

    #[test]
    fn only_json_objects_are_requests() {
        // Found by the `routing` fuzz target: a derived struct accepted arrays.
        assert!(peek(b"[\r\"]:b:\"]").is_err());
        assert!(peek(br#"["gpt-4o", true]"#).is_err());
        assert!(
            peek(br#"{"model":"a","model":"b"}"#).is_err(),
            "duplicate model"
        );
        assert!(peek(br#"{"model":"gpt","stream":"yes"}"#).is_err());
        assert_eq!(
            peek(br#"{"model":"g\u00e9","stream":null}"#)
                .map(|p| (p.model, p.stream))
                .ok(),
            Some(("gé".into(), false))
        );
        // Escaped keys are still keys (decoded into an owned string).
        assert_eq!(
            peek(br#"{"mod\u0065l":"m","\u0073tream":true}"#)
                .map(|p| (p.model, p.stream))
                .ok(),
            Some(("m".into(), true))
        );
    }

    #[test]
    fn editing_keeps_nested_values_verbatim() {
        let body =
            Bytes::from_static(br#"{"model":"alias","messages":[{"content":"a  b"}],"n":1}"#);
        let same = edit_top_level(&body, &[("model", "\"alias\"")], &[]).unwrap_or_default();
        assert_eq!(same.as_ptr(), body.as_ptr(), "unchanged body is not copied");
        let edited =
            edit_top_level(&body, &[("model", &json_string("gpt-4o"))], &["n"]).unwrap_or_default();
        assert_eq!(
            edited,
            r#"{"messages":[{"content":"a  b"}],"model":"gpt-4o"}"#
        );
        let escaped = Bytes::from_static(br#"{"mod\u0065l":"alias","\u006e":1}"#);
        let edited = edit_top_level(&escaped, &[("model", &json_string("gpt-4o"))], &["n"])
            .unwrap_or_default();
        assert_eq!(edited, r#"{"model":"gpt-4o"}"#);
    }
}
