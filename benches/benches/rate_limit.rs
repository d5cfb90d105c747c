//! The rate limiter's cost per request: with the memory store under criterion, and
//! with the Redis store against a local `redis-server` as p50/p99 of a bounded loop
//! plus the throughput of 32 concurrent callers, and the router's cooldown check in
//! Redis (the other round trip a routed request makes when Redis is configured).
//!
//! `cargo bench -p benches --bench rate_limit` (the Redis part needs `redis-server`;
//! `.ci/install-test-deps.sh` installs it).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../limits-layer/tests/support/redis_server.rs"]
#[allow(dead_code)] // the tests' helper; the bench uses part of it
mod redis_server;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{black_box, criterion_group, Criterion};
use http::{Request, Response};
use http_body_util::Full;
use std::sync::Arc;

use limits_layer::cooldown::{Cooldowns, RedisCooldowns};
use limits_layer::rate::store::{RedisConfig, RedisStore};
use limits_layer::rate::{Demand, Limits, MemoryStore, RateLimitLayer, Store};
use tower::{service_fn, Service, ServiceExt};
use tower_layer::Layer;

/// Requests timed per Redis measurement.
const SAMPLES: usize = 5_000;
/// Concurrent callers in the throughput measurement, and requests each.
const CALLERS: usize = 32;
const PER_CALLER: usize = 500;

type Req = Request<Full<Bytes>>;

fn bare(
) -> impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send> + Clone
{
    service_fn(|_req: Req| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    })
}

fn limited<St: Store>(
    store: St,
) -> impl Service<
    Req,
    Response = Response<Full<Bytes>>,
    Error = limits_layer::BoxError,
    Future = impl Send,
> + Clone
       + Send {
    // Limits far above what a run reaches: every request is admitted and counted.
    let limits = Limits::new().rpm(u64::MAX / 2).tpm(u64::MAX / 2);
    RateLimitLayer::new(store, limits, |_req: &Req| {
        Some(Demand::new("gpt-4o-mini").tokens(256))
    })
    .layer(bare())
}

fn request() -> Req {
    Request::new(Full::new(Bytes::from_static(b"{}")))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn memory(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("rate_limit");
    let svc = bare();
    group.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter(|| async { drop(black_box(svc.clone().oneshot(request()).await.unwrap())) })
    });
    let svc = rt.block_on(async { limited(MemoryStore::new()) });
    group.bench_function("memory_store_admitted", |b| {
        b.to_async(&rt)
            .iter(|| async { drop(black_box(svc.clone().oneshot(request()).await.unwrap())) })
    });
    group.finish();
}

criterion_group!(benches, memory);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// p50/p99 of one request through the layer with each store, sequentially, and the
/// throughput of concurrent callers with the Redis store.
fn redis_latency() {
    let server = redis_server::RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let redis = RedisStore::new(&server.url(), RedisConfig::default()).unwrap();
        for (name, svc) in [
            ("bare (no layer)", None),
            ("memory store", Some(limited(MemoryStore::new()).boxed_clone())),
            ("redis store", Some(limited(redis.clone()).boxed_clone())),
        ] {
            let mut samples = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                let started = Instant::now();
                match &svc {
                    Some(svc) => drop(svc.clone().oneshot(request()).await.unwrap()),
                    None => drop(bare().oneshot(request()).await.unwrap()),
                }
                samples.push(started.elapsed());
            }
            samples.sort();
            println!(
                "rate_limit latency, {name}: p50 {:?}, p99 {:?} ({SAMPLES} sequential requests)",
                percentile(&samples, 0.50),
                percentile(&samples, 0.99)
            );
        }
        // The router's other Redis call per request: the cooldowns of a group's
        // deployments (one pipelined round trip for all of them).
        let mut config = RedisConfig::default();
        config.prefix = limits_layer::cooldown::DEFAULT_COOLDOWN_PREFIX.to_owned();
        let cooldowns = RedisCooldowns::new(&server.url(), config).unwrap();
        let keys: Vec<Arc<str>> = vec![Arc::from("gpt#0:openai/m"), Arc::from("gpt#1:openai/m")];
        let mut samples = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let started = Instant::now();
            black_box(cooldowns.cooling(&keys).await);
            samples.push(started.elapsed());
        }
        samples.sort();
        println!(
            "router cooldown check, redis (2 deployments): p50 {:?}, p99 {:?} ({SAMPLES} sequential checks)",
            percentile(&samples, 0.50),
            percentile(&samples, 0.99)
        );
        let svc = limited(redis.clone());
        let started = Instant::now();
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let svc = svc.clone();
                tokio::spawn(async move {
                    for _ in 0..PER_CALLER {
                        drop(svc.clone().oneshot(request()).await.unwrap());
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap();
        }
        let total = CALLERS * PER_CALLER;
        let elapsed = started.elapsed();
        println!(
            "rate_limit throughput, redis store: {total} requests from {CALLERS} callers in {elapsed:?} = {:.0} req/s; fallbacks {}",
            total as f64 / elapsed.as_secs_f64(),
            redis.metrics().fallbacks
        );
    });
}

fn main() {
    benches();
    redis_latency();
    Criterion::default().configure_from_args().final_summary();
}
