//! The DNS cache over a counting lookup, with paused time.

use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use hyper_util::client::legacy::connect::dns::Name;
use pool_layer::dns::{CachingResolver, DnsConfig};
use tokio_test::{assert_pending, task};
use tower::{Service, ServiceExt};

fn name(s: &str) -> Name {
    Name::from_str(s).expect("valid name")
}

/// A lookup that takes 10 ms and counts its calls; fails for names starting "bad".
fn counting(calls: Arc<AtomicUsize>) -> CachingResolver {
    counting_with(calls, DnsConfig::default())
}

fn counting_with(calls: Arc<AtomicUsize>, config: DnsConfig) -> CachingResolver {
    let lookup = tower::service_fn(move |name: Name| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            if name.as_str().starts_with("bad") {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such host"));
            }
            Ok(vec![
                SocketAddr::from(([127, 0, 0, 1], 0)),
                SocketAddr::from(([127, 0, 0, 2], 0)),
            ]
            .into_iter())
        }
    });
    CachingResolver::new(lookup, config)
}

async fn resolve(resolver: &CachingResolver, host: &str) -> Result<Vec<SocketAddr>, String> {
    resolver
        .clone()
        .oneshot(name(host))
        .await
        .map(|addrs| addrs.collect())
        .map_err(|e| e.to_string())
}

#[tokio::test(start_paused = true)]
async fn one_lookup_per_name_per_ttl() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = counting(calls.clone());

    let first = resolve(&resolver, "a.example").await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(resolve(&resolver, "a.example").await.unwrap(), first);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    resolve(&resolver, "b.example").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    tokio::time::advance(Duration::from_secs(298)).await;
    resolve(&resolver, "a.example").await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "still fresh within the TTL"
    );

    tokio::time::advance(Duration::from_secs(3)).await;
    resolve(&resolver, "a.example").await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "a new lookup after the TTL"
    );

    let metrics = resolver.metrics();
    assert_eq!(
        (metrics.hits, metrics.misses, metrics.cached_names),
        (2, 3, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_misses_make_one_lookup() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = counting(calls.clone());

    let results = join_all((0..100).map(|_| resolve(&resolver, "api.example"))).await;

    assert!(results.iter().all(|r| r.as_ref().map(Vec::len) == Ok(2)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let metrics = resolver.metrics();
    assert_eq!((metrics.misses, metrics.coalesced), (1, 99));
}

#[tokio::test(start_paused = true)]
async fn errors_are_cached_only_briefly() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = counting(calls.clone());

    let err = resolve(&resolver, "bad.example").await.unwrap_err();
    assert_eq!(err, "dns lookup for `bad.example` failed: no such host");
    assert_eq!(resolve(&resolver, "bad.example").await.unwrap_err(), err);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    tokio::time::advance(Duration::from_millis(1100)).await;
    resolve(&resolver, "bad.example").await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(resolver.metrics().errors, 2);
}

#[tokio::test(start_paused = true)]
async fn a_lookup_goes_on_when_its_first_caller_gives_up() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = counting(calls.clone());

    let mut first = task::spawn(resolver.clone().call(name("a.example")));
    assert_pending!(first.poll());
    let second = resolver.clone().call(name("a.example"));
    drop(first);

    assert_eq!(second.await.unwrap().count(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_cache_never_holds_more_than_max_names() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut config = DnsConfig::default();
    config.max_names = 10;
    let resolver = counting_with(calls.clone(), config);

    for i in 0..100 {
        resolve(&resolver, &format!("host{i}.example"))
            .await
            .unwrap();
        assert!(resolver.metrics().cached_names <= 10);
    }
    // The most recent names are the ones kept.
    resolve(&resolver, "host99.example").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 100);
}
