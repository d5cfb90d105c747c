//! A cache's shared state: the entries, their recency and expiry orders, the
//! constructions in progress, and the counters; every change under one lock.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use tokio::time::Instant;

use super::config::{CacheConfig, EVICTION_SCAN};

/// Weighs a value against the per-item cap.
pub(super) type Weigher<V> = Arc<dyn Fn(&V) -> usize + Send + Sync>;

/// What every clone of a cache shares.
pub(super) struct Shared<K, V> {
    pub(super) config: CacheConfig,
    pub(super) weigher: Option<Weigher<V>>,
    pub(super) state: Mutex<State<K, V>>,
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) insertions: AtomicU64,
    pub(super) evicted_expired: AtomicU64,
    pub(super) evicted_capacity: AtomicU64,
    pub(super) evicted_while_held: AtomicU64,
    pub(super) refused_oversize: AtomicU64,
}

/// The maps, under the lock.
pub(super) struct State<K, V> {
    pub(super) map: HashMap<K, Slot<V>>,
    /// Recency order: `used` tick → key, oldest first.
    pub(super) lru: BTreeMap<u64, K>,
    /// Expiry order: (expires, insertion tick) → key, soonest first.
    pub(super) expiry: BTreeMap<(Instant, u64), K>,
    /// Constructions in progress; waiters wake when the sender (held by the
    /// constructing caller) is dropped, however that caller ends.
    pub(super) pending: HashMap<K, watch::Receiver<()>>,
    pub(super) tick: u64,
}

/// One entry.
pub(super) struct Slot<V> {
    pub(super) value: Arc<V>,
    pub(super) used: u64,
    pub(super) inserted: u64,
    pub(super) expires: Instant,
}

/// What a `get_or_insert_with` round found under the lock.
pub(super) enum Step<V> {
    Hit(Arc<V>),
    Wait(watch::Receiver<()>),
    Build(watch::Sender<()>, watch::Receiver<()>),
}

/// Marks a construction in progress for as long as it lives; dropping it (success,
/// error, panic or cancellation) unregisters it and wakes the waiters.
pub(super) struct Pending<'a, K: Hash + Eq, V> {
    pub(super) shared: &'a Shared<K, V>,
    pub(super) key: &'a K,
    pub(super) wait: watch::Receiver<()>,
    pub(super) _done: watch::Sender<()>,
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
    pub(super) fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        // Every update below keeps the three maps consistent before it can panic
        // (allocation aside), so a poisoned lock still guards a sound state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn weigh(&self, value: &V) -> usize {
        self.weigher.as_ref().map_or(0, |w| w(value))
    }

    pub(super) fn count_lookup(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl<K: Hash + Eq + Clone, V> State<K, V> {
    pub(super) fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    pub(super) fn get_fresh<Q>(
        &mut self,
        key: &Q,
        now: Instant,
        shared: &Shared<K, V>,
    ) -> Option<Arc<V>>
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

    pub(super) fn remove<Q>(&mut self, key: &Q) -> Option<Slot<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.map.remove(key)?;
        self.lru.remove(&slot.used);
        self.expiry.remove(&(slot.expires, slot.inserted));
        Some(slot)
    }

    pub(super) fn insert(&mut self, key: K, value: Arc<V>, now: Instant, shared: &Shared<K, V>) {
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

    pub(super) fn purge_expired(&mut self, now: Instant, shared: &Shared<K, V>) {
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
    pub(super) fn evict_one(&mut self, shared: &Shared<K, V>) {
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
