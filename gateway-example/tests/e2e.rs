//! The gateway end to end, in-process, on loopback, against fake providers that record
//! what they were sent.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use support::{json as reply_json, sse, End, Reply, Upstream};

const CHAT: &str = r#"{"model":"gpt","messages":[{"role":"user","content":"hi"}]}"#;

struct Harness {
    gateway: Gateway,
    client: pool_layer::Client<Full<Bytes>>,
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

async fn start(yaml: &str) -> Harness {
    let config = Config::parse(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    // As the binary binds: every worker gets a socket of its own.
    let listener = gateway_example::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();
    Harness {
        gateway,
        client: pool_layer::Client::builder().build(),
    }
}

fn model(name: &str, model: &str, upstream: &Upstream, extra: &str) -> String {
    format!("  - model_name: {name}\n    litellm_params: {{model: {model}, api_base: \"{}\", api_key: sk-provider-key{extra}}}\n", upstream.base())
}

impl Harness {
    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.gateway.addr()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .client
            .request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, path: &str, body: &str) -> Answer {
        self.send("POST", path, &[("content-type", "application/json")], body)
            .await
    }

    fn state(&self) -> &gateway_example::AppState {
        self.gateway.state()
    }

    /// Waits (bounded) until every gauge is back to zero.
    async fn settled(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            let admission = self.state().admission().metrics();
            if admission.in_flight == 0 && admission.queued == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gauges did not settle: {admission:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_works_on_the_demo_config() {
    let h = start(gateway_example::config::DEMO).await;

    let chat = h
        .post(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}"#,
        )
        .await;
    assert_eq!(chat.status, 200);
    assert!(chat.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("You said: Hello"));
    let id = chat.headers["x-request-id"].to_str().unwrap().to_string();
    let again = h
        .post(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}"#,
        )
        .await;
    assert_ne!(again.headers["x-request-id"], id.as_str(), "ids are unique");
    let chosen = h
        .send(
            "GET",
            "/v1/nope",
            &[("x-request-id", "client-chosen-1")],
            "",
        )
        .await;
    assert_eq!(chosen.status, 404);
    assert_eq!(chosen.headers["x-request-id"], "client-chosen-1");
    let overhead: f64 = chat.headers["x-gateway-overhead-duration-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(overhead >= 0.0);

    let stream = h
        .post(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#,
        )
        .await;
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    let text = String::from_utf8(stream.body.to_vec()).unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    let messages = h.post("/v1/messages", r#"{"model":"claude-3-5-haiku","max_tokens":20,"messages":[{"role":"user","content":"Hi"}]}"#).await;
    assert_eq!(
        (messages.status, messages.json()["type"].as_str()),
        (200, Some("message"))
    );
    let streamed = h.post("/v1/messages", r#"{"model":"claude-3-5-haiku","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#).await;
    let text = String::from_utf8(streamed.body.to_vec()).unwrap();
    assert!(
        text.contains("event: message_start") && text.contains("event: message_stop"),
        "{text}"
    );

    let embeddings = h
        .post(
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-small","input":["a","b"]}"#,
        )
        .await;
    assert_eq!(embeddings.json()["data"].as_array().unwrap().len(), 2);

    let models = h.send("GET", "/v1/models", &[], "").await;
    let models = models.json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["gpt-4o-mini", "claude-3-5-haiku", "text-embedding-3-small"]
    );

    assert_eq!(
        h.send("GET", "/health/liveliness", &[], "").await.status,
        200
    );
    assert_eq!(
        h.send("GET", "/health/readiness", &[], "").await.json()["status"],
        "healthy"
    );

    // Metrics are recorded as each response body ends, which may be just after the
    // client has read it: wait for them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let metrics = loop {
        let text =
            String::from_utf8(h.send("GET", "/metrics", &[], "").await.body.to_vec()).unwrap();
        if text.contains(r#"gateway_requests_total{route="/v1/embeddings",model="text-embedding-3-small",deployment="openai/text-embedding-3-small",status="200",outcome="completed"} 1"#) {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    for name in [
        "gateway_request_duration_seconds_bucket",
        "gateway_pool_open_connections",
        "gateway_in_flight",
        "gateway_queued",
        "gateway_client_cache_hits_total",
        "gateway_callback_events_total",
        "gateway_dns_misses_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(metrics.contains(
        r#"gateway_requests_total{route="/v1/chat/completions",model="gpt-4o-mini",deployment="openai/gpt-4o-mini",status="200",outcome="completed"} 3"#
    ));
    h.settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keys_are_checked_and_never_forwarded() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(reply_json(
        200,
        r#"{"id":"x","object":"chat.completion","choices":[]}"#,
    ));
    let yaml = format!(
        "server: {{master_key: sk-master-123}}\nmodel_list:\n{}",
        model("gpt", "openai/gpt-4o", &upstream, "")
    );
    let h = start(&yaml).await;

    let missing = h.post("/v1/chat/completions", CHAT).await;
    assert_eq!(
        (missing.status, missing.json()["error"]["type"].as_str()),
        (401, Some("authentication_error"))
    );
    let wrong = h
        .send(
            "POST",
            "/v1/chat/completions",
            &[("authorization", "Bearer sk-master-124")],
            CHAT,
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(h.send("GET", "/v1/models", &[], "").await.status, 401);

    let bearer = h
        .send(
            "POST",
            "/v1/chat/completions",
            &[("authorization", "Bearer sk-master-123")],
            CHAT,
        )
        .await;
    let x_api_key = h
        .send(
            "POST",
            "/v1/messages",
            &[("x-api-key", "sk-master-123")],
            r#"{"model":"gpt","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!((bearer.status, x_api_key.status), (200, 200));

    assert_eq!(
        upstream.count(),
        2,
        "rejected requests never reached the upstream"
    );
    for i in 0..2 {
        let seen = upstream.seen(i);
        assert_eq!(seen.headers["authorization"], "Bearer sk-provider-key");
        let everything = format!("{:?} {}", seen.headers, String::from_utf8_lossy(&seen.body));
        assert!(
            !everything.contains("sk-master-123"),
            "the client's key reached the upstream: {everything}"
        );
        assert!(seen.headers.get("x-api-key").is_none());
    }
    // Health and metrics stay open for probes and scrapers.
    assert_eq!(
        h.send("GET", "/health/readiness", &[], "").await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status_is_openai_shaped() {
    let upstream = Upstream::start(vec![]).await;
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let yaml = format!(
        "server: {{max_body_bytes: 2048}}\nmodel_list:\n{}{}{}  - model_name: down\n    litellm_params: {{model: openai/x, api_base: \"http://{closed}\", max_retries: 0}}\n",
        model("gpt", "openai/gpt-4o", &upstream, ", max_retries: 0"),
        model("slow", "openai/slow", &upstream, ", timeout: 0.3, max_retries: 0"),
        model("limited", "anthropic/claude", &upstream, ", max_retries: 0"),
    );
    let h = start(&yaml).await;
    let check = |a: &Answer, status: u16| {
        assert_eq!(a.status, status, "{:?}", a.body);
        assert_eq!(a.headers["content-type"], "application/json");
        let e = a.json();
        assert!(
            e["error"]["message"].is_string() && e["error"]["type"].is_string(),
            "{e}"
        );
    };

    check(&h.post("/v1/chat/completions", "{not json").await, 400);
    check(
        &h.post("/v1/chat/completions", r#"{"messages":[]}"#).await,
        400,
    );
    check(
        &h.post(
            "/v1/chat/completions",
            r#"{"model":"unknown","messages":[]}"#,
        )
        .await,
        404,
    );
    check(&h.send("GET", "/v1/nothing-here", &[], "").await, 404);
    check(&h.send("GET", "/../../etc/passwd", &[], "").await, 404);
    check(
        &h.send("DELETE", "/v1/chat/completions", &[], "").await,
        405,
    );
    let big = format!(
        r#"{{"model":"gpt","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(4096)
    );
    check(&h.post("/v1/chat/completions", &big).await, 413);

    upstream.push([Reply::Body {
        status: 429,
        headers: vec![("retry-after", "12".into())],
        body: Bytes::from(
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        ),
    }]);
    let limited = h
        .post(
            "/v1/chat/completions",
            r#"{"model":"limited","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    check(&limited, 429);
    assert_eq!(limited.headers["retry-after"], "12");
    assert!(limited.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("slow down"));

    check(
        &h.post("/v1/chat/completions", r#"{"model":"down","messages":[]}"#)
            .await,
        502,
    );
    upstream.push([Reply::Delayed(
        Duration::from_secs(5),
        Box::new(reply_json(200, "{}")),
    )]);
    check(
        &h.post("/v1/chat/completions", r#"{"model":"slow","messages":[]}"#)
            .await,
        504,
    );
    h.settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_with_retry_after_at_once() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(Reply::Delayed(
        Duration::from_millis(300),
        Box::new(reply_json(200, r#"{"choices":[]}"#)),
    ));
    let yaml = format!(
        "limits: {{max_in_flight: 2, max_queued: 1}}\nmodel_list:\n{}",
        model("gpt", "openai/gpt-4o", &upstream, "")
    );
    let h = std::sync::Arc::new(start(&yaml).await);

    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.post("/v1/chat/completions", CHAT).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let a = t.await.unwrap();
        if a.status == 429 {
            assert_eq!(a.headers["retry-after"], "1");
            assert_eq!(a.json()["error"]["code"], "queue_full");
        }
        statuses.push(a.status);
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 200, 429, 429, 429],
        "2 in flight + 1 queued served, the rest rejected"
    );
    h.settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_go_to_another_deployment_and_load_is_spread() {
    let bad = Upstream::start(vec![]).await;
    bad.always(reply_json(500, r#"{"error":{"message":"boom"}}"#));
    let good = Upstream::start(vec![]).await;
    good.always(reply_json(200, r#"{"id":"ok","choices":[]}"#));
    let yaml = format!(
        "model_list:\n{}{}",
        model("gpt", "openai/a", &bad, ", max_retries: 1"),
        model("gpt", "openai/b", &good, ", max_retries: 1")
    );
    let h = start(&yaml).await;

    for _ in 0..6 {
        assert_eq!(h.post("/v1/chat/completions", CHAT).await.status, 200);
    }
    assert!(bad.count() >= 1, "the failing deployment was tried");
    assert_eq!(good.count(), 6);

    let yaml = format!(
        "model_list:\n{}",
        model("gpt", "openai/a", &bad, ", max_retries: 2")
    );
    let h = start(&yaml).await;
    let before = bad.count();
    assert_eq!(h.post("/v1/chat/completions", CHAT).await.status, 500);
    assert_eq!(bad.count() - before, 3, "one try and two retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_host_cap_shows_in_the_upstreams_socket_count() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(Reply::Delayed(
        Duration::from_millis(20),
        Box::new(reply_json(200, r#"{"choices":[]}"#)),
    ));
    let yaml = format!(
        "server: {{workers: 3}}\npool: {{max_connections_per_host: 3}}\nmodel_list:\n{}",
        model("gpt", "openai/gpt-4o", &upstream, "")
    );
    let h = std::sync::Arc::new(start(&yaml).await);
    // Three workers, each with one of the three connections to the host.
    assert_eq!(h.state().http().shards(), 3);

    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.post("/v1/chat/completions", CHAT).await.status })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let max = upstream.max_open.load(std::sync::atomic::Ordering::SeqCst);
    assert!(max <= 3, "the upstream saw {max} sockets at once");
    assert!(h.state().http().metrics().connections.open_connections <= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_frees_the_upstream() {
    let first = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
    let upstream = Upstream::start(vec![sse(&[first], End::Hang)]).await;
    let yaml = format!(
        "model_list:\n{}",
        model("gpt", "openai/gpt-4o", &upstream, "")
    );
    let h = start(&yaml).await;

    let req = http::Request::post(format!("http://{}/v1/chat/completions", h.gateway.addr()))
        .body(Full::new(Bytes::from(
            r#"{"model":"gpt","stream":true,"messages":[]}"#,
        )))
        .unwrap();
    let res = h.client.request(req).await.unwrap();
    let mut body = res.into_body();
    body.frame().await.unwrap().unwrap();
    assert_eq!(
        h.state().admission().metrics().in_flight,
        1,
        "the stream holds its slot"
    );

    drop(body);
    drop(h.client.clone());
    upstream.wait_client_gone(Duration::from_secs(1)).await;
    h.settled().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while h.state().http().metrics().connections.open_connections != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream connection was released"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upstream_stream_ends_with_an_error_event() {
    let first = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
    let upstream = Upstream::start(vec![sse(&[first], End::Hang)]).await;
    let yaml = format!(
        "model_list:\n{}",
        model("gpt", "openai/gpt-4o", &upstream, ", stream_timeout: 0.3")
    );
    let h = start(&yaml).await;

    let a = h
        .post(
            "/v1/chat/completions",
            r#"{"model":"gpt","stream":true,"messages":[]}"#,
        )
        .await;
    let text = String::from_utf8(a.body.to_vec()).unwrap();
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(
        last.contains("\"error\"") && last.contains("stalled"),
        "{text}"
    );
    assert!(!text.contains("[DONE]") && !text.contains("\"finish_reason\":\"stop\""));
    h.settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_cache_answers_repeats_when_enabled() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(reply_json(
        200,
        r#"{"id":"x","choices":[{"message":{"content":"cached?"}}]}"#,
    ));
    let yaml = format!(
        "cache: {{responses: {{enabled: true}}}}\nmodel_list:\n{}",
        model("gpt", "openai/gpt-4o", &upstream, "")
    );
    let h = start(&yaml).await;

    let first = h.post("/v1/chat/completions", CHAT).await;
    let second = h.post("/v1/chat/completions", CHAT).await;
    assert_eq!(
        (
            first.headers["x-cache"].to_str().unwrap(),
            second.headers["x-cache"].to_str().unwrap()
        ),
        ("miss", "hit")
    );
    assert_eq!(first.body, second.body);
    assert_eq!(upstream.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_cannot_pick_the_upstream_or_its_key() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(reply_json(200, r#"{"choices":[]}"#));
    let yaml = format!(
        "model_list:\n{}",
        model("gpt", "openai/gpt-4o", &upstream, "")
    );
    let h = start(&yaml).await;

    let body = json!({"model": "gpt", "messages": [], "api_base": "http://169.254.169.254/", "base_url": "http://10.0.0.1/", "api_key": "sk-attacker"});
    let headers = [
        ("content-type", "application/json"),
        ("x-custom", "1"),
        ("proxy-authorization", "Basic abc"),
        ("te", "trailers"),
        ("x-forwarded-host", "evil"),
    ];
    assert_eq!(
        h.send("POST", "/v1/chat/completions", &headers, &body.to_string())
            .await
            .status,
        200
    );
    let seen = upstream.seen(0);
    assert_eq!(
        seen.headers["authorization"], "Bearer sk-provider-key",
        "the configured key, not the body's"
    );
    assert_eq!(
        upstream.count(),
        1,
        "the request went to the configured upstream"
    );
    let sent = seen.json();
    for field in ["api_base", "base_url", "api_key"] {
        assert!(
            sent.get(field).is_none(),
            "`{field}` travelled upstream: {sent}"
        );
    }
    for name in ["x-custom", "proxy-authorization", "te", "x-forwarded-host"] {
        assert!(
            seen.headers.get(name).is_none(),
            "client header `{name}` travelled upstream"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_gateway_stops_every_worker() {
    let yaml = "server: {workers: 3}\nmodel_list:\n  - model_name: m\n    litellm_params: {model: mock/m}\n";
    let h = start(yaml).await;
    let addr = h.gateway.addr();
    // Several connections, so that more than one worker is likely to accept.
    for _ in 0..6 {
        let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder().build();
        let req = http::Request::get(format!("http://{addr}/health/liveliness"))
            .body(Full::default())
            .unwrap();
        assert_eq!(client.request(req).await.unwrap().status(), 200);
    }
    drop(h);
    // Every worker stops accepting and closes its copy of the listener.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => break,
            // Accepted into the backlog of a listener that was closing.
            Ok(_) | Err(_) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still accepting 5 s after the drop"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overhead_header_leaves_out_the_upstreams_time() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(Reply::Delayed(
        Duration::from_millis(300),
        Box::new(reply_json(200, r#"{"choices":[]}"#)),
    ));
    let yaml = format!(
        "model_list:\n{}",
        model("gpt", "openai/gpt-4o", &upstream, "")
    );
    let h = start(&yaml).await;
    let started = std::time::Instant::now();
    let answer = h.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let overhead: f64 = answer.headers["x-gateway-overhead-duration-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (0.0..200.0).contains(&overhead),
        "overhead {overhead} ms should not count the upstream's 300 ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_errors_are_anthropic_shaped() {
    let upstream = Upstream::start(vec![]).await;
    let yaml = format!(
        "model_list:\n{}",
        model(
            "gem",
            "gemini/gemini-2.5-flash",
            &upstream,
            ", max_retries: 0"
        )
    );
    let h = start(&yaml).await;
    // Unknown model, and a parameter Gemini cannot honour (`metadata.user_id` is `user`).
    let unknown = h
        .post(
            "/v1/messages",
            r#"{"model":"nope","max_tokens":5,"messages":[]}"#,
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["type"], "error");
    assert_eq!(unknown.json()["error"]["type"], "not_found_error");
    let refused = h
        .post(
            "/v1/messages",
            r#"{"model":"gem","max_tokens":5,"metadata":{"user_id":"u1"},"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(refused.status, 400);
    let e = refused.json();
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("`user`"),
        "{e}"
    );
    assert_eq!(upstream.count(), 0);
    // The OpenAI route keeps OpenAI's shape.
    let openai = h
        .post("/v1/chat/completions", r#"{"model":"nope","messages":[]}"#)
        .await;
    assert!(openai.json()["error"]["code"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_params_are_counted_in_metrics() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(reply_json(200, r#"{"model":"llama3.2","message":{"role":"assistant","content":"hi"},"done":true,"done_reason":"stop","prompt_eval_count":1,"eval_count":1}"#));
    let yaml = format!(
        "litellm_settings: {{drop_params: true}}\nmodel_list:\n{}",
        model("local", "ollama/llama3.2", &upstream, "")
    );
    let h = start(&yaml).await;
    let body = r#"{"model":"local","n":3,"user":"u","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(h.post("/v1/chat/completions", body).await.status, 200);
    assert_eq!(h.post("/v1/chat/completions", body).await.status, 200);
    let metrics = h.send("GET", "/metrics", &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(r#"gateway_dropped_params_total{provider="ollama",param="n"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"gateway_dropped_params_total{provider="ollama",param="user"} 2"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_beta_header_reaches_anthropic_and_nothing_else_does() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(reply_json(200, r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}"#));
    let yaml = format!(
        "model_list:\n{}",
        model("claude", "anthropic/claude-sonnet-4-5", &upstream, "")
    );
    let h = start(&yaml).await;
    let body = r#"{"model":"claude","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let headers = [
        ("content-type", "application/json"),
        ("anthropic-beta", "interleaved-thinking-2025-05-14"),
        ("x-client-secret", "not-for-upstream"),
    ];
    assert_eq!(
        h.send("POST", "/v1/messages", &headers, body).await.status,
        200
    );
    let seen = upstream.seen(0);
    assert_eq!(
        seen.headers["anthropic-beta"],
        "interleaved-thinking-2025-05-14"
    );
    assert!(seen.headers.get("x-client-secret").is_none());
}
