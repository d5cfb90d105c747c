use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;
use tower_service::Service;

use crate::BoxError;

/// Default time a successful lookup is reused.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Default time a failed lookup is remembered, so a burst of requests to a broken
/// name makes one lookup, while a passing failure heals quickly.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(1);
/// Default cap on the number of names cached.
pub const DEFAULT_MAX_NAMES: usize = 1024;

/// Settings of a [`CachingResolver`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DnsConfig {
    /// How long a successful lookup is reused. Default [`DEFAULT_TTL`].
    pub ttl: Duration,
    /// How long a failed lookup is remembered. Default [`DEFAULT_NEGATIVE_TTL`].
    pub negative_ttl: Duration,
    /// Most names held at once. Default [`DEFAULT_MAX_NAMES`]. When full, expired
    /// entries and abandoned lookups go first, then the entry closest to expiry; if
    /// every entry is a lookup someone awaits, a new name is resolved without being
    /// cached.
    pub max_names: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_names: DEFAULT_MAX_NAMES,
        }
    }
}

/// A snapshot of a [`CachingResolver`]'s counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsMetrics {
    /// Resolves answered from the cache (addresses or a remembered failure).
    pub hits: u64,
    /// Resolves that started a lookup.
    pub misses: u64,
    /// Resolves that joined a lookup already in progress for the same name.
    pub coalesced: u64,
    /// Lookups that failed.
    pub errors: u64,
    /// Names in the cache now.
    pub cached_names: usize,
}

/// A failed lookup. Cloneable, because one failure answers every coalesced caller.
#[derive(Clone)]
pub struct DnsError {
    name: Name,
    message: Arc<str>,
}

impl DnsError {
    /// The name that did not resolve.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }
}

impl fmt::Debug for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsError")
            .field("name", &self.name.as_str())
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dns lookup for `{}` failed: {}", self.name, self.message)
    }
}

impl std::error::Error for DnsError {}

/// The addresses of one name, shared with the cache (iterating does not copy them).
#[derive(Debug, Clone)]
pub struct Addrs {
    addrs: Arc<[SocketAddr]>,
    next: usize,
}

impl Iterator for Addrs {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        let addr = self.addrs.get(self.next).copied();
        self.next += 1;
        addr
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.addrs.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Addrs {}

type Lookup = BoxCloneSyncService<Name, Vec<SocketAddr>, BoxError>;
type LookupResult = Result<Arc<[SocketAddr]>, DnsError>;
type SharedLookup = Shared<BoxFuture<'static, LookupResult>>;

/// A caching `Service<Name>` for hyper-util's `HttpConnector`. See the
/// [module docs](super).
#[derive(Clone)]
pub struct CachingResolver {
    shared: Arc<Inner>,
}

struct Inner {
    lookup: Lookup,
    config: DnsConfig,
    entries: Mutex<HashMap<Name, Entry>>,
    next_id: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    errors: AtomicU64,
}

enum Entry {
    Done {
        result: LookupResult,
        expires: Instant,
    },
    /// A lookup in progress; every caller for the name awaits the same future, so if
    /// the caller that started it goes away, the others still drive it.
    Pending { id: u64, lookup: SharedLookup },
}

impl CachingResolver {
    /// A cache over the system resolver (`getaddrinfo` on a blocking thread), with the
    /// default [`DnsConfig`].
    pub fn system() -> Self {
        Self::new(GaiResolver::new(), DnsConfig::default())
    }

    /// A cache over any lookup service.
    pub fn new<R>(lookup: R, config: DnsConfig) -> Self
    where
        R: Service<Name> + Clone + Send + Sync + 'static,
        R::Response: Iterator<Item = SocketAddr>,
        R::Error: Into<BoxError>,
        R::Future: Send + 'static,
    {
        let lookup = BoxCloneSyncService::new(
            lookup
                .map_response(|addrs| addrs.collect::<Vec<_>>())
                .map_err(Into::into),
        );
        Self {
            shared: Arc::new(Inner {
                lookup,
                config,
                entries: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                coalesced: AtomicU64::new(0),
                errors: AtomicU64::new(0),
            }),
        }
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> DnsMetrics {
        let s = &self.shared;
        DnsMetrics {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            coalesced: s.coalesced.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            cached_names: s.lock().len(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &DnsConfig {
        &self.shared.config
    }

    fn resolve(&self, name: Name) -> ResolveFuture {
        let s = &self.shared;
        let now = Instant::now();
        let mut entries = s.lock();
        match entries.get(&name) {
            Some(Entry::Done { result, expires }) if *expires > now => {
                s.hits.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(%name, "dns cache hit");
                return ResolveFuture::done(result.clone());
            }
            Some(Entry::Pending { lookup, .. }) => {
                s.coalesced.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(%name, "dns lookup in progress, joining it");
                return ResolveFuture::pending(lookup.clone());
            }
            _ => {}
        }
        s.misses.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%name, "dns cache miss, looking up");
        let id = s.next_id.fetch_add(1, Ordering::Relaxed);
        let lookup = lookup(
            Arc::downgrade(&self.shared),
            s.lookup.clone(),
            name.clone(),
            id,
        )
        .boxed()
        .shared();
        if entries.contains_key(&name) || s.make_room(&mut entries, now) {
            entries.insert(
                name,
                Entry::Pending {
                    id,
                    lookup: lookup.clone(),
                },
            );
        }
        ResolveFuture::pending(lookup)
    }
}

/// Runs one lookup and stores its result. Holds the cache weakly: the cache owns the
/// pending entry that owns this future, so a strong reference would be a cycle.
async fn lookup(cache: Weak<Inner>, lookup: Lookup, name: Name, id: u64) -> LookupResult {
    let result: LookupResult = match lookup.oneshot(name.clone()).await {
        Ok(addrs) if !addrs.is_empty() => Ok(Arc::from(addrs)),
        Ok(_) => Err(DnsError {
            name: name.clone(),
            message: "no addresses".into(),
        }),
        Err(err) => Err(DnsError {
            name: name.clone(),
            message: err.to_string().into(),
        }),
    };
    if let Some(cache) = cache.upgrade() {
        let ttl = match &result {
            Ok(addrs) => {
                tracing::debug!(%name, count = addrs.len(), "dns lookup done");
                cache.config.ttl
            }
            Err(err) => {
                cache.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%name, error = %err.message, "dns lookup failed");
                cache.config.negative_ttl
            }
        };
        let mut entries = cache.lock();
        // Only replace our own pending entry: the name may have been evicted and looked
        // up again meanwhile, and that newer lookup owns the entry now.
        if let Some(entry @ Entry::Pending { .. }) = entries.get_mut(&name) {
            if matches!(entry, Entry::Pending { id: current, .. } if *current == id) {
                *entry = Entry::Done {
                    result: result.clone(),
                    expires: Instant::now() + ttl,
                };
            }
        }
    }
    result
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Name, Entry>> {
        // A panic while holding this lock cannot leave the map half-updated (every
        // update is a single insert or replace), so a poisoned lock is still sound.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes room for one more name; false if every entry is a lookup in progress.
    fn make_room(&self, entries: &mut HashMap<Name, Entry>, now: Instant) -> bool {
        if entries.len() < self.config.max_names {
            return true;
        }
        // Expired answers go first, and lookups that nobody awaits any more (every
        // caller gave up; only this map still holds the shared future).
        entries.retain(|_, e| match e {
            Entry::Done { expires, .. } => *expires > now,
            Entry::Pending { lookup, .. } => lookup.strong_count().is_some_and(|n| n > 1),
        });
        if entries.len() < self.config.max_names {
            return true;
        }
        let soonest = entries
            .iter()
            .filter_map(|(name, e)| match e {
                Entry::Done { expires, .. } => Some((*expires, name)),
                Entry::Pending { .. } => None,
            })
            .min_by_key(|(expires, _)| *expires)
            .map(|(_, name)| name.clone());
        match soonest {
            Some(name) => {
                entries.remove(&name);
                true
            }
            None => false,
        }
    }
}

impl Service<Name> for CachingResolver {
    type Response = Addrs;
    type Error = DnsError;
    type Future = ResolveFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        self.resolve(name)
    }
}

impl fmt::Debug for CachingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingResolver")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// The future of a [`CachingResolver`] resolve: ready at once on a hit, otherwise the
/// shared lookup for the name.
pub struct ResolveFuture {
    state: State,
}

enum State {
    Done(Option<LookupResult>),
    Pending(SharedLookup),
}

impl ResolveFuture {
    fn done(result: LookupResult) -> Self {
        Self {
            state: State::Done(Some(result)),
        }
    }

    fn pending(lookup: SharedLookup) -> Self {
        Self {
            state: State::Pending(lookup),
        }
    }
}

impl Future for ResolveFuture {
    type Output = Result<Addrs, DnsError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match &mut self.state {
            State::Done(result) => result
                .take()
                .expect("ResolveFuture polled after completion"),
            State::Pending(lookup) => futures_util::ready!(Pin::new(lookup).poll(cx)),
        };
        Poll::Ready(result.map(|addrs| Addrs { addrs, next: 0 }))
    }
}

impl fmt::Debug for ResolveFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveFuture").finish_non_exhaustive()
    }
}
