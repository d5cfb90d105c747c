#![allow(missing_docs, clippy::unwrap_used)]
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_layer::client::{ClientCacheLayer, ClientKey, NewService};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use limits_layer::admission::{AdmissionLayer, Limits};
use limits_layer::callbacks::{callback_fn, Event, Registry, RegistryConfig};
use limits_layer::events::EventLayer;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_layer::Layer;

const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one word."}],"temperature":0.2}"#;
fn request() -> Request<Full<Bytes>> {
    Request::post("/v1/chat/completions")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap()
}

fn parts(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("parts");
    let clients = Arc::new(ClientCacheLayer::new().layer(|key: ClientKey| key.base_url().len()));
    let key = ClientKey::new("https://api.openai.com/v1");
    let handler = service_fn(move |req: Request<Full<Bytes>>| {
        let clients = clients.clone();
        let key = key.clone();
        async move {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let peek = provider_adapters::request::peek(&body).unwrap();
            black_box((peek, clients.new_service(key)));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
        }
    });
    let h = handler.clone();
    run(&mut g, &rt, "handler", h.clone());
    let s = ServiceBuilder::new()
        .layer(AdmissionLayer::new(Limits::default()))
        .service(handler.clone());
    run(&mut g, &rt, "admission", s.clone());
    let empty = rt.block_on(async { Registry::new(RegistryConfig::default()) });
    let s = ServiceBuilder::new()
        .layer(EventLayer::new(empty))
        .service(handler.clone());
    run(&mut g, &rt, "events_no_callback", s.clone());
    let reg = rt.block_on(async {
        let r = Registry::new(RegistryConfig::default());
        r.register(
            "x",
            callback_fn(|e: &Event| {
                black_box(e);
            }),
        )
        .unwrap();
        r
    });
    let s = ServiceBuilder::new()
        .layer(EventLayer::new(reg))
        .service(handler.clone());
    run(&mut g, &rt, "events_one_callback", s.clone());
    let s = ServiceBuilder::new()
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            http::StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(600),
        ))
        .service(handler.clone());
    run(&mut g, &rt, "timeout", s.clone());
    let s = ServiceBuilder::new()
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
        .service(handler.clone());
    run(&mut g, &rt, "request_id_uuid", s.clone());
    g.finish();
}
/// Benchmarks one request through `svc`, body read to the end.
fn run<S, B>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    svc: S,
) where
    S: tower::Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: hyper::body::Body,
    B::Error: std::fmt::Debug,
{
    g.bench_function(name, |b| {
        b.to_async(rt).iter(|| async {
            let res = svc.clone().oneshot(request()).await.unwrap();
            res.into_body().collect().await.unwrap()
        })
    });
}

criterion_group!(benches, parts);
criterion_main!(benches);
