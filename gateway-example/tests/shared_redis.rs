//! Two gateway instances in one process sharing a real `redis-server` on loopback:
//! an `rpm: 60` deployment admits at most 60 requests a minute across both, a cooldown
//! started by one holds on the other, a response cached by one is a hit on the other;
//! Redis killed mid-run is the documented fallback (per-instance state, a metric, no
//! request hangs) and Redis back is shared again.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report

// The same helper as limits-layer's (gateway-example is not published, so it can reach it).
#[path = "../../limits-layer/tests/support/redis_server.rs"]
#[allow(dead_code)] // `freeze` is for the layer crates' tests
mod redis_server;
#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use redis_server::RedisServer;
use support::{json, Reply, Upstream};
use tokio::net::TcpListener;

const OK: &str = r#"{"id":"c1","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;

/// No request may take longer, Redis up or down.
const REQUEST_BOUND: Duration = Duration::from_secs(3);

fn limited(after: &str) -> Reply {
    Reply::Body {
        status: 429,
        headers: vec![
            ("content-type", "application/json".into()),
            ("retry-after", after.into()),
        ],
        body: Bytes::from(r#"{"error":{"message":"Rate limit reached"}}"#),
    }
}

/// The YAML of one instance: `gpt` on `upstream` with `extra` params, Redis at `redis`.
fn config(upstream: &Upstream, params: &str, redis: &RedisServer, tail: &str) -> Config {
    let yaml = format!(
        "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/m, api_base: \"{}\", api_key: sk-p, max_retries: 0{params}}}\nrouter_settings: {{redis_url: \"{}\"}}\n{tail}",
        upstream.base(),
        redis.url()
    );
    Config::parse(&yaml, "shared.yaml").unwrap_or_else(|e| panic!("{e}"))
}

struct Instances {
    a: Gateway,
    b: Gateway,
    client: pool_layer::Client<Full<Bytes>>,
}

async fn two(config: impl Fn() -> Config) -> Instances {
    let start = |c| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Gateway::start(c, listener).await.unwrap()
    };
    Instances {
        a: start(config()).await,
        b: start(config()).await,
        client: pool_layer::Client::builder().build(),
    }
}

/// Status, `x-cache` and the time one chat request took.
async fn chat(
    client: &pool_layer::Client<Full<Bytes>>,
    gw: &Gateway,
) -> (u16, Option<String>, Duration) {
    let body = r#"{"model":"gpt","messages":[{"role":"user","content":"hi"}]}"#;
    let req = http::Request::post(format!("http://{}/v1/chat/completions", gw.addr()))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let started = Instant::now();
    let res = tokio::time::timeout(REQUEST_BOUND, client.request(req))
        .await
        .expect("no request hangs")
        .unwrap();
    let status = res.status().as_u16();
    let cache = res
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _ = res.into_body().collect().await;
    (status, cache, started.elapsed())
}

/// Waits until the rest of the current minute (the rate window) is at least `margin`.
async fn away_from_the_minute_boundary(margin: Duration) {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let left = Duration::from_millis(60_000 - ms % 60_000);
    if left < margin {
        tokio::time::sleep(left + Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_60_deployment_admits_at_most_60_requests_a_minute_across_two_instances() {
    let redis = RedisServer::start();
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, OK));
    let gw = two(|| config(&upstream, ", rpm: 60", &redis, "")).await;
    away_from_the_minute_boundary(Duration::from_secs(8)).await;
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..80 {
        let instance = if i % 2 == 0 { &gw.a } else { &gw.b };
        match chat(&gw.client, instance).await.0 {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("status {other}"),
        }
    }
    assert_eq!((ok, limited), (60, 20));
    assert_eq!(upstream.count(), 60, "the provider saw 60, not 2 × 60");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_started_by_one_instance_holds_on_the_other() {
    let redis = RedisServer::start();
    let upstream = Upstream::start(vec![limited("30")]).await;
    upstream.always(json(200, OK));
    let gw = two(|| config(&upstream, "", &redis, "")).await;
    assert_eq!(
        chat(&gw.client, &gw.a).await.0,
        429,
        "the provider's own 429"
    );
    let (status, _, took) = chat(&gw.client, &gw.b).await;
    assert_eq!(status, 503, "b sees a's cooldown");
    assert!(took < Duration::from_secs(1));
    assert_eq!(upstream.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_cached_by_one_instance_is_a_hit_on_the_other() {
    let redis = RedisServer::start();
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, OK));
    let port = redis.url().rsplit(':').next().unwrap().to_owned();
    let cache = format!(
        "litellm_settings: {{cache: true, cache_params: {{type: redis, host: 127.0.0.1, port: {port}, ttl: 60, namespace: t-cache}}}}\n"
    );
    let gw = two(|| config(&upstream, "", &redis, &cache)).await;
    assert_eq!(chat(&gw.client, &gw.a).await.1.as_deref(), Some("miss"));
    // The store's write is in the background: a bounded wait for it to be in Redis
    // (asked of Redis itself: a request to b before it lands would be b's own miss).
    let deadline = Instant::now() + Duration::from_secs(5);
    while keys_matching(&port, "t-cache*").await == 0 {
        assert!(Instant::now() < deadline, "a's entry never reached Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(chat(&gw.client, &gw.b).await.1.as_deref(), Some("hit"));
    assert_eq!(upstream.count(), 1, "b's answer came from the shared cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_falls_back_per_instance_and_redis_back_is_shared_again() {
    let mut redis = RedisServer::start();
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, OK));
    let gw = two(|| config(&upstream, ", rpm: 1000", &redis, "")).await;
    assert_eq!(chat(&gw.client, &gw.a).await.0, 200);
    redis.stop();
    for _ in 0..5 {
        let (status, _, took) = chat(&gw.client, &gw.a).await;
        assert_eq!(status, 200, "served from this instance's counters");
        assert!(took < REQUEST_BOUND);
    }
    let router = gw.a.state().router();
    assert_eq!(router.redis_up(), Some(false));
    assert!(router.redis_fallbacks() > 0, "counted");
    let metrics = scrape(&gw.client, &gw.a).await;
    assert!(metrics.contains("gateway_redis_up 0"), "{metrics}");

    redis.restart();
    // Back: the next probe (within a second) finds it, with no restart of the gateway.
    let deadline = Instant::now() + Duration::from_secs(10);
    while gw.a.state().router().redis_up() != Some(true) {
        assert!(Instant::now() < deadline, "redis back was never used again");
        assert_eq!(chat(&gw.client, &gw.a).await.0, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Shared again: a cooldown started on a is seen by b.
    upstream.push([limited("30")]);
    assert_eq!(chat(&gw.client, &gw.a).await.0, 429);
    assert_eq!(chat(&gw.client, &gw.b).await.0, 503, "shared again");
}

/// How many keys match `pattern` in the Redis server on `port`, asked over RESP.
async fn keys_matching(port: &str, pattern: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let script = "return #redis.call('keys', ARGV[1])";
    let args = ["EVAL", script, "0", pattern];
    let mut command = format!("*{}\r\n", args.len());
    for arg in args {
        command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    let mut conn = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    conn.write_all(command.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n") {
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "redis closed the connection");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    text.trim()
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected answer from redis: {text}"))
}

async fn scrape(client: &pool_layer::Client<Full<Bytes>>, gw: &Gateway) -> String {
    let req = http::Request::get(format!("http://{}/metrics", gw.addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}
