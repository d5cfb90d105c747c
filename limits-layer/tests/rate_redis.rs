//! The Redis store against a real `redis-server` on loopback: two instances share one
//! limit, reconciled tokens are seen by the other instance, Redis down falls back
//! locally within the timeout (and is counted), Redis back is shared again.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

#[path = "support/redis_server.rs"]
mod redis_server;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use limits_layer::rate::store::{RedisConfig, RedisStore};
use limits_layer::rate::{
    Decision, Demand, Limits, RateLimitLayer, RateLimited, Store, TokenUsage,
};
use limits_layer::BoxError;
use redis_server::RedisServer;
use tower::{service_fn, Service, ServiceExt};
use tower_layer::Layer;

type Req = http::Request<u64>;
type Res = http::Response<&'static str>;

/// Every call of these tests must end well within this.
const CALL_BOUND: Duration = Duration::from_secs(2);

fn store(server: &RedisServer, timeout: Duration) -> RedisStore {
    let mut config = RedisConfig::default();
    config.timeout = timeout;
    config.probe_interval = Duration::from_millis(100);
    RedisStore::new(&server.url(), config).unwrap()
}

/// One "gateway instance": the layer over an always-OK service, key "deployment",
/// reserving the body's number of tokens.
fn instance(
    store: RedisStore,
    limits: Limits,
) -> impl Service<Req, Response = Res, Error = BoxError> + Clone {
    let layer = RateLimitLayer::new(store, limits, |req: &Req| {
        Some(Demand::new("deployment").tokens(*req.body()))
    });
    layer.layer(service_fn(|_req: Req| async {
        Ok::<_, Infallible>(http::Response::new("ok"))
    }))
}

async fn call<S>(svc: &mut S, tokens: u64) -> Result<Res, BoxError>
where
    S: Service<Req, Response = Res, Error = BoxError>,
{
    let fut = async { svc.ready().await?.call(http::Request::new(tokens)).await };
    tokio::time::timeout(CALL_BOUND, fut)
        .await
        .expect("no call hangs")
}

/// Waits for the start of a fresh window when less than `margin` is left of this one
/// (Redis runs on this machine's clock), so a test's requests fall in one window.
async fn align_to_window(window: Duration, margin: Duration) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let window_ms = window.as_millis();
    let left = Duration::from_millis(u64::try_from(window_ms - now % window_ms).unwrap());
    if left < margin {
        tokio::time::sleep(left + Duration::from_millis(20)).await;
    }
}

fn is_limited(result: &Result<Res, BoxError>) -> bool {
    matches!(result, Err(err) if err.is::<RateLimited>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_admit_at_most_rpm_requests_per_window_across_both() {
    let server = RedisServer::start();
    let limits = Limits::new().rpm(10);
    let mut a = instance(store(&server, Duration::from_secs(1)), limits);
    let mut b = instance(store(&server, Duration::from_secs(1)), limits);
    align_to_window(limits.window, Duration::from_secs(10)).await;

    let mut admitted = 0;
    for i in 0..30 {
        let svc = if i % 2 == 0 { &mut a } else { &mut b };
        let result = call(svc, 0).await;
        if result.is_ok() {
            admitted += 1;
        } else {
            assert!(is_limited(&result), "only rate limits: {:?}", result.err());
        }
    }
    assert_eq!(
        admitted, 10,
        "10 per window across both instances, not 10 each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_reconciled_on_one_instance_are_seen_by_the_other() {
    let server = RedisServer::start();
    let limits = Limits::new().tpm(1000);
    let mut a = instance(store(&server, Duration::from_secs(1)), limits);
    let mut b = instance(store(&server, Duration::from_secs(1)), limits);
    align_to_window(limits.window, Duration::from_secs(10)).await;

    let res = call(&mut a, 800).await.unwrap();
    let refused = call(&mut b, 800).await;
    assert!(
        is_limited(&refused),
        "800 of 1000 reserved on the other instance"
    );

    res.extensions().get::<TokenUsage>().unwrap().report(100);
    drop(res); // reconciled in the background: 100 used
    let deadline = Instant::now() + CALL_BOUND;
    loop {
        if call(&mut b, 800).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reconciliation never reached Redis"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_falls_back_locally_within_the_timeout_and_counts_it() {
    let mut server = RedisServer::start();
    let timeout = Duration::from_millis(200);
    let redis = store(&server, timeout);
    let mut svc = instance(redis.clone(), Limits::new().rpm(3));
    call(&mut svc, 0).await.unwrap();
    assert_eq!(redis.metrics().fallbacks, 0);

    server.stop();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        answers.push(call(&mut svc, 0).await);
        assert!(
            started.elapsed() < timeout * 3,
            "took {:?}",
            started.elapsed()
        );
    }
    // The local fallback counts on its own: 3 admitted, then limited.
    assert_eq!(answers.iter().filter(|r| r.is_ok()).count(), 3);
    assert!(answers.iter().skip(3).all(is_limited));
    let metrics = redis.metrics();
    assert_eq!(metrics.fallbacks, 5);
    assert!(!metrics.up);
    assert!(metrics.errors >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_back_makes_the_limit_shared_again() {
    let mut server = RedisServer::start();
    let limits = Limits::new().rpm(3);
    let key: Arc<str> = Arc::from("deployment");
    let a = store(&server, Duration::from_millis(200));
    let b = store(&server, Duration::from_millis(200));
    assert!(matches!(
        a.reserve(&key, 0, limits).await.unwrap(),
        Decision::Admitted(_)
    ));
    align_to_window(limits.window, Duration::from_secs(15)).await;

    server.stop();
    a.reserve(&key, 0, limits).await.unwrap();
    assert!(!a.metrics().up);
    server.restart(); // empty: the counters start again

    let deadline = Instant::now() + Duration::from_secs(5);
    let fallbacks = loop {
        let fallbacks = a.metrics().fallbacks;
        a.reserve(&key, 0, limits).await.unwrap();
        if a.metrics().fallbacks == fallbacks {
            break fallbacks; // that one was counted in Redis
        }
        assert!(Instant::now() < deadline, "never reconnected to Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(a.metrics().up);
    // Redis holds 1 of 3: one more on a, one on b, then b is refused by the shared count.
    assert!(matches!(
        a.reserve(&key, 0, limits).await.unwrap(),
        Decision::Admitted(_)
    ));
    assert!(matches!(
        b.reserve(&key, 0, limits).await.unwrap(),
        Decision::Admitted(_)
    ));
    match b.reserve(&key, 0, limits).await.unwrap() {
        Decision::Limited(limited) => assert!(limited.is_requests()),
        Decision::Admitted(_) => panic!("b admitted a fourth request in the window"),
    }
    assert_eq!(a.metrics().fallbacks, fallbacks);
    assert_eq!(b.metrics().fallbacks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_costs_each_call_at_most_the_timeout() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(200);
    let redis = store(&server, timeout);
    let mut svc = instance(redis.clone(), Limits::new().rpm(100));
    call(&mut svc, 0).await.unwrap();

    server.freeze(true);
    for _ in 0..3 {
        let started = Instant::now();
        call(&mut svc, 0).await.unwrap();
        assert!(
            started.elapsed() < timeout * 2,
            "took {:?}",
            started.elapsed()
        );
    }
    server.freeze(false);
    assert_eq!(redis.metrics().fallbacks, 3);
    assert_eq!(
        redis.metrics().errors,
        1,
        "one timeout, then the fallback until the next probe"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_live_under_the_prefix_in_one_hash_that_expires_with_its_window() {
    let server = RedisServer::start();
    let mut config = RedisConfig::default();
    config.prefix = "test-ns".to_owned();
    let redis = RedisStore::new(&server.url(), config).unwrap();
    let limits = Limits::new().rpm(5).tpm(100);
    let key: Arc<str> = Arc::from("gpt-4o");
    assert!(matches!(
        redis.reserve(&key, 40, limits).await.unwrap(),
        Decision::Admitted(_)
    ));

    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys, ["test-ns:gpt-4o"]);
    let (requests, tokens): (u64, u64) = redis::cmd("HMGET")
        .arg("test-ns:gpt-4o")
        .arg("r")
        .arg("t")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((requests, tokens), (1, 40));
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg("test-ns:gpt-4o")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (1..=61_000).contains(&ttl_ms),
        "ttl {ttl_ms} ms: the window's rest plus 1 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_one_call_per_probe_interval_tries_it() {
    let mut server = RedisServer::start();
    let redis = store(&server, Duration::from_millis(200)); // probe interval 100 ms
    let limits = Limits::new().rpm(1000);
    let key: Arc<str> = Arc::from("deployment");
    redis.reserve(&key, 0, limits).await.unwrap();
    server.stop();
    redis.reserve(&key, 0, limits).await.unwrap();
    let errors = redis.metrics().errors;
    tokio::time::sleep(Duration::from_millis(120)).await;
    // Twenty concurrent calls after the interval: one probes, the rest use the fallback.
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (redis, key) = (redis.clone(), key.clone());
            tokio::spawn(async move { redis.reserve(&key, 0, limits).await.unwrap() })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(redis.metrics().errors, errors + 1);
    assert_eq!(redis.metrics().fallbacks, 21);
}
