use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What happened to one request, as callbacks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The request path.
    pub route: String,
    /// The model, if the request or response carried a [`ModelName`] extension.
    pub model: Option<Arc<str>>,
    /// The response status, or `None` if the service failed before responding.
    pub status: Option<u16>,
    /// From the call to the end of the response body.
    pub latency: Duration,
    /// Response body bytes delivered.
    pub response_bytes: u64,
    /// Token usage, if the response reported it ([`Usage`] or [`UsageCell`]).
    pub usage: Option<Usage>,
    /// How the request ended.
    pub outcome: Outcome,
}

impl Event {
    /// An event for `route` with everything else empty (handy for tests and custom
    /// emitters).
    pub fn new(route: impl Into<String>) -> Self {
        Self {
            route: route.into(),
            model: None,
            status: None,
            latency: Duration::ZERO,
            response_bytes: 0,
            usage: None,
            outcome: Outcome::Completed,
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response body was delivered to its end.
    Completed,
    /// The response body was dropped before its end (the client went away).
    Abandoned,
    /// The service or the response body failed.
    Failed,
}

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt (input) tokens.
    pub prompt_tokens: u64,
    /// Completion (output) tokens.
    pub completion_tokens: u64,
}

/// Request (or response) extension naming the model, for [`Event::model`]; on the
/// response it wins, for handlers that learn the model from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelName(pub Arc<str>);

/// Response extension for usage learned while streaming: whoever parses the stream
/// sets it, and the event (emitted when the body ends) reads it.
#[derive(Debug, Clone, Default)]
pub struct UsageCell(pub Arc<OnceLock<Usage>>);

impl UsageCell {
    /// Records the usage (the first record wins).
    pub fn set(&self, usage: Usage) {
        let _ = self.0.set(usage);
    }

    /// The recorded usage, if any.
    pub fn get(&self) -> Option<Usage> {
        self.0.get().copied()
    }
}
