//! The settings of a [`TtlCache`](super::TtlCache)(super::TtlCache), its counters and its refusal.

use std::fmt;
use std::time::Duration;

/// Default most entries held.
pub const DEFAULT_CAPACITY: usize = 200;
/// Default time an entry lives after it was inserted.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Default cap on one item's weight (bytes, for a byte-counting weigher).
pub const DEFAULT_MAX_ITEM_WEIGHT: usize = 1024 * 1024;
/// Most entries an eviction looks at for one that nobody holds.
pub const EVICTION_SCAN: usize = 64;

/// Settings of a [`TtlCache`](super::TtlCache).
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

/// A snapshot of a [`TtlCache`](super::TtlCache)'s counters.
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
