//! The router through the real gateway and failing loopback upstreams: retries, then
//! fallbacks (named in the response); cooldowns after `allowed_fails` and for a 429's
//! `Retry-After`; a group all cooling answered at once; context-window errors of
//! OpenAI, Anthropic and Gemini sent at once to `context_window_fallbacks`; a stream
//! that started is never replayed elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use support::{json, sse, End, Reply, Upstream};
use tokio::net::TcpListener;

const OK: &str = r#"{"id":"c1","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;

fn ok() -> Reply {
    json(200, OK)
}

fn failing() -> Reply {
    json(
        500,
        r#"{"error":{"message":"internal error","type":"server_error"}}"#,
    )
}

fn limited(after: &str) -> Reply {
    Reply::Body {
        status: 429,
        headers: vec![
            ("content-type", "application/json".into()),
            ("retry-after", after.into()),
        ],
        body: Bytes::from(
            r#"{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}"#,
        ),
    }
}

/// A `model_list` entry for an OpenAI-compatible upstream.
fn entry(name: &str, upstream: &Upstream, retries: u32) -> String {
    format!(
        "  - model_name: {name}\n    litellm_params: {{model: openai/m, api_base: \"{}\", api_key: sk-p, max_retries: {retries}, timeout: 5}}\n",
        upstream.base()
    )
}

struct Harness {
    gateway: Gateway,
    client: pool_layer::Client<Full<Bytes>>,
}

async fn start(yaml: &str) -> Harness {
    let config = Config::parse(yaml, "router.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Harness {
        gateway: Gateway::start(config, listener).await.unwrap(),
        client: pool_layer::Client::builder().build(),
    }
}

/// Status, the named group, `Retry-After` and the body of one chat request.
struct Answer {
    status: u16,
    group: Option<String>,
    retry_after: Option<u64>,
    body: String,
}

impl Harness {
    async fn chat(&self, model: &str, stream: bool) -> Answer {
        let body = format!(
            r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
        );
        let req = http::Request::post(format!(
            "http://{}/v1/chat/completions",
            self.gateway.addr()
        ))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
        let res = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("answered in time")
            .unwrap();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let group = header("x-gateway-model-group");
        let retry_after = header("retry-after").and_then(|v| v.parse().ok());
        let status = res.status().as_u16();
        let body = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Answer {
            status,
            group,
            retry_after,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_spends_the_retries_then_the_fallback_group_answers_and_is_named() {
    let primary = Upstream::start(vec![]).await;
    primary.always(failing());
    let backup = Upstream::start(vec![]).await;
    backup.always(ok());
    let h = start(&format!(
        "model_list:\n{}{}router_settings:\n  fallbacks: [{{primary: [backup]}}]\n",
        entry("primary", &primary, 1),
        entry("backup", &backup, 0)
    ))
    .await;
    let a = h.chat("primary", false).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.group.as_deref(), Some("backup"));
    assert_eq!(primary.count(), 2, "the first attempt and one retry");
    assert_eq!(backup.count(), 1);
    let metrics = h.gateway.state().router().metrics();
    assert_eq!(
        metrics.fallbacks.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_takes_the_deployment_out_of_rotation_for_that_long() {
    let slow = Upstream::start(vec![limited("30")]).await;
    slow.always(ok());
    let fine = Upstream::start(vec![]).await;
    fine.always(ok());
    let h = start(&format!(
        "model_list:\n{}{}router_settings: {{routing_strategy: simple-shuffle}}\n",
        entry("gpt", &slow, 1),
        entry("gpt", &fine, 1)
    ))
    .await;
    for _ in 0..6 {
        let a = h.chat("gpt", false).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.group.as_deref(), Some("gpt"));
    }
    assert_eq!(
        slow.count(),
        1,
        "cooling for its Retry-After: never asked again"
    );
    assert_eq!(fine.count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_deployments_all_cool_answers_503_with_retry_after_at_once() {
    let only = Upstream::start(vec![limited("30")]).await;
    only.always(ok());
    let h = start(&format!("model_list:\n{}", entry("gpt", &only, 0))).await;
    let first = h.chat("gpt", false).await;
    assert_eq!(
        first.status, 429,
        "the upstream's own answer: {}",
        first.body
    );
    let started = Instant::now();
    let second = h.chat("gpt", false).await;
    assert_eq!(second.status, 503, "{}", second.body);
    assert!(
        second.body.contains("no_deployments_available"),
        "{}",
        second.body
    );
    let after = second.retry_after.expect("Retry-After");
    assert!((25..=30).contains(&after), "{after}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered at once"
    );
    assert_eq!(only.count(), 1, "the provider is not hammered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_fails_failures_cool_a_deployment_and_the_others_serve() {
    let broken = Upstream::start(vec![]).await;
    broken.always(failing());
    let fine = Upstream::start(vec![]).await;
    fine.always(ok());
    let h = start(&format!(
        "model_list:\n{}{}router_settings: {{routing_strategy: simple-shuffle, allowed_fails: 1, cooldown_time: 60}}\n",
        entry("gpt", &broken, 1),
        entry("gpt", &fine, 1)
    ))
    .await;
    for _ in 0..8 {
        assert_eq!(h.chat("gpt", false).await.status, 200);
    }
    assert_eq!(
        broken.count(),
        2,
        "allowed_fails: 1, so the second failure cools it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_window_errors_of_openai_anthropic_and_gemini_fall_back_at_once() {
    let openai = Upstream::start(vec![]).await;
    openai.always(json(400, r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#));
    let anthropic = Upstream::start(vec![]).await;
    anthropic.always(json(400, r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#));
    let gemini = Upstream::start(vec![]).await;
    gemini.always(json(400, r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#));
    let big = Upstream::start(vec![]).await;
    big.always(ok());
    let yaml = format!(
        "model_list:
{}  - model_name: claude
    litellm_params: {{model: anthropic/claude-sonnet-4-20250514, api_base: \"{}\", api_key: sk-a, max_retries: 2}}
  - model_name: gemini
    litellm_params: {{model: gemini/gemini-2.0-flash, api_base: \"{}\", api_key: g-key, max_retries: 2}}
{}router_settings:
  context_window_fallbacks: [{{gpt: [big]}}, {{claude: [big]}}, {{gemini: [big]}}]
",
        entry("gpt", &openai, 2),
        anthropic.base(),
        gemini.base(),
        entry("big", &big, 0)
    );
    let h = start(&yaml).await;
    for (model, upstream) in [
        ("gpt", &openai),
        ("claude", &anthropic),
        ("gemini", &gemini),
    ] {
        let a = h.chat(model, false).await;
        assert_eq!(a.status, 200, "{model}: {}", a.body);
        assert_eq!(a.group.as_deref(), Some("big"), "{model}");
        assert_eq!(
            upstream.count(),
            1,
            "{model}: not retried on the same model"
        );
    }
    assert_eq!(big.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_broke_after_its_first_byte_is_not_replayed_on_a_fallback() {
    let primary = Upstream::start(vec![]).await;
    primary.always(sse(
        &["data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"he\"},\"finish_reason\":null}]}\n\n"],
        End::Abort,
    ));
    let backup = Upstream::start(vec![]).await;
    backup.always(ok());
    let h = start(&format!(
        "model_list:\n{}{}router_settings:\n  fallbacks: [{{primary: [backup]}}]\n",
        entry("primary", &primary, 2),
        entry("backup", &backup, 0)
    ))
    .await;
    let a = h.chat("primary", true).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.group.as_deref(), Some("primary"));
    assert!(
        a.body.contains("stream_broken"),
        "an error event: {}",
        a.body
    );
    assert!(
        !a.body.contains("[DONE]"),
        "a broken stream never ends as if whole: {}",
        a.body
    );
    assert_eq!(primary.count(), 1);
    assert_eq!(backup.count(), 0, "never after the first byte");
}
