use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use http::uri::PathAndQuery;

use super::finish::FinishReasons;
#[cfg(doc)]
use super::finish::FinishReasonsCell;

/// What happened to one request, as callbacks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The request method.
    pub method: http::Method,
    /// The request's `x-request-id` header, if it had one.
    pub request_id: Option<http::HeaderValue>,
    /// The request path.
    pub route: Route,
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
    /// Why the answer ended, one reason per choice, as the client received it (empty
    /// when the answer said none): from a [`FinishReasons`] response extension or,
    /// for a stream, its [`FinishReasonsCell`].
    pub finish_reasons: FinishReasons,
    /// Time spent waiting for upstreams, if the response carried an
    /// [`UpstreamLatency`] extension.
    pub upstream_latency: Option<Duration>,
    /// From the call to the first byte of the response body (for a stream, the time
    /// to its first event), if any byte came.
    pub first_byte: Option<Duration>,
    /// The upstream that answered, if the response carried an [`UpstreamInfo`]
    /// extension.
    pub upstream: Option<UpstreamInfo>,
    /// When the request ended (the event was made), by the wall clock: what exporters
    /// stamp spans with, however long the event waited in a queue.
    pub ended_at: SystemTime,
}

impl Event {
    /// An event for a `POST` to `route` with everything else empty (handy for tests
    /// and custom emitters).
    pub fn new(route: impl Into<Route>) -> Self {
        Self {
            method: http::Method::POST,
            request_id: None,
            route: route.into(),
            model: None,
            status: None,
            latency: Duration::ZERO,
            response_bytes: 0,
            usage: None,
            outcome: Outcome::Completed,
            finish_reasons: FinishReasons::default(),
            upstream_latency: None,
            first_byte: None,
            upstream: None,
            ended_at: SystemTime::now(),
        }
    }
}

/// The path of a request, as an [`Event`] carries it: reads as a `&str` and compares
/// with strings. Made from a request's URI ([`Route::of`]) it shares the URI's bytes,
/// so an event costs no copy of its path. Those bytes may be a slice of a larger
/// buffer (hyper reads requests into one): [`Registry::emit`](super::Registry::emit)
/// queues a copy, and anything keeping a route for long should keep
/// `route.to_string()`.
///
/// ```
/// use limits_layer::callbacks::Route;
///
/// let uri: http::Uri = "/v1/chat/completions?trace=1".parse().unwrap();
/// let route = Route::of(&uri);
/// assert_eq!(route, "/v1/chat/completions");
/// assert!(route.starts_with("/v1/"));
/// assert_eq!(route, Route::from("/v1/chat/completions"));
/// ```
#[derive(Clone)]
pub struct Route(RouteRepr);

#[derive(Clone)]
enum RouteRepr {
    /// The path of a URI's path and query (the query is never shown).
    Uri(PathAndQuery),
    Text(Arc<str>),
    Static(&'static str),
}

impl Route {
    /// The path of `uri`, sharing its bytes.
    pub fn of(uri: &http::Uri) -> Self {
        match (uri.path_and_query(), uri.path()) {
            (Some(pq), path) if !path.is_empty() => Self(RouteRepr::Uri(pq.clone())),
            // No path to share: an authority form (`""`) or an absolute URI (`"/"`).
            (_, "") => Self(RouteRepr::Static("")),
            _ => Self(RouteRepr::Static("/")),
        }
    }

    /// The same path, owning its bytes (a copy if they were shared with a URI).
    pub(crate) fn detached(&self) -> Self {
        match &self.0 {
            RouteRepr::Uri(pq) => Self(RouteRepr::Text(pq.path().into())),
            _ => self.clone(),
        }
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            RouteRepr::Uri(pq) => pq.path(),
            RouteRepr::Text(text) => text,
            RouteRepr::Static(text) => text,
        }
    }
}

impl Deref for Route {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Route {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Route {
    fn from(path: &str) -> Self {
        Self(RouteRepr::Text(path.into()))
    }
}

impl From<String> for Route {
    fn from(path: String) -> Self {
        Self(RouteRepr::Text(path.into()))
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl PartialEq<str> for Route {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Route {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Route {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// The body ended normally, but the stream in it had been cut by its upstream
    /// before its end (and ended with an error event), as an [`OutcomeCell`] said.
    Truncated,
    /// The stream's upstream sent nothing for its stall bound (or no first token in
    /// time); it ended with an error event ([`OutcomeCell`]).
    Stalled,
    /// The stream reached its total time limit; it ended with an error event
    /// ([`OutcomeCell`]).
    TimedOut,
}

/// Response extension for how a stream inside the body really ended: whoever
/// watches the stream sets it when it ends it early with an error event, and the
/// event reports that instead of [`Outcome::Completed`].
#[derive(Debug, Clone, Default)]
pub struct OutcomeCell(pub Arc<OnceLock<Outcome>>);

impl OutcomeCell {
    /// Records the outcome (the first record wins).
    pub fn set(&self, outcome: Outcome) {
        let _ = self.0.set(outcome);
    }

    /// The recorded outcome, if any.
    pub fn get(&self) -> Option<Outcome> {
        self.0.get().copied()
    }
}

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt (input) tokens.
    pub prompt_tokens: u64,
    /// Completion (output) tokens.
    pub completion_tokens: u64,
    /// Prompt tokens read from a provider's cache (counted in `prompt_tokens` too).
    pub cached_tokens: u64,
    /// Completion tokens spent reasoning (counted in `completion_tokens` too).
    pub reasoning_tokens: u64,
}

/// Response extension: the time the handler spent waiting for upstreams (over every
/// attempt), for [`Event::upstream_latency`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamLatency(pub Duration);

/// Response extension naming the upstream that answered, for [`Event::upstream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamInfo {
    /// The provider, as the config names it (`openai`, `anthropic`, …).
    pub provider: &'static str,
    /// The model as the upstream was asked for it (the deployment's model).
    pub model: Arc<str>,
    /// The deployment, by the name its metrics use (the gateway's: unique within the
    /// model group, e.g. `provider/model`).
    pub deployment: Arc<str>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_reads_as_its_uri_path_and_queues_as_a_copy() {
        let uri: http::Uri = "/v1/messages?beta=true".parse().unwrap_or_default();
        let route = Route::of(&uri);
        assert!(matches!(route.0, RouteRepr::Uri(_)));
        assert_eq!(route.as_str(), "/v1/messages");
        let detached = route.detached();
        assert!(matches!(detached.0, RouteRepr::Text(_)));
        assert_eq!(detached, route);
        assert_eq!(
            format!("{route} {route:?}"),
            "/v1/messages \"/v1/messages\""
        );

        let absolute: http::Uri = "http://a.example".parse().unwrap_or_default();
        assert_eq!(Route::of(&absolute), absolute.path());
        assert_eq!(Route::of(&"a.example:443".parse().unwrap_or_default()), "");
        assert_eq!(Route::from(String::from("/x")), "/x");
    }
}
