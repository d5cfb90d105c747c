//! Admission: FIFO, exact queue bound, immediate rejection, slots held until the body
//! ends, timeouts with paused time, 10× overload.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use http_body_util::{BodyExt, Full};
use limits_layer::admission::{
    AdmissionLayer, Controller, KeyedController, Limits, Overloaded, QueueTimeout,
};
use limits_layer::http::rejection;
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower::{service_fn, Service, ServiceExt};
use tower_layer::Layer;

fn limits(max_in_flight: usize, max_queued: usize) -> Limits {
    Limits {
        max_in_flight,
        max_queued,
        queue_timeout: Duration::from_secs(30),
        ..Limits::default()
    }
}

fn ok_service() -> impl Service<
    &'static str,
    Response = http::Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(
        |name: &'static str| async move { Ok(http::Response::new(Full::new(Bytes::from(name)))) },
    )
}

#[tokio::test]
async fn waiters_are_admitted_in_fifo_order() {
    let controller = Controller::new(limits(1, 10));
    let first = controller.acquire().await.unwrap();
    let mut waiters: Vec<_> = (0..4).map(|_| task::spawn(controller.acquire())).collect();
    for w in &mut waiters {
        assert_pending!(w.poll());
    }
    let mut held = first;
    for i in 0..4 {
        drop(held);
        for later in &mut waiters[i + 1..] {
            assert_pending!(later.poll(), "only the oldest waiter is admitted");
        }
        held = assert_ready_ok!(waiters[i].poll());
    }
}

#[tokio::test]
async fn the_queue_bound_is_exact_and_rejection_does_not_wait() {
    let controller = Controller::new(limits(1, 3));
    let _running = controller.acquire().await.unwrap();
    let mut queued: Vec<_> = (0..3).map(|_| task::spawn(controller.acquire())).collect();
    for q in &mut queued {
        assert_pending!(q.poll());
    }
    assert_eq!(controller.metrics().queued, 3);

    // The first poll answers: no waiting at all.
    let mut rejected = task::spawn(controller.acquire());
    match rejected.poll() {
        Poll::Ready(Err(err)) => assert!(err.is::<Overloaded>(), "{err}"),
        other => panic!("expected an immediate Overloaded, got {other:?}"),
    }
    let metrics = controller.metrics();
    assert_eq!((metrics.queued, metrics.rejected_overload), (3, 1));
}

#[tokio::test]
async fn a_waiter_that_gives_up_frees_its_place() {
    let controller = Controller::new(limits(1, 2));
    let running = controller.acquire().await.unwrap();
    let mut a = task::spawn(controller.acquire());
    let mut b = task::spawn(controller.acquire());
    assert_pending!(a.poll());
    assert_pending!(b.poll());

    drop(a);
    assert_eq!(controller.metrics().queued, 1);
    let mut c = task::spawn(controller.acquire());
    assert_pending!(c.poll(), "the freed place is taken, not rejected");

    drop(running);
    let _b = assert_ready_ok!(b.poll());
    assert_eq!(controller.metrics().queued, 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_waiting_past_the_queue_timeout_is_rejected() {
    let controller = Controller::new(limits(1, 5));
    let _running = controller.acquire().await.unwrap();

    let started = tokio::time::Instant::now();
    let err = controller.acquire().await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let timeout = err.downcast_ref::<QueueTimeout>().expect("a QueueTimeout");
    assert_eq!(timeout.waited(), Duration::from_secs(30));
    let metrics = controller.metrics();
    assert_eq!(
        (metrics.queued, metrics.rejected_timeout, metrics.in_flight),
        (0, 1, 1)
    );
}

#[tokio::test]
async fn an_open_response_body_keeps_the_slot_until_it_ends() {
    let controller = Controller::new(limits(1, 0));
    let mut svc = AdmissionLayer::with_controller(controller.clone()).layer(ok_service());

    let res = svc.ready().await.unwrap().call("hi").await.unwrap();
    assert!(res.body().holds_slot());
    assert_eq!(controller.metrics().in_flight, 1);
    let err = svc.ready().await.unwrap().call("again").await.unwrap_err();
    assert!(
        err.is::<Overloaded>(),
        "headers arrived, but the body is still open"
    );

    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hi");
    assert_eq!(
        controller.metrics().in_flight,
        0,
        "the body ended: slot released"
    );
}

#[tokio::test]
async fn dropping_the_response_body_releases_the_slot() {
    let controller = Controller::new(limits(1, 0));
    let mut svc = AdmissionLayer::with_controller(controller.clone()).layer(ok_service());
    let res = svc.ready().await.unwrap().call("hi").await.unwrap();
    drop(res);
    assert_eq!(controller.metrics().in_flight, 0);
}

#[tokio::test]
async fn dropping_a_response_future_releases_its_slot() {
    let controller = Controller::new(limits(1, 0));
    let never = service_fn(|_: ()| {
        std::future::pending::<Result<http::Response<Full<Bytes>>, Infallible>>()
    });
    let mut svc = AdmissionLayer::with_controller(controller.clone()).layer(never);
    let mut call = task::spawn(svc.ready().await.unwrap().call(()));
    assert_pending!(call.poll());
    assert_eq!(controller.metrics().in_flight, 1);
    drop(call);
    assert_eq!(controller.metrics().in_flight, 0);
}

#[tokio::test]
async fn a_queued_request_is_called_once_admitted() {
    let controller = Controller::new(limits(1, 1));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let inner = service_fn(move |_: ()| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("x")))) }
    });
    let mut svc = AdmissionLayer::with_controller(controller.clone()).layer(inner);
    let first = svc.ready().await.unwrap().call(()).await.unwrap();
    let mut queued = task::spawn(svc.ready().await.unwrap().call(()));
    assert_pending!(queued.poll());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not called while queued");

    drop(first);
    let _second = assert_ready_ok!(queued.poll());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn ten_times_overload_is_served_or_rejected_and_nothing_hangs() {
    let controller = Controller::new(limits(100, 900));
    let watched = controller.clone();
    let worst = Arc::new(AtomicUsize::new(0));
    let seen = worst.clone();
    let inner = service_fn(move |_: ()| {
        let metrics = watched.metrics();
        assert!(
            metrics.in_flight <= 100 && metrics.queued <= 900,
            "{metrics:?}"
        );
        seen.fetch_max(metrics.queued, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("done"))))
        }
    });
    let svc = AdmissionLayer::with_controller(controller.clone()).layer(inner);

    let outcomes = tokio::time::timeout(
        Duration::from_secs(20),
        join_all((0..10_000).map(|_| {
            let svc = svc.clone();
            async move {
                match svc.oneshot(()).await {
                    Ok(res) => {
                        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "done");
                        Ok(())
                    }
                    Err(err) => Err(rejection(&*err).expect("only admission rejections").status),
                }
            }
        })),
    )
    .await
    .expect("no request hangs");

    let served = outcomes.iter().filter(|o| o.is_ok()).count();
    let rejected_429 = outcomes
        .iter()
        .filter(|o| **o == Err(http::StatusCode::TOO_MANY_REQUESTS))
        .count();
    assert_eq!(
        served + rejected_429,
        10_000,
        "every request served or rejected with 429"
    );
    assert_eq!(served, 1000, "100 in flight + 900 queued were all served");
    // The 100 requests admitted at once never queued; every other served one did, so
    // the queue reached 899 by the time the first waiter was called, and never passed 900.
    assert_eq!(worst.load(Ordering::SeqCst), 899);
    let metrics = controller.metrics();
    assert_eq!(
        (metrics.in_flight, metrics.queued, metrics.admitted),
        (0, 0, 1000)
    );
    assert_eq!(metrics.rejected_overload, 9000);
}

#[tokio::test]
async fn one_controller_guards_several_services() {
    let controller = Controller::new(limits(1, 0));
    let layer = AdmissionLayer::with_controller(controller.clone());
    let mut chat = layer.layer(ok_service());
    let mut embed = layer.layer(ok_service());
    let _open = chat.ready().await.unwrap().call("chat").await.unwrap();
    let err = embed
        .ready()
        .await
        .unwrap()
        .call("embed")
        .await
        .unwrap_err();
    assert!(err.is::<Overloaded>());
}

#[tokio::test]
async fn keyed_admission_gives_each_key_its_own_limits_and_bounds_the_keys() {
    let keyed = KeyedController::new(limits(1, 0), 2).with_limits("big", limits(3, 0));
    let mut svc =
        AdmissionLayer::keyed(keyed.clone(), |name: &&'static str| *name).layer(ok_service());

    let _a = svc.ready().await.unwrap().call("a").await.unwrap();
    let a_again = svc.ready().await.unwrap().call("a").await.unwrap_err();
    assert!(a_again.is::<Overloaded>(), "key a is at its own limit");
    let big: Vec<_> = join_all((0..3).map(|_| svc.clone().oneshot("big"))).await;
    assert!(
        big.iter().all(Result::is_ok),
        "key big has its own, larger limit"
    );

    // Two keys are busy (a, big): a third key is refused while they are.
    let c = svc.ready().await.unwrap().call("c").await.unwrap_err();
    assert!(c.is::<Overloaded>());
    // "big" has its own limits, so it is never forgotten; once "a" is idle, it can be.
    drop(big);
    drop(_a);
    assert!(
        svc.ready().await.unwrap().call("c").await.is_ok(),
        "idle key a made room"
    );
    assert_eq!(keyed.keys(), 2);
}

#[tokio::test(start_paused = true)]
async fn rejections_map_to_429_and_503_with_retry_after() {
    let controller = Controller::new(Limits {
        max_in_flight: 1,
        max_queued: 1,
        queue_timeout: Duration::from_secs(5),
        retry_after: Duration::from_millis(2500),
    });
    let _running = controller.acquire().await.unwrap();
    let waiting = tokio::spawn(controller.acquire());
    tokio::task::yield_now().await;
    let full = controller.acquire().await.unwrap_err();
    let timed_out = waiting.await.unwrap().unwrap_err();

    let r = rejection(&*full).unwrap();
    assert_eq!(
        (r.status.as_u16(), r.retry_after_secs, r.code()),
        (429, 3, "queue_full")
    );
    assert_eq!(r.retry_after(), "3");
    let r = rejection(&*timed_out).unwrap();
    assert_eq!((r.status.as_u16(), r.code()), (503, "queue_timeout"));
    let other: Box<dyn std::error::Error + Send + Sync> = "boom".into();
    assert!(rejection(&*other).is_none());
}
