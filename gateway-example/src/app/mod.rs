//! The HTTP application: routes, the middleware stack, and the proxy handler.
//!
//! Outside in: front (request id, request timeout, overhead header, JSON errors,
//! request log) → the hot routes, matched by hand: auth → the body intake (read,
//! bounded in size, time and shape; see [`crate::intake`]) → (optional) response cache →
//! events → admission → routing by model (least busy, retries) → client cache →
//! adapter → the worker's shard of the shared client; every other route: body limit →
//! an axum `Router`.
//!
//! The parts, each importing only those listed before it: `deployment` (a model
//! group's deployments), [`state`] (what the handlers share), `proxy` (the hot
//! routes' handler), `upstream` (the layers in front of it), and `router` (the whole
//! application, [`router()`]).

pub(crate) mod deployment;
mod proxy;
mod router;
pub mod state;
pub(crate) mod upstream;

pub use self::router::router;
pub use self::state::AppState;
pub use crate::front::{X_OVERHEAD, X_REQUEST_ID};
