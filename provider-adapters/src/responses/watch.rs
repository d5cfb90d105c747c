//! What a forwarded answer ([`native`](super::native)) tells the request's event:
//! its usage, its finish reasons and, for a stream, whether it reached its end. Read
//! from the bytes the client gets, never changing them.
//!
//! - Responses API: `usage.input_tokens`, `output_tokens`,
//!   `input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`,
//!   of the answer or of the `response` in a stream's final event
//!   (`response.completed`, `response.incomplete`, `response.failed`); the finish
//!   reason is `incomplete_details.reason` when there is one, else the `status`.
//! - Legacy completions: OpenAI `usage` and `choices[].finish_reason`, as chat.
//! - `count_tokens`: an estimate of a request, not tokens used: nothing.

use std::borrow::Cow;

use limits_layer::callbacks::{FinishReason, FinishReasons};
use serde::Deserialize;

use super::native::Native;
use crate::model::Usage;
use crate::sse::{SseEvent, SseParser};
use crate::stream::ClientFormat;

/// Longest stream event looked at (larger ones pass unread).
const MAX_EVENT: usize = 1024 * 1024;

/// A Responses API response object, the parts read here.
#[derive(Deserialize)]
struct ResponseObject<'a> {
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<ResponsesUsage>,
    #[serde(default, borrow)]
    incomplete_details: Option<Incomplete<'a>>,
}

#[derive(Deserialize)]
struct Incomplete<'a> {
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
}

/// A Responses API `usage`.
#[derive(Deserialize)]
struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<Details>,
    #[serde(default)]
    output_tokens_details: Option<Details>,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default)]
    cached_tokens: u64,
    #[serde(default)]
    reasoning_tokens: u64,
}

/// A stream's final event: the response in it.
#[derive(Deserialize)]
struct FinalEvent<'a> {
    #[serde(borrow)]
    response: ResponseObject<'a>,
}

impl ResponseObject<'_> {
    fn read(&self) -> (Option<Usage>, FinishReasons) {
        let usage = self.usage.as_ref().map(|u| Usage {
            input: u.input_tokens,
            output: u.output_tokens,
            cached_input: u
                .input_tokens_details
                .as_ref()
                .map_or(0, |d| d.cached_tokens),
            cache_creation: 0,
            reasoning: u
                .output_tokens_details
                .as_ref()
                .map_or(0, |d| d.reasoning_tokens),
        });
        let reason = self
            .incomplete_details
            .as_ref()
            .and_then(|d| d.reason.as_deref())
            .or(self.status.as_deref());
        let reasons = reason
            .map(|r| FinishReasons::one(FinishReason::new(r)))
            .unwrap_or_default();
        (usage, reasons)
    }
}

/// The usage and finish reasons of a whole forwarded answer.
pub(crate) fn of_answer(native: Native, bytes: &[u8]) -> (Option<Usage>, FinishReasons) {
    match native {
        Native::Responses => serde_json::from_slice::<ResponseObject<'_>>(bytes)
            .map(|r| r.read())
            .unwrap_or_default(),
        Native::Completions => {
            crate::usage::of_answer(ClientFormat::OpenAi, bytes).unwrap_or_default()
        }
        Native::CountTokens => (None, FinishReasons::default()),
    }
}

/// Watches a forwarded stream's events as they pass.
#[derive(Debug)]
pub(crate) struct StreamWatch {
    native: Native,
    parser: SseParser,
    events: Vec<SseEvent>,
    usage: Option<Usage>,
    reasons: FinishReasons,
    finished: bool,
    /// An event too large to read: the stream's end is no longer judged.
    blind: bool,
}

impl StreamWatch {
    pub(crate) fn new(native: Native) -> Self {
        Self {
            native,
            parser: SseParser::new(MAX_EVENT),
            events: Vec::new(),
            usage: None,
            reasons: FinishReasons::default(),
            finished: false,
            blind: false,
        }
    }

    /// Sees one chunk the client gets.
    pub(crate) fn chunk(&mut self, data: &[u8]) {
        if self.blind {
            return;
        }
        if self.parser.feed(data, &mut self.events).is_err() {
            self.blind = true;
            return;
        }
        for event in std::mem::take(&mut self.events) {
            self.event(&event);
        }
    }

    fn event(&mut self, event: &SseEvent) {
        let data = event.data.as_bytes();
        match self.native {
            Native::Responses => {
                let name = event.event.as_deref().unwrap_or("");
                if matches!(
                    name,
                    "response.completed" | "response.incomplete" | "response.failed"
                ) {
                    self.finished = true;
                    if let Ok(last) = serde_json::from_slice::<FinalEvent<'_>>(data) {
                        let (usage, reasons) = last.response.read();
                        self.usage = usage.or(self.usage);
                        self.reasons = reasons;
                    }
                } else if name == "error" {
                    self.finished = true;
                }
            }
            Native::Completions | Native::CountTokens => {
                crate::stream::watch_openai(data, &mut self.finished, &mut self.reasons);
                if let Some(u) = crate::usage::of_event(ClientFormat::OpenAi, None, data) {
                    self.usage = Some(crate::usage::merge(self.usage, u));
                }
            }
        }
    }

    /// Whether the stream may end now: it said it is done (a completions stream, as a
    /// chat one, may end without `[DONE]` after its finish reason), or it can no
    /// longer be judged.
    pub(crate) fn complete(&self) -> bool {
        self.finished || self.blind || !self.reasons.is_empty()
    }

    /// The usage the stream reported.
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The finish reasons the client got.
    pub(crate) fn reasons(&self) -> &FinishReasons {
        &self.reasons
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(reasons: &FinishReasons) -> Vec<&str> {
        reasons.iter().map(|r| r.as_str()).collect()
    }

    #[test]
    fn an_incomplete_response_reports_why_and_a_complete_one_its_status() {
        let incomplete = br#"{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":5,"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4}}}"#;
        let (usage, reasons) = of_answer(Native::Responses, incomplete);
        let usage = usage.unwrap_or_default();
        assert_eq!((usage.input, usage.output, usage.reasoning), (5, 9, 4));
        assert_eq!(names(&reasons), ["max_output_tokens"]);
        let (_, reasons) = of_answer(Native::Responses, br#"{"status":"completed"}"#);
        assert_eq!(names(&reasons), ["completed"]);
        // Not JSON: nothing learned, nothing claimed.
        let (usage, reasons) = of_answer(Native::Responses, b"oops");
        assert!(usage.is_none() && reasons.is_empty());
    }

    #[test]
    fn a_responses_stream_is_complete_at_its_final_event_split_anywhere() {
        let text = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"status\":\"in_progress\"}}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}}\n\n";
        let mut watch = StreamWatch::new(Native::Responses);
        for chunk in text.as_bytes().chunks(7) {
            assert!(!watch.complete());
            watch.chunk(chunk);
        }
        assert!(watch.complete());
        assert_eq!(watch.usage().map(|u| (u.input, u.output)), Some((3, 2)));
        assert_eq!(names(watch.reasons()), ["completed"]);
    }

    #[test]
    fn a_completions_stream_reports_its_finish_reason_and_usage() {
        let mut watch = StreamWatch::new(Native::Completions);
        watch.chunk(
            b"data: {\"choices\":[{\"text\":\"a\",\"index\":0,\"finish_reason\":null}]}\n\n",
        );
        assert!(!watch.complete());
        watch.chunk(b"data: {\"choices\":[{\"text\":\"\",\"index\":0,\"finish_reason\": \"length\"}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n");
        assert!(watch.complete());
        assert_eq!(names(watch.reasons()), ["length"]);
        assert_eq!(watch.usage().map(|u| (u.input, u.output)), Some((4, 1)));
    }
}
