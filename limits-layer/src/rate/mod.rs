//! Rate limits per key: at most `rpm` requests and `tpm` tokens per minute for each
//! key (a deployment, a client key…), with tokens reserved up front and reconciled
//! from the real usage, counted in memory or, with the `redis` feature, in Redis shared
//! by every instance.
//!
//! - [`RateLimitLayer`] / [`RateLimit`]: the tower middleware over HTTP services. A
//!   user function maps each request to a [`Demand`] (key, token estimate, optional
//!   limits of its own) or `None` (not limited). Over a limit, the request is rejected
//!   at once with [`RateLimited`] (its `retry_after()` is the time until a slot frees;
//!   [`crate::http::rejection`] maps it to 429 with `Retry-After`).
//! - [`TokenUsage`]: the reservation's handle, in the request's and the response's
//!   extensions; [`TokenUsage::report`] the real usage, and the reservation is
//!   reconciled when the last handle is dropped. Unreported, it stays as reserved.
//! - [`store`]: the [`Store`] trait (check-and-reserve, reconcile),
//!   [`MemoryStore`] (bounded key set, windows that expire) and `RedisStore`
//!   (atomic Lua scripts on the server's clock, keys with TTL, a local fallback when
//!   Redis is down).
//!
//! Windows are fixed (a minute by default, [`DEFAULT_WINDOW`]), the way provider
//! quotas and LiteLLM's `rpm`/`tpm` count.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use limits_layer::rate::{Demand, Limits, MemoryStore, RateLimitLayer, RateLimited, TokenUsage};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MemoryStore::new();
//! let layer = RateLimitLayer::new(store.clone(), Limits::new().rpm(2).tpm(1000), |req: &http::Request<()>| {
//!     // Key by deployment; reserve the request's max_tokens (here a header, for brevity).
//!     let max_tokens = req.headers().get("x-max-tokens")?.to_str().ok()?.parse().ok()?;
//!     Some(Demand::new("gpt-4o-mini").tokens(max_tokens))
//! });
//! let mut svc = ServiceBuilder::new().layer(layer).service(service_fn(|_req| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("hi"))))
//! }));
//! let request = |max_tokens: u64| {
//!     http::Request::builder().header("x-max-tokens", max_tokens).body(()).unwrap()
//! };
//!
//! let res = svc.ready().await.unwrap().call(request(800)).await.unwrap();
//! assert_eq!(store.tokens("gpt-4o-mini"), 800); // reserved up front
//! // The response said it used 120 tokens: reconciled when the handle is dropped.
//! res.extensions().get::<TokenUsage>().unwrap().report(120);
//! drop(res);
//! assert_eq!(store.tokens("gpt-4o-mini"), 120);
//!
//! svc.ready().await.unwrap().call(request(800)).await.unwrap();
//! // Two requests this minute: the third is rejected at once.
//! let err = svc.ready().await.unwrap().call(request(10)).await.unwrap_err();
//! let limited = err.downcast_ref::<RateLimited>().unwrap();
//! assert!(limited.is_requests());
//! assert!(limited.retry_after().as_secs() <= 60);
//! # }
//! ```

mod error;
mod future;
mod layer;
mod service;
pub mod store;
mod usage;

pub use self::error::RateLimited;
pub use self::future::ResponseFuture;
pub use self::layer::{Demand, RateLimitLayer};
pub use self::service::RateLimit;
pub use self::store::{
    Decision, Limits, MemoryStore, Store, Ticket, DEFAULT_MAX_KEYS, DEFAULT_WINDOW,
};
pub use self::usage::TokenUsage;
