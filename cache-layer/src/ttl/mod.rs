//! [`TtlCache`]: a bounded map of `Arc`ed values with a TTL, LRU eviction that prefers
//! entries nobody holds, an optional per-item weight cap, and coalesced async
//! construction.
//!
//! # Eviction only drops a reference
//!
//! Values are stored as `Arc<V>` and handed out as clones of that `Arc`. Evicting an
//! entry (expired, or for capacity) removes the cache's `Arc` and nothing else: there
//! is no close hook, no callback, nothing that could tear down a value someone still
//! uses. A client evicted in the middle of a stream keeps streaming; the value is
//! dropped when its last holder lets go. This is the whole point of the type, and it is
//! why there is no `on_evict` to misuse.
//!
//! # Eviction order
//!
//! On insert into a full cache: expired entries go first; then the least recently used
//! entry that no one outside the cache holds (`Arc::strong_count == 1`); an entry found
//! held on the way is in use, so it is moved to the most-recent end. The search looks
//! at no more than [`EVICTION_SCAN`] entries, keeping every operation O(log n); if all
//! of those are held, the least recently used of them is evicted (its holders keep
//! working values, and the cache builds a new one on the next miss).
//!
//! # Why not moka or quick_cache
//!
//! moka evicts entries while they are still in use and then builds duplicates
//! (moka#147), and offers an eviction listener that invites exactly the "close on
//! evict" bug this crate exists to prevent. quick_cache can pin entries but has no TTL,
//! so expired entries would neither be evicted first nor go away. The semantics above
//! need a few dozen lines over a `HashMap` and two `BTreeMap`s, so they are written here.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use cache_layer::ttl::{CacheConfig, TtlCache};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache: TtlCache<String, String> = TtlCache::new(CacheConfig {
//!     capacity: 2,
//!     ttl: Duration::from_secs(600),
//!     ..CacheConfig::default()
//! });
//! let a = cache
//!     .get_or_insert_with("a".to_string(), || async { Ok::<_, ()>("client a".to_string()) })
//!     .await
//!     .unwrap();
//! cache.insert("b".into(), "client b".into()).unwrap();
//! cache.insert("c".into(), "client c".into()).unwrap(); // evicts "b": nobody holds it
//! assert!(cache.get("a").is_some());
//! assert!(cache.get("b").is_none());
//! assert_eq!(*a, "client a");
//! # }
//! ```

mod cache;
mod config;
mod state;

pub use self::cache::TtlCache;
pub use self::config::{
    CacheConfig, CacheMetrics, Refused, DEFAULT_CAPACITY, DEFAULT_MAX_ITEM_WEIGHT, DEFAULT_TTL,
    EVICTION_SCAN,
};
