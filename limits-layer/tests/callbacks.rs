//! The callback registry: hard cap, no duplicates, a full queue drops without
//! blocking, slow and panicking callbacks are isolated.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use limits_layer::callbacks::{
    callback_fn, Callback, CallbackMetrics, Event, RegisterError, Registry, RegistryConfig,
};

fn config(max_callbacks: usize, queue: usize) -> RegistryConfig {
    RegistryConfig {
        max_callbacks,
        queue,
        call_timeout: Duration::from_secs(10),
    }
}

fn counter() -> (Arc<AtomicU64>, impl Callback) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    (
        count,
        callback_fn(move |_: &Event| {
            c.fetch_add(1, Ordering::SeqCst);
        }),
    )
}

/// Lets the registry's tasks run until `done` holds. Bounded: 2 s of (possibly paused)
/// time; the dispatcher hands events on in rounds a millisecond apart.
async fn settle(
    registry: &Registry,
    mut done: impl FnMut(&CallbackMetrics) -> bool,
) -> CallbackMetrics {
    for _ in 0..2000 {
        let metrics = registry.metrics();
        if done(&metrics) {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("registry never settled: {:?}", registry.metrics());
}

#[tokio::test]
async fn the_cap_is_hard_and_duplicates_are_refused() {
    let registry = Registry::new(config(3, 10));
    for name in ["a", "b", "c"] {
        registry
            .register(name, callback_fn(|_: &Event| {}))
            .unwrap();
    }
    let full = registry
        .register("d", callback_fn(|_: &Event| {}))
        .unwrap_err();
    assert_eq!(full, RegisterError::Full { max: 3 });
    assert_eq!(
        full.to_string(),
        "callback registry is full (3 callbacks); unregister one first"
    );

    assert!(registry.unregister("b"));
    let dup = registry
        .register("a", callback_fn(|_: &Event| {}))
        .unwrap_err();
    assert_eq!(
        dup.to_string(),
        "a callback named `a` is already registered"
    );
    registry.register("d", callback_fn(|_: &Event| {})).unwrap();
    assert_eq!(registry.metrics().callbacks, 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_event_queue_drops_and_counts_without_blocking() {
    let registry = Registry::new(config(10, 2));
    let (count, cb) = counter();
    registry.register("count", cb).unwrap();

    // No await between emits: on this single-threaded runtime nothing drains the
    // queue meanwhile, and `emit` is synchronous, so it cannot wait.
    let accepted: Vec<bool> = (0..10)
        .map(|i| registry.emit(Event::new(format!("/{i}"))))
        .collect();
    assert_eq!(
        accepted,
        [true, true, false, false, false, false, false, false, false, false]
    );
    let metrics = registry.metrics();
    assert_eq!((metrics.emitted, metrics.dropped), (2, 8));

    settle(&registry, |m| m.delivered == 2).await;
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_callback_is_isolated_and_counted() {
    let registry = Registry::new(config(10, 100));
    registry
        .register("boom", callback_fn(|_: &Event| panic!("callback bug")))
        .unwrap();
    let (count, cb) = counter();
    registry.register("count", cb).unwrap();

    for _ in 0..5 {
        registry.emit(Event::new("/v1/chat/completions"));
    }
    let metrics = settle(&registry, |m| m.delivered == 5 && m.panicked == 5).await;
    assert_eq!(count.load(Ordering::SeqCst), 5);
    assert_eq!(
        metrics.callbacks, 2,
        "the panicking callback stays registered"
    );
}

/// Never finishes an event.
struct Stuck;

impl Callback for Stuck {
    fn on_event(
        &self,
        _: Arc<Event>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_slow_callback_does_not_hold_up_the_others() {
    let registry = Registry::new(config(10, 2));
    registry.register("stuck", Stuck).unwrap();
    let (count, cb) = counter();
    registry.register("count", cb).unwrap();

    for round in 0..3 {
        registry.emit(Event::new(format!("/{round}")));
        settle(&registry, |m| m.delivered == round + 1).await;
    }
    assert_eq!(count.load(Ordering::SeqCst), 3);
    // The stuck one holds one event and queues two; the third was dropped for it alone.
    assert_eq!(registry.metrics().dropped_slow, 0);
    registry.emit(Event::new("/3"));
    let metrics = settle(&registry, |m| m.delivered == 4).await;
    assert_eq!(metrics.dropped_slow, 1);

    // Its invocations are cut off at the call timeout, so it catches up.
    tokio::time::sleep(Duration::from_secs(31)).await;
    let metrics = settle(&registry, |m| m.timed_out == 3).await;
    assert_eq!(metrics.panicked, 0);
}
