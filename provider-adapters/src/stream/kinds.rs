//! What a stream is made of: decoders, encoders, the client's format, the framing,
//! the mode (passed through or translated) and the timeouts.

use super::*;

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
pub(super) struct Writer<'a> {
    pub(super) encoder: &'a mut Encoder,
    pub(super) out: &'a mut BytesMut,
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
