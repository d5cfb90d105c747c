use std::collections::hash_map::RandomState;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use tower_layer::Layer;

use super::body::CachedResponse;
use super::key::CacheKey;
use super::ResponseCache;
use crate::ttl::{CacheConfig, CacheMetrics, TtlCache};

/// The response header saying whether the cache answered: `hit` or `miss`.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// Settings of a [`ResponseCacheLayer`].
#[derive(Debug, Clone)]
pub struct ResponseCacheConfig {
    /// Time a response is served from the cache. Default 600 s.
    pub ttl: Duration,
    /// Most responses held. Default 200.
    pub capacity: usize,
    /// Largest response body stored, in bytes. Default 1 MiB.
    pub max_item_bytes: usize,
}

impl Default for ResponseCacheConfig {
    fn default() -> Self {
        let defaults = CacheConfig::default();
        Self {
            ttl: defaults.ttl,
            capacity: defaults.capacity,
            max_item_bytes: defaults.max_item_weight,
        }
    }
}

/// Caches successful non-streaming responses; see the [module docs](super).
///
/// Cloning is cheap; clones and the services they make share one cache.
#[derive(Clone)]
pub struct ResponseCacheLayer {
    pub(super) shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) cache: TtlCache<CacheKey, CachedResponse>,
    pub(super) max_item_bytes: usize,
    pub(super) body_hasher: RandomState,
    pub(super) identity_hasher: RandomState,
    /// The shared second level, and the TTL of what goes there.
    #[cfg(feature = "redis")]
    pub(super) remote: Option<(Arc<dyn super::SharedStore>, Duration)>,
}

impl ResponseCacheLayer {
    /// A layer with the default settings.
    pub fn new() -> Self {
        Self::with_config(ResponseCacheConfig::default())
    }

    /// A layer with these settings.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    pub fn with_config(config: ResponseCacheConfig) -> Self {
        let cache = TtlCache::with_weigher(
            CacheConfig {
                capacity: config.capacity,
                ttl: config.ttl,
                max_item_weight: config.max_item_bytes,
            },
            CachedResponse::body_len,
        );
        Self {
            shared: Arc::new(Shared {
                cache,
                max_item_bytes: config.max_item_bytes,
                body_hasher: RandomState::new(),
                identity_hasher: RandomState::new(),
                #[cfg(feature = "redis")]
                remote: None,
            }),
        }
    }

    /// A layer with these settings and a second level shared by instances (`store`,
    /// entries kept for `config.ttl`).
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    #[cfg(feature = "redis")]
    pub fn with_shared_store(config: ResponseCacheConfig, store: impl super::SharedStore) -> Self {
        let ttl = config.ttl;
        let mut layer = Self::with_config(config);
        if let Some(shared) = Arc::get_mut(&mut layer.shared) {
            shared.remote = Some((Arc::new(store), ttl));
        }
        layer
    }

    /// A snapshot of the cache's counters.
    pub fn metrics(&self) -> CacheMetrics {
        self.shared.cache.metrics()
    }
}

impl Default for ResponseCacheLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ResponseCacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCacheLayer")
            .field("cache", &self.shared.cache)
            .field("max_item_bytes", &self.shared.max_item_bytes)
            .finish()
    }
}

impl<S> Layer<S> for ResponseCacheLayer {
    type Service = ResponseCache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResponseCache::new(inner, self.shared.clone())
    }
}
