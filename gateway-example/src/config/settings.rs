//! The gateway's own sections, parsed.

use std::net::SocketAddr;
use std::time::Duration;

use provider_adapters::Secret;

#[allow(unused_imports)] // for the doc links
use super::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CLIENT_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SHUTDOWN_DELAY,
    DEFAULT_SHUTDOWN_TIMEOUT,
};

/// The `server` section.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default [`DEFAULT_LISTEN`].
    pub listen: SocketAddr,
    /// Key clients must send (`Authorization: Bearer` or `x-api-key`); none: open.
    pub master_key: Option<Secret>,
    /// Largest request body. Default [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// Longest time until response headers. Default [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Longest time for a client to send request headers (slowloris). Default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Longest drain on shutdown. Default [`DEFAULT_SHUTDOWN_TIMEOUT`].
    pub shutdown_timeout: Duration,
    /// Most client connections at once; more are refused. Default
    /// [`DEFAULT_MAX_CLIENT_CONNECTIONS`].
    pub max_client_connections: usize,
    /// Worker threads, each with its own event loop, accept loop and share of the
    /// upstream pool (see `pool_layer::Builder::shards`). Default: one per CPU.
    pub workers: usize,
    /// Longest time for a client to send a whole request body, from its headers; then
    /// `408`. Default [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// How long shutdown keeps serving, with readiness answering `503`, before it stops
    /// accepting (for load balancers to notice). Default [`DEFAULT_SHUTDOWN_DELAY`].
    pub shutdown_delay: Duration,
    /// Whether `/metrics` requires the master key. Default false.
    pub metrics_auth: bool,
    /// Whether each request gets an `INFO` line (target `gateway_example::request`)
    /// when its response ends. Default true.
    pub log_requests: bool,
}

/// The `pool` section (see `pool-layer`; defaults are its constants).
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Default `pool_layer::limit::DEFAULT_MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// Default `pool_layer::limit::DEFAULT_MAX_CONNECTIONS_PER_HOST`.
    pub max_connections_per_host: usize,
    /// Idle keep-alive. Default `pool_layer::DEFAULT_IDLE_TIMEOUT`.
    pub keepalive: Duration,
    /// Default `pool_layer::dns::DEFAULT_TTL`.
    pub dns_ttl: Duration,
    /// Default `pool_layer::DEFAULT_CONNECT_TIMEOUT`.
    pub connect_timeout: Duration,
}

/// The `limits` section (see `limits-layer`; defaults are its constants).
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Default `DEFAULT_MAX_IN_FLIGHT`.
    pub max_in_flight: usize,
    /// Default `DEFAULT_MAX_QUEUED`.
    pub max_queued: usize,
    /// Default `DEFAULT_QUEUE_TIMEOUT`.
    pub queue_timeout: Duration,
    /// Default `DEFAULT_MAX_CALLBACKS`.
    pub max_callbacks: usize,
    /// Default `DEFAULT_EVENT_QUEUE`.
    pub callback_queue: usize,
}

/// `cache.responses`.
#[derive(Debug, Clone)]
pub struct ResponsesConfig {
    /// Default off.
    pub enabled: bool,
    /// Default `cache_layer::ttl::DEFAULT_TTL`.
    pub ttl: Duration,
    /// Default `cache_layer::ttl::DEFAULT_CAPACITY`.
    pub capacity: usize,
    /// Default `cache_layer::ttl::DEFAULT_MAX_ITEM_WEIGHT`.
    pub max_item_bytes: usize,
}

/// The `cache` section (see `cache-layer`).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Default `cache_layer::ttl::DEFAULT_TTL`.
    pub client_ttl: Duration,
    /// Default `cache_layer::ttl::DEFAULT_CAPACITY`.
    pub client_capacity: usize,
    /// The response cache.
    pub responses: ResponsesConfig,
}

/// How requests for one model name are spread over its deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The deployment with the fewest requests in flight (default).
    LeastBusy,
    /// In turn (LiteLLM's `simple-shuffle`), in proportion to `weight`.
    RoundRobin,
    /// The deployment with the fewest tokens reserved this minute, as this instance
    /// counted them (`usage-based-routing-v2`); `rpm`/`tpm` are enforced by every
    /// strategy.
    UsageBased,
    /// The deployment with the lowest recent latency to the response head
    /// (`latency-based-routing`).
    LatencyBased,
}
