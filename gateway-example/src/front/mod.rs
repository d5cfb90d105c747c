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

mod auth;
mod ids;
mod layer;
mod recover;

use std::time::Duration;

use http::HeaderName;

pub use self::auth::{Answered, Auth, AuthLayer};
pub use self::layer::{Front, FrontFuture, FrontLayer};
pub use self::recover::{Recover, RecoverFuture, RecoverLayer, RecoveredBody};

/// The header carrying the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The header carrying the time spent in the gateway, upstream time excluded.
pub const X_OVERHEAD: HeaderName = HeaderName::from_static("x-gateway-overhead-duration-ms");

/// Time a request spent waiting for upstreams, put in the response's extensions by
/// the proxy handler; the overhead header leaves it out.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UpstreamTime(pub(crate) Duration);
