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
pub(crate) fn of_answer(
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
