//! `ResponseCacheLayer` over a counting upstream.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_layer::response::{CallerId, ResponseCache, ResponseCacheConfig, ResponseCacheLayer};
use futures_util::stream;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tower::util::BoxCloneService;
use tower::{Service, ServiceExt};
use tower_layer::Layer;

type Upstream =
    BoxCloneService<Request<Full<Bytes>>, Response<BoxBody<Bytes, Infallible>>, Infallible>;

/// Counts calls. `/sse` streams, `/big` sends 3 × 600 KiB without a length, `/fail`
/// answers 500, `/private` says so; anything else echoes a fixed JSON answer.
fn upstream(calls: Arc<AtomicUsize>) -> Upstream {
    BoxCloneService::new(tower::service_fn(move |req: Request<Full<Bytes>>| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let full = |s: String| Full::new(Bytes::from(s)).boxed();
            let res = match req.uri().path() {
                "/sse" => Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(full("data: {}\n\n".into())),
                "/big" => {
                    let chunks = (0..3).map(|_| {
                        Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; 600 * 1024])))
                    });
                    Response::builder().body(StreamBody::new(stream::iter(chunks)).boxed())
                }
                "/fail" => Response::builder().status(500).body(full("oops".into())),
                "/private" => Response::builder()
                    .header("cache-control", "private")
                    .body(full(format!("answer {n}"))),
                _ => Response::builder()
                    .header("content-type", "application/json")
                    .body(full(format!(r#"{{"answer":{n}}}"#))),
            };
            Ok(res.unwrap())
        }
    }))
}

struct Harness {
    calls: Arc<AtomicUsize>,
    layer: ResponseCacheLayer,
    svc: ResponseCache<Upstream>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(ResponseCacheConfig::default())
    }

    fn with_config(config: ResponseCacheConfig) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = ResponseCacheLayer::with_config(config);
        let svc = layer.layer(upstream(calls.clone()));
        Self { calls, layer, svc }
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> (String, String) {
        let res = self.svc.ready().await.unwrap().call(req).await.unwrap();
        let x_cache = res.headers()["x-cache"].to_str().unwrap().to_string();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (x_cache, String::from_utf8_lossy(&body).into_owned())
    }

    async fn post(&mut self, path: &str, key: &str, body: &str) -> (String, String) {
        let req = Request::post(path)
            .header("authorization", format!("Bearer {key}"))
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        self.send(req).await
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn identical_requests_are_answered_from_the_cache() {
    let mut h = Harness::new();
    let first = h.post("/v1/chat/completions", "k1", CHAT).await;
    let second = h.post("/v1/chat/completions", "k1", CHAT).await;
    assert_eq!(first, ("miss".into(), r#"{"answer":1}"#.into()));
    assert_eq!(second, ("hit".into(), r#"{"answer":1}"#.into()));
    assert_eq!(h.calls(), 1);
    let metrics = h.layer.metrics();
    assert_eq!((metrics.hits, metrics.insertions), (1, 1));
}

#[tokio::test]
async fn json_key_order_and_whitespace_do_not_change_the_key() {
    let mut h = Harness::new();
    h.post("/v1/chat/completions", "k1", r#"{"a":1,"b":[1,2]}"#)
        .await;
    let (x_cache, _) = h
        .post(
            "/v1/chat/completions",
            "k1",
            "{ \"b\": [1, 2],\n \"a\": 1 }",
        )
        .await;
    assert_eq!(x_cache, "hit");
}

#[tokio::test]
async fn two_tenants_never_share_an_entry() {
    let mut h = Harness::new();
    let a = h.post("/v1/chat/completions", "tenant-a", CHAT).await;
    let b = h.post("/v1/chat/completions", "tenant-b", CHAT).await;
    assert_eq!((a.0.as_str(), b.0.as_str()), ("miss", "miss"));
    assert_ne!(a.1, b.1);

    // An identity set by an auth layer wins over headers.
    let with_id = |id: &str| {
        let mut req = Request::post("/v1/chat/completions")
            .header("authorization", "Bearer shared-master-key")
            .body(Full::new(Bytes::from(CHAT)))
            .unwrap();
        req.extensions_mut().insert(CallerId(id.to_string()));
        req
    };
    assert_eq!(h.send(with_id("team-1")).await.0, "miss");
    assert_eq!(h.send(with_id("team-2")).await.0, "miss");
    assert_eq!(h.send(with_id("team-1")).await.0, "hit");
    assert_eq!(h.calls(), 4);
}

#[tokio::test]
async fn other_paths_and_bodies_are_other_entries() {
    let mut h = Harness::new();
    h.post("/v1/chat/completions", "k", CHAT).await;
    assert_eq!(h.post("/v1/embeddings", "k", CHAT).await.0, "miss");
    assert_eq!(
        h.post("/v1/chat/completions?v=2", "k", CHAT).await.0,
        "miss"
    );
    assert_eq!(
        h.post("/v1/chat/completions", "k", r#"{"model":"other"}"#)
            .await
            .0,
        "miss"
    );
    assert_eq!(h.calls(), 4);
}

#[tokio::test]
async fn streams_are_never_cached() {
    let mut h = Harness::new();
    let streaming = r#"{"model":"m","stream":true}"#;
    for _ in 0..2 {
        assert_eq!(
            h.post("/v1/chat/completions", "k", streaming).await.0,
            "miss"
        );
        assert_eq!(h.post("/sse", "k", CHAT).await.0, "miss");
    }
    assert_eq!(h.calls(), 4);
    assert_eq!(h.layer.metrics().insertions, 0);
}

#[tokio::test]
async fn a_response_over_the_item_cap_passes_through_whole_and_uncached() {
    let mut h = Harness::new();
    for _ in 0..2 {
        let (x_cache, body) = h.post("/big", "k", CHAT).await;
        assert_eq!(x_cache, "miss");
        assert_eq!(body.len(), 3 * 600 * 1024, "nothing lost");
    }
    assert_eq!(h.calls(), 2);
    assert_eq!(h.layer.metrics().insertions, 0);
}

#[tokio::test]
async fn errors_and_private_responses_are_not_cached() {
    let mut h = Harness::new();
    for _ in 0..2 {
        assert_eq!(h.post("/fail", "k", CHAT).await.0, "miss");
        assert_eq!(h.post("/private", "k", CHAT).await.0, "miss");
    }
    assert_eq!(h.calls(), 4);
}

#[tokio::test]
async fn request_cache_control_is_honoured() {
    let mut h = Harness::new();
    let with = |directive: &str| {
        Request::post("/v1/chat/completions")
            .header("cache-control", directive)
            .body(Full::new(Bytes::from(CHAT)))
            .unwrap()
    };
    // no-store: neither served from nor stored in the cache.
    assert_eq!(
        h.send(with("no-store")).await,
        ("miss".into(), r#"{"answer":1}"#.into())
    );
    assert_eq!(h.layer.metrics().insertions, 0);
    // no-cache: always goes upstream, and refreshes the entry.
    assert_eq!(h.send(with("no-cache")).await.1, r#"{"answer":2}"#);
    assert_eq!(
        h.send(with("max-age=0, No-Cache")).await.1,
        r#"{"answer":3}"#
    );
    let plain = Request::post("/v1/chat/completions")
        .body(Full::new(Bytes::from(CHAT)))
        .unwrap();
    assert_eq!(
        h.send(plain).await,
        ("hit".into(), r#"{"answer":3}"#.into())
    );
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_the_ttl() {
    let mut h = Harness::with_config(ResponseCacheConfig {
        ttl: Duration::from_secs(60),
        ..ResponseCacheConfig::default()
    });
    h.post("/v1/chat/completions", "k", CHAT).await;
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(h.post("/v1/chat/completions", "k", CHAT).await.0, "hit");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(h.post("/v1/chat/completions", "k", CHAT).await.0, "miss");
}

#[tokio::test]
async fn a_body_the_caller_drops_midway_is_not_cached() {
    let mut h = Harness::with_config(ResponseCacheConfig {
        max_item_bytes: 4 * 1024 * 1024,
        ..ResponseCacheConfig::default()
    });
    let req = Request::post("/big")
        .body(Full::new(Bytes::from(CHAT)))
        .unwrap();
    let res = h.svc.ready().await.unwrap().call(req).await.unwrap();
    let mut body = res.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    assert_eq!(h.layer.metrics().insertions, 0);

    let (x_cache, whole) = h.post("/big", "", CHAT).await;
    assert_eq!((x_cache.as_str(), whole.len()), ("miss", 3 * 600 * 1024));
    let req = Request::post("/big")
        .header("authorization", "Bearer ")
        .body(Full::new(Bytes::from(CHAT)))
        .unwrap();
    assert_eq!(
        h.send(req).await.0,
        "hit",
        "a whole body under the cap is stored"
    );
}
