//! Token usage as the request's event reports it, read at the typed core: from every
//! decoded answer and every stream's usage deltas (whatever the provider), and, for
//! answers passed through untranslated, from the bytes the client gets (which the
//! gateway checks anyway). Prompt and completion text are never looked at here.

use limits_layer::callbacks::{FinishReason, FinishReasons};
use serde::Deserialize;

use crate::formats::openai::response::InUsage as OpenAiUsage;
use crate::model::Usage;
use crate::providers::anthropic::response::InUsage as AnthropicUsage;
use crate::stream::ClientFormat;

impl From<Usage> for limits_layer::callbacks::Usage {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.input,
            completion_tokens: u.output,
            cached_tokens: u.cached_input,
            reasoning_tokens: u.reasoning,
        }
    }
}

/// A JSON object's `usage`, the rest ignored (but still checked to be JSON).
#[derive(Deserialize)]
struct WithUsage<U> {
    #[serde(default = "none")]
    usage: Option<U>,
}

fn none<U>() -> Option<U> {
    None
}

/// Anthropic's `message_start` event: the usage is in its `message`.
#[derive(Deserialize)]
struct MessageStart {
    message: WithUsage<AnthropicUsage>,
}

/// A whole OpenAI answer's `usage` and `choices[].finish_reason`, the rest ignored
/// (but still checked to be JSON).
#[derive(Deserialize)]
struct OpenAiAnswer {
    #[serde(default = "none")]
    usage: Option<OpenAiUsage>,
    #[serde(default)]
    choices: ChoiceReasons,
}

/// `choices`, read straight into their finish reasons: no list of choices is built.
#[derive(Default)]
struct ChoiceReasons(FinishReasons);

impl<'de> Deserialize<'de> for ChoiceReasons {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ChoiceReasons;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of choices")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut reasons = FinishReasons::default();
                while let Some(choice) = seq.next_element::<OpenAiChoice<'de>>()? {
                    if let Some(reason) = choice.finish_reason.as_deref() {
                        reasons.push(FinishReason::new(reason));
                    }
                }
                Ok(ChoiceReasons(reasons))
            }
        }
        d.deserialize_seq(Visit)
    }
}

#[derive(Deserialize)]
struct OpenAiChoice<'a> {
    #[serde(default, borrow)]
    finish_reason: Option<std::borrow::Cow<'a, str>>,
}

/// A whole Anthropic answer's `usage` and `stop_reason`.
#[derive(Deserialize)]
struct AnthropicAnswer<'a> {
    #[serde(default = "none")]
    usage: Option<AnthropicUsage>,
    #[serde(default, borrow)]
    stop_reason: Option<std::borrow::Cow<'a, str>>,
}

/// The usage and finish reasons of a whole answer in `client`'s format, as the client
/// gets it; an error if it is not JSON.
///
/// Read by [`crate::scan`] in one pass that builds nothing (on a 600-byte answer ~4.8k
/// instructions, where serde_json took ~8.4k); where it gives up, by serde_json, which
/// then says what is wrong.
pub(crate) fn of_answer(
    client: ClientFormat,
    bytes: &[u8],
) -> Result<(Option<Usage>, FinishReasons), serde_json::Error> {
    match scan_answer(client, bytes) {
        Some(found) => Ok(found),
        None => parse_answer(client, bytes),
    }
}

/// [`of_answer`] by [`crate::scan`]: `None` where it gives up.
fn scan_answer(client: ClientFormat, bytes: &[u8]) -> Option<(Option<Usage>, FinishReasons)> {
    use crate::scan::{once, Scan, MAX_DEPTH};
    let mut s = Scan::new(bytes);
    let mut usage: Option<Option<Usage>> = None;
    let mut reasons: Option<FinishReasons> = None;
    s.object(|s, key| match (client, key) {
        (_, b"usage") => {
            let read = if s.null() {
                None
            } else {
                Some(match client {
                    ClientFormat::OpenAi => scan_openai_usage(s)?,
                    ClientFormat::Anthropic => scan_anthropic_usage(s)?,
                })
            };
            once(&mut usage, read)
        }
        (ClientFormat::OpenAi, b"choices") => {
            let mut found = FinishReasons::default();
            s.elements(|s| {
                let mut seen = None;
                s.object(|s, key| {
                    if key != b"finish_reason" {
                        return s.skip(MAX_DEPTH - 3);
                    }
                    if !s.null() {
                        found.push(FinishReason::new(s.plain_str()?));
                    }
                    once(&mut seen, ())
                })
            })?;
            once(&mut reasons, found)
        }
        (ClientFormat::Anthropic, b"stop_reason") => {
            let read = if s.null() {
                FinishReasons::default()
            } else {
                FinishReasons::one(FinishReason::new(s.plain_str()?))
            };
            once(&mut reasons, read)
        }
        _ => s.skip(MAX_DEPTH - 1),
    })?;
    s.end()?;
    Some((usage.flatten(), reasons.unwrap_or_default()))
}

/// An OpenAI `usage` object (next) by the scan, into what serde reads it as
/// ([`OpenAiUsage`], with the same duplicate and type rules).
fn scan_openai_usage(s: &mut crate::scan::Scan<'_>) -> Option<Usage> {
    use crate::scan::{once, MAX_DEPTH};
    let (mut input, mut output, mut cached, mut reasoning) = (None, None, None, None);
    // `prompt_tokens_details` and `completion_tokens_details` are one type, which reads
    // both counts (and refuses a duplicate of either) whichever it is.
    let details = |s: &mut crate::scan::Scan<'_>| -> Option<[Option<u64>; 2]> {
        let mut counts = [None, None];
        if !s.null() {
            s.object(|s, key| match key {
                b"cached_tokens" => once(&mut counts[0], s.opt_u64()?),
                b"reasoning_tokens" => once(&mut counts[1], s.opt_u64()?),
                _ => s.skip(MAX_DEPTH - 3),
            })?;
        }
        Some(counts.map(Option::flatten))
    };
    s.object(|s, key| match key {
        b"prompt_tokens" => once(&mut input, s.u64()?),
        b"completion_tokens" => once(&mut output, s.u64()?),
        b"prompt_tokens_details" => once(&mut cached, details(s)?[0]),
        b"completion_tokens_details" => once(&mut reasoning, details(s)?[1]),
        _ => s.skip(MAX_DEPTH - 2),
    })?;
    let usage = OpenAiUsage::from_counts(
        input.unwrap_or(0),
        output.unwrap_or(0),
        cached.flatten(),
        reasoning.flatten(),
    );
    Some(usage.usage())
}

/// An Anthropic `usage` object (next) by the scan, into what serde reads it as
/// ([`AnthropicUsage`], with the same duplicate and type rules).
fn scan_anthropic_usage(s: &mut crate::scan::Scan<'_>) -> Option<Usage> {
    use crate::scan::{once, MAX_DEPTH};
    let mut counts = [None; 4];
    s.object(|s, key| match key {
        b"input_tokens" => once(&mut counts[0], s.opt_u64()?),
        b"output_tokens" => once(&mut counts[1], s.opt_u64()?),
        b"cache_creation_input_tokens" => once(&mut counts[2], s.opt_u64()?),
        b"cache_read_input_tokens" => once(&mut counts[3], s.opt_u64()?),
        _ => s.skip(MAX_DEPTH - 2),
    })?;
    Some(AnthropicUsage::from_counts(counts.map(Option::flatten)).usage())
}

/// [`of_answer`] by serde_json.
fn parse_answer(
    client: ClientFormat,
    bytes: &[u8],
) -> Result<(Option<Usage>, FinishReasons), serde_json::Error> {
    Ok(match client {
        ClientFormat::OpenAi => {
            let answer = serde_json::from_slice::<OpenAiAnswer>(bytes)?;
            (answer.usage.map(|u| u.usage()), answer.choices.0)
        }
        ClientFormat::Anthropic => {
            let answer = serde_json::from_slice::<AnthropicAnswer<'_>>(bytes)?;
            let reasons = answer
                .stop_reason
                .as_deref()
                .map(|r| FinishReasons::one(FinishReason::new(r)))
                .unwrap_or_default();
            (answer.usage.map(AnthropicUsage::usage), reasons)
        }
    })
}

/// The usage in one event of a stream passed through in `client`'s format, if it has
/// one (looked for only in events that name `usage`, so most cost one search).
pub(crate) fn of_event(client: ClientFormat, name: Option<&str>, data: &[u8]) -> Option<Usage> {
    // Built once: `memmem::find` builds its searcher on every call (~350 instructions,
    // more than the search of a whole event).
    static USAGE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"usage\""));
    USAGE.find(data)?;
    match (client, name) {
        (ClientFormat::OpenAi, _) => serde_json::from_slice::<WithUsage<OpenAiUsage>>(data)
            .ok()?
            .usage
            .map(|u| u.usage()),
        (ClientFormat::Anthropic, Some("message_start")) => {
            serde_json::from_slice::<MessageStart>(data)
                .ok()?
                .message
                .usage
                .map(AnthropicUsage::usage)
        }
        (ClientFormat::Anthropic, _) => serde_json::from_slice::<WithUsage<AnthropicUsage>>(data)
            .ok()?
            .usage
            .map(AnthropicUsage::usage),
    }
}

/// Usage counts so far and a newer report merged: each count the larger (streams
/// report running totals, Anthropic's in two events).
pub(crate) fn merge(old: Option<Usage>, new: Usage) -> Usage {
    let old = old.unwrap_or_default();
    Usage {
        input: old.input.max(new.input),
        output: old.output.max(new.output),
        cached_input: old.cached_input.max(new.cached_input),
        cache_creation: old.cache_creation.max(new.cache_creation),
        reasoning: old.reasoning.max(new.reasoning),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::tests::{json_bytes, same_as_serde, same_as_serde_on_edits};

    const OPENAI: &str = include_str!("../tests/fixtures/openai_chat_response.json");
    const ANTHROPIC: &str = include_str!("../tests/fixtures/anthropic_tool_response.json");
    /// Both token details, as OpenAI sends them for reasoning models.
    const OPENAI_DETAILS: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"length"},{"index":1,"message":{"role":"assistant","content":null},"finish_reason":null}],"usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":256,"accepted_prediction_tokens":0}}}"#;

    /// Both readers, with the reasons as text (to compare them).
    fn scanned(client: ClientFormat) -> impl Fn(&[u8]) -> Option<(Option<Usage>, String)> {
        move |text| scan_answer(client, text).map(|(u, r)| (u, r.to_string()))
    }

    fn parsed(
        client: ClientFormat,
    ) -> impl Fn(&[u8]) -> Result<(Option<Usage>, String), serde_json::Error> {
        move |text| parse_answer(client, text).map(|(u, r)| (u, r.to_string()))
    }

    #[test]
    fn the_scan_reads_what_serde_reads_from_answers() {
        for (client, text) in [
            (ClientFormat::OpenAi, OPENAI),
            (ClientFormat::OpenAi, OPENAI_DETAILS),
            (ClientFormat::Anthropic, ANTHROPIC),
        ] {
            same_as_serde_on_edits(text.as_bytes(), scanned(client), parsed(client));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Whatever the scan reads from any JSON text (or a one-byte edit of it),
        /// serde reads too, and the same.
        #[test]
        fn the_scan_never_reads_other_than_serde(bytes in json_bytes()) {
            for client in [ClientFormat::OpenAi, ClientFormat::Anthropic] {
                same_as_serde(&bytes, scanned(client), parsed(client));
            }
        }
    }

    #[test]
    fn what_the_scan_gives_up_on_serde_still_reads() {
        let cases = [
            // An escaped key that spells `usage`, a duplicate field, an escaped reason,
            // choices as an array of arrays, and a top-level array.
            (r#"{"us\u0061ge":{"prompt_tokens":3},"choices":[]}"#, true),
            (
                r#"{"choices":[{"finish_reason":"stop","finish_reason":"stop"}]}"#,
                false,
            ),
            (r#"{"choices":[{"finish_reason":"st\u006fp"}]}"#, true),
            (r#"{"choices":[["stop"]]}"#, true),
            (r#"[null,[]]"#, true),
            (r#"{"usage":{"prompt_tokens":1,"prompt_tokens":2}}"#, false),
            (r#"{"usage":{"prompt_tokens":1.5}}"#, false),
            (
                r#"{"usage":{"prompt_tokens_details":{"cached_tokens":-1}}}"#,
                false,
            ),
        ];
        for (text, ok) in cases {
            assert!(
                scan_answer(ClientFormat::OpenAi, text.as_bytes()).is_none(),
                "{text}"
            );
            assert_eq!(
                of_answer(ClientFormat::OpenAi, text.as_bytes()).is_ok(),
                ok,
                "{text}"
            );
        }
        let (usage, reasons) = of_answer(ClientFormat::OpenAi, cases[0].0.as_bytes()).unwrap();
        assert_eq!(usage.map(|u| u.input), Some(3));
        assert_eq!(reasons.to_string(), "");
        let (_, reasons) = of_answer(ClientFormat::OpenAi, cases[2].0.as_bytes()).unwrap();
        assert_eq!(reasons.to_string(), "stop");
    }
}
