//! Each layer's overhead per request over a bare no-op service, and the whole
//! in-process stack the gateway puts in front of its handler.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_layer::client::{ClientCacheLayer, ClientKey, NewService};
use cache_layer::response::ResponseCacheLayer;
use cache_layer::ttl::CacheConfig;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use limits_layer::admission::{AdmissionLayer, Controller, Limits};
use limits_layer::callbacks::{callback_fn, Event, Registry, RegistryConfig};
use pool_layer::limit::ConnectionLimitLayer;
use tower::{service_fn, Service, ServiceExt};
use tower_layer::Layer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn bare() -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    })
}

use benches::stack::request;

fn connection_limit(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("connection_limit");
    let connector = service_fn(|_uri: http::Uri| async { Ok::<_, Infallible>(()) });
    group.bench_function("bare_connect", |b| {
        b.to_async(&rt).iter(|| async {
            connector
                .oneshot(http::Uri::from_static("http://api.example:80"))
                .await
                .unwrap()
        })
    });
    let limited = ConnectionLimitLayer::new(300, 50).layer(connector);
    group.bench_function("permit_acquire_release", |b| {
        b.to_async(&rt).iter(|| async {
            let io = limited
                .clone()
                .oneshot(http::Uri::from_static("http://api.example:80"))
                .await
                .unwrap();
            drop(black_box(io));
        })
    });
    group.finish();
}

fn admission(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("admission");
    let svc = bare();
    group.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter(|| async { drop(black_box(svc.clone().oneshot(request()).await.unwrap())) })
    });
    let admitted = AdmissionLayer::new(Limits::default()).layer(bare());
    group.bench_function("uncontended", |b| {
        b.to_async(&rt).iter(|| async {
            drop(black_box(
                admitted.clone().oneshot(request()).await.unwrap(),
            ))
        })
    });
    // Two tasks share one slot: every request after the first queues.
    let contended = Controller::new(Limits {
        max_in_flight: 1,
        ..Limits::default()
    });
    group.bench_function("contended_2_tasks_1_slot", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let controller = contended.clone();
            async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..2)
                    .map(|_| {
                        let controller = controller.clone();
                        tokio::spawn(async move {
                            for _ in 0..iters / 2 + 1 {
                                let permit = controller.acquire().await.unwrap();
                                tokio::task::yield_now().await;
                                drop(permit);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed()
            }
        })
    });
    group.finish();
}

fn client_cache(c: &mut Criterion) {
    let mut group = c.benchmark_group("client_cache");
    let cache = ClientCacheLayer::new().layer(|key: ClientKey| key.base_url().len());
    let key = ClientKey::new("https://api.openai.com/v1")
        .with_credential(cache_layer::client::Secret::new("sk-live-0123456789"))
        .with_timeout(Duration::from_secs(600));
    cache.new_service(key.clone());
    group.bench_function("hit", |b| {
        b.iter(|| black_box(cache.new_service(key.clone())))
    });
    let keys: Vec<ClientKey> = (0..10_000)
        .map(|i| ClientKey::new(format!("https://host-{i}.example/v1")))
        .collect();
    let churn = ClientCacheLayer::with_config(CacheConfig {
        capacity: 200,
        ..CacheConfig::default()
    })
    .layer(|key: ClientKey| key.base_url().len());
    let next = AtomicU64::new(0);
    group.bench_function("miss_with_eviction", |b| {
        b.iter(|| {
            let i = next.fetch_add(1, Ordering::Relaxed) as usize % keys.len();
            black_box(churn.new_service(keys[i].clone()))
        })
    });
    group.finish();
}

fn response_cache(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("response_cache");
    let cached = ResponseCacheLayer::new().layer(bare());
    rt.block_on(async {
        let res = cached.clone().oneshot(request()).await.unwrap();
        res.into_body().collect().await.unwrap();
    });
    group.bench_function("hit", |b| {
        b.to_async(&rt).iter(|| async {
            let res = cached.clone().oneshot(request()).await.unwrap();
            assert_eq!(res.headers()["x-cache"], "hit");
            drop(black_box(res));
        })
    });
    group.finish();
}

fn callbacks(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("callbacks");
    let registry = rt.block_on(async {
        let registry = Registry::new(RegistryConfig::default());
        registry
            .register(
                "noop",
                callback_fn(|e: &Event| {
                    black_box(e);
                }),
            )
            .unwrap();
        registry
    });
    group.bench_function("emit", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(registry.emit(Event::new("/v1/chat/completions"))) })
    });
    group.finish();
}

/// The in-process layers of the gateway's stack (its front layer: request id, request
/// timeout, overhead header and JSON errors; events with an observer, as the gateway's
/// metrics; admission) over the handler, against the handler alone.
fn full_stack(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("full_stack");
    let bare = benches::stack::handler();
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| async {
            let res = bare
                .clone()
                .oneshot(benches::stack::request())
                .await
                .unwrap();
            res.into_body().collect().await.unwrap();
        })
    });
    let (stack, _pacer) = rt.block_on(async {
        // As in the gateway's workers: without a sooner timer, the request timeout's
        // timer would wake the event loop through its eventfd on every request.
        let pacer = gateway_example::server::TimerPacer::start(Duration::from_secs(1));
        (benches::stack::layers(benches::stack::handler()), pacer)
    });
    group.bench_function("layers", |b| {
        b.to_async(&rt).iter(|| async {
            let req = benches::stack::request().map(axum::body::Body::new);
            let res = stack.clone().oneshot(req).await.unwrap();
            res.into_body().collect().await.unwrap();
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    connection_limit,
    admission,
    client_cache,
    response_cache,
    callbacks,
    full_stack
);
criterion_main!(benches);
