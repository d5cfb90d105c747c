//! The shared client: resolver → TCP → TLS → connection limit, under the pool.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Body;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::RootCertStore;
use tower::timeout::Timeout;
use tower_layer::Layer;
use tower_service::Service;

use crate::dns::{CachingResolver, DnsConfig, DnsMetrics};
use crate::limit::{
    ConnectionLimit, ConnectionLimitLayer, ConnectionMetrics, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_HOST,
};
use crate::pool::{ClientError, Pool, ResponseFuture, Settings};
use crate::BoxError;

/// Default time an idle pooled connection is kept before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default bound on establishing a connection (TCP and TLS), and separately on waiting
/// for a connection permit.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default TCP keepalive probe interval.
pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// The connector stack of [`Client`]: the connection limit, over a timeout on
/// establishing the connection, over TLS (or plain HTTP), over TCP with the DNS cache.
pub type Connector = ConnectionLimit<Timeout<HttpsConnector<HttpConnector<CachingResolver>>>>;

/// Builds a [`Client`]. Every setting starts at the project default.
#[derive(Clone)]
pub struct Builder {
    max_connections: usize,
    max_connections_per_host: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
    tcp_keepalive: Option<Duration>,
    nodelay: bool,
    http2_only: bool,
    dns: DnsConfig,
    resolver: Option<CachingResolver>,
    tls: Option<rustls::ClientConfig>,
    shards: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_host: DEFAULT_MAX_CONNECTIONS_PER_HOST,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            tcp_keepalive: Some(DEFAULT_TCP_KEEPALIVE),
            nodelay: true,
            http2_only: false,
            dns: DnsConfig::default(),
            resolver: None,
            tls: None,
            shards: 1,
        }
    }
}

impl Builder {
    /// A builder with every default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cap on open connections over all hosts, idle or busy. Default 300.
    ///
    /// # Panics
    ///
    /// In [`build`](Self::build), if zero.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Cap on open connections per host (scheme + host + port). Default 50.
    ///
    /// # Panics
    ///
    /// In [`build`](Self::build), if zero.
    pub fn max_connections_per_host(mut self, max: usize) -> Self {
        self.max_connections_per_host = max;
        self
    }

    /// How long an idle pooled connection is kept. Default 120 s. Idle connections are
    /// closed by a background task that looks every quarter of this, so a connection
    /// goes between 1 and 1.25 times this after its last response.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Bound on establishing a connection (TCP connect and TLS handshake), and
    /// separately on waiting for a connection permit when a cap is reached. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// TCP keepalive probe interval, or `None` for none. Default 60 s.
    pub fn tcp_keepalive(mut self, interval: Option<Duration>) -> Self {
        self.tcp_keepalive = interval;
        self
    }

    /// `TCP_NODELAY`. Default on: requests are written whole, and Nagle's algorithm
    /// only adds latency to them.
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.nodelay = nodelay;
        self
    }

    /// Speak only HTTP/2: h2c with prior knowledge over plain HTTP, and HTTP/2 over TLS
    /// whatever ALPN says. Default off: HTTP/1.1, or HTTP/2 where TLS negotiates it.
    pub fn http2_only(mut self, enabled: bool) -> Self {
        self.http2_only = enabled;
        self
    }

    /// TTL of cached DNS answers. Default 300 s. Ignored if [`resolver`](Self::resolver)
    /// is set.
    pub fn dns_ttl(mut self, ttl: Duration) -> Self {
        self.dns.ttl = ttl;
        self
    }

    /// All DNS cache settings. Ignored if [`resolver`](Self::resolver) is set.
    pub fn dns_config(mut self, config: DnsConfig) -> Self {
        self.dns = config;
        self
    }

    /// Use this resolver (and its cache) instead of a new cache over the system
    /// resolver. Useful to share one DNS cache between clients, or to resolve with
    /// something else.
    pub fn resolver(mut self, resolver: CachingResolver) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Trust these roots for HTTPS instead of the bundled Mozilla roots (webpki-roots),
    /// e.g. a private CA.
    pub fn root_certificates(mut self, roots: RootCertStore) -> Self {
        self.tls = Some(tls_config(roots));
        self
    }

    /// Use this rustls configuration for HTTPS. Its ALPN list must be empty: it is set
    /// from the HTTP versions in use.
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Split the pool into this many shards, for thread-per-core servers. Default 1.
    ///
    /// Each shard is its own hyper pool with an equal share of both caps (shares differ
    /// by at most one and add up to the cap), so the client as a whole never opens
    /// more than the caps allow; the DNS cache is shared. [`Client::shard`] picks one.
    /// A worker thread that always uses its own shard keeps its connections, and their
    /// wake-ups, on its own thread. Like nginx's per-worker upstream pools, a shard
    /// does not borrow another shard's unused share. The count is clamped to
    /// `1..=min(max_connections, max_connections_per_host)` so every shard can reach
    /// every host.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Builds the client. `B` is the request body type.
    ///
    /// # Panics
    ///
    /// If a cap is zero, or a [`tls_config`](Self::tls_config) has ALPN protocols set.
    pub fn build<B>(self) -> Client<B>
    where
        B: Body + Send + 'static,
        B::Data: Send,
    {
        assert!(
            self.max_connections > 0,
            "max_connections must be at least 1"
        );
        assert!(
            self.max_connections_per_host > 0,
            "max_connections_per_host must be at least 1"
        );
        let resolver = self
            .resolver
            .clone()
            .unwrap_or_else(|| CachingResolver::new(dns_lookup(), self.dns.clone()));
        let count = self
            .shards
            .clamp(1, self.max_connections.min(self.max_connections_per_host));
        let shards: Arc<[Shard<B>]> = (0..count)
            .map(|i| {
                self.build_shard(
                    resolver.clone(),
                    share(self.max_connections, count, i),
                    share(self.max_connections_per_host, count, i),
                )
            })
            .collect();
        Client {
            pool: shards[0].pool.clone(),
            all: Arc::new(All { shards, resolver }),
        }
    }

    fn build_shard<B>(
        &self,
        resolver: CachingResolver,
        max_connections: usize,
        max_connections_per_host: usize,
    ) -> Shard<B>
    where
        B: Body + Send + 'static,
        B::Data: Send,
    {
        let mut http = HttpConnector::new_with_resolver(resolver.clone());
        http.enforce_http(false);
        http.set_nodelay(self.nodelay);
        http.set_keepalive(self.tcp_keepalive);
        http.set_connect_timeout(Some(self.connect_timeout));

        let tls = self.tls.clone().unwrap_or_else(|| {
            tls_config(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        });
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);

        let limit = ConnectionLimitLayer::new(max_connections, max_connections_per_host)
            .with_timeout(self.connect_timeout);
        let connector = limit.layer(Timeout::new(https, self.connect_timeout));

        let pool = Pool::new(
            connector,
            Settings {
                limit: limit.clone(),
                per_host: max_connections_per_host,
                wait_timeout: self.connect_timeout,
                idle_timeout: self.idle_timeout,
                http2_only: self.http2_only,
            },
        );
        Shard {
            pool: Arc::new(pool),
            limit,
        }
    }
}

/// Shard `i`'s share of `cap` split `n` ways.
fn share(cap: usize, n: usize, i: usize) -> usize {
    cap / n + usize::from(i < cap % n)
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_host", &self.max_connections_per_host)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("tcp_keepalive", &self.tcp_keepalive)
            .field("nodelay", &self.nodelay)
            .field("http2_only", &self.http2_only)
            .field("dns", &self.dns)
            .field("custom_resolver", &self.resolver.is_some())
            .field("custom_tls", &self.tls.is_some())
            .field("shards", &self.shards)
            .finish()
    }
}

fn dns_lookup() -> hyper_util::client::legacy::connect::dns::GaiResolver {
    hyper_util::client::legacy::connect::dns::GaiResolver::new()
}

fn tls_config(roots: RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A snapshot of a [`Client`]'s connection and DNS metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// Open connections, waiters and connect counters.
    pub connections: ConnectionMetrics,
    /// DNS cache counters.
    pub dns: DnsMetrics,
}

/// The one shared, bounded HTTP client of a process. Cloning is cheap, and every clone
/// shares the pool, the connection caps and the DNS cache.
///
/// It is a `tower::Service<Request<B>>` and also has [`request`](Self::request).
/// Built with [`Builder::shards`], its pool is split in shards; a handle sends through
/// one of them (the first, unless picked with [`shard`](Self::shard)), and
/// [`metrics`](Self::metrics) covers them all.
pub struct Client<B = Full<Bytes>> {
    /// This handle's shard's pool.
    pool: Arc<Pool<B>>,
    all: Arc<All<B>>,
}

struct All<B> {
    shards: Arc<[Shard<B>]>,
    resolver: CachingResolver,
}

struct Shard<B> {
    pool: Arc<Pool<B>>,
    limit: ConnectionLimitLayer,
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
    /// HTTP/1 requests beyond the host's connection cap wait (FIFO, at most the
    /// connect timeout) for one of its requests to finish; the returned body holds
    /// the request's slot and connection until it ends, and the connection then goes
    /// back to the pool. A request refused unsent by a pooled connection that had just
    /// closed is sent again on another.
    pub fn request(&self, req: Request<B>) -> ResponseFuture {
        let host = self.pool.host(req.uri());
        ResponseFuture::new(Box::pin(self.pool.clone().send(host, req)))
    }
}

impl<B> Client<B> {
    /// A snapshot of the connection and DNS metrics, over every shard.
    pub fn metrics(&self) -> PoolMetrics {
        let mut connections = ConnectionMetrics::default();
        for shard in self.all.shards.iter() {
            connections.merge(shard.limit.metrics());
        }
        PoolMetrics {
            connections,
            dns: self.all.resolver.metrics(),
        }
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &Pool<B> {
        &self.pool
    }

    /// How many shards the pool is split in (see [`Builder::shards`]).
    pub fn shards(&self) -> usize {
        self.all.shards.len()
    }

    /// A handle to the same client that sends through shard `index` (modulo the
    /// number of shards). Metrics still cover every shard.
    pub fn shard(&self, index: usize) -> Self {
        let shard = &self.all.shards[index % self.all.shards.len()];
        Self {
            pool: shard.pool.clone(),
            all: self.all.clone(),
        }
    }
}

impl<B> Clone for Client<B> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            all: self.all.clone(),
        }
    }
}

impl<B> fmt::Debug for Client<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("limit", &self.all.shards[0].limit)
            .field("shards", &self.all.shards.len())
            .field("resolver", &self.all.resolver)
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
