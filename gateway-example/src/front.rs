//! The gateway's outermost layers, written by hand rather than with
//! `axum::middleware::from_fn` (which clones the inner service and boxes a future per
//! request): request ids, the request timeout, the overhead header with JSON error
//! bodies, and the master key check. Usable around any axum service.
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Router};
//! use gateway_example::front::{AuthLayer, FrontLayer};
//! use provider_adapters::Secret;
//!
//! let app: Router = Router::new()
//!     .route("/private", get(|| async { "ok" }))
//!     .route_layer(AuthLayer::new(Some(Secret::new("sk-master".to_string()))))
//!     .layer(FrontLayer::new());
//! # let _ = app;
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::Either;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, StatusCode};
use pin_project_lite::pin_project;
use provider_adapters::{ProviderError, Secret};
use subtle::ConstantTimeEq;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

use crate::shape::ErrorShape;

/// The header carrying the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The header carrying the time spent in the gateway, upstream time excluded.
pub const X_OVERHEAD: HeaderName = HeaderName::from_static("x-gateway-overhead-duration-ms");

/// Time a request spent waiting for upstreams, put in the response's extensions by
/// the proxy handler; the overhead header leaves it out.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UpstreamTime(pub(crate) Duration);

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
}

impl FrontLayer {
    /// A layer with its own request id prefix (random per layer) and counter, and no
    /// timeout.
    pub fn new() -> Self {
        Self {
            ids: Arc::new(RequestIds::new()),
            timeout: None,
        }
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
        }
    }
}

/// See [`FrontLayer`].
#[derive(Clone, Debug)]
pub struct Front<S> {
    inner: S,
    ids: Arc<RequestIds>,
    timeout: Option<Duration>,
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
        let upstream = res
            .extensions()
            .get::<UpstreamTime>()
            .map_or(Duration::ZERO, |t| t.0);
        let elapsed = this.start.elapsed();
        let id = this.id.take();
        log(status, id.as_ref(), elapsed, this.seen.take().as_deref());
        if let Some(id) = id {
            res.headers_mut().insert(X_REQUEST_ID, id);
        }
        res.headers_mut()
            .insert(X_OVERHEAD, millis(elapsed.saturating_sub(upstream)));
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

/// `d` in milliseconds with three decimals (`"0.042"`), without float formatting:
/// the digits of its microseconds, right to left, with the point after three.
fn millis(d: Duration) -> HeaderValue {
    let mut micros = d.as_micros();
    let mut text = [0u8; 48];
    let mut at = text.len();
    for place in 0.. {
        if place == 3 {
            at -= 1;
            text[at] = b'.';
        }
        at -= 1;
        text[at] = b'0' + (micros % 10) as u8;
        micros /= 10;
        if micros == 0 && place >= 3 {
            break;
        }
    }
    HeaderValue::from_bytes(&text[at..]).unwrap_or(HeaderValue::from_static("0.000"))
}

/// Request ids: a random per-process prefix and a counter (`"<16 hex>-<hex>"`),
/// cheaper than a UUID and unique within the process.
#[derive(Debug)]
struct RequestIds {
    prefix: [u8; 16],
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        let random = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        let mut prefix = [0u8; 16];
        hex(random, &mut prefix);
        Self {
            prefix,
            next: AtomicU64::new(0),
        }
    }

    fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 33];
        buf[..16].copy_from_slice(&self.prefix);
        buf[16] = b'-';
        let mut digits = [0u8; 16];
        hex(n, &mut digits);
        // Counter without leading zeros (at least one digit).
        let skip = digits.iter().take(15).take_while(|&&d| d == b'0').count();
        let len = 17 + 16 - skip;
        buf[17..len].copy_from_slice(&digits[skip..]);
        // Owned in one allocation that its clones share: the id goes on the request
        // and, cloned, on the response.
        let id = Bytes::from_owner(IdBytes { buf, len });
        HeaderValue::from_maybe_shared(id).unwrap_or(HeaderValue::from_static("0"))
    }
}

/// The bytes of one request id.
struct IdBytes {
    buf: [u8; 33],
    len: usize,
}

impl AsRef<[u8]> for IdBytes {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// `n` as 16 lowercase hex digits.
fn hex(n: u64, out: &mut [u8; 16]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = DIGITS[((n >> (60 - 4 * i)) & 0xf) as usize];
    }
}

/// Checks the master key (`Authorization: Bearer KEY` or `x-api-key: KEY`) in
/// constant time before the inner service sees the request. The key is never
/// forwarded: upstream requests are built afresh. A refusal is a `401`
/// (`authentication_error` in Anthropic's shape on the Messages routes).
#[derive(Clone, Debug)]
pub struct AuthLayer {
    master: Option<Secret>,
}

impl AuthLayer {
    /// Checks for `master`; with `None` every request passes.
    pub fn new(master: Option<Secret>) -> Self {
        Self { master }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            master: self.master.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct Auth<S> {
    inner: S,
    master: Option<Secret>,
}

impl<S> Service<Request> for Auth<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    /// The inner service's future, or the 401.
    type Future = Either<S::Future, Answered>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match check(self.master.as_ref(), req.headers()) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(message) => {
                // Only a refusal looks at the path, for the shape of its error.
                let shape = ErrorShape::of_path(req.uri().path());
                let err = ProviderError::new(StatusCode::UNAUTHORIZED, message)
                    .with_code("invalid_api_key");
                Either::Right(std::future::ready(Ok(shape.response(&err))))
            }
        }
    }
}

fn check(master: Option<&Secret>, headers: &http::HeaderMap) -> Result<(), &'static str> {
    let Some(master) = master else {
        return Ok(());
    };
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let expected = master.expose().as_bytes();
    let ok = [bearer, api_key]
        .into_iter()
        .flatten()
        .any(|given| bool::from(given.as_bytes().ct_eq(expected)));
    match (ok, bearer.is_none() && api_key.is_none()) {
        (true, _) => Ok(()),
        (false, true) => {
            Err("missing API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`")
        }
        (false, false) => Err("invalid API key"),
    }
}

/// A response known when the service is called.
pub type Answered = std::future::Ready<Result<Response, Infallible>>;

/// The body of a [`Recover`] response: the inner service's, or the answer to an error.
/// Not boxed, so a stack of layers boxes its body once, at the end.
pub type RecoveredBody<B> = http_body_util::Either<B, Body>;

/// Turns a service's errors into responses with a plain function, like axum's
/// `HandleErrorLayer` but without boxing the response future or the body.
#[derive(Clone, Debug)]
pub struct RecoverLayer<F> {
    f: F,
}

impl<F> RecoverLayer<F> {
    /// Errors become `f(error)`.
    pub fn new(f: F) -> Self {
        Self { f }
    }
}

impl<S, F: Clone> Layer<S> for RecoverLayer<F> {
    type Service = Recover<S, F>;

    fn layer(&self, inner: S) -> Recover<S, F> {
        Recover {
            inner,
            f: self.f.clone(),
            failed: None,
        }
    }
}

/// See [`RecoverLayer`].
#[derive(Debug)]
pub struct Recover<S, F> {
    inner: S,
    f: F,
    /// An error from `poll_ready`, answered by the next call without calling `inner`.
    failed: Option<Response>,
}

impl<S: Clone, F: Clone> Clone for Recover<S, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            f: self.f.clone(),
            failed: None,
        }
    }
}

impl<S, F, Req, B> Service<Req> for Recover<S, F>
where
    S: Service<Req, Response = http::Response<B>>,
    F: Fn(S::Error) -> Response + Clone,
{
    type Response = http::Response<RecoveredBody<B>>;
    type Error = Infallible;
    /// The inner service's future with its error recovered, or the recovered error of
    /// `poll_ready`.
    type Future = Either<
        RecoverFuture<S::Future, F>,
        std::future::Ready<Result<http::Response<RecoveredBody<B>>, Infallible>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.failed.is_none() {
            if let Err(err) = ready!(self.inner.poll_ready(cx)) {
                self.failed = Some((self.f)(err));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.failed.take() {
            Some(res) => Either::Right(std::future::ready(Ok(
                res.map(http_body_util::Either::Right)
            ))),
            None => Either::Left(RecoverFuture {
                inner: self.inner.call(req),
                f: self.f.clone(),
            }),
        }
    }
}

pin_project! {
    /// The response future of [`Recover`] around a call of the inner service.
    pub struct RecoverFuture<Fut, F> {
        #[pin]
        inner: Fut,
        f: F,
    }
}

impl<Fut, F, B, E> Future for RecoverFuture<Fut, F>
where
    Fut: Future<Output = Result<http::Response<B>, E>>,
    F: Fn(E) -> Response,
{
    type Output = Result<http::Response<RecoveredBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(Ok(match ready!(this.inner.poll(cx)) {
            Ok(res) => res.map(http_body_util::Either::Left),
            Err(err) => (this.f)(err).map(http_body_util::Either::Right),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails `poll_ready` once, then answers 200 or fails calls with "boom".
    #[derive(Clone)]
    struct Flaky {
        not_ready: bool,
        fail_calls: bool,
        calls: Arc<AtomicU64>,
    }

    impl Service<Request> for Flaky {
        type Response = Response;
        type Error = axum::BoxError;
        type Future = std::future::Ready<Result<Response, axum::BoxError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), axum::BoxError>> {
            if std::mem::take(&mut self.not_ready) {
                return Poll::Ready(Err("not ready".into()));
            }
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request) -> Self::Future {
            self.calls.fetch_add(1, Ordering::Relaxed);
            std::future::ready(if self.fail_calls {
                Err("boom".into())
            } else {
                Ok(Response::new(Body::empty()))
            })
        }
    }

    #[tokio::test]
    async fn recover_answers_errors_with_its_function() {
        use tower::ServiceExt;
        let recover = RecoverLayer::new(|err: axum::BoxError| {
            let mut res = Response::new(Body::from(err.to_string()));
            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            res
        });
        let calls = Arc::new(AtomicU64::new(0));
        let flaky = |not_ready, fail_calls| Flaky {
            not_ready,
            fail_calls,
            calls: calls.clone(),
        };
        let text = |res: http::Response<RecoveredBody<Body>>| async move {
            let status = res.status();
            let body = axum::body::to_bytes(Body::new(res.into_body()), 1024)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        };

        let ok = recover
            .layer(flaky(false, false))
            .oneshot(Request::default());
        assert_eq!(
            text(ok.await.unwrap()).await,
            (StatusCode::OK, String::new())
        );
        let failed = recover
            .layer(flaky(false, true))
            .oneshot(Request::default());
        assert_eq!(
            text(failed.await.unwrap()).await,
            (StatusCode::SERVICE_UNAVAILABLE, "boom".into())
        );
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        // Not ready with an error: answered without calling the inner service.
        let unready = recover
            .layer(flaky(true, false))
            .oneshot(Request::default());
        assert_eq!(
            text(unready.await.unwrap()).await,
            (StatusCode::SERVICE_UNAVAILABLE, "not ready".into())
        );
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }

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

    #[test]
    fn overhead_is_written_in_milliseconds_with_three_decimals() {
        assert_eq!(millis(Duration::from_micros(0)), "0.000");
        assert_eq!(millis(Duration::from_micros(42)), "0.042");
        assert_eq!(millis(Duration::from_micros(1_234_567)), "1234.567");
        assert_eq!(millis(Duration::from_nanos(999)), "0.000");
    }

    #[test]
    fn request_ids_are_a_prefix_and_a_counter() {
        let ids = RequestIds::new();
        let (a, b) = (ids.next(), ids.next());
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_eq!(a.len(), 18, "{a}");
        assert_eq!(&a[..17], &b[..17]);
        assert_eq!((&a[17..], &b[17..]), ("0", "1"));
        ids.next.store(0xabc_def, Ordering::Relaxed);
        assert!(ids.next().to_str().unwrap().ends_with("-abcdef"));
        ids.next.store(u64::MAX, Ordering::Relaxed);
        assert!(ids.next().to_str().unwrap().ends_with("-ffffffffffffffff"));
    }
}
