//! The shared client: resolver → TCP → TLS → connection limit, under the pool. Its
//! [`Builder`] is in [`builder`].

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Body;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower::timeout::Timeout;
use tower_service::Service;

use crate::dns::{CachingResolver, DnsMetrics};
use crate::limit::{ConnectionLimit, ConnectionMetrics};
use crate::pool::{ClientError, Pool, ResponseFuture};
use crate::BoxError;

mod builder;

pub use self::builder::Builder;

/// Default time an idle pooled connection is kept before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default bound on establishing a connection (TCP connect and TLS handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default TCP keepalive probe interval.
pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// The connector stack of [`Client`]: the connection limit, over a timeout on
/// establishing the connection, over TLS (or plain HTTP), over TCP with the DNS cache.
pub type Connector = ConnectionLimit<Timeout<HttpsConnector<HttpConnector<CachingResolver>>>>;

/// A snapshot of a [`Client`]'s connection and DNS metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// Open connections, waiters and connect counters.
    pub connections: ConnectionMetrics,
    /// Requests waiting for a connection slot now (counted in the wait budget).
    pub waiting: usize,
    /// Requests refused at once because every waiting place was taken.
    pub rejected_full: u64,
    /// Requests that waited for a slot for the whole wait timeout.
    pub rejected_timeout: u64,
    /// DNS cache counters.
    pub dns: DnsMetrics,
}

/// The one shared, bounded HTTP client of a process. Cloning is cheap, and every clone
/// shares the pool, the connection caps, the wait queue and the DNS cache.
///
/// It is a `tower::Service<Request<B>>` and also has [`request`](Self::request).
/// Built with [`Builder::shards`], its idle connections are kept in shards; a handle
/// sends through one of them (the first, unless picked with [`shard`](Self::shard)).
pub struct Client<B = Full<Bytes>> {
    pool: Arc<Pool<B>>,
    /// This handle's shard.
    shard: usize,
}

impl Client {
    /// A builder with every default.
    pub fn builder() -> Builder {
        Builder::new()
    }
}

impl<B> Client<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Sends a request. The URI must be absolute (`http://` or `https://`); for
    /// HTTP/1 it is sent in origin form, with a `Host` header added if missing.
    ///
    /// HTTP/1 requests beyond the host's connection cap wait (FIFO, bounded by the
    /// wait queue's size and timeout) for one of its requests to finish; the returned body holds
    /// the request's slot and connection until it ends, and the connection then goes
    /// back to the pool. A request refused unsent by a pooled connection that had just
    /// closed is sent again on another.
    pub fn request(&self, req: Request<B>) -> ResponseFuture {
        let host = self.pool.host(self.shard, req.uri());
        ResponseFuture::new(Box::pin(self.pool.clone().send(self.shard, host, req)))
    }
}

impl<B> Client<B> {
    /// A snapshot of the connection, wait queue and DNS metrics.
    pub fn metrics(&self) -> PoolMetrics {
        let (waiting, rejected_full, rejected_timeout) = self.pool.wait().metrics();
        PoolMetrics {
            connections: self.pool.limit().metrics(),
            waiting,
            rejected_full,
            rejected_timeout,
            dns: self.pool.resolver().metrics(),
        }
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &Pool<B> {
        &self.pool
    }

    /// How many shards the pool keeps its idle connections in (see [`Builder::shards`]).
    pub fn shards(&self) -> usize {
        self.pool.shards()
    }

    /// A handle to the same client that sends through shard `index` (modulo the
    /// number of shards): it prefers the connections that shard opened.
    pub fn shard(&self, index: usize) -> Self {
        Self {
            pool: self.pool.clone(),
            shard: index % self.pool.shards(),
        }
    }
}

impl<B> Clone for Client<B> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            shard: self.shard,
        }
    }
}

impl<B> fmt::Debug for Client<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("limit", self.pool.limit())
            .field("shards", &self.pool.shards())
            .field("shard", &self.shard)
            .field("resolver", self.pool.resolver())
            .finish()
    }
}

impl<B> Service<Request<B>> for Client<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<crate::Body>;
    type Error = ClientError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.request(req)
    }
}
