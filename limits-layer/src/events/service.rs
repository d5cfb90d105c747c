use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::body::{EventBody, Pending, Timing};
use crate::callbacks::{
    Event, ModelName, Outcome, Registry, ResponseFacts, Route, UpstreamInfo, Usage,
};

/// The request id header, as a name made once: looking a `&str` up parses it anew.
const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Sees every event synchronously, in the request's own task, when its response ends:
/// for cheap, always-on bookkeeping such as metrics counters. Unlike a registry
/// callback it costs no queue, no thread hop and never misses an event; like any code
/// in the request path it must be quick (no I/O, no waiting on locks). A panic in it
/// is caught and logged, and the request is not affected.
pub trait Observer: Send + Sync + 'static {
    /// Sees one event.
    fn observe(&self, event: &Event);
}

impl<F> Observer for F
where
    F: Fn(&Event) + Send + Sync + 'static,
{
    fn observe(&self, event: &Event) {
        self(event)
    }
}

/// Applies [`Events`] to a service.
#[derive(Clone)]
pub struct EventLayer {
    registry: Registry,
    observer: Option<Arc<dyn Observer>>,
}

impl EventLayer {
    /// Emits into `registry`.
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            observer: None,
        }
    }

    /// Also shows every event to `observer`, before it is queued for the registry's
    /// callbacks (see [`Observer`]).
    pub fn with_observer(mut self, observer: impl Observer) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }
}

impl fmt::Debug for EventLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLayer")
            .field("registry", &self.registry)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl<S> Layer<S> for EventLayer {
    type Service = Events<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Events {
            inner,
            registry: self.registry.clone(),
            observer: self.observer.clone(),
        }
    }
}

/// Emits one event per request when its response body ends.
#[derive(Clone)]
pub struct Events<S> {
    inner: S,
    registry: Registry,
    observer: Option<Arc<dyn Observer>>,
}

impl<S> Events<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for Events<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Events<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<EventBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let wanted = self.observer.is_some() || self.registry.has_callbacks();
        let record = wanted.then(|| Record {
            method: req.method().clone(),
            request_id: req.headers().get(&X_REQUEST_ID).cloned(),
            route: Route::of(req.uri()),
            model: req.extensions().get::<ModelName>().map(|m| m.0.clone()),
            upstream: None,
            start: Instant::now(),
            registry: self.registry.clone(),
            observer: self.observer.clone(),
        });
        ResponseFuture {
            future: self.inner.call(req),
            record,
        }
    }
}

/// What is known of a request before its response.
pub(super) struct Record {
    pub(super) method: http::Method,
    pub(super) request_id: Option<http::HeaderValue>,
    pub(super) route: Route,
    pub(super) model: Option<Arc<str>>,
    pub(super) upstream: Option<UpstreamInfo>,
    pub(super) start: Instant,
    pub(super) registry: Registry,
    pub(super) observer: Option<Arc<dyn Observer>>,
}

pin_project! {
    /// The future of an [`Events`] call.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        record: Option<Record>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<EventBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.future.poll(cx));
        let record = this.record.take();
        Poll::Ready(match result {
            Ok(res) => {
                let pending = record.map(|mut record| {
                    // The model may be known only once the request body was read: a
                    // handler can name it on the response instead.
                    let ext = res.extensions();
                    if let Some(model) = ResponseFacts::model(ext) {
                        record.model = Some(model.0);
                    }
                    record.upstream = ResponseFacts::upstream(ext);
                    record
                });
                let pending = pending.map(|record| Pending {
                    status: res.status().as_u16(),
                    usage: ResponseFacts::usage(res.extensions()),
                    usage_cell: ResponseFacts::usage_cell(res.extensions()),
                    outcome_cell: ResponseFacts::outcome_cell(res.extensions()),
                    finish: ResponseFacts::finish_reasons(res.extensions()),
                    finish_cell: ResponseFacts::finish_cell(res.extensions()),
                    upstream_latency: ResponseFacts::upstream_latency(res.extensions())
                        .map(|u| u.0),
                    first_byte: None,
                    record,
                });
                Ok(res.map(|body| EventBody::new(body, pending)))
            }
            Err(err) => {
                if let Some(record) = record {
                    record.emit(None, None, 0, Outcome::Failed, Timing::default());
                }
                Err(err)
            }
        })
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Record {
    pub(super) fn emit(
        self,
        status: Option<u16>,
        usage: Option<Usage>,
        bytes: u64,
        outcome: Outcome,
        timing: Timing,
    ) {
        let mut event = crate::callbacks::Event::new(self.route);
        event.method = self.method;
        event.request_id = self.request_id;
        event.model = self.model;
        event.status = status;
        event.latency = self.start.elapsed();
        event.response_bytes = bytes;
        event.usage = usage;
        event.outcome = outcome;
        event.upstream_latency = timing.upstream_latency;
        event.first_byte = timing.first_byte;
        event.finish_reasons = timing.finish_reasons;
        event.upstream = self.upstream;
        if let Some(observer) = &self.observer {
            let seen =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| observer.observe(&event)));
            if seen.is_err() {
                tracing::warn!(route = %event.route, "event observer panicked");
            }
        }
        if self.registry.has_callbacks() {
            self.registry.emit(event);
        }
    }
}
