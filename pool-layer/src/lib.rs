//! One shared, bounded outbound HTTP client: a pool of hyper connections over a
//! connection limit with a global and a per-host cap, a DNS cache, TLS by rustls.
//!
//! Gateways that build a client per request, or pool without a cap, run out of file
//! descriptors under load. This crate gives a process one [`Client`] whose every socket
//! holds a permit from the moment it starts connecting until hyper drops it; the caps
//! hold whatever the pool, the load or a background connect do.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use pool_layer::Client;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let addr = listener.local_addr()?;
//! # tokio::spawn(async move {
//! #     let (mut socket, _) = listener.accept().await.expect("accept");
//! #     let mut buf = [0u8; 1024];
//! #     let _ = socket.read(&mut buf).await;
//! #     let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await;
//! # });
//! let client: Client = Client::builder()
//!     .max_connections(300)          // all hosts together
//!     .max_connections_per_host(50)  // per scheme + host + port
//!     .idle_timeout(Duration::from_secs(120))
//!     .build();
//!
//! let req = http::Request::post(format!("http://{addr}/v1/chat/completions"))
//!     .body(Full::new(Bytes::from_static(b"{}")))?;
//! let res = client.request(req).await?;
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.into_body().collect().await?.to_bytes(), "hello");
//!
//! let metrics = client.metrics();
//! assert_eq!(metrics.connections.connects, 1);
//! assert!(metrics.connections.open_connections <= 1);
//! # Ok(()) }
//! ```
//!
//! # Pieces
//!
//! - [`limit`]: the connection limit as a tower layer over any connector.
//! - [`dns`]: the DNS cache, a resolver for hyper-util's `HttpConnector`.
//! - [`Builder`] / [`Client`]: the assembled stack with the project's defaults; for a
//!   thread-per-core server, [`Builder::shards`] keeps each worker thread's idle
//!   connections apart, so a worker reuses its own on its own thread
//!   ([`Client::shard`]), while the caps and the wait queue stay the whole client's.
//! - [`WaitBudget`]: the bound on waiting requests, the pool's own ([`Waiters`]) or
//!   one shared with another queue of the program.
//!
//! # The pool
//!
//! Per host (scheme + host + port): at most `max_connections_per_host` HTTP/1
//! requests are in flight, over every shard; later ones wait in FIFO order, at most
//! [`Builder::max_waiters`] of them over all hosts (one more fails at once:
//! [`ClientError::is_overloaded`]) and each for at most [`Builder::wait_timeout`]
//! (then [`ClientError::is_wait_timeout`]); the connect timeout bounds only TCP connect
//! and TLS ([`ClientError::is_timeout`]). A request takes its shard's most recently
//! used idle connection, another shard's idle one only when its host has every
//! connection it may have open, or opens one; its [`Body`] gives the connection back when it ends
//! (dropped unread, the connection is closed instead). A host whose TLS handshake
//! negotiates HTTP/2 (or every host, with [`Builder::http2_only`]) is served over one
//! shared connection. Idle connections close after the idle timeout (within a quarter
//! more), releasing their permits; a background task per pool does this while any are
//! idle. A request that a pooled connection refuses unsent, because the server had
//! just closed it, is sent again on another connection.
//!
//! An HTTP/1 connection has no task of its own: the task of the request that holds it
//! drives it, writing the request and reading the response head and body in its own
//! polls, so a proxied exchange is done by one task, with no hand-off between tasks
//! (as Pingora runs the upstream I/O in the downstream connection's task). Whoever
//! drops a connection (a cancelled request, a body dropped before its end, the
//! reaper) closes its socket, and frees its permits, in that call. An idle connection
//! is polled by nobody, but its socket stays watched: when the server closes it, the
//! shard's reaper is woken, drives the shard's idle connections and closes those found
//! closed, so their permits come back at once.
//!
//! Unlike hyper-util's pooled client, a request never starts a connect it then leaves
//! to finish in the background, so no connect waits for a permit its own host's
//! requests hold; and the hot path neither hashes the pool key nor spawns a task.

pub mod dns;
pub mod limit;

mod client;
mod pool;

pub use self::pool::{
    Body, ClientError, ResponseFuture, TooManyWaiters, WaitBudget, WaitTimeout, Waiters,
    DEFAULT_MAX_WAITERS, DEFAULT_WAIT_TIMEOUT,
};

pub use self::client::{
    Builder, Client, Connector, PoolMetrics, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_TCP_KEEPALIVE,
};

/// The boxed error type of this crate's services.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The README's example, run as a doctest so the README stays true (test builds only).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
