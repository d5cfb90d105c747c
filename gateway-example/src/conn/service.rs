//! The service hyper calls for one connection: counts each request in flight, tracks
//! whether its body was read to the end, and wraps each response body so the
//! connection's watchdog sees its progress.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use http_body::Frame;
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use provider_adapters::ProviderError;
use tokio::time::Instant;
use tower_service::Service;

use super::{Active, ConnState, Progress};

/// How long the client of a response may go without taking any of its bytes, and
/// how a stream is cut at the drain deadline. The proxy puts it in the extensions of
/// an upstream's response; responses without one get the connection's default
/// (`server.body_read_timeout_s`) and OpenAI-format error events.
#[derive(Clone, Copy, Debug)]
pub struct SendLimits {
    /// Longest time the client may take no bytes (the deployment's `stream_timeout`).
    pub stall: Duration,
    /// The request's total deadline (the deployment's `timeout`), if any.
    pub deadline: Option<Instant>,
    /// Whether the client speaks Anthropic's format (its error events differ).
    pub anthropic: bool,
}

/// The service of one connection around the gateway's application (see the module
/// docs).
#[derive(Clone, Debug)]
pub struct Watched<S> {
    inner: S,
    conn: Arc<ConnState>,
    default_stall: Duration,
}

impl<S> Watched<S> {
    /// `inner` served on the connection of `conn`; `default_stall` is the longest time
    /// a client may take no bytes of a response that has no [`SendLimits`].
    pub fn new(inner: S, conn: Arc<ConnState>, default_stall: Duration) -> Self {
        Self {
            inner,
            conn,
            default_stall,
        }
    }
}

impl<S> Service<http::Request<Incoming>> for Watched<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<WatchedBody>;
    type Error = Infallible;
    type Future = WatchedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Incoming>) -> Self::Future {
        let active = Active::new(self.conn.clone());
        // HTTP/1 only: one request at a time, and `Connection: close` means something.
        let http1 = req.version() < http::Version::HTTP_2;
        let req = if http1 && !http_body::Body::is_end_stream(req.body()) {
            self.conn.request_done.store(false, Ordering::Relaxed);
            let conn = self.conn.clone();
            req.map(|inner| Body::new(Tracked { inner, conn }))
        } else {
            self.conn.request_done.store(true, Ordering::Relaxed);
            req.map(Body::new)
        };
        WatchedFuture {
            inner: self.inner.call(req),
            active: Some(active),
            http1,
            default_stall: self.default_stall,
        }
    }
}

pin_project! {
    /// The response future of [`Watched`].
    pub struct WatchedFuture<F> {
        #[pin]
        inner: F,
        active: Option<Active>,
        http1: bool,
        default_stall: Duration,
    }
}

impl<F> Future for WatchedFuture<F>
where
    F: Future<Output = Result<http::Response<Body>, Infallible>>,
{
    type Output = Result<http::Response<WatchedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(res) = ready!(this.inner.poll(cx));
        let (mut parts, body) = res.into_parts();
        let Some(active) = this.active.take() else {
            // Polled after completion: an empty answer rather than a panic.
            return Poll::Ready(Ok(http::Response::from_parts(parts, WatchedBody::done())));
        };
        let conn = &active.0;
        if *this.http1 && !conn.request_done.load(Ordering::Relaxed) {
            // The rest of the request body is still coming: the connection cannot
            // carry another request, and the client must know before it tries.
            parts
                .headers
                .insert(CONNECTION, HeaderValue::from_static("close"));
            conn.unread_body.store(true, Ordering::Relaxed);
        }
        let limits = parts.extensions.remove::<SendLimits>();
        // A body of known size (a whole answer, usually one chunk) is not watched
        // frame by frame: if its client stops reading, the socket stays blocked, and
        // the connection's own limit applies.
        let watched = !http_body::Body::is_end_stream(&body)
            && http_body::Body::size_hint(&body).exact().is_none();
        let progress = watched.then(|| {
            let stall = limits.map_or(*this.default_stall, |l| l.stall);
            let deadline = limits
                .and_then(|l| l.deadline)
                .map_or(u64::MAX, |at| conn.ms(at));
            let progress = Arc::new(Progress {
                stall_ms: AtomicU64::new(super::duration_ms(stall)),
                deadline_ms: AtomicU64::new(deadline),
                ..Progress::default()
            });
            conn.add(progress.clone());
            progress
        });
        let stream = parts
            .headers
            .get(CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"text/event-stream"));
        Poll::Ready(Ok(http::Response::from_parts(
            parts,
            WatchedBody {
                inner: Some(body),
                cut_event: (stream && watched)
                    .then(|| cut_event(limits.is_some_and(|l| l.anthropic))),
                progress,
                _active: Some(active),
            },
        )))
    }
}

/// The error event that ends a stream cut at the drain deadline, made once per
/// process for each format (every stream holds one, and most never use it).
fn cut_event(anthropic: bool) -> Bytes {
    static EVENTS: std::sync::OnceLock<[Bytes; 2]> = std::sync::OnceLock::new();
    EVENTS.get_or_init(|| [make_cut_event(false), make_cut_event(true)])[usize::from(anthropic)]
        .clone()
}

fn make_cut_event(anthropic: bool) -> Bytes {
    let err = ProviderError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the gateway is shutting down: this stream was cut at its drain deadline",
    )
    .with_code("shutting_down");
    let mut out = BytesMut::new();
    if anthropic {
        out.extend_from_slice(b"event: error\ndata: ");
        out.extend_from_slice(err.to_anthropic_json().to_string().as_bytes());
    } else {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(err.to_json().to_string().as_bytes());
    }
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

/// A response body whose progress its connection's watchdog watches (see
/// [`super`]). At the drain deadline it drops the body it wraps (releasing what that
/// holds) and, for a stream, ends with an error event.
#[derive(Debug)]
pub struct WatchedBody {
    inner: Option<Body>,
    progress: Option<Arc<Progress>>,
    cut_event: Option<Bytes>,
    _active: Option<Active>,
}

impl WatchedBody {
    fn done() -> Self {
        Self {
            inner: None,
            progress: None,
            cut_event: None,
            _active: None,
        }
    }
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let progress = this.progress.as_deref();
        if let Some(progress) = progress {
            let turn = progress.turns.load(Ordering::Relaxed);
            if turn % 2 == 1 {
                // Back from the consumer: the body's turn.
                progress.turns.store(turn + 1, Ordering::Relaxed);
            }
            if progress.cut.load(Ordering::Relaxed) {
                this.inner = None;
                return Poll::Ready(this.cut_event.take().map(|e| Ok(Frame::data(e))));
            }
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if let Some(progress) = progress {
            match &polled {
                Poll::Pending => progress.waker.register(cx.waker()),
                Poll::Ready(Some(Ok(_))) => {
                    progress.turns.fetch_add(1, Ordering::Relaxed);
                }
                Poll::Ready(_) => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(inner) => inner.is_end_stream(),
            None => self.cut_event.is_none(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => http_body::SizeHint::default(),
        }
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        if let Some(progress) = &self.progress {
            progress.finished.store(true, Ordering::Relaxed);
        }
    }
}

pin_project! {
    /// A request body that notes on its (HTTP/1) connection when it was read to its end.
    struct Tracked {
        #[pin]
        inner: Incoming,
        conn: Arc<ConnState>,
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if frame.is_none() || this.inner.is_end_stream() {
            this.conn.request_done.store(true, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
