//! [`ResponseCacheLayer`]: caches successful, non-streaming HTTP responses to identical
//! requests, per caller.
//!
//! The key is the method, the path and query, a hash of the request body (JSON is
//! normalized first, so key order and whitespace do not matter) and a hash of the
//! caller's identity, so two tenants never share an entry. Hashes use per-process
//! random keys, so nobody can craft a collision with another tenant's request.
//!
//! - Only 2xx responses whose body ends are stored, and only if the body fits in
//!   `max_item_bytes` (1 MiB by default); a larger one passes through untouched. The
//!   body is recorded as it streams to the caller, never buffered before it.
//! - Streaming is never cached: a request with `"stream": true`, and responses of type
//!   `text/event-stream` or `application/x-ndjson`.
//! - The request's `Cache-Control: no-cache` skips the lookup (the fresh response is
//!   stored); `no-store` skips both. A response's own `no-store` or `private` is not
//!   stored.
//! - Every response carries `x-cache: hit` or `x-cache: miss`.
//!
//! - With the `redis` feature, [`ResponseCacheLayer::with_shared_store`] adds a second
//!   level shared by instances (`RedisResponseStore`): a local miss asks it, a stored
//!   response goes to both. Its keys are SHA-256 digests of the same parts (caller
//!   included), as a 64-bit hash with a per-process key cannot be shared.
//!
//! The layer buffers the request body to hash it, so put it behind a request body
//! limit (the gateway does).
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use cache_layer::response::ResponseCacheLayer;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = service_fn(|_req: http::Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("answer"))))
//! });
//! let mut svc = ServiceBuilder::new().layer(ResponseCacheLayer::new()).service(upstream);
//!
//! for expected in ["miss", "hit"] {
//!     let req = http::Request::post("/v1/chat/completions")
//!         .header("authorization", "Bearer tenant-a")
//!         .body(Full::new(Bytes::from(r#"{"model":"m","messages":[]}"#)))
//!         .unwrap();
//!     let res = svc.ready().await.unwrap().call(req).await.unwrap();
//!     assert_eq!(res.headers()["x-cache"], expected);
//!     assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "answer");
//! }
//! # }
//! ```

mod body;
mod key;
mod layer;
mod service;
#[cfg(feature = "redis")]
mod store;

pub use self::body::ResponseBody;
pub use self::key::CallerId;
pub use self::layer::{ResponseCacheConfig, ResponseCacheLayer, X_CACHE};
pub use self::service::{ResponseCache, ResponseFuture};
#[cfg(feature = "redis")]
pub use self::store::{
    RedisResponseStore, SharedStore, StoreFuture, DEFAULT_NAMESPACE, DEFAULT_STORE_TIMEOUT,
};
