//! Admission control: at most `max_in_flight` requests run, at most `max_queued` wait
//! in FIFO order, the rest are rejected at once; the slot is held until the response
//! body ends.
//!
//! Why not tower's pieces: `Buffer` makes callers wait when full instead of rejecting,
//! and `ConcurrencyLimit` releases its permit when the response *headers* arrive, so a
//! five-minute SSE stream stops counting after its first byte. Here the slot moves
//! into the response body ([`AdmissionBody`]) and is released by `Drop` when the body
//! ends, fails or is dropped.
//!
//! - [`Controller`]: the shared slots and queue; clones share them, so one controller
//!   can guard several routes. [`KeyedController`] gives each key (model, API key…)
//!   its own, with a bounded set of keys.
//! - [`AdmissionLayer`] / [`Admission`]: the tower middleware over HTTP services.
//! - [`QueueBudget`]: a bound on waiting requests that the controller can share with
//!   other queues of the program ([`Controller::with_budget`]), so one setting bounds
//!   them all.
//! - Errors: [`Overloaded`] (queue full, at once) and [`QueueTimeout`] (waited
//!   `queue_timeout`); [`crate::http::rejection`] maps them to 429 / 503. Other queues
//!   on a shared budget report them too (their constructors are public).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use limits_layer::admission::{AdmissionLayer, Limits, Overloaded};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let layer = AdmissionLayer::new(Limits {
//!     max_in_flight: 1,
//!     max_queued: 0,
//!     queue_timeout: Duration::from_secs(30),
//!     ..Limits::default()
//! });
//! let controller = layer.policy().clone();
//! let mut svc = ServiceBuilder::new().layer(layer).service(service_fn(|_req: ()| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("hi"))))
//! }));
//!
//! let streaming = svc.ready().await.unwrap().call(()).await.unwrap();
//! // The first response's body is still open, so its slot is taken and the queue is empty:
//! let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
//! assert!(err.is::<Overloaded>());
//! assert_eq!(controller.metrics().in_flight, 1);
//!
//! drop(streaming); // body dropped: slot released
//! assert_eq!(controller.metrics().in_flight, 0);
//! # }
//! ```

mod body;
mod budget;
mod controller;
mod error;
mod future;
mod keyed;
mod layer;
mod service;

pub use self::body::AdmissionBody;
pub use self::budget::QueueBudget;
pub use self::controller::{
    Acquire, AdmissionMetrics, Controller, Limits, Permit, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_QUEUED, DEFAULT_QUEUE_TIMEOUT, DEFAULT_RETRY_AFTER,
};
pub use self::error::{Overloaded, QueueTimeout};
pub use self::future::ResponseFuture;
pub use self::keyed::{KeyedController, DEFAULT_MAX_KEYS};
pub use self::layer::{AdmissionLayer, Admit, ByKey};
pub use self::service::Admission;
