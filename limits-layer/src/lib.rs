//! Bounded admission, bounded callbacks and rate limits for HTTP services: a FIFO queue
//! with a cap and a timeout whose slots are held until the response body ends, a capped
//! callback registry fed through a bounded, never-blocking event queue, and RPM/TPM
//! limits per key ([`rate`]) counted in memory or, with the `redis` feature, in Redis.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use limits_layer::admission::{AdmissionLayer, Limits};
//! use limits_layer::callbacks::{callback_fn, Event, Registry, RegistryConfig};
//! use limits_layer::events::EventLayer;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let registry = Registry::new(RegistryConfig::default());
//! registry.register("audit", callback_fn(|e: &Event| assert_eq!(e.status, Some(200)))).unwrap();
//! let admission = AdmissionLayer::new(Limits {
//!     max_in_flight: 100,
//!     max_queued: 900,
//!     queue_timeout: Duration::from_secs(30),
//!     ..Limits::default()
//! });
//! let controller = admission.policy().clone();
//!
//! let mut svc = ServiceBuilder::new()
//!     .layer(EventLayer::new(registry.clone()))
//!     .layer(admission)
//!     .service(service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("ok"))))
//!     }));
//!
//! let res = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
//! assert_eq!(controller.metrics().in_flight, 1); // held until the body ends
//! res.into_body().collect().await.unwrap();
//! assert_eq!(controller.metrics().in_flight, 0);
//! assert_eq!(registry.metrics().emitted, 1);
//! # }
//! ```

pub mod admission;
pub mod callbacks;
pub mod cooldown;
pub mod events;
pub mod http;
pub mod rate;
#[cfg(feature = "redis")]
mod redis_link;

/// The boxed error type of this crate's services.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The README's example, run as a doctest so the README stays true (test builds only).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
