//! The intake of the routes that call upstreams: the request body is read whole,
//! bounded in size (`server.max_body_bytes`: a `Content-Length` over it is answered
//! `413` at once, unread), in time (`server.body_read_timeout_s`, then `408`) and in
//! shape ([`check_shape`], then `400`), *before* the response cache, admission or
//! anything else sees the request. A body still arriving holds no admission slot, and
//! nothing buffers or parses more than the limits allow.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use provider_adapters::body::{read_limited, ReadError};
use provider_adapters::ProviderError;
use tower::ServiceExt;
use tower_service::Service;

use crate::app::error_response;

/// Most JSON objects and arrays in one request body. Translating a body between
/// formats builds `serde_json::Value` trees that cost about 2 KiB per object
/// (measured: 50 000 text parts of 27 bytes each took 116 MiB), against the handful of
/// bytes of `{"a":0}`; so this bounds what one request can allocate (about 45 MiB) and
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
}

/// `inner` behind the intake (see the module docs): it gets the request with its body
/// read, as one chunk.
pub fn intake<S>(
    inner: S,
    bounds: Bounds,
) -> impl Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
       + Send
       + 'static
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    tower::service_fn(move |req: Request| {
        let inner = inner.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = match read(body, bounds).await {
                Ok(body) => body,
                Err(err) => return Ok(error_response(&err)),
            };
            if let Err(err) = check_shape(&body) {
                return Ok(error_response(&err));
            }
            inner
                .oneshot(Request::from_parts(parts, Body::from(body)))
                .await
        }
    })
}

async fn read(body: Body, bounds: Bounds) -> Result<bytes::Bytes, ProviderError> {
    let limit = bounds.max_body_bytes;
    match tokio::time::timeout(bounds.body_read_timeout, read_limited(body, limit)).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(ReadError::TooLarge { .. })) => Err(ProviderError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes"),
        )
        .with_code("request_too_large")),
        Ok(Err(ReadError::Body(err))) => Err(ProviderError::bad_request(format!(
            "could not read the request body: {err}"
        ))),
        Err(_) => Err(ProviderError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {:?} (server.body_read_timeout_s)",
                bounds.body_read_timeout
            ),
        )
        .with_code("request_timeout")),
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
