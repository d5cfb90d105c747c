//! A DNS cache for hyper-util's `HttpConnector`: TTL, coalesced misses, brief negative
//! caching, a bounded number of names.
//!
//! [`CachingResolver`] is a `Service<Name>` and so plugs into
//! [`HttpConnector::new_with_resolver`](hyper_util::client::legacy::connect::HttpConnector::new_with_resolver).
//! All clones share one cache.
//!
//! # Why our own cache over `getaddrinfo`, and not hickory-resolver
//!
//! The lookup underneath is the system's `getaddrinfo` (hyper-util's `GaiResolver`) by
//! default, so names resolve exactly as for every other program on the host:
//! `/etc/hosts`, nsswitch, the search domains of a Kubernetes pod's `resolv.conf`, a
//! local caching daemon. hickory-resolver reimplements that configuration and differs
//! at the edges (nsswitch sources, some `resolv.conf` options), which is the wrong
//! surprise for a proxy dropped into an existing network. What `getaddrinfo` lacks is a
//! cache and the record TTL; the cache here adds the first with a fixed, configurable
//! TTL (default [`DEFAULT_TTL`], 300 s), which is what gateways need to stop the
//! per-request lookups that other gateways do. Any other lookup (hickory included) can
//! be plugged in with [`CachingResolver::new`].
//!
//! # Example
//!
//! ```
//! use hyper_util::client::legacy::connect::HttpConnector;
//! use pool_layer::dns::CachingResolver;
//!
//! let resolver = CachingResolver::system();
//! let mut http = HttpConnector::new_with_resolver(resolver.clone());
//! http.enforce_http(false);
//! assert_eq!(resolver.metrics().misses, 0);
//! ```

mod cache;

pub use self::cache::{
    Addrs, CachingResolver, DnsConfig, DnsError, DnsMetrics, ResolveFuture, DEFAULT_MAX_NAMES,
    DEFAULT_NEGATIVE_TTL, DEFAULT_TTL,
};
