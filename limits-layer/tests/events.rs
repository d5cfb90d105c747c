//! The event layer: one event per request, emitted when the response body ends.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::Channel;
use http_body_util::BodyExt;
use limits_layer::callbacks::{
    callback_fn, Event, FinishReason, FinishReasons, FinishReasonsCell, ModelName, Outcome,
    Registry, RegistryConfig, Usage, UsageCell,
};
use limits_layer::events::EventLayer;
use tower::{service_fn, Service, ServiceExt};
use tower_layer::Layer;

/// A registry whose single callback records every event.
fn recording() -> (Registry, Arc<Mutex<Vec<Event>>>) {
    let registry = Registry::new(RegistryConfig::default());
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = seen.clone();
    registry
        .register(
            "record",
            callback_fn(move |e: &Event| sink.lock().unwrap().push(e.clone())),
        )
        .unwrap();
    (registry, seen)
}

async fn events(seen: &Arc<Mutex<Vec<Event>>>, n: usize) -> Vec<Event> {
    // Bounded: 2 s of (possibly paused) time; events reach callbacks in rounds.
    for _ in 0..2000 {
        if seen.lock().unwrap().len() >= n {
            return seen.lock().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("expected {n} events, got {:?}", seen.lock().unwrap());
}

fn request(model: &str) -> http::Request<()> {
    let mut req = http::Request::post("/v1/chat/completions")
        .body(())
        .unwrap();
    req.extensions_mut().insert(ModelName(model.into()));
    req
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_stream_emits_one_event_after_its_last_byte() {
    let (registry, seen) = recording();
    let (mut tx, body) = Channel::<Bytes, Infallible>::new(4);
    let usage = UsageCell::default();
    let cell = usage.clone();
    let body = Mutex::new(Some(body));
    let inner = service_fn(move |_req: http::Request<()>| {
        let mut res = http::Response::new(body.lock().unwrap().take().unwrap());
        res.extensions_mut().insert(cell.clone());
        async move { Ok::<_, Infallible>(res) }
    });
    let svc = EventLayer::new(registry.clone()).layer(inner);
    let mut res_body = svc
        .oneshot(request("gpt-4o-mini"))
        .await
        .unwrap()
        .into_body();

    for chunk in ["data: a\n\n", "data: bb\n\n"] {
        tx.send_data(Bytes::from(chunk)).await.unwrap();
        res_body.frame().await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(
        registry.metrics().emitted,
        0,
        "no event while the stream is open"
    );
    usage.set(Usage {
        prompt_tokens: 7,
        completion_tokens: 2,
        ..Usage::default()
    });
    drop(tx);
    assert!(res_body.frame().await.is_none());

    let events = events(&seen, 1).await;
    let event = &events[0];
    assert_eq!(event.route, "/v1/chat/completions");
    assert_eq!(event.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!((event.status, event.response_bytes), (Some(200), 19));
    assert_eq!(event.latency, Duration::from_secs(4));
    assert_eq!(
        event.usage,
        Some(Usage {
            prompt_tokens: 7,
            completion_tokens: 2,
            ..Usage::default()
        })
    );
    assert_eq!(event.outcome, Outcome::Completed);
    assert_eq!(registry.metrics().emitted, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_body_and_a_failed_call_each_emit_once() {
    let (registry, seen) = recording();
    let inner = service_fn(|req: http::Request<()>| async move {
        if req
            .extensions()
            .get::<ModelName>()
            .is_some_and(|m| &*m.0 == "broken")
        {
            return Err("upstream down");
        }
        let (_tx, body) = Channel::<Bytes, Infallible>::new(1);
        Ok(http::Response::new(body))
    });
    let svc = EventLayer::new(registry.clone()).layer(inner);

    let res = svc.clone().oneshot(request("m")).await.unwrap();
    drop(res);
    assert!(svc.oneshot(request("broken")).await.is_err());

    let events = events(&seen, 2).await;
    assert_eq!(
        (events[0].outcome, events[0].status),
        (Outcome::Abandoned, Some(200))
    );
    assert_eq!(
        (events[1].outcome, events[1].status),
        (Outcome::Failed, None)
    );
    assert_eq!(registry.metrics().emitted, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn without_callbacks_nothing_is_emitted() {
    let registry = Registry::new(RegistryConfig::default());
    let inner = service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(Bytes::from(
            "x",
        ))))
    });
    let mut svc = EventLayer::new(registry.clone()).layer(inner);
    let res = svc.ready().await.unwrap().call(request("m")).await.unwrap();
    res.into_body().collect().await.unwrap();
    assert_eq!(registry.metrics().emitted, 0);
}

#[tokio::test]
async fn an_observer_sees_every_event_in_the_request_path_even_without_callbacks() {
    use std::sync::atomic::{AtomicU64, Ordering};

    // No callback registered, and a queue of one: the observer still sees each event,
    // synchronously, by the time the body has ended.
    let registry = Registry::new(RegistryConfig {
        queue: 1,
        ..RegistryConfig::default()
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let observer = {
        let seen = seen.clone();
        move |e: &Event| seen.lock().unwrap().push((e.route.to_string(), e.status))
    };
    let inner = tower::service_fn(|req: http::Request<()>| async move {
        let status = if req.uri().path() == "/missing" {
            404
        } else {
            200
        };
        Ok::<_, std::convert::Infallible>(
            http::Response::builder()
                .status(status)
                .body(http_body_util::Full::new(Bytes::from_static(b"body")))
                .unwrap(),
        )
    });
    let svc = EventLayer::new(registry.clone())
        .with_observer(observer)
        .layer(inner);
    for path in ["/a", "/missing", "/b"] {
        let req = http::Request::get(path).body(()).unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("/a".to_string(), Some(200)),
            ("/missing".to_string(), Some(404)),
            ("/b".to_string(), Some(200))
        ]
    );
    assert_eq!(
        registry.metrics().emitted,
        0,
        "nothing queued without callbacks"
    );

    // A panicking observer does not break the request.
    let calls = Arc::new(AtomicU64::new(0));
    let panicky = {
        let calls = calls.clone();
        move |_: &Event| {
            calls.fetch_add(1, Ordering::Relaxed);
            panic!("observer bug");
        }
    };
    let inner = tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            Bytes::from_static(b"still served"),
        )))
    });
    let svc = EventLayer::new(registry)
        .with_observer(panicky)
        .layer(inner);
    let res = svc.oneshot(http::Request::new(())).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "still served");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn finish_reasons_come_from_the_extension_or_from_the_cell_set_before_the_end() {
    let (registry, seen) = recording();
    // A whole answer names its reasons on the response head.
    let plain = service_fn(|_req: http::Request<()>| async {
        let mut res = http::Response::new(http_body_util::Full::new(Bytes::from("{}")));
        let reasons: FinishReasons = [FinishReason::new("stop"), FinishReason::new("length")]
            .into_iter()
            .collect();
        res.extensions_mut().insert(reasons);
        Ok::<_, Infallible>(res)
    });
    let res = EventLayer::new(registry.clone())
        .layer(plain)
        .oneshot(request("m"))
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();

    // A stream fills its cell before its last frame.
    let (mut tx, body) = Channel::<Bytes, Infallible>::new(4);
    let cell = FinishReasonsCell::default();
    let in_response = cell.clone();
    let body = Mutex::new(Some(body));
    let streamed = service_fn(move |_req: http::Request<()>| {
        let mut res = http::Response::new(body.lock().unwrap().take().unwrap());
        res.extensions_mut().insert(in_response.clone());
        async move { Ok::<_, Infallible>(res) }
    });
    let mut res_body = EventLayer::new(registry.clone())
        .layer(streamed)
        .oneshot(request("m"))
        .await
        .unwrap()
        .into_body();
    tx.send_data(Bytes::from("data: x\n\n")).await.unwrap();
    res_body.frame().await.unwrap().unwrap();
    cell.set(FinishReasons::one(FinishReason::new("a_reason_of_its_own")));
    drop(tx);
    assert!(res_body.frame().await.is_none());

    let events = events(&seen, 2).await;
    let reasons = |e: &Event| {
        e.finish_reasons
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(reasons(&events[0]), ["stop", "length"]);
    assert_eq!(reasons(&events[1]), ["a_reason_of_its_own"]);
    assert_eq!(events[1].finish_reasons.to_string(), "a_reason_of_its_own");
}
