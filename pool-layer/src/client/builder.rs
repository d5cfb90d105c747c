//! [`Builder`]: every setting of the shared [`Client`], each starting at the project
//! default, and the connector stack it builds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Body;
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::RootCertStore;
use tower::timeout::Timeout;
use tower_layer::Layer;

use super::{Client, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_TCP_KEEPALIVE};
use crate::dns::{CachingResolver, DnsConfig};
use crate::limit::{
    ConnectionLimitLayer, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_HOST,
};
use crate::pool::{
    Pool, Settings, Wait, WaitBudget, Waiters, DEFAULT_MAX_WAITERS, DEFAULT_WAIT_TIMEOUT,
};

/// Builds a [`Client`]. Every setting starts at the project default.
#[derive(Clone)]
pub struct Builder {
    max_connections: usize,
    max_connections_per_host: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
    max_waiters: usize,
    wait_timeout: Duration,
    wait_budget: Option<Arc<dyn WaitBudget>>,
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
            max_waiters: DEFAULT_MAX_WAITERS,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            wait_budget: None,
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

    /// Cap on open connections over all hosts, idle or busy, for the whole client
    /// (every shard). Default 300.
    ///
    /// # Panics
    ///
    /// In [`build`](Self::build), if zero.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Cap on open connections per host (scheme + host + port), for the whole client
    /// (every shard); also the most HTTP/1 requests in flight to the host. Default 50.
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

    /// Bound on establishing a connection: TCP connect and TLS handshake, never the
    /// wait for a slot ([`wait_timeout`](Self::wait_timeout)). Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Most requests waiting for a connection slot at once, all hosts together: a
    /// request that finds its host at its cap (or every connection of the client in
    /// use) waits FIFO if fewer wait, and otherwise fails at once
    /// ([`ClientError::is_overloaded`](crate::ClientError::is_overloaded)). Default [`DEFAULT_MAX_WAITERS`]. Zero: no
    /// request waits. Ignored if [`wait_budget`](Self::wait_budget) is set.
    pub fn max_waiters(mut self, max: usize) -> Self {
        self.max_waiters = max;
        self
    }

    /// Longest wait for a connection slot; then the request fails
    /// ([`ClientError::is_wait_timeout`](crate::ClientError::is_wait_timeout)). Default [`DEFAULT_WAIT_TIMEOUT`].
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Count waiting requests in `budget` instead of a [`Waiters`] of
    /// [`max_waiters`](Self::max_waiters): to bound them together with the requests
    /// waiting in another queue of the program (an admission queue in front of the
    /// client), and to have refusals carry that queue's errors.
    pub fn wait_budget(mut self, budget: impl WaitBudget) -> Self {
        self.wait_budget = Some(Arc::new(budget));
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

    /// Keep the pool's idle connections in this many shards, for thread-per-core
    /// servers. Default 1.
    ///
    /// The caps and the wait queue stay the client's, whichever shard opened a socket:
    /// any shard can use the whole cap while the others are idle. A worker thread that
    /// always sends through its own shard ([`Client::shard`]) reuses the connections it
    /// opened, so they and their wake-ups stay on its thread. It uses another shard's
    /// connections only when its host's cap is reached: then it borrows one idle on
    /// another shard (which goes back there after the response), or shares another
    /// shard's HTTP/2 connection. At the global cap it closes the longest idle
    /// connection of any host (its own shard's first) for the connect it needs.
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

        // A request holding a slot waits for its host's permit only while a
        // connection closes; the global permit, while others are in use: both are
        // part of the wait for a slot, and bounded by its timeout.
        let limit = ConnectionLimitLayer::new(self.max_connections, self.max_connections_per_host)
            .with_timeout(self.wait_timeout);
        let connector = limit.layer(Timeout::new(https, self.connect_timeout));
        let budget = self
            .wait_budget
            .clone()
            .unwrap_or_else(|| Arc::new(Waiters::new(self.max_waiters)));
        let pool = Pool::new(
            connector,
            Settings {
                limit,
                per_host: self.max_connections_per_host,
                wait: Wait::new(budget, self.wait_timeout),
                idle_timeout: self.idle_timeout,
                http2_only: self.http2_only,
                shards: self.shards,
            },
            resolver,
        );
        Client {
            pool: Arc::new(pool),
            shard: 0,
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_host", &self.max_connections_per_host)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_waiters", &self.max_waiters)
            .field("wait_timeout", &self.wait_timeout)
            .field("custom_wait_budget", &self.wait_budget.is_some())
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
