//! [`FrontLayer`]: request ids, the request timeout, JSON errors, the overhead
//! header and the request log.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use pin_project_lite::pin_project;
use prometheus_client::metrics::histogram::Histogram;
use provider_adapters::ProviderError;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

use super::ids::{millis, RequestIds};
use super::{X_OVERHEAD, X_REQUEST_ID};
use crate::shape::ErrorShape;
use limits_layer::callbacks::ResponseFacts;

/// The outermost layer: gives each request an id (kept if the client sent one) and
/// echoes it on the response, turns error responses that are not JSON (from the body
/// limit, the router) into JSON errors, and sets the overhead header. Its own errors
/// (those and the `504`) are Anthropic-shaped on the Messages routes and OpenAI-shaped
/// elsewhere (see [`crate::shape`]).
///
/// With [`with_timeout`](Self::with_timeout) it also bounds the time to the response
/// head: a request whose inner future has not answered by then is answered `504` with a
/// JSON error, and the inner future is dropped with the response future. The timer is
/// armed only when the inner future is not ready at its first poll, so answers known at
/// once (errors, cache hits, health) never touch the timer wheel.
///
/// It also logs each request as its response head is ready (target
/// `gateway_example::front`): server errors (5xx) at `WARN` with the request id,
/// status and time taken; every request at `DEBUG`, with its method and path too.
/// Nothing is captured for the `DEBUG` line unless that level is enabled.
#[derive(Clone, Debug)]
pub struct FrontLayer {
    ids: Arc<RequestIds>,
    timeout: Option<Duration>,
    overhead: Option<Histogram>,
}

impl FrontLayer {
    /// A layer with its own request id prefix (random per layer) and counter, and no
    /// timeout.
    pub fn new() -> Self {
        Self {
            ids: Arc::new(RequestIds::new()),
            timeout: None,
            overhead: None,
        }
    }

    /// Also observes each request's overhead (the header's value, in seconds) in
    /// `histogram`: one atomic update per request.
    pub fn with_overhead_histogram(mut self, histogram: Histogram) -> Self {
        self.overhead = Some(histogram);
        self
    }

    /// Answers `504` when a response head is not ready `timeout` after the request
    /// arrived (see [`FrontLayer`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl Default for FrontLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for FrontLayer {
    type Service = Front<S>;

    fn layer(&self, inner: S) -> Front<S> {
        Front {
            inner,
            ids: self.ids.clone(),
            timeout: self.timeout,
            overhead: self.overhead.clone(),
        }
    }
}

/// See [`FrontLayer`].
#[derive(Clone, Debug)]
pub struct Front<S> {
    inner: S,
    ids: Arc<RequestIds>,
    timeout: Option<Duration>,
    overhead: Option<Histogram>,
}

impl<S, B> Service<Request> for Front<S>
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FrontFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let id = match req.headers().get(&X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = self.ids.next();
                req.headers_mut().insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        let seen = tracing::enabled!(tracing::Level::DEBUG)
            .then(|| Box::new((req.method().clone(), req.uri().path().to_owned())));
        FrontFuture {
            shape: ErrorShape::of_path(req.uri().path()),
            inner: self.inner.call(req),
            // No deadline if it is past what the clock can count: no timeout.
            deadline: self.timeout.and_then(|t| start.checked_add(t)),
            timer: None,
            start,
            id: Some(id),
            seen,
            overhead: self.overhead.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`Front`].
    pub struct FrontFuture<F> {
        #[pin]
        inner: F,
        // The request timeout's timer, armed when `inner` is first pending.
        #[pin]
        timer: Option<Sleep>,
        deadline: Option<Instant>,
        start: Instant,
        id: Option<HeaderValue>,
        // The shape of this route's errors.
        shape: ErrorShape,
        // Method and path, kept only while `DEBUG` logging is on.
        seen: Option<Box<(http::Method, String)>>,
        overhead: Option<Histogram>,
    }
}

impl<F, B> Future for FrontFuture<F>
where
    F: Future<Output = Result<http::Response<B>, Infallible>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut res = match this.inner.poll(cx) {
            Poll::Ready(Ok(res)) => res.map(Body::new),
            Poll::Pending => {
                let Some(deadline) = *this.deadline else {
                    return Poll::Pending;
                };
                if this.timer.is_none() {
                    this.timer.set(Some(tokio::time::sleep_until(deadline)));
                }
                if let Some(timer) = this.timer.as_mut().as_pin_mut() {
                    ready!(timer.poll(cx));
                }
                this.shape
                    .response(&ProviderError::new(StatusCode::GATEWAY_TIMEOUT, TIMED_OUT))
            }
        };
        let status = res.status();
        if (status.is_client_error() || status.is_server_error())
            && res
                .headers()
                .get(CONTENT_TYPE)
                .is_none_or(|ct| !ct.as_bytes().starts_with(b"application/json"))
        {
            res = json_error(res, *this.shape);
        }
        let upstream =
            ResponseFacts::upstream_latency(res.extensions()).map_or(Duration::ZERO, |t| t.0);
        let elapsed = this.start.elapsed();
        let id = this.id.take();
        log(status, id.as_ref(), elapsed, this.seen.take().as_deref());
        if let Some(id) = id {
            res.headers_mut().insert(X_REQUEST_ID, id);
        }
        let overhead = elapsed.saturating_sub(upstream);
        if let Some(histogram) = this.overhead.take() {
            histogram.observe(overhead.as_secs_f64());
        }
        res.headers_mut().insert(X_OVERHEAD, millis(overhead));
        Poll::Ready(Ok(res))
    }
}

/// The request log line (see [`FrontLayer`]).
fn log(
    status: StatusCode,
    id: Option<&HeaderValue>,
    elapsed: Duration,
    seen: Option<&(http::Method, String)>,
) {
    let id = || id.and_then(|id| id.to_str().ok()).unwrap_or_default();
    let ms = elapsed.as_secs_f64() * 1e3;
    if status.is_server_error() {
        tracing::warn!(
            request_id = id(),
            status = status.as_u16(),
            ms,
            "request failed"
        );
    }
    if let Some((method, path)) = seen {
        tracing::debug!(request_id = id(), %method, path, status = status.as_u16(), ms, "request");
    }
}

/// The message of the `504` answering a request that timed out in the gateway.
const TIMED_OUT: &str = "the request timed out in the gateway";

/// The same error as a JSON body of `shape`, keeping the headers clients use.
fn json_error(res: Response, shape: ErrorShape) -> Response {
    let status = res.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_string(),
        StatusCode::GATEWAY_TIMEOUT => TIMED_OUT.to_owned(),
        other => other.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut json = shape.response(&ProviderError::new(status, message));
    for name in [http::header::RETRY_AFTER, http::header::ALLOW] {
        if let Some(v) = res.headers().get(&name) {
            json.headers_mut().insert(name, v.clone());
        }
    }
    json
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    /// Log output, captured.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The log lines of one request through `Front` answering `status`, at `level`.
    async fn logged(status: StatusCode, level: tracing::Level) -> String {
        use tower::ServiceExt;
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let inner = tower::service_fn(move |_: Request| async move {
            let mut res = Response::new(Body::from("{}"));
            *res.status_mut() = status;
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok::<_, Infallible>(res)
        });
        let req = http::Request::post("/v1/chat/completions")
            .header(X_REQUEST_ID, "req-7")
            .body(Body::empty())
            .unwrap();
        let res = FrontLayer::new().layer(inner).oneshot(req).await.unwrap();
        assert_eq!(res.status(), status);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text
    }

    #[tokio::test]
    async fn server_errors_are_logged_with_their_request_id() {
        let has_all = |text: &str, parts: &[&str]| {
            assert_eq!(text.lines().count(), 1, "{text}");
            for part in parts {
                assert!(text.contains(part), "{part:?} not in {text}");
            }
        };
        let warn = logged(StatusCode::BAD_GATEWAY, tracing::Level::INFO).await;
        has_all(
            &warn,
            &[
                "WARN",
                "request failed",
                "request_id=\"req-7\"",
                "status=502",
            ],
        );
        // Successes and client errors are not, at INFO.
        assert_eq!(logged(StatusCode::OK, tracing::Level::INFO).await, "");
        assert_eq!(
            logged(StatusCode::NOT_FOUND, tracing::Level::INFO).await,
            ""
        );
        // At DEBUG every request is, with its method and path.
        let debug = logged(StatusCode::OK, tracing::Level::DEBUG).await;
        has_all(
            &debug,
            &[
                "DEBUG",
                "method=POST",
                "path=\"/v1/chat/completions\"",
                "status=200",
            ],
        );
    }

    /// Sets its flag when dropped.
    struct DropFlag(Arc<std::sync::atomic::AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Through `Front` with a 1 s timeout, an inner service answering 200 after
    /// `delay`: the status, the error message if any, and whether the inner future was
    /// dropped once the response future was.
    async fn timed(delay: Duration) -> (StatusCode, String, bool) {
        use tower::ServiceExt;
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = dropped.clone();
        let inner = tower::service_fn(move |_: Request| {
            let guard = DropFlag(flag.clone());
            async move {
                tokio::time::sleep(delay).await;
                drop(guard);
                Ok::<_, Infallible>(Response::new(Body::from("{}")))
            }
        });
        let front = FrontLayer::new()
            .with_timeout(Duration::from_secs(1))
            .layer(inner);
        let res = front.oneshot(Request::default()).await.unwrap();
        let status = res.status();
        assert!(res.headers().contains_key(X_REQUEST_ID));
        assert!(res.headers().contains_key(X_OVERHEAD));
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        (status, message, dropped.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_not_ready_in_time_is_answered_504_in_json() {
        let started = Instant::now();
        let (status, message, dropped) = timed(Duration::from_secs(30)).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(message, TIMED_OUT);
        assert!(dropped, "the timed-out inner future is dropped");
        // Answered at the deadline, not when the inner service would have.
        assert_eq!(started.elapsed(), Duration::from_secs(1));

        let (status, message, _) = timed(Duration::from_millis(999)).await;
        assert_eq!((status, message.as_str()), (StatusCode::OK, ""));
        let (status, _, _) = timed(Duration::ZERO).await;
        assert_eq!(status, StatusCode::OK);
    }
}
