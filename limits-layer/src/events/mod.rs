//! [`EventLayer`]: one [`Event`](crate::callbacks::Event) per request into a
//! [`Registry`](crate::callbacks::Registry), emitted when the response body ends (or
//! fails, or is dropped), so latency and bytes are true for streams.
//!
//! An [`Observer`] set with [`EventLayer::with_observer`] sees every event
//! synchronously in the request's task (metrics counters), before it is queued for the
//! registry's callbacks. With neither an observer nor a registered callback the layer
//! records nothing and costs one atomic load.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use limits_layer::callbacks::{callback_fn, Event, Registry, RegistryConfig};
//! use limits_layer::events::EventLayer;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let registry = Registry::new(RegistryConfig::default());
//! registry.register("log", callback_fn(|e: &Event| println!("{} {:?}", e.route, e.status))).unwrap();
//!
//! let mut svc = ServiceBuilder::new()
//!     .layer(EventLayer::new(registry.clone()))
//!     .service(service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("hi"))))
//!     }));
//! let res = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
//! assert_eq!(registry.metrics().emitted, 0); // not yet: the body has not ended
//! res.into_body().collect().await.unwrap();
//! assert_eq!(registry.metrics().emitted, 1);
//! # }
//! ```

mod body;
mod service;

pub use self::body::EventBody;
pub use self::service::{EventLayer, Events, Observer, ResponseFuture};
