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
mod kinds;
mod passthrough;
#[cfg(test)]
mod tests;

pub(crate) use self::kinds::*;
pub(crate) use self::passthrough::watch_openai;
use self::passthrough::*;

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
