//! The response cache's shared Redis level against a real `redis-server` on loopback:
//! a response stored by one instance is a hit on another; Redis down is a miss within
//! the timeout (each instance keeps its own level); Redis back is shared again.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

#[path = "support/redis_server.rs"]
mod redis_server;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_layer::response::{RedisResponseStore, ResponseCacheConfig, ResponseCacheLayer};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use redis_server::RedisServer;
use tower::{Service, ServiceExt};
use tower_layer::Layer;

const CALL_BOUND: Duration = Duration::from_secs(2);

/// One "instance": its own in-process cache, the shared store, a counting upstream.
struct Instance {
    calls: Arc<AtomicUsize>,
    layer: ResponseCacheLayer,
}

impl Instance {
    fn new(server: &RedisServer, namespace: &str) -> Self {
        let store =
            RedisResponseStore::new(&server.url(), namespace, Duration::from_millis(200)).unwrap();
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            layer: ResponseCacheLayer::with_shared_store(ResponseCacheConfig::default(), store),
        }
    }

    /// One request for `body`; the `x-cache` header and the answer.
    async fn ask(&self, body: &str) -> (String, String) {
        let calls = self.calls.clone();
        let upstream = tower::service_fn(move |_req: Request<Full<Bytes>>| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                let res = Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(format!(r#"{{"answer":{n}}}"#))))
                    .unwrap();
                Ok::<_, Infallible>(res)
            }
        });
        let mut svc = self.layer.layer(upstream);
        let req = Request::post("/v1/chat/completions")
            .header("authorization", "Bearer tenant-a")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        let cache = res.headers()["x-cache"].to_str().unwrap().to_owned();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (cache, String::from_utf8(body.to_vec()).unwrap())
    }
}

/// Waits until `ask` is a hit on `instance` (the store's write is in the background).
async fn until_hit(instance: &Instance, body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (cache, answer) = instance.ask(body).await;
        if cache == "hit" {
            return answer;
        }
        assert!(Instant::now() < deadline, "never a hit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_stored_by_one_instance_is_a_hit_on_the_other() {
    let server = RedisServer::start();
    let (a, b) = (Instance::new(&server, "t1"), Instance::new(&server, "t1"));
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(a.ask(body).await, ("miss".into(), r#"{"answer":1}"#.into()));
    // Keys in another order: the same request.
    let reordered = r#"{"messages":[{"content":"hi","role":"user"}],"model":"m"}"#;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(until_hit(&b, reordered).await, r#"{"answer":1}"#);
    assert_eq!(
        b.calls.load(Ordering::SeqCst),
        0,
        "b's upstream never called"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_caller_never_gets_a_shared_hit() {
    let server = RedisServer::start();
    let a = Instance::new(&server, "t2");
    let body = r#"{"model":"m","messages":[]}"#;
    a.ask(body).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = Instance::new(&server, "t2");
    let upstream = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("fresh"))))
    });
    let mut svc = b.layer.layer(upstream);
    let req = Request::post("/v1/chat/completions")
        .header("authorization", "Bearer tenant-b")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(res.headers()["x-cache"], "miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_a_miss_within_the_timeout_and_redis_back_is_shared_again() {
    let mut server = RedisServer::start();
    let (a, b) = (Instance::new(&server, "t3"), Instance::new(&server, "t3"));
    server.stop();
    let started = Instant::now();
    assert_eq!(a.ask(r#"{"q":1}"#).await.0, "miss");
    // Its own level still serves it.
    assert_eq!(a.ask(r#"{"q":1}"#).await.0, "hit");
    assert!(
        started.elapsed() < CALL_BOUND,
        "no request waits past the timeout"
    );
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 0;
    // Back: a fresh request stored by a is a hit on b.
    loop {
        n += 1;
        let body = format!(r#"{{"q":"back {n}"}}"#);
        a.ask(&body).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if b.ask(&body).await.0 == "hit" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis back was never shared again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_costs_a_lookup_at_most_the_timeout() {
    let server = RedisServer::start();
    let a = Instance::new(&server, "t4");
    server.freeze(true);
    let started = Instant::now();
    assert_eq!(a.ask(r#"{"q":"frozen"}"#).await.0, "miss");
    assert!(started.elapsed() < CALL_BOUND);
    server.freeze(false);
}
