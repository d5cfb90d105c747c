//! The gateway's own errors on the Anthropic Messages routes (`/v1/messages`,
//! `/v1/messages/count_tokens`, each also without `/v1`) are Anthropic-shaped
//! (`{"type":"error","error":{"type","message"}}` with Anthropic's error types), with
//! the same statuses and headers as elsewhere; the same errors on the OpenAI routes
//! stay OpenAI-shaped. A real gateway on loopback, against a fake provider.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use support::{json as reply_json, Reply, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MESSAGE: &str =
    r#"{"model":"gpt","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
const CHAT: &str = r#"{"model":"gpt","messages":[{"role":"user","content":"hi"}]}"#;
const KEY: &str = "sk-gateway-test";

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    /// Asserts an Anthropic-shaped error of this status and type.
    fn anthropic(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(self.headers["content-type"], "application/json");
        assert!(self.headers.contains_key("x-request-id"));
        let e = self.json();
        assert_eq!(e["type"], "error", "{e}");
        assert_eq!(e["error"]["type"], kind, "{e}");
        assert!(e["error"]["message"].is_string(), "{e}");
        assert_eq!(
            e.as_object().unwrap().len(),
            2,
            "nothing but `type` and `error`: {e}"
        );
    }

    /// Asserts an OpenAI-shaped error of this status.
    fn openai(&self, status: u16) {
        assert_eq!(self.status, status, "{:?}", self.body);
        let e = self.json();
        assert!(e.get("type").is_none(), "{e}");
        assert!(
            e["error"]["message"].is_string() && e["error"]["type"].is_string(),
            "{e}"
        );
        assert!(e["error"].get("code").is_some(), "{e}");
    }
}

struct Harness {
    gateway: Gateway,
    client: pool_layer::Client<Full<Bytes>>,
}

async fn start(yaml: &str) -> Harness {
    let config = Config::parse(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = gateway_example::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    Harness {
        gateway: Gateway::start(config, listener).await.unwrap(),
        client: pool_layer::Client::builder().build(),
    }
}

/// The config: `server` settings, and `gpt` served by `upstream`.
fn config(server: &str, limits: &str, upstream: &Upstream) -> String {
    format!(
        "server: {{{server}}}\nlimits: {{{limits}}}\nmodel_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\", api_key: sk-provider, max_retries: 0}}\n",
        upstream.base()
    )
}

impl Harness {
    async fn send(&self, path: &str, key: Option<&str>, body: &str) -> Answer {
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{}{path}", self.gateway.addr()))
            .header("content-type", "application/json");
        if let Some(key) = key {
            req = req.header("x-api-key", key);
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
        self.send(path, None, body).await
    }

    async fn get(&self, path: &str) -> Answer {
        let uri = format!("http://{}{path}", self.gateway.addr());
        let req = http::Request::get(uri)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = self.client.request(req).await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_key_is_an_anthropic_authentication_error() {
    let upstream = Upstream::start(vec![]).await;
    let yaml = config(&format!("master_key: {KEY}"), "", &upstream);
    let h = start(&yaml).await;
    for path in [
        "/v1/messages",
        "/messages",
        "/v1/messages/count_tokens",
        "/messages/count_tokens",
    ] {
        h.send(path, None, MESSAGE)
            .await
            .anthropic(401, "authentication_error");
        h.send(path, Some("sk-wrong"), MESSAGE)
            .await
            .anthropic(401, "authentication_error");
    }
    let chat = h.send("/v1/chat/completions", None, CHAT).await;
    chat.openai(401);
    assert_eq!(chat.json()["error"]["code"], "invalid_api_key");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_and_oversized_messages_are_anthropic_errors() {
    let upstream = Upstream::start(vec![]).await;
    let h = start(&config("max_body_bytes: 2048", "", &upstream)).await;
    let unknown = r#"{"model":"nope","max_tokens":5,"messages":[]}"#;
    let big = format!(
        r#"{{"model":"gpt","max_tokens":5,"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(4096)
    );
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        h.post(path, "{not json")
            .await
            .anthropic(400, "invalid_request_error");
        h.post(path, unknown)
            .await
            .anthropic(404, "not_found_error");
        h.post(path, &big).await.anthropic(413, "request_too_large");
    }
    // The same on the OpenAI route: OpenAI's shape.
    h.post("/v1/chat/completions", "{not json")
        .await
        .openai(400);
    h.post("/v1/chat/completions", r#"{"model":"nope","messages":[]}"#)
        .await
        .openai(404);
    h.post("/v1/chat/completions", &big).await.openai(413);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_messages_with_an_anthropic_rate_limit_error() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(Reply::Delayed(
        Duration::from_millis(600),
        Box::new(reply_json(200, r#"{"choices":[]}"#)),
    ));
    let h = Arc::new(start(&config("", "max_in_flight: 1, max_queued: 0", &upstream)).await);
    let busy = {
        let h = h.clone();
        tokio::spawn(async move { h.post("/v1/chat/completions", CHAT).await })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while h.gateway.state().admission().metrics().in_flight == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never in flight");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = h.post("/v1/messages", MESSAGE).await;
    refused.anthropic(429, "rate_limit_error");
    assert_eq!(refused.headers["retry-after"], "1");
    h.post("/v1/messages/count_tokens", MESSAGE)
        .await
        .anthropic(429, "rate_limit_error");
    let chat = h.post("/v1/chat/completions", CHAT).await;
    chat.openai(429);
    assert_eq!(chat.json()["error"]["code"], "queue_full");
    assert_eq!(chat.headers["retry-after"], "1");
    assert_eq!(busy.await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_timeout_on_messages_is_an_anthropic_overloaded_error() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(Reply::Delayed(
        Duration::from_millis(800),
        Box::new(reply_json(200, r#"{"choices":[]}"#)),
    ));
    let limits = "max_in_flight: 1, max_queued: 4, queue_timeout_s: 0.2";
    let h = Arc::new(start(&config("", limits, &upstream)).await);
    let busy = {
        let h = h.clone();
        tokio::spawn(async move { h.post("/v1/chat/completions", CHAT).await })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while h.gateway.state().admission().metrics().in_flight == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never in flight");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waited = h.post("/v1/messages", MESSAGE).await;
    waited.anthropic(503, "overloaded_error");
    assert!(waited.headers.contains_key("retry-after"));
    let chat = h.post("/v1/chat/completions", CHAT).await;
    chat.openai(503);
    assert_eq!(chat.json()["error"]["code"], "queue_timeout");
    assert_eq!(busy.await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_timeout_answers_messages_with_an_anthropic_error() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(Reply::Delayed(
        Duration::from_secs(5),
        Box::new(reply_json(200, r#"{"choices":[]}"#)),
    ));
    let h = start(&config("request_timeout_s: 0.3", "", &upstream)).await;
    let started = std::time::Instant::now();
    h.post("/v1/messages", MESSAGE)
        .await
        .anthropic(504, "api_error");
    assert!(started.elapsed() < Duration::from_secs(3));
    h.post("/v1/chat/completions", CHAT).await.openai(504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_messages_body_is_cut_with_an_anthropic_408() {
    let upstream = Upstream::start(vec![]).await;
    let h = start(&config("body_read_timeout_s: 0.3", "", &upstream)).await;
    let mut slow = tokio::net::TcpStream::connect(h.gateway.addr())
        .await
        .unwrap();
    let head = "POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{";
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), slow.read_to_end(&mut answer))
        .await
        .expect("answered and closed in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let e: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_method_on_a_messages_path_is_an_anthropic_405() {
    let upstream = Upstream::start(vec![]).await;
    let h = start(&config("", "", &upstream)).await;
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        h.get(path).await.anthropic(405, "invalid_request_error");
    }
    h.get("/v1/chat/completions").await.openai(405);
}
