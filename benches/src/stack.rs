//! The in-process stack the gateway puts in front of its handler, and a handler doing
//! the gateway's request work without an upstream: what the `full_stack` criterion
//! bench and `benches/callgrind.sh --stack` measure.
//!
//! # Example
//!
//! ```
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let stack = benches::stack::layers(benches::stack::handler());
//! let req = benches::stack::request().map(axum::body::Body::new);
//! let res = stack.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert!(res.headers().contains_key("x-request-id"));
//! assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "{}");
//! # });
//! ```

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_layer::client::{ClientCacheLayer, ClientKey, NewService};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use limits_layer::admission::{AdmissionLayer, Limits};
use limits_layer::callbacks::{Event, Registry, RegistryConfig};
use limits_layer::events::EventLayer;
use tower::{Service, ServiceBuilder};
use tower_layer::Layer;

/// A chat completion request body.
pub const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one word."}],"temperature":0.2}"#;

/// A chat completion request with a bearer key, as clients send them.
pub fn request() -> Request<Full<Bytes>> {
    // A URI sharing its bytes, as hyper's are (they are slices of its read buffer).
    Request::post(http::Uri::from_static("/v1/chat/completions"))
        .header("authorization", "Bearer sk-test")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .expect("a valid request")
}

/// The gateway's handler work without the upstream call: read the body, extract the
/// model, look up the client; answers `{}` as JSON (`400` if the body has no model).
pub fn handler<B>(
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
       + Clone
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Debug,
{
    let clients = Arc::new(ClientCacheLayer::new().layer(|key: ClientKey| key.base_url().len()));
    let key = ClientKey::new("https://api.openai.com/v1");
    tower::service_fn(move |req: Request<B>| {
        let clients = clients.clone();
        let key = key.clone();
        async move {
            let body = match req.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(err) => panic!("the bench's request body failed: {err:?}"),
            };
            // A JSON answer carries its content type, as the gateway's always do.
            let mut res = Response::new(Full::new(Bytes::from_static(b"{}")));
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            match provider_adapters::request::peek(&body) {
                Ok(peek) => {
                    black_box((peek, clients.new_service(key)));
                }
                Err(_) => *res.status_mut() = http::StatusCode::BAD_REQUEST,
            }
            Ok::<_, Infallible>(res)
        }
    })
}

/// `inner` behind the gateway's in-process layers, as its workers stack them: the front
/// layer (request id, request timeout, overhead header, JSON errors; it boxes the
/// response body), events shown to an observer (as the gateway's metrics), admission
/// with its errors turned into responses. Call it inside a tokio runtime with timers;
/// the gateway's workers also run a [`TimerPacer`](gateway_example::server::TimerPacer).
pub fn layers<S>(
    inner: S,
) -> impl Service<
    Request<axum::body::Body>,
    Response = Response<axum::body::Body>,
    Error = Infallible,
    Future = impl Send,
> + Clone
where
    S: Service<Request<axum::body::Body>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    // Events go to an in-path observer, as the gateway's metrics do; no registry
    // callback is registered by default.
    let registry = Registry::new(RegistryConfig::default());
    ServiceBuilder::new()
        .layer(gateway_example::front::FrontLayer::new().with_timeout(Duration::from_secs(600)))
        .layer(EventLayer::new(registry).with_observer(|e: &Event| {
            black_box(e);
        }))
        // Admission errors become responses, as in the gateway.
        .layer(gateway_example::front::RecoverLayer::new(
            |_: tower::BoxError| {
                let mut res = Response::new(axum::body::Body::empty());
                *res.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                res
            },
        ))
        .layer(AdmissionLayer::new(Limits::default()))
        .service(inner)
}
