//! `TtlCache` invariants: eviction only drops the cache's reference; bounds; coalescing.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_layer::ttl::{CacheConfig, TtlCache};
use futures_util::future::join_all;
use tokio_test::{assert_pending, task};

/// Counts its own drops.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn config(capacity: usize, ttl_s: u64) -> CacheConfig {
    CacheConfig {
        capacity,
        ttl: Duration::from_secs(ttl_s),
        ..CacheConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn eviction_never_destroys_a_held_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let cache = TtlCache::new(config(1, 60));

    let held = cache.insert("a", Counted(drops.clone())).unwrap();
    cache.insert("b", Counted(drops.clone())).unwrap(); // capacity evicts "a"
    assert!(cache.get("a").is_none());
    assert_eq!(drops.load(Ordering::SeqCst), 0, "a is still held");

    tokio::time::advance(Duration::from_secs(61)).await;
    let held_b = cache.get("b");
    assert!(held_b.is_none(), "b expired");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "b was held by nobody: dropped on expiry"
    );

    drop(held);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2,
        "a drops with its last holder"
    );
    let metrics = cache.metrics();
    assert_eq!((metrics.evicted_capacity, metrics.evicted_expired), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn expired_entries_are_evicted_before_live_ones() {
    let cache = TtlCache::new(config(3, 60));
    cache.insert("old", 1).unwrap();
    tokio::time::advance(Duration::from_secs(30)).await;
    cache.insert("mid", 2).unwrap();
    cache.insert("new", 3).unwrap();
    cache.get("old"); // recently used, but...
    tokio::time::advance(Duration::from_secs(31)).await; // ...expired now
    cache.insert("next", 4).unwrap();
    assert!(
        cache.get("mid").is_some() && cache.get("new").is_some() && cache.get("next").is_some()
    );
    assert_eq!(cache.metrics().evicted_capacity, 0);
}

#[tokio::test]
async fn the_least_recently_used_entry_nobody_holds_goes_first() {
    let cache = TtlCache::new(config(3, 600));
    let held = cache.insert("a", 1).unwrap(); // oldest, but held
    cache.insert("b", 2).unwrap();
    cache.insert("c", 3).unwrap();
    cache.get("b"); // b now more recent than c

    cache.insert("d", 4).unwrap();
    assert!(
        cache.get("c").is_none(),
        "c: least recently used of those nobody holds"
    );
    assert!(cache.get("a").is_some() && cache.get("b").is_some());
    assert_eq!(cache.metrics().evicted_while_held, 0);
    drop(held);
}

#[tokio::test]
async fn when_every_entry_is_held_the_least_recently_used_goes_and_still_works() {
    let cache = TtlCache::new(config(2, 600));
    let a = cache.insert("a", String::from("a")).unwrap();
    let b = cache.insert("b", String::from("b")).unwrap();
    let c = cache.insert("c", String::from("c")).unwrap();
    assert!(cache.get("a").is_none());
    assert_eq!((a.as_str(), b.as_str(), c.as_str()), ("a", "b", "c"));
    assert_eq!(cache.metrics().evicted_while_held, 1);
}

#[tokio::test]
async fn ten_thousand_distinct_keys_never_exceed_the_cap() {
    let cache = TtlCache::new(config(200, 600));
    let mut holding = Vec::new();
    for i in 0..10_000u32 {
        let held = cache.insert(i, i).unwrap();
        // Hold some values, as in-flight requests would.
        if i % 7 == 0 {
            holding.push(held);
        }
        assert!(cache.len() <= 200);
    }
    let metrics = cache.metrics();
    assert_eq!(metrics.entries, 200);
    assert_eq!(metrics.evicted_capacity, 9_800);
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_misses_construct_once() {
    let cache: TtlCache<&str, u32> = TtlCache::default();
    let built = Arc::new(AtomicUsize::new(0));
    let results = join_all((0..100).map(|_| {
        let built = built.clone();
        cache.get_or_insert_with("k", move || async move {
            built.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, String>(7)
        })
    }))
    .await;
    assert_eq!(built.load(Ordering::SeqCst), 1);
    let first = results[0].as_ref().unwrap();
    assert!(results
        .iter()
        .all(|r| Arc::ptr_eq(r.as_ref().unwrap(), first)));
    let metrics = cache.metrics();
    assert_eq!(
        (metrics.misses, metrics.hits, metrics.insertions),
        (1, 99, 1)
    );
}

#[tokio::test]
async fn a_failed_construction_is_not_cached_and_the_next_call_retries() {
    let cache: TtlCache<&str, u32> = TtlCache::default();
    let err = cache
        .get_or_insert_with("k", || async { Err::<u32, _>("upstream down") })
        .await
        .unwrap_err();
    assert_eq!(err, "upstream down");
    assert!(cache.is_empty());
    let value = cache
        .get_or_insert_with("k", || async { Ok::<_, &str>(1) })
        .await
        .unwrap();
    assert_eq!(*value, 1);
}

#[tokio::test]
async fn a_waiter_takes_over_when_the_constructing_caller_gives_up() {
    let cache: TtlCache<&str, u32> = TtlCache::default();
    let mut first =
        task::spawn(cache.get_or_insert_with("k", std::future::pending::<Result<u32, ()>>));
    assert_pending!(first.poll());
    let mut second = task::spawn(cache.get_or_insert_with("k", || async { Ok::<_, ()>(2) }));
    assert_pending!(second.poll(), "waits for the construction in progress");

    drop(first);
    assert!(second.is_woken());
    let value = match second.poll() {
        std::task::Poll::Ready(Ok(v)) => v,
        other => panic!("the waiter constructs once the first caller is gone: {other:?}"),
    };
    assert_eq!(*value, 2);
}

#[tokio::test]
async fn items_over_the_weight_cap_are_refused_not_stored() {
    let cache = TtlCache::with_weigher(
        CacheConfig {
            max_item_weight: 10,
            ..CacheConfig::default()
        },
        |v: &Vec<u8>| v.len(),
    );
    let refused = cache.insert("big", vec![0; 11]).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "not cached: item weighs 11, over the per-item cap of 10"
    );
    assert_eq!(refused.value.len(), 11);
    assert!(cache.insert("small", vec![0; 10]).is_ok());
    let built = cache
        .get_or_insert_with("big", || async { Ok::<_, ()>(vec![1; 100]) })
        .await
        .unwrap();
    assert_eq!(built.len(), 100, "the caller still gets its value");
    assert!(cache.get("big").is_none());
    assert_eq!(cache.metrics().refused_oversize, 2);
}
