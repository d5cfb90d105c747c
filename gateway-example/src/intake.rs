//! The intake of the routes that call upstreams: the request body is read whole,
//! bounded in size (`server.max_body_bytes`: a `Content-Length` over it is answered
//! `413` at once, unread), in time (`server.body_read_timeout_s`, then `408`) and in
//! shape ([`check_shape`], then `400`), *before* the response cache, admission or
//! anything else sees the request. A body still arriving holds no admission slot, and
//! nothing buffers or parses more than the limits allow. Its errors are in the route's
//! shape ([`Bounds::shape`]: Anthropic's on the Messages routes).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::Body as _;
use pin_project_lite::pin_project;
use provider_adapters::ProviderError;
use tokio::time::Sleep;
use tower_service::Service;

use crate::shape::ErrorShape;

/// Most JSON objects and arrays in one request body. Translating a body between
/// formats builds a typed tree that costs far more per object than the handful of
/// bytes of `{"a":0}` (measured with the release build: 19 990 text parts, 0.5 MiB,
/// grew the peak RSS by 8 MiB and took 16 ms; with the earlier `serde_json::Value`
/// translation, 48 MiB and 240 ms); so this bounds what one request can allocate and
/// how long it holds its worker, whatever the body's size. A thousand turns of a
/// tool-using conversation and a hundred tool schemas stay below it.
pub const MAX_JSON_CONTAINERS: usize = 20_000;
/// Most JSON values of any kind (keys included) in one request body: an embeddings
/// input of 300 000 tokens as numbers fits.
pub const MAX_JSON_VALUES: usize = 1_000_000;

/// The bounds of [`intake`].
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
    /// Longest time to receive the body once the headers are in.
    pub body_read_timeout: Duration,
    /// The shape of the intake's errors (the route's).
    pub shape: ErrorShape,
}

/// `inner` behind the intake (see the module docs): it gets the request with its body
/// read, as one chunk.
pub fn intake<S>(inner: S, bounds: Bounds) -> Intake<S> {
    Intake { inner, bounds }
}

/// The intake service (see the module docs and [`intake`]).
#[derive(Clone, Debug)]
pub struct Intake<S> {
    inner: S,
    bounds: Bounds,
}

impl<S> Service<Request> for Intake<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = IntakeFuture<S, S::Future>;

    /// Always ready: the future waits for its own clone of the inner service, once the
    /// body is in.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let (parts, body) = req.into_parts();
        let max = self.bounds.max_body_bytes;
        // A `Content-Length` over the limit: answered at once, unread.
        let state = if body.size_hint().lower() > max as u64 {
            State::Answered {
                res: Some(self.bounds.shape.response(&too_large(max))),
            }
        } else {
            State::Reading {
                parts: Some(parts),
                body,
                read: Read::default(),
                inner: Some(self.inner.clone()),
            }
        };
        IntakeFuture {
            state,
            timer: None,
            bounds: self.bounds,
        }
    }
}

pin_project! {
    /// The response future of [`Intake`]. The body read timer is armed only if the body
    /// is not all there at the first poll (a small body usually is).
    pub struct IntakeFuture<S, F> {
        #[pin]
        state: State<S, F>,
        #[pin]
        timer: Option<Sleep>,
        bounds: Bounds,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F> {
        Reading {
            parts: Option<http::request::Parts>,
            body: Body,
            read: Read,
            inner: Option<S>,
        },
        Calling {
            inner: S,
            req: Option<Request>,
        },
        Running {
            #[pin]
            fut: F,
        },
        Answered {
            res: Option<Response>,
        },
    }
}

impl<S, F> Future for IntakeFuture<S, F>
where
    S: Service<Request, Response = Response, Error = Infallible, Future = F>,
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // At most three turns: read, ready, call.
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Running { fut } => return fut.poll(cx),
                StateProj::Answered { res } => {
                    return Poll::Ready(Ok(res
                        .take()
                        .unwrap_or_else(|| polled_again(this.bounds.shape))))
                }
                StateProj::Calling { inner, req } => {
                    let Ok(()) = ready!(inner.poll_ready(cx));
                    match req.take() {
                        Some(req) => State::Running {
                            fut: inner.call(req),
                        },
                        None => State::Answered { res: None },
                    }
                }
                StateProj::Reading {
                    parts,
                    body,
                    read,
                    inner,
                } => match read.poll(body, this.bounds.max_body_bytes, cx) {
                    Poll::Pending => {
                        if this.timer.is_none() {
                            let timeout = this.bounds.body_read_timeout;
                            this.timer.set(Some(tokio::time::sleep(timeout)));
                        }
                        if let Some(timer) = this.timer.as_mut().as_pin_mut() {
                            ready!(timer.poll(cx));
                        }
                        answer(this.bounds.shape, &timed_out(this.bounds.body_read_timeout))
                    }
                    Poll::Ready(Err(err)) => answer(this.bounds.shape, &err),
                    Poll::Ready(Ok(bytes)) => {
                        match (check_shape(&bytes), parts.take(), inner.take()) {
                            (Err(err), _, _) => answer(this.bounds.shape, &err),
                            (Ok(()), Some(parts), Some(inner)) => State::Calling {
                                inner,
                                req: Some(Request::from_parts(parts, Body::from(bytes))),
                            },
                            _ => State::Answered { res: None },
                        }
                    }
                },
            };
            this.state.set(next);
        }
    }
}

fn answer<S, F>(shape: ErrorShape, err: &ProviderError) -> State<S, F> {
    State::Answered {
        res: Some(shape.response(err)),
    }
}

fn polled_again(shape: ErrorShape) -> Response {
    shape.response(&ProviderError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error: a request future was polled after it completed",
    ))
}

fn too_large(max: usize) -> ProviderError {
    ProviderError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {max} bytes"),
    )
    .with_code("request_too_large")
}

fn timed_out(timeout: Duration) -> ProviderError {
    ProviderError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!("the request body did not arrive within {timeout:?} (server.body_read_timeout_s)"),
    )
    .with_code("request_timeout")
}

/// A body being read whole, as `provider_adapters::body::read_limited` does: a body of
/// one chunk comes back as that chunk, without a copy.
#[derive(Debug, Default)]
struct Read {
    first: Option<Bytes>,
    joined: Option<BytesMut>,
    len: usize,
}

impl Read {
    fn poll(
        &mut self,
        body: &mut Body,
        max: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Bytes, ProviderError>> {
        // Bounded: every turn takes a frame of a body that ends or passes `max`.
        loop {
            let frame = match ready!(Pin::new(&mut *body).poll_frame(cx)) {
                None => break,
                Some(Err(err)) => {
                    return Poll::Ready(Err(ProviderError::bad_request(format!(
                        "could not read the request body: {err}"
                    ))))
                }
                Some(Ok(frame)) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            self.len = match self.len.checked_add(data.len()) {
                Some(len) if len <= max => len,
                _ => return Poll::Ready(Err(too_large(max))),
            };
            if let Some(buf) = self.joined.as_mut() {
                buf.extend_from_slice(&data);
            } else if let Some(head) = self.first.take() {
                let mut buf = BytesMut::with_capacity(self.len);
                buf.extend_from_slice(&head);
                buf.extend_from_slice(&data);
                self.joined = Some(buf);
            } else if !data.is_empty() {
                self.first = Some(data);
            }
            if body.is_end_stream() {
                break;
            }
        }
        Poll::Ready(Ok(match self.joined.take() {
            Some(buf) => buf.freeze(),
            None => self.first.take().unwrap_or_default(),
        }))
    }
}

/// Refuses (`400 request_too_complex`) a body with more than [`MAX_JSON_CONTAINERS`]
/// objects and arrays or [`MAX_JSON_VALUES`] values, counted by one pass over its bytes
/// that allocates nothing (strings are skipped with `memchr`). A body too short to
/// hold that many (an object or array takes two bytes, any value one) is not looked
/// at. A body that is not JSON passes: the parser that follows reports it. (Nesting
/// is bounded by `serde_json`'s own limit of 128 levels.)
pub fn check_shape(body: &[u8]) -> Result<(), ProviderError> {
    if body.len() <= (2 * MAX_JSON_CONTAINERS).min(MAX_JSON_VALUES) {
        return Ok(());
    }
    let shape = Shape::of(body);
    let problem = if shape.containers > MAX_JSON_CONTAINERS {
        format!("more than {MAX_JSON_CONTAINERS} JSON objects and arrays")
    } else if shape.values > MAX_JSON_VALUES {
        format!("more than {MAX_JSON_VALUES} JSON values")
    } else {
        return Ok(());
    };
    Err(
        ProviderError::bad_request(format!("the request body has {problem}; split the request"))
            .with_code("request_too_complex"),
    )
}

/// Counts of a JSON text, stopping early once over every bound.
#[derive(Debug, Default, PartialEq, Eq)]
struct Shape {
    containers: usize,
    values: usize,
}

impl Shape {
    fn of(body: &[u8]) -> Self {
        let mut shape = Shape::default();
        // Inside a run of scalar bytes (a number, `true`, ...).
        let mut in_scalar = false;
        let mut at = 0;
        while at < body.len() {
            let byte = body[at];
            at += 1;
            let scalar = !matches!(
                byte,
                b'{' | b'}' | b'[' | b']' | b',' | b':' | b'"' | b' ' | b'\t' | b'\r' | b'\n'
            );
            if scalar && !in_scalar {
                shape.values += 1;
            }
            in_scalar = scalar;
            match byte {
                b'{' | b'[' => {
                    shape.containers += 1;
                    shape.values += 1;
                }
                b'"' => {
                    shape.values += 1;
                    at = string_end(body, at);
                }
                _ => {}
            }
            if shape.containers > MAX_JSON_CONTAINERS || shape.values > MAX_JSON_VALUES {
                break;
            }
        }
        shape
    }
}

/// The index just past the closing quote of the string whose content starts at `at`.
fn string_end(body: &[u8], mut at: usize) -> usize {
    while let Some(i) = memchr::memchr2(b'"', b'\\', &body[at..]) {
        at += i;
        if body[at] == b'\\' {
            at += 2;
        } else {
            return at + 1;
        }
        if at >= body.len() {
            break;
        }
    }
    body.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_counted_without_looking_into_strings() {
        let shape = Shape::of(br#"{"a":[1,-2.5e3,true,null],"b":"x{[\"]}","c":{}}"#);
        assert_eq!(
            shape,
            Shape {
                containers: 3,
                // The object, 3 keys, the array and its 4 items, a string, an object.
                values: 11,
            }
        );
        assert_eq!(Shape::of(b"").values, 0);
        assert_eq!(Shape::of(br#""unterminated \"#).values, 1);
    }

    #[test]
    fn bodies_past_a_bound_are_a_clear_400() {
        let many = format!("[{}{{}}]", "{},".repeat(MAX_JSON_CONTAINERS));
        let err = check_shape(many.as_bytes()).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.message().contains("20000 JSON objects"), "{err}");
        // Short bodies are not scanned: they cannot be over a bound.
        assert!(check_shape(b"[{},{},{}]").is_ok());
        let numbers = format!("[{}0]", "0,".repeat(MAX_JSON_VALUES));
        assert!(check_shape(numbers.as_bytes()).is_err());
        let fine = format!(
            r#"{{"messages":[{}]}}"#,
            r#"{"role":"user","content":"hi"},"#.repeat(1000) + "{}"
        );
        assert!(check_shape(fine.as_bytes()).is_ok());
    }
}
