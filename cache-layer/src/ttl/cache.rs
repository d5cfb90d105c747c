use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Default most entries held.
pub const DEFAULT_CAPACITY: usize = 200;
/// Default time an entry lives after it was inserted.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Default cap on one item's weight (bytes, for a byte-counting weigher).
pub const DEFAULT_MAX_ITEM_WEIGHT: usize = 1024 * 1024;
/// Most entries an eviction looks at for one that nobody holds.
pub const EVICTION_SCAN: usize = 64;

/// Settings of a [`TtlCache`].
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most entries held. Default [`DEFAULT_CAPACITY`]. At least 1.
    pub capacity: usize,
    /// Time an entry lives after insertion. Default [`DEFAULT_TTL`].
    pub ttl: Duration,
    /// Heaviest item stored, by the cache's weigher. Default
    /// [`DEFAULT_MAX_ITEM_WEIGHT`]; only applies with a weigher.
    pub max_item_weight: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            ttl: DEFAULT_TTL,
            max_item_weight: DEFAULT_MAX_ITEM_WEIGHT,
        }
    }
}

/// A snapshot of a [`TtlCache`]'s counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheMetrics {
    /// Entries now.
    pub entries: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing fresh.
    pub misses: u64,
    /// Values stored.
    pub insertions: u64,
    /// Entries removed because their TTL passed.
    pub evicted_expired: u64,
    /// Entries removed to make room.
    pub evicted_capacity: u64,
    /// Of those removed for room, how many were still held by someone (who keeps a
    /// working value).
    pub evicted_while_held: u64,
    /// Values not stored because they weighed more than the per-item cap.
    pub refused_oversize: u64,
}

/// A value the cache refused to store because it weighs more than the per-item cap.
pub struct Refused<V> {
    /// The value, handed back.
    pub value: V,
    /// Its weight.
    pub weight: usize,
    /// The cap it exceeded.
    pub max: usize,
}

impl<V> fmt::Debug for Refused<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("weight", &self.weight)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl<V> fmt::Display for Refused<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not cached: item weighs {}, over the per-item cap of {}",
            self.weight, self.max
        )
    }
}

impl<V> std::error::Error for Refused<V> {}

type Weigher<V> = Arc<dyn Fn(&V) -> usize + Send + Sync>;

/// A bounded TTL cache of `Arc<V>`. See the [module docs](super). Cloning is cheap and
/// every clone is the same cache.
pub struct TtlCache<K, V> {
    shared: Arc<Shared<K, V>>,
}

struct Shared<K, V> {
    config: CacheConfig,
    weigher: Option<Weigher<V>>,
    state: Mutex<State<K, V>>,
    hits: AtomicU64,
    misses: AtomicU64,
    insertions: AtomicU64,
    evicted_expired: AtomicU64,
    evicted_capacity: AtomicU64,
    evicted_while_held: AtomicU64,
    refused_oversize: AtomicU64,
}

struct State<K, V> {
    map: HashMap<K, Slot<V>>,
    /// Recency order: `used` tick → key, oldest first.
    lru: BTreeMap<u64, K>,
    /// Expiry order: (expires, insertion tick) → key, soonest first.
    expiry: BTreeMap<(Instant, u64), K>,
    /// Constructions in progress; waiters wake when the sender (held by the
    /// constructing caller) is dropped, however that caller ends.
    pending: HashMap<K, watch::Receiver<()>>,
    tick: u64,
}

struct Slot<V> {
    value: Arc<V>,
    used: u64,
    inserted: u64,
    expires: Instant,
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

/// What a `get_or_insert_with` round found under the lock.
enum Step<V> {
    Hit(Arc<V>),
    Wait(watch::Receiver<()>),
    Build(watch::Sender<()>, watch::Receiver<()>),
}

/// Marks a construction in progress for as long as it lives; dropping it (success,
/// error, panic or cancellation) unregisters it and wakes the waiters.
struct Pending<'a, K: Hash + Eq, V> {
    shared: &'a Shared<K, V>,
    key: &'a K,
    wait: watch::Receiver<()>,
    _done: watch::Sender<()>,
}

impl<K: Hash + Eq, V> Drop for Pending<'_, K, V> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        // Only remove our own registration.
        if state
            .pending
            .get(self.key)
            .is_some_and(|w| w.same_channel(&self.wait))
        {
            state.pending.remove(self.key);
        }
    }
}

impl<K, V> Shared<K, V> {
    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        // Every update below keeps the three maps consistent before it can panic
        // (allocation aside), so a poisoned lock still guards a sound state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn weigh(&self, value: &V) -> usize {
        self.weigher.as_ref().map_or(0, |w| w(value))
    }

    fn count_lookup(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl<K: Hash + Eq + Clone, V> State<K, V> {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn get_fresh<Q>(&mut self, key: &Q, now: Instant, shared: &Shared<K, V>) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let last = self.tick;
        let slot = self.map.get_mut(key)?;
        if slot.expires <= now {
            self.remove(key);
            shared.evicted_expired.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let value = slot.value.clone();
        // Already the most recently used (the usual case under steady load: one
        // client asked for again and again): the LRU order stands as it is.
        if slot.used == last {
            return Some(value);
        }
        let tick = last + 1;
        self.tick = tick;
        let old = std::mem::replace(&mut slot.used, tick);
        if let Some(k) = self.lru.remove(&old) {
            self.lru.insert(tick, k);
        }
        Some(value)
    }

    fn remove<Q>(&mut self, key: &Q) -> Option<Slot<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.map.remove(key)?;
        self.lru.remove(&slot.used);
        self.expiry.remove(&(slot.expires, slot.inserted));
        Some(slot)
    }

    fn insert(&mut self, key: K, value: Arc<V>, now: Instant, shared: &Shared<K, V>) {
        self.remove(&key);
        self.purge_expired(now, shared);
        while self.map.len() >= shared.config.capacity {
            self.evict_one(shared);
        }
        let tick = self.next_tick();
        let expires = now + shared.config.ttl;
        self.lru.insert(tick, key.clone());
        self.expiry.insert((expires, tick), key.clone());
        self.map.insert(
            key,
            Slot {
                value,
                used: tick,
                inserted: tick,
                expires,
            },
        );
        shared.insertions.fetch_add(1, Ordering::Relaxed);
    }

    fn purge_expired(&mut self, now: Instant, shared: &Shared<K, V>) {
        while let Some((&(expires, _), key)) = self.expiry.first_key_value() {
            if expires > now {
                break;
            }
            let key = key.clone();
            self.remove(&key);
            shared.evicted_expired.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Evicts the least recently used entry nobody holds among the oldest
    /// [`EVICTION_SCAN`]; held ones met on the way are in use, so they move to the
    /// recent end. If all are held, evicts the oldest.
    fn evict_one(&mut self, shared: &Shared<K, V>) {
        let candidates: Vec<(u64, K)> = self
            .lru
            .iter()
            .take(EVICTION_SCAN)
            .map(|(tick, key)| (*tick, key.clone()))
            .collect();
        let Some((_, oldest)) = candidates.first().cloned() else {
            return;
        };
        let mut victim = None;
        let mut held = Vec::new();
        for (tick, key) in candidates {
            let in_use = self
                .map
                .get(&key)
                .is_some_and(|slot| Arc::strong_count(&slot.value) > 1);
            if in_use {
                held.push((tick, key));
            } else {
                victim = Some(key);
                break;
            }
        }
        let victim = match victim {
            Some(key) => {
                for (old, key) in held {
                    let tick = self.next_tick();
                    self.lru.remove(&old);
                    if let Some(slot) = self.map.get_mut(&key) {
                        slot.used = tick;
                    }
                    self.lru.insert(tick, key);
                }
                key
            }
            None => {
                shared.evicted_while_held.fetch_add(1, Ordering::Relaxed);
                oldest
            }
        };
        self.remove(&victim);
        shared.evicted_capacity.fetch_add(1, Ordering::Relaxed);
        tracing::trace!("cache entry evicted for capacity");
    }
}
