//! The streaming response body: upstream events parsed incrementally, translated if
//! needed, re-framed for the client, under a first-token, a stall and a total timeout.
//! A stream that stalls, breaks or ends without its end marker ends with an error
//! event in the client's format, never with a made-up `finish_reason`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use limits_layer::callbacks::{
    FinishReason, FinishReasons, FinishReasonsCell, Outcome, OutcomeCell, UsageCell,
};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::eventstream::{EventStreamParser, Frame as AwsFrame};
use crate::formats::anthropic::stream::AnthropicEncoder;
use crate::formats::openai::stream::OpenAiEncoder;
use crate::model::{Delta, Usage};
use crate::sse::{NdjsonParser, SseEvent, SseParser};
use crate::{BoxError, ProviderError};

/// Turns a provider's stream events into canonical deltas.
pub(crate) trait Decoder: Send + fmt::Debug {
    /// Handles one upstream event (an SSE `data` payload with its `event` name, or one
    /// NDJSON line), emitting zero or more deltas. An upstream error event is an `Err`.
    fn event(
        &mut self,
        event: Option<&str>,
        data: &str,
        out: &mut dyn Sink,
    ) -> Result<(), ProviderError>;

    /// True once the upstream said the answer is complete.
    fn complete(&self) -> bool;
}

/// Where decoded deltas go.
pub(crate) trait Sink {
    /// Takes one delta.
    fn delta(&mut self, d: Delta<'_>);
}

/// The client format a translated stream is written in.
#[derive(Debug)]
pub(crate) enum Encoder {
    /// OpenAI chunks.
    OpenAi(OpenAiEncoder),
    /// Anthropic events.
    Anthropic(AnthropicEncoder),
}

/// An [`Encoder`] writing into a buffer.
struct Writer<'a> {
    encoder: &'a mut Encoder,
    out: &'a mut BytesMut,
}

impl Sink for Writer<'_> {
    fn delta(&mut self, d: Delta<'_>) {
        match self.encoder {
            Encoder::OpenAi(e) => e.delta(d, self.out),
            Encoder::Anthropic(e) => e.delta(d, self.out),
        }
    }
}

/// The client's stream format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientFormat {
    /// OpenAI chunks, `data: [DONE]` at the end.
    OpenAi,
    /// Anthropic Messages events, `message_stop` at the end.
    Anthropic,
}

pub(crate) enum Framing {
    Sse(SseParser),
    Ndjson(NdjsonParser),
    /// AWS event-stream messages (Bedrock).
    EventStream(EventStreamParser),
    /// Server-sent events carried in the payloads of AWS event-stream `PayloadPart`
    /// messages (SageMaker's InvokeEndpointWithResponseStream).
    /// (The SSE parser boxed: the variant would otherwise double the enum's size.)
    EventStreamSse(EventStreamParser, Box<SseParser>),
}

impl Framing {
    /// Server-sent events.
    pub(crate) fn sse() -> Self {
        Framing::Sse(SseParser::default())
    }

    /// Newline-delimited JSON.
    pub(crate) fn ndjson() -> Self {
        Framing::Ndjson(NdjsonParser::default())
    }

    /// AWS event-stream messages.
    pub(crate) fn event_stream() -> Self {
        Framing::EventStream(EventStreamParser::default())
    }

    /// Server-sent events inside AWS event-stream payloads.
    pub(crate) fn event_stream_sse() -> Self {
        Framing::EventStreamSse(EventStreamParser::default(), Box::default())
    }
}

pub(crate) enum Mode {
    /// The upstream already speaks the client's format: events are re-framed as they
    /// are, and only watched for the end marker.
    Passthrough {
        finished: bool,
        /// The finish reasons the events carried (OpenAI `finish_reason`s, Anthropic's
        /// `stop_reason`): the client got them as they are.
        reasons: FinishReasons,
        /// The usage the events reported so far.
        usage: Option<Usage>,
    },
    /// Upstream events become canonical deltas, then the client's format.
    Translate {
        decoder: Box<dyn Decoder>,
        // Boxed: the encoders are large, and a passed-through stream (the common
        // case) should not carry their size.
        encoder: Box<Encoder>,
    },
}

/// Timeouts of one stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) first_token: Duration,
    pub(crate) stall: Duration,
    pub(crate) deadline: Instant,
}

pin_project! {
    /// A translated, watched, time-bounded stream of server-sent events.
    pub struct ChatStream<B> {
        #[pin]
        upstream: B,
        #[pin]
        timer: Sleep,
        framing: Framing,
        mode: Mode,
        client: ClientFormat,
        timeouts: Timeouts,
        first: bool,
        // When the last data came: the stall deadline counts from here. The timer is
        // moved on lazily, when it fires early, not on every chunk.
        last_data: Instant,
        // An upstream chunk going to the client as it came (see `passes_as_is`).
        pass: Option<Bytes>,
        out: BytesMut,
        done: bool,
        events: Vec<SseEvent>,
        lines: Vec<Vec<u8>>,
        // How the stream ended, when it ends early (for the request's event).
        outcome: OutcomeCell,
        // The usage the stream reported, set when it ends (for the request's event).
        usage: UsageCell,
        // The finish reasons the client got, set when the stream ends (likewise).
        finish: FinishReasonsCell,
    }
}

impl<B> ChatStream<B> {
    pub(crate) fn new(
        upstream: B,
        framing: Framing,
        mode: Mode,
        client: ClientFormat,
        timeouts: Timeouts,
    ) -> Self {
        let first = (Instant::now() + timeouts.first_token).min(timeouts.deadline);
        Self {
            upstream,
            timer: tokio::time::sleep_until(first),
            framing,
            mode,
            client,
            timeouts,
            first: true,
            last_data: Instant::now(),
            pass: None,
            out: BytesMut::new(),
            done: false,
            events: Vec::new(),
            lines: Vec::new(),
            outcome: OutcomeCell::default(),
            usage: UsageCell::default(),
            finish: FinishReasonsCell::default(),
        }
    }

    /// The cell the stream's usage is put in as it ends, for the response's
    /// extensions.
    pub(crate) fn usage_cell(&self) -> UsageCell {
        self.usage.clone()
    }

    /// The cell the finish reasons the client got are put in as the stream ends, for
    /// the response's extensions.
    pub(crate) fn finish_cell(&self) -> FinishReasonsCell {
        self.finish.clone()
    }

    /// The cell saying how the stream ended when it ends early (truncated, stalled,
    /// timed out, failed), for the response's extensions.
    pub(crate) fn outcome_cell(&self) -> OutcomeCell {
        self.outcome.clone()
    }
}

fn frame_event(out: &mut BytesMut, event: Option<&str>, data: &str) {
    if let Some(name) = event {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_u8(b'\n');
    }
    for line in data.split('\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
}

fn error_event(client: ClientFormat, err: &ProviderError) -> Bytes {
    match client {
        ClientFormat::OpenAi => {
            let mut out = BytesMut::new();
            frame_event(&mut out, None, &err.to_json().to_string());
            out.freeze()
        }
        ClientFormat::Anthropic => AnthropicEncoder::error(err),
    }
}

/// Watches one OpenAI chunk passed through for the stream's end: `[DONE]` or an error
/// ends it; a `finish_reason` (kept in `reasons`) means it may end without `[DONE]`.
pub(crate) fn watch_openai(data: &[u8], finished: &mut bool, reasons: &mut FinishReasons) {
    // Built once: a searcher's set-up costs more than a search of one chunk.
    static FINISH_REASON: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\"finish_reason\":"));
    if data.trim_ascii() == b"[DONE]" || data.starts_with(b"{\"error\"") {
        *finished = true;
        return;
    }
    for at in FINISH_REASON.find_iter(data) {
        // A string value (`null` is not a reason).
        if let Some(reason) = string_at(&data[at + b"\"finish_reason\":".len()..]) {
            reasons.push(FinishReason::new(reason));
        }
    }
}

/// The stop reason of an Anthropic `message_delta` event passed through, if it has one.
fn anthropic_stop_reason(data: &[u8]) -> Option<&str> {
    static STOP_REASON: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\"stop_reason\":"));
    let at = STOP_REASON.find(data)?;
    string_at(&data[at + b"\"stop_reason\":".len()..])
}

/// The JSON string at the start of `value` (after one optional space), if it is one
/// without escapes (the finish reasons of every API are plain words).
fn string_at(value: &[u8]) -> Option<&str> {
    let value = value.strip_prefix(b" ").unwrap_or(value);
    let rest = value.strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

/// Whether `chunk` can go to the client as it came: an OpenAI stream passed through,
/// the parser between events, and the chunk whole plain events (each one `data: `
/// line and a blank line, `\n` line ends, valid UTF-8, every event within the parser's
/// bound), which is the form re-framing would give them byte for byte. If so, the
/// events are watched as re-framed ones are, and nothing is copied.
fn passes_as_is(framing: &Framing, mode: &mut Mode, client: ClientFormat, chunk: &[u8]) -> bool {
    let (
        Framing::Sse(parser),
        Mode::Passthrough {
            finished,
            reasons,
            usage,
        },
    ) = (framing, mode)
    else {
        return false;
    };
    if client != ClientFormat::OpenAi
        || !parser.is_idle()
        || !chunk.ends_with(b"\n\n")
        || memchr::memchr(b'\r', chunk).is_some()
        || std::str::from_utf8(chunk).is_err()
    {
        return false;
    }
    // Kept apart until the whole chunk is known to pass (nothing allocated for none).
    let (mut done, mut found, mut used) = (*finished, FinishReasons::default(), *usage);
    let mut rest = chunk;
    while !rest.is_empty() {
        // One line, then a blank one.
        let Some(end) = memchr::memchr(b'\n', rest) else {
            return false;
        };
        let event = &rest[..end];
        let Some(data) = event.strip_prefix(b"data: ") else {
            return false;
        };
        if rest.get(end + 1) != Some(&b'\n') || event.len() > parser.max() {
            return false;
        }
        watch_openai(data, &mut done, &mut found);
        if let Some(u) = crate::usage::of_event(client, None, data) {
            used = Some(crate::usage::merge(used, u));
        }
        rest = &rest[end + 2..];
    }
    (*finished, *usage) = (done, used);
    for reason in found.iter() {
        reasons.push(reason.clone());
    }
    true
}

impl Mode {
    /// Handles one upstream event; `Err` ends the stream with that error.
    fn event(
        &mut self,
        client: ClientFormat,
        name: Option<&str>,
        data: &str,
        out: &mut BytesMut,
    ) -> Result<(), ProviderError> {
        match self {
            Mode::Passthrough {
                finished,
                reasons,
                usage,
            } => {
                frame_event(out, name, data);
                if let Some(u) = crate::usage::of_event(client, name, data.as_bytes()) {
                    *usage = Some(crate::usage::merge(*usage, u));
                }
                match client {
                    ClientFormat::OpenAi => {
                        watch_openai(data.as_bytes(), finished, reasons);
                    }
                    ClientFormat::Anthropic => match name {
                        Some("message_stop" | "error") => *finished = true,
                        Some("message_delta") => {
                            if let Some(reason) = anthropic_stop_reason(data.as_bytes()) {
                                reasons.push(FinishReason::new(reason));
                            }
                        }
                        _ => {}
                    },
                }
                Ok(())
            }
            Mode::Translate { decoder, encoder } => {
                decoder.event(name, data, &mut Writer { encoder, out })
            }
        }
    }

    /// The usage the stream reported so far (for the request's event).
    fn usage(&self) -> Option<Usage> {
        match self {
            Mode::Passthrough { usage, .. } => *usage,
            Mode::Translate { encoder, .. } => match &**encoder {
                Encoder::OpenAi(e) => e.usage(),
                Encoder::Anthropic(e) => e.usage(),
            },
        }
    }

    /// The finish reasons the client was sent so far (for the request's event).
    fn finish_reasons(&self) -> FinishReasons {
        match self {
            Mode::Passthrough { reasons, .. } => reasons.clone(),
            Mode::Translate { encoder, .. } => match &**encoder {
                Encoder::OpenAi(e) => e.finish_reasons().clone(),
                Encoder::Anthropic(e) => e.finish_reasons(),
            },
        }
    }

    /// At the upstream's end: the closing frames, or the error if it ended early.
    fn finish(&mut self, client: ClientFormat, out: &mut BytesMut) -> Result<(), ProviderError> {
        let truncated = || {
            ProviderError::bad_gateway("upstream closed the stream before it finished")
                .with_code("stream_truncated")
        };
        match self {
            Mode::Passthrough { finished: true, .. } => Ok(()),
            // Some OpenAI-compatible servers end right after the final chunk.
            Mode::Passthrough { reasons, .. }
                if client == ClientFormat::OpenAi && !reasons.is_empty() =>
            {
                frame_event(out, None, "[DONE]");
                Ok(())
            }
            Mode::Passthrough { .. } => Err(truncated()),
            Mode::Translate { decoder, encoder } => {
                if !decoder.complete() {
                    return Err(truncated());
                }
                match &mut **encoder {
                    Encoder::OpenAi(e) => e.finish(out),
                    Encoder::Anthropic(e) => e.finish(out),
                }
                Ok(())
            }
        }
    }
}

impl<B> Body for ChatStream<B>
where
    B: Body<Data = Bytes>,
    B::Error: fmt::Display,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            if let Some(chunk) = this.pass.take() {
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            if !this.out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(this.out.split().freeze()))));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            // How the stream ends if `result` is an error.
            let mut ended = Outcome::Failed;
            let result: Result<(), ProviderError> = match this.upstream.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    *this.first = false;
                    let now = Instant::now();
                    *this.last_data = now;
                    // Only ever pulled in (after the first token, whose bound may be
                    // longer than the stall bound); pushed out when it fires.
                    let due = (now + this.timeouts.stall).min(this.timeouts.deadline);
                    if due < this.timer.deadline() {
                        this.timer.as_mut().reset(due);
                    }
                    if passes_as_is(this.framing, this.mode, *this.client, &data) {
                        *this.pass = Some(data);
                        continue;
                    }
                    feed(
                        this.framing,
                        this.mode,
                        *this.client,
                        &data,
                        this.events,
                        this.lines,
                        this.out,
                    )
                }
                Poll::Ready(Some(Err(err))) => {
                    ended = Outcome::Truncated;
                    Err(
                        ProviderError::bad_gateway(format!("upstream stream broke: {err}"))
                            .with_code("stream_broken"),
                    )
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    ended = Outcome::Truncated;
                    finish(
                        this.framing,
                        this.mode,
                        *this.client,
                        this.events,
                        this.lines,
                        this.out,
                    )
                }
                Poll::Pending => {
                    std::task::ready!(this.timer.as_mut().poll(cx));
                    let now = Instant::now();
                    if !*this.first {
                        let due =
                            (*this.last_data + this.timeouts.stall).min(this.timeouts.deadline);
                        if now < due {
                            // Data came since the timer was set: not stalled yet.
                            this.timer.as_mut().reset(due);
                            continue;
                        }
                    }
                    ended = if now >= this.timeouts.deadline {
                        Outcome::TimedOut
                    } else {
                        Outcome::Stalled
                    };
                    let message = if now >= this.timeouts.deadline {
                        "upstream stream exceeded the request timeout".to_string()
                    } else if *this.first {
                        format!(
                            "no first token from upstream within {:?}",
                            this.timeouts.first_token
                        )
                    } else {
                        format!(
                            "upstream stream stalled: no data for {:?}",
                            this.timeouts.stall
                        )
                    };
                    Err(ProviderError::timeout(message))
                }
            };
            if let Err(err) = result {
                tracing::debug!(error = %err, "stream ended with an error event");
                this.outcome.set(ended);
                *this.done = true;
                this.out.extend_from_slice(&error_event(*this.client, &err));
            }
            if *this.done {
                // Before the last frame goes out: the event may be emitted with it.
                if let Some(usage) = this.mode.usage() {
                    this.usage.set(usage.into());
                }
                let reasons = this.mode.finish_reasons();
                if !reasons.is_empty() {
                    this.finish.set(reasons);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.out.is_empty() && self.pass.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn feed(
    framing: &mut Framing,
    mode: &mut Mode,
    client: ClientFormat,
    data: &[u8],
    events: &mut Vec<SseEvent>,
    lines: &mut Vec<Vec<u8>>,
    out: &mut BytesMut,
) -> Result<(), ProviderError> {
    let broken = |e: crate::sse::SseError| {
        ProviderError::bad_gateway(format!("upstream stream is malformed: {e}"))
    };
    match framing {
        Framing::Sse(parser) => {
            events.clear();
            parser.feed(data, events).map_err(broken)?;
            for event in events.drain(..) {
                mode.event(client, event.event.as_deref(), &event.data, out)?;
            }
        }
        Framing::Ndjson(parser) => {
            lines.clear();
            parser.feed(data, lines).map_err(broken)?;
            for line in lines.drain(..) {
                mode.event(client, None, &crate::sse::utf8(&line), out)?;
            }
        }
        Framing::EventStream(parser) => {
            let mut frames = Vec::new();
            parser.feed(data, &mut frames)?;
            for frame in frames {
                match frame {
                    AwsFrame::Event { kind, payload } => {
                        mode.event(client, Some(&kind), &crate::sse::utf8(&payload), out)?
                    }
                    AwsFrame::Exception { kind, payload } => {
                        return Err(crate::providers::bedrock::exception(&kind, &payload))
                    }
                }
            }
        }
        Framing::EventStreamSse(frames_parser, sse) => {
            let mut frames = Vec::new();
            frames_parser.feed(data, &mut frames)?;
            for frame in frames {
                match frame {
                    AwsFrame::Event { kind, payload } if kind == "PayloadPart" => {
                        events.clear();
                        sse.feed(&payload, events).map_err(broken)?;
                        for event in events.drain(..) {
                            mode.event(client, event.event.as_deref(), &event.data, out)?;
                        }
                    }
                    AwsFrame::Event { .. } => {}
                    AwsFrame::Exception { kind, payload } => {
                        return Err(crate::providers::sagemaker::exception(&kind, &payload))
                    }
                }
            }
        }
    }
    Ok(())
}

fn finish(
    framing: &mut Framing,
    mode: &mut Mode,
    client: ClientFormat,
    events: &mut Vec<SseEvent>,
    lines: &mut Vec<Vec<u8>>,
    out: &mut BytesMut,
) -> Result<(), ProviderError> {
    match framing {
        Framing::Sse(parser) => {
            events.clear();
            parser.finish(events);
            for event in events.drain(..) {
                mode.event(client, event.event.as_deref(), &event.data, out)?;
            }
        }
        Framing::Ndjson(parser) => {
            lines.clear();
            parser.finish(lines);
            for line in lines.drain(..) {
                mode.event(client, None, &crate::sse::utf8(&line), out)?;
            }
        }
        Framing::EventStream(parser) | Framing::EventStreamSse(parser, _) if !parser.is_idle() => {
            return Err(ProviderError::bad_gateway(
                "upstream stream ended inside an event-stream message",
            ))
        }
        Framing::EventStream(_) => {}
        Framing::EventStreamSse(_, sse) => {
            events.clear();
            sse.finish(events);
            for event in events.drain(..) {
                mode.event(client, event.event.as_deref(), &event.data, out)?;
            }
        }
    }
    mode.finish(client, out)
}

impl<B> fmt::Debug for ChatStream<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("client", &self.client)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    const CHUNK: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n";

    fn watched(
        body: http_body_util::channel::Channel<Bytes, std::convert::Infallible>,
    ) -> ChatStream<http_body_util::channel::Channel<Bytes, std::convert::Infallible>> {
        ChatStream::new(
            body,
            Framing::Sse(SseParser::default()),
            Mode::Passthrough {
                finished: false,
                reasons: FinishReasons::default(),
                usage: None,
            },
            ClientFormat::OpenAi,
            Timeouts {
                first_token: Duration::from_secs(5),
                stall: Duration::from_millis(300),
                deadline: Instant::now() + Duration::from_secs(60),
            },
        )
    }

    /// Reads frames until one holds `needle` or the stream ends; returns the text and
    /// when it came.
    async fn until(
        stream: &mut Pin<
            Box<ChatStream<http_body_util::channel::Channel<Bytes, std::convert::Infallible>>>,
        >,
        needle: &str,
    ) -> (String, Instant) {
        let mut text = String::new();
        while let Some(frame) = stream.frame().await {
            if let Ok(data) = frame.map(|f| f.into_data()) {
                text.push_str(&String::from_utf8_lossy(&data.unwrap_or_default()));
            }
            if text.contains(needle) {
                break;
            }
        }
        (text, Instant::now())
    }

    /// The frames of a passed-through OpenAI stream fed `chunks`, then closed.
    async fn frames(chunks: &[Bytes]) -> Vec<Bytes> {
        let (mut tx, body) = http_body_util::channel::Channel::new(chunks.len().max(1));
        for chunk in chunks {
            tx.send_data(chunk.clone()).await.unwrap_or_default();
        }
        drop(tx);
        let mut stream = Box::pin(watched(body));
        let mut out = Vec::new();
        while let Some(frame) = stream.frame().await {
            out.extend(frame.ok().and_then(|f| f.into_data().ok()));
        }
        out
    }

    fn text(frames: &[Bytes]) -> String {
        frames
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect()
    }

    #[test]
    fn finish_reasons_are_read_as_plain_strings_only() {
        let mut reasons = FinishReasons::default();
        let mut finished = false;
        let data = br#"{"choices":[{"index":0,"finish_reason":"stop"},{"index":1,"finish_reason": "length"},{"index":2,"finish_reason":null}]}"#;
        watch_openai(data, &mut finished, &mut reasons);
        let names: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["stop", "length"]);
        assert!(!finished);
        // An escape is no reason any API sends: not taken.
        assert_eq!(string_at(br#""st\"op""#), None);
        assert_eq!(string_at(br#" "end_turn","#), Some("end_turn"));
        assert_eq!(
            anthropic_stop_reason(
                br#"{"type":"message_delta","delta":{"stop_reason":"tool_use"}}"#
            ),
            Some("tool_use")
        );
    }

    #[tokio::test]
    async fn whole_plain_events_go_to_the_client_as_they_came() {
        let two = Bytes::from(format!("{CHUNK}{CHUNK}"));
        let done = Bytes::from_static(b"data: [DONE]\n\n");
        let out = frames(&[two.clone(), done.clone()]).await;
        assert_eq!(out.len(), 2, "{out:?}");
        // The same bytes, not a copy.
        assert_eq!(out[0].as_ptr(), two.as_ptr());
        assert_eq!(out[1].as_ptr(), done.as_ptr());
        assert_eq!(text(&out), format!("{CHUNK}{CHUNK}data: [DONE]\n\n"));
    }

    #[tokio::test]
    async fn other_chunks_are_reframed_and_the_end_is_watched_either_way() {
        // Split inside an event: the parser holds a partial event, so the chunk after
        // is re-framed too, and the bytes out are the bytes in.
        let (a, b) = CHUNK.split_at(20);
        let chunks = [a, b, CHUNK, "data: [DONE]\n\n"].map(|c| Bytes::from(c.to_owned()));
        let out = frames(&chunks).await;
        assert_eq!(text(&out), format!("{CHUNK}{CHUNK}data: [DONE]\n\n"));
        // Line ends, comments and a missing space are normalised (re-framed).
        let odd = Bytes::from_static(b": keep-alive\r\ndata:{\"a\":1}\r\n\r\ndata: [DONE]\n\n");
        let out = frames(std::slice::from_ref(&odd)).await;
        assert_ne!(out[0].as_ptr(), odd.as_ptr());
        assert_eq!(text(&out), "data: {\"a\":1}\n\ndata: [DONE]\n\n");
        // A finish reason seen as-is, then a close without `[DONE]`: it is added.
        let last =
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
        let out = frames(&[Bytes::from_static(CHUNK.as_bytes()), Bytes::from(last)]).await;
        assert_eq!(text(&out), format!("{CHUNK}{last}data: [DONE]\n\n"));
        // Neither: the stream was cut, and says so.
        let out = frames(&[Bytes::from_static(CHUNK.as_bytes())]).await;
        let all = text(&out);
        assert!(all.starts_with(CHUNK), "{all}");
        assert!(all.contains("stream_truncated"), "{all}");
        assert!(!all.contains("[DONE]"), "{all}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_is_never_taken_for_a_stalled_one() {
        let (mut tx, body) = http_body_util::channel::Channel::new(4);
        let mut stream = Box::pin(watched(body));
        let sender = tokio::spawn(async move {
            // Two seconds of chunks 200 ms apart: each gap is within the 300 ms bound,
            // though the whole is far beyond it.
            for _ in 0..10 {
                tx.send_data(Bytes::from_static(CHUNK.as_bytes()))
                    .await
                    .ok();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            tx.send_data(Bytes::from_static(b"data: [DONE]\n\n"))
                .await
                .ok();
        });
        let (text, _) = until(&mut stream, "[DONE]").await;
        assert_eq!(text.matches("\"content\":\"x\"").count(), 10, "{text}");
        assert!(!text.contains("stalled"), "{text}");
        sender.await.unwrap_or_default();
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_is_reported_one_bound_after_the_last_data() {
        let (mut tx, body) = http_body_util::channel::Channel::new(4);
        let mut stream = Box::pin(watched(body));
        let sender = tokio::spawn(async move {
            let mut last = Instant::now();
            for _ in 0..3 {
                tx.send_data(Bytes::from_static(CHUNK.as_bytes()))
                    .await
                    .ok();
                last = Instant::now();
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            // Then nothing, with the sender kept: a hung upstream, not a closed one.
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(tx);
            last
        });
        let (text, at) = until(&mut stream, "stalled").await;
        assert!(text.contains("upstream_timeout"), "{text}");
        assert_eq!(text.matches("\"content\":\"x\"").count(), 3, "{text}");
        let last = sender.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(at - last, Duration::from_millis(300), "{text}");
    }
}
