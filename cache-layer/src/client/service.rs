use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::ttl::{CacheConfig, CacheMetrics, TtlCache};

/// Builds a service for a target, synchronously (linkerd's `NewService`).
///
/// Implemented for every `Fn(T) -> S`.
pub trait NewService<T> {
    /// The service built.
    type Service;

    /// Builds the service for `target`.
    fn new_service(&self, target: T) -> Self::Service;
}

impl<F, T, S> NewService<T> for F
where
    F: Fn(T) -> S,
{
    type Service = S;

    fn new_service(&self, target: T) -> S {
        self(target)
    }
}

/// Wraps a [`NewService`] in a [`ClientCache`].
pub struct ClientCacheLayer<K> {
    config: CacheConfig,
    _key: PhantomData<fn(K)>,
}

impl<K> ClientCacheLayer<K> {
    /// A layer with the default cache settings (200 clients, TTL 600 s).
    pub fn new() -> Self {
        Self::with_config(CacheConfig::default())
    }

    /// A layer with these cache settings.
    pub fn with_config(config: CacheConfig) -> Self {
        Self {
            config,
            _key: PhantomData,
        }
    }
}

impl<K> Default for ClientCacheLayer<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Clone for ClientCacheLayer<K> {
    fn clone(&self) -> Self {
        Self::with_config(self.config.clone())
    }
}

impl<K> fmt::Debug for ClientCacheLayer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCacheLayer")
            .field("config", &self.config)
            .finish()
    }
}

impl<K, N> Layer<N> for ClientCacheLayer<K>
where
    K: Hash + Eq + Clone,
    N: NewService<K>,
{
    type Service = ClientCache<K, N>;

    fn layer(&self, inner: N) -> Self::Service {
        ClientCache {
            inner,
            cache: TtlCache::new(self.config.clone()),
        }
    }
}

/// A [`NewService`] that builds each key's service once and shares it while cached.
/// Cloning is cheap and clones share the cache.
pub struct ClientCache<K, N: NewService<K>> {
    inner: N,
    cache: TtlCache<K, N::Service>,
}

impl<K, N> ClientCache<K, N>
where
    K: Hash + Eq + Clone,
    N: NewService<K>,
{
    /// A snapshot of the cache's counters.
    pub fn metrics(&self) -> CacheMetrics {
        self.cache.metrics()
    }

    /// The cache itself, e.g. to remove a key whose credential was revoked.
    pub fn cache(&self) -> &TtlCache<K, N::Service> {
        &self.cache
    }

    /// The inner `NewService`.
    pub fn get_ref(&self) -> &N {
        &self.inner
    }
}

impl<K, N> NewService<K> for ClientCache<K, N>
where
    K: Hash + Eq + Clone,
    N: NewService<K>,
{
    type Service = CachedService<N::Service>;

    fn new_service(&self, key: K) -> Self::Service {
        let shared = self
            .cache
            .get_or_insert(key.clone(), || self.inner.new_service(key));
        CachedService::new(shared)
    }
}

impl<K, N> Clone for ClientCache<K, N>
where
    N: NewService<K> + Clone,
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl<K, N: NewService<K>> fmt::Debug for ClientCache<K, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCache")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// A handle on a cached service. While it exists the service stays alive and working,
/// whether or not the cache still holds it.
///
/// As a `Service` it drives a clone of the shared service: `poll_ready` clones it
/// (services that are worth caching, such as HTTP clients, are cheap to clone) and
/// `call` uses that ready clone.
pub struct CachedService<S> {
    shared: Arc<S>,
    ready: Option<S>,
}

impl<S> CachedService<S> {
    /// Wraps a shared service.
    pub fn new(shared: Arc<S>) -> Self {
        Self {
            shared,
            ready: None,
        }
    }

    /// The shared service.
    pub fn get_ref(&self) -> &Arc<S> {
        &self.shared
    }

    /// The shared service, taken out.
    pub fn into_inner(self) -> Arc<S> {
        self.shared
    }
}

// By hand: a clone shares the service but starts without a ready clone of its own.
impl<S> Clone for CachedService<S> {
    fn clone(&self) -> Self {
        Self::new(self.shared.clone())
    }
}

impl<S> std::ops::Deref for CachedService<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.shared
    }
}

impl<S> fmt::Debug for CachedService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedService").finish_non_exhaustive()
    }
}

impl<S, R> Service<R> for CachedService<S>
where
    S: Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let shared = &self.shared;
        self.ready
            .get_or_insert_with(|| S::clone(shared))
            .poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.ready
            .take()
            .expect("poll_ready must be called before call")
            .call(req)
    }
}
