//! Rate limits with the in-memory store: RPM and TPM per key in fixed windows (paused
//! time), reservations reconciled from reported usage, the bounded key set, and the
//! layer at poll level (tower-test's mock).
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::sync::Arc;
use std::time::Duration;

use limits_layer::http::rejection;
use limits_layer::rate::{
    Decision, Demand, Limits, MemoryStore, RateLimitLayer, RateLimited, Store, TokenUsage,
};
use tokio_test::{assert_pending, assert_ready_ok};
use tower_test::mock;

type Req = http::Request<u64>;
type Res = http::Response<&'static str>;

fn key(name: &str) -> Arc<str> {
    Arc::from(name)
}

fn admitted(decision: Decision) -> bool {
    matches!(decision, Decision::Admitted(_))
}

fn limited(decision: Decision) -> RateLimited {
    match decision {
        Decision::Limited(limited) => limited,
        Decision::Admitted(ticket) => panic!("admitted: {ticket:?}"),
    }
}

/// A layer with one key, "d", reserving the body's number of tokens (`x-unlimited`: no demand).
fn layer(
    store: &MemoryStore,
    limits: Limits,
) -> RateLimitLayer<impl Fn(&Req) -> Option<Demand> + Clone> {
    RateLimitLayer::new(store.clone(), limits, |req: &Req| {
        if req.headers().contains_key("x-unlimited") {
            return None;
        }
        Some(Demand::new("d").tokens(*req.body()))
    })
}

fn request(tokens: u64) -> Req {
    http::Request::new(tokens)
}

#[tokio::test(start_paused = true)]
async fn a_key_admits_rpm_requests_per_window_then_rejects() {
    let store = MemoryStore::new();
    let limits = Limits::new().rpm(3);
    for _ in 0..3 {
        assert!(admitted(store.try_reserve(&key("a"), 0, limits)));
    }
    let err = limited(store.try_reserve(&key("a"), 0, limits));
    assert!(err.is_requests());
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_the_time_until_the_window_ends() {
    let store = MemoryStore::new();
    let limits = Limits::new().rpm(1);
    assert!(admitted(store.try_reserve(&key("a"), 0, limits)));
    tokio::time::advance(Duration::from_secs(20)).await;
    let err = limited(store.try_reserve(&key("a"), 0, limits));
    assert_eq!(err.retry_after(), Duration::from_secs(40));
}

#[tokio::test(start_paused = true)]
async fn the_next_window_admits_again() {
    let store = MemoryStore::new();
    let limits = Limits::new().rpm(1).tpm(10);
    assert!(admitted(store.try_reserve(&key("a"), 10, limits)));
    assert!(!admitted(store.try_reserve(&key("a"), 0, limits)));
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(admitted(store.try_reserve(&key("a"), 10, limits)));
}

#[tokio::test(start_paused = true)]
async fn keys_count_separately() {
    let store = MemoryStore::new();
    let limits = Limits::new().rpm(1);
    assert!(admitted(store.try_reserve(&key("a"), 0, limits)));
    assert!(admitted(store.try_reserve(&key("b"), 0, limits)));
    assert!(!admitted(store.try_reserve(&key("a"), 0, limits)));
}

#[tokio::test(start_paused = true)]
async fn tpm_rejects_a_reservation_that_does_not_fit_and_counts_nothing() {
    let store = MemoryStore::new();
    let limits = Limits::new().rpm(10).tpm(100);
    assert!(admitted(store.try_reserve(&key("a"), 70, limits)));
    let err = limited(store.try_reserve(&key("a"), 40, limits));
    assert!(err.is_tokens());
    assert_eq!(store.tokens("a"), 70);
    assert!(admitted(store.try_reserve(&key("a"), 30, limits)));
}

#[tokio::test(start_paused = true)]
async fn an_estimate_above_tpm_is_cut_to_tpm_and_admitted_into_an_empty_window() {
    let store = MemoryStore::new();
    let limits = Limits::new().tpm(100);
    assert_eq!(limits.clamp_tokens(5000), 100);
    assert!(admitted(store.try_reserve(
        &key("a"),
        limits.clamp_tokens(5000),
        limits
    )));
    assert_eq!(store.tokens("a"), 100);
}

#[tokio::test(start_paused = true)]
async fn a_full_key_set_forgets_windows_that_are_over_and_rejects_new_keys_while_all_are_live() {
    let store = MemoryStore::with_max_keys(2);
    let limits = Limits::new().rpm(5);
    assert!(admitted(store.try_reserve(&key("a"), 0, limits)));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(admitted(store.try_reserve(&key("b"), 0, limits)));
    let err = limited(store.try_reserve(&key("c"), 0, limits));
    assert!(err.is_keys());
    assert_eq!(
        err.retry_after(),
        Duration::from_secs(30),
        "until a's window ends"
    );
    assert_eq!(store.rejected_keys(), 1);
    // Known keys still count while the set is full.
    assert!(admitted(store.try_reserve(&key("a"), 0, limits)));
    tokio::time::advance(Duration::from_secs(30)).await;
    // a's and b's windows are over (b's window was the same minute): both forgotten.
    assert!(admitted(store.try_reserve(&key("c"), 0, limits)));
    assert_eq!(store.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn reconciling_replaces_the_reservation_with_the_actual_usage() {
    let store = MemoryStore::new();
    let limits = Limits::new().tpm(1000);
    let Decision::Admitted(ticket) = store.try_reserve(&key("a"), 800, limits) else {
        panic!("limited")
    };
    store.reconcile(&ticket, 120);
    assert_eq!(store.tokens("a"), 120);
    assert!(admitted(store.try_reserve(&key("a"), 880, limits)));
}

#[tokio::test(start_paused = true)]
async fn reconciling_a_window_that_is_over_changes_nothing() {
    let store = MemoryStore::new();
    let limits = Limits::new().tpm(1000);
    let Decision::Admitted(ticket) = store.try_reserve(&key("a"), 800, limits) else {
        panic!("limited")
    };
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(admitted(store.try_reserve(&key("a"), 500, limits)));
    store.reconcile(&ticket, 0);
    assert_eq!(store.tokens("a"), 500);
}

// === the layer ===

#[tokio::test(start_paused = true)]
async fn the_layer_is_ready_only_when_the_inner_service_is() {
    let store = MemoryStore::new();
    let (mut svc, mut handle) =
        mock::spawn_layer::<Req, Res, _>(layer(&store, Limits::new().rpm(1)));
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn a_rejected_request_never_reaches_the_inner_service() {
    let store = MemoryStore::new();
    let (mut svc, mut handle) =
        mock::spawn_layer::<Req, Res, _>(layer(&store, Limits::new().rpm(1)));
    handle.allow(2);

    assert_ready_ok!(svc.poll_ready());
    let first = tokio::spawn(svc.call(request(0)));
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_response(http::Response::new("ok"));
    first.await.unwrap().unwrap();

    assert_ready_ok!(svc.poll_ready());
    let err = svc.call(request(0)).await.unwrap_err();
    let limited = err.downcast_ref::<RateLimited>().unwrap();
    assert!(limited.is_requests());
    assert_eq!(limited.retry_after(), Duration::from_secs(60));
    assert_pending!(
        handle.poll_request(),
        "the inner service saw one request only"
    );
}

#[tokio::test(start_paused = true)]
async fn requests_without_a_demand_are_not_limited() {
    let store = MemoryStore::new();
    let (mut svc, mut handle) =
        mock::spawn_layer::<Req, Res, _>(layer(&store, Limits::new().rpm(0)));
    for _ in 0..3 {
        assert_ready_ok!(svc.poll_ready());
        let req = http::Request::builder()
            .header("x-unlimited", "1")
            .body(0)
            .unwrap();
        let call = tokio::spawn(svc.call(req));
        let (req, send) = handle.next_request().await.unwrap();
        assert!(req.extensions().get::<TokenUsage>().is_none());
        send.send_response(http::Response::new("ok"));
        call.await.unwrap().unwrap();
    }
    assert!(store.is_empty());
}

#[tokio::test(start_paused = true)]
async fn usage_reported_by_the_inner_service_is_reconciled_when_the_last_handle_drops() {
    let store = MemoryStore::new();
    let (mut svc, mut handle) =
        mock::spawn_layer::<Req, Res, _>(layer(&store, Limits::new().tpm(1000)));
    assert_ready_ok!(svc.poll_ready());
    let call = tokio::spawn(svc.call(request(800)));
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(
        store.tokens("d"),
        800,
        "reserved before the inner service runs"
    );
    let usage = req.extensions().get::<TokenUsage>().unwrap().clone();
    drop(req);
    send.send_response(http::Response::new("ok"));
    let res = call.await.unwrap().unwrap();
    usage.report(120);
    drop(usage);
    assert_eq!(
        store.tokens("d"),
        800,
        "the response still holds the handle"
    );
    let from_response = res.extensions().get::<TokenUsage>().unwrap();
    assert_eq!(from_response.reported(), Some(120));
    drop(res);
    assert_eq!(store.tokens("d"), 120);
}

#[tokio::test(start_paused = true)]
async fn an_unreported_reservation_stays_reserved() {
    let store = MemoryStore::new();
    let (mut svc, mut handle) =
        mock::spawn_layer::<Req, Res, _>(layer(&store, Limits::new().tpm(1000)));
    assert_ready_ok!(svc.poll_ready());
    let call = tokio::spawn(svc.call(request(800)));
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_response(http::Response::new("ok"));
    drop(call.await.unwrap().unwrap());
    assert_eq!(store.tokens("d"), 800);
    assert_ready_ok!(svc.poll_ready());
    let err = svc.call(request(300)).await.unwrap_err();
    assert!(err.downcast_ref::<RateLimited>().unwrap().is_tokens());
}

#[tokio::test(start_paused = true)]
async fn an_inner_error_keeps_the_reservation_and_passes_the_error_on() {
    let store = MemoryStore::new();
    let (mut svc, mut handle) =
        mock::spawn_layer::<Req, Res, _>(layer(&store, Limits::new().tpm(1000)));
    assert_ready_ok!(svc.poll_ready());
    let call = tokio::spawn(svc.call(request(800)));
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_error(std::io::Error::other("upstream failed"));
    let err = call.await.unwrap().unwrap_err();
    assert!(err.downcast_ref::<RateLimited>().is_none());
    assert_eq!(store.tokens("d"), 800);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_error_maps_to_429_with_retry_after() {
    let err: limits_layer::BoxError = Box::new(RateLimited::tokens(Duration::from_millis(2500)));
    let rejection = rejection(&*err).unwrap();
    assert_eq!(rejection.status, 429);
    assert_eq!(rejection.retry_after_secs, 3);
    assert_eq!(rejection.code(), "rate_limited");
}
