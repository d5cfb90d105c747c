use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::time::Instant;

use super::config::{CacheConfig, CacheMetrics, Refused};
use super::state::{Pending, Shared, State, Step, Weigher};

/// A bounded TTL cache of `Arc<V>`. See the [module docs](super). Cloning is cheap and
/// every clone is the same cache.
pub struct TtlCache<K, V> {
    shared: Arc<Shared<K, V>>,
}

impl<K, V> Clone for TtlCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K, V> fmt::Debug for TtlCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlCache")
            .field("config", &self.shared.config)
            .field("entries", &self.shared.lock().map.len())
            .finish()
    }
}

impl<K, V> Default for TtlCache<K, V>
where
    K: Hash + Eq + Clone,
{
    fn default() -> Self {
        Self::new(CacheConfig::default())
    }
}

impl<K, V> TtlCache<K, V>
where
    K: Hash + Eq + Clone,
{
    /// A cache with these settings and no weigher (no item is too heavy).
    ///
    /// # Panics
    ///
    /// If `config.capacity` is zero.
    pub fn new(config: CacheConfig) -> Self {
        Self::build(config, None)
    }

    /// A cache that weighs each value with `weigher` (e.g. its size in bytes) and
    /// refuses values heavier than `config.max_item_weight`.
    ///
    /// # Panics
    ///
    /// If `config.capacity` is zero.
    pub fn with_weigher(
        config: CacheConfig,
        weigher: impl Fn(&V) -> usize + Send + Sync + 'static,
    ) -> Self {
        Self::build(config, Some(Arc::new(weigher)))
    }

    fn build(config: CacheConfig, weigher: Option<Weigher<V>>) -> Self {
        assert!(config.capacity > 0, "cache capacity must be at least 1");
        Self {
            shared: Arc::new(Shared {
                config,
                weigher,
                state: Mutex::new(State {
                    map: HashMap::new(),
                    lru: BTreeMap::new(),
                    expiry: BTreeMap::new(),
                    pending: HashMap::new(),
                    tick: 0,
                }),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                insertions: AtomicU64::new(0),
                evicted_expired: AtomicU64::new(0),
                evicted_capacity: AtomicU64::new(0),
                evicted_while_held: AtomicU64::new(0),
                refused_oversize: AtomicU64::new(0),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CacheConfig {
        &self.shared.config
    }

    /// The fresh value of `key`, marking it recently used.
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let found = self
            .shared
            .lock()
            .get_fresh(key, Instant::now(), &self.shared);
        self.shared.count_lookup(found.is_some());
        found
    }

    /// Stores `value` under `key` (replacing what was there) and returns it shared, or
    /// hands it back if it weighs more than the per-item cap.
    pub fn insert(&self, key: K, value: V) -> Result<Arc<V>, Refused<V>> {
        let weight = self.shared.weigh(&value);
        if weight > self.shared.config.max_item_weight {
            self.shared.refused_oversize.fetch_add(1, Ordering::Relaxed);
            return Err(Refused {
                value,
                weight,
                max: self.shared.config.max_item_weight,
            });
        }
        let value = Arc::new(value);
        self.shared
            .lock()
            .insert(key, value.clone(), Instant::now(), &self.shared);
        Ok(value)
    }

    /// The fresh value of `key`, or the one `make` builds. Concurrent callers for one
    /// missing key share one construction: one runs `make`, the others wait for it and
    /// take its value. If that construction fails (or its caller gives up), nothing is
    /// cached, the error goes to the caller that ran it, and each waiter tries again
    /// (one of them then constructs). A value over the weight cap is returned but not
    /// cached.
    pub async fn get_or_insert_with<F, Fut, E>(&self, key: K, make: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let mut make = Some(make);
        loop {
            let step = {
                let mut state = self.shared.lock();
                if let Some(value) = state.get_fresh(&key, Instant::now(), &self.shared) {
                    Step::Hit(value)
                } else if let Some(wait) = state.pending.get(&key) {
                    Step::Wait(wait.clone())
                } else {
                    let (done, wait) = watch::channel(());
                    state.pending.insert(key.clone(), wait.clone());
                    Step::Build(done, wait)
                }
            };
            match step {
                Step::Hit(value) => {
                    self.shared.count_lookup(true);
                    return Ok(value);
                }
                // Wakes when the constructing caller finishes, fails or goes away.
                Step::Wait(mut wait) => {
                    let _ = wait.changed().await;
                }
                Step::Build(done, wait) => {
                    self.shared.count_lookup(false);
                    let _pending = Pending {
                        shared: &self.shared,
                        key: &key,
                        wait,
                        _done: done,
                    };
                    let make = make
                        .take()
                        .expect("make runs at most once: its caller returns");
                    let value = make().await?;
                    return Ok(match self.insert(key.clone(), value) {
                        Ok(value) => value,
                        Err(refused) => Arc::new(refused.value),
                    });
                }
            }
        }
    }

    /// The fresh value of `key`, or the one `make` builds, without waiting. `make` runs
    /// outside the lock; if another caller stored a fresh value for `key` meanwhile,
    /// that one is returned and ours is dropped, so every caller ends up sharing one
    /// cached value (use [`get_or_insert_with`](Self::get_or_insert_with) to also run
    /// `make` only once).
    pub fn get_or_insert(&self, key: K, make: impl FnOnce() -> V) -> Arc<V> {
        if let Some(value) = self.get(&key) {
            return value;
        }
        let value = make();
        let weight = self.shared.weigh(&value);
        if weight > self.shared.config.max_item_weight {
            self.shared.refused_oversize.fetch_add(1, Ordering::Relaxed);
            return Arc::new(value);
        }
        let now = Instant::now();
        let mut state = self.shared.lock();
        if let Some(existing) = state.get_fresh(&key, now, &self.shared) {
            return existing;
        }
        let value = Arc::new(value);
        state.insert(key, value.clone(), now, &self.shared);
        value
    }

    /// Removes `key`, returning its value (which stays usable by whoever holds it).
    pub fn remove<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shared.lock().remove(key).map(|slot| slot.value)
    }

    /// Entries now, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.shared.lock().map.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry's reference. Values others hold stay usable.
    pub fn clear(&self) {
        let mut state = self.shared.lock();
        state.map.clear();
        state.lru.clear();
        state.expiry.clear();
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> CacheMetrics {
        let s = &self.shared;
        CacheMetrics {
            entries: s.lock().map.len(),
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            insertions: s.insertions.load(Ordering::Relaxed),
            evicted_expired: s.evicted_expired.load(Ordering::Relaxed),
            evicted_capacity: s.evicted_capacity.load(Ordering::Relaxed),
            evicted_while_held: s.evicted_while_held.load(Ordering::Relaxed),
            refused_oversize: s.refused_oversize.load(Ordering::Relaxed),
        }
    }
}
