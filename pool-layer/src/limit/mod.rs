//! A connection limit for connectors: a global cap and a per-host cap on open sockets.
//!
//! [`ConnectionLimitLayer`] wraps any connector (a `Service<Uri>`, such as hyper-util's
//! `HttpConnector` or hyper-rustls' `HttpsConnector`). Each connect first takes a permit
//! for its host (scheme + host + port) and then one from the global budget; both move
//! into the returned [`LimitedIo`], so a socket counts from the start of its connect
//! until hyper drops it — busy, idle in the pool, or anything between. When hyper
//! closes the connection the permits return by `Drop`; nothing has to remember to give
//! them back.
//!
//! This is the difference from `tower::limit::ConcurrencyLimit` on a connector, which
//! only limits connection *attempts*: its permit is released when the connect future
//! completes, so the number of open sockets is unbounded.
//!
//! The per-host permit is taken before the global one, so a host that is at its own cap
//! waits on its own queue and never holds global permits that other hosts could use.
//! Waiting is FIFO and bounded by an optional timeout ([`LimitTimeout`]); a caller that
//! gives up (drops the future) leaves the queue and releases whatever it held.
//!
//! hyper-util's client may keep a connect running in the background after the request
//! that started it was served by a pooled connection. Such a connect still needs its
//! permits, so it cannot push the socket count over the cap either; it simply waits
//! (bounded by the timeout) or adds one more idle connection to the pool.
//!
//! Idle pooled connections hold their permits too (that is what bounds sockets), so a
//! new host can find the global cap taken by idle connections of other hosts. Under
//! a pool that does not know the limit (hyper-util's, as in the example) it then waits
//! until one closes, by its idle timeout at the latest: size the global cap at least
//! as `per-host cap × busy hosts`, or shorten the idle timeout. This crate's
//! [`Client`](crate::Client) instead closes the longest idle connection for it, and
//! closes rather than pools a finished connection while another host waits for a
//! global permit.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hyper_util::client::legacy::{connect::HttpConnector, Client};
//! use hyper_util::rt::TokioExecutor;
//! use pool_layer::limit::ConnectionLimitLayer;
//! use tower_layer::Layer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let limit = ConnectionLimitLayer::new(300, 50).with_timeout(Duration::from_secs(5));
//! let connector = limit.layer(HttpConnector::new());
//! let client: Client<_, http_body_util::Empty<bytes::Bytes>> =
//!     Client::builder(TokioExecutor::new()).build(connector);
//! // The layer's state is shared: every clone of the client counts against one budget.
//! assert_eq!(limit.metrics().open_connections, 0);
//! # drop(client);
//! # }
//! ```

mod error;
mod future;
mod io;
mod layer;
mod service;
mod state;

pub use self::error::{InvalidTarget, LimitTimeout};
pub use self::future::ResponseFuture;
pub use self::io::{ConnectionPermit, LimitedIo};
pub use self::layer::{
    ConnectionLimitLayer, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_HOST,
};
pub use self::service::ConnectionLimit;
pub(crate) use self::state::HostMap;
pub use self::state::{ConnectionMetrics, HostKey};
