//! What an operator learns of each request beyond its status: the deployment every
//! upstream attempt went to (retries and fallbacks included), and the finish reasons
//! the client received, in `/metrics`, the webhook's events and the request log line.
//! Real gateways in front of loopback upstreams that answer in the providers'
//! documented formats.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test setup: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use support::{json, sse, End, Reply, Upstream};
use tokio::io::{AsyncBufReadExt, BufReader};

const CHAT: &str = r#"{"model":"gpt","messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_STREAM: &str =
    r#"{"model":"gpt","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES: &str =
    r#"{"model":"claude","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_CLAUDE: &str = r#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_CLAUDE_STREAM: &str =
    r#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const RESPONSES: &str = r#"{"model":"gpt","input":"hi"}"#;
const RESPONSES_CLAUDE: &str = r#"{"model":"claude","input":"hi"}"#;
const RESPONSES_CLAUDE_STREAM: &str = r#"{"model":"claude","input":"hi","stream":true}"#;
/// A Responses API answer that hit `max_output_tokens`.
const INCOMPLETE: &str = r#"{"id":"resp_1","object":"response","created_at":1,"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"model":"gpt-4o-mini","output":[],"usage":{"input_tokens":3,"output_tokens":8,"total_tokens":11}}"#;

/// An OpenAI chat completion cut at its token limit.
const LENGTH: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hel"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
const OK: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
const CHUNK: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hel\"},\"finish_reason\":null}]}\n\n";
const TOOL_CALLS: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
/// An Anthropic Messages answer that hit `max_tokens`.
const MAX_TOKENS: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":7}}"#;
const ANTHROPIC_EVENTS: [&str; 6] = [
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
];

fn failing() -> Reply {
    json(
        500,
        r#"{"error":{"message":"internal error","type":"server_error"}}"#,
    )
}

async fn start(yaml: &str) -> Gateway {
    let config = Config::parse(yaml, "observability.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = gateway_example::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    Gateway::start(config, listener).await.unwrap()
}

/// Sends one request to `addr` and reads its whole answer: status and body.
async fn send(addr: &str, method: &str, path: &str, body: &'static str) -> (u16, String) {
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("answered in time")
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The value of the sample of `/metrics` text named `name` with exactly `labels`.
fn sample(text: &str, name: &str, labels: &str) -> Option<u64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_counts_against_its_deployment_retries_and_fallbacks_included() {
    let a = Upstream::start(vec![]).await;
    a.always(failing());
    let b = Upstream::start(vec![]).await;
    b.always(json(200, OK));
    let gateway = start(&format!(
        "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/model-a, api_base: \"{}\", api_key: sk-p, max_retries: 1, timeout: 5}}\n  - model_name: backup\n    litellm_params: {{model: openai/model-b, api_base: \"{}\", api_key: sk-p, max_retries: 0, timeout: 5}}\nrouter_settings:\n  retry_after: 0\n  allowed_fails: 100\n  fallbacks: [{{gpt: [backup]}}]\n",
        a.base(),
        b.base()
    ))
    .await;
    let addr = gateway.addr().to_string();
    let (status, body) = send(&addr, "POST", "/v1/chat/completions", CHAT).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (a.count(), b.count()),
        (2, 1),
        "an attempt, a retry, a fallback"
    );
    let (_, text) = send(&addr, "GET", "/metrics", "").await;
    let attempts = |model: &str, deployment: &str, result: &str| {
        sample(
            &text,
            "gateway_deployment_requests_total",
            &format!(r#"model="{model}",deployment="{deployment}",result="{result}""#),
        )
    };
    assert_eq!(
        attempts("gpt", "openai/model-a", "failure"),
        Some(2),
        "{text}"
    );
    assert_eq!(attempts("gpt", "openai/model-a", "success"), Some(0));
    assert_eq!(attempts("backup", "openai/model-b", "success"), Some(1));
    assert_eq!(attempts("backup", "openai/model-b", "failure"), Some(0));
    // The request is counted once, under the deployment that answered.
    assert_eq!(
        sample(
            &text,
            "gateway_requests_total",
            r#"route="/v1/chat/completions",model="backup",deployment="openai/model-b",status="200",outcome="completed""#
        ),
        Some(1),
        "{text}"
    );
    gateway.shutdown().await;
}

/// Waits (bounded) until `receiver` has seen `n` requests.
async fn wait_for(receiver: &Upstream, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.count() < n {
        assert!(
            Instant::now() < deadline,
            "the receiver saw {}",
            receiver.count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_event_carries_the_deployment_and_the_finish_reasons_the_client_got() {
    let openai = Upstream::start(vec![
        json(200, LENGTH),
        sse(&[CHUNK, TOOL_CALLS], End::Close),
        json(200, INCOMPLETE),
    ])
    .await;
    let anthropic = Upstream::start(vec![
        json(200, MAX_TOKENS),
        json(200, MAX_TOKENS),
        sse(&ANTHROPIC_EVENTS, End::Close),
        json(200, MAX_TOKENS),
        sse(&ANTHROPIC_EVENTS, End::Close),
    ])
    .await;
    let hook = Upstream::start(vec![]).await;
    hook.always(json(200, "{}"));
    let gateway = start(&format!(
        "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{}\", api_key: sk-p, max_retries: 0}}\n  - model_name: claude\n    litellm_params: {{model: anthropic/claude-x, api_base: \"{}\", api_key: sk-a, max_retries: 0}}\nlitellm_settings: {{callbacks: [webhook]}}\ncallbacks: {{webhook_url: \"{}/hook\", batch_size: 8, flush_interval_s: 60}}\n",
        openai.base(),
        anthropic.base(),
        hook.base()
    ))
    .await;
    let addr = gateway.addr().to_string();
    // One at a time, so the events come in this order.
    let requests = [
        ("/v1/chat/completions", CHAT),
        ("/v1/chat/completions", CHAT_STREAM),
        ("/v1/messages", MESSAGES),
        ("/v1/chat/completions", CHAT_CLAUDE),
        ("/v1/chat/completions", CHAT_CLAUDE_STREAM),
        ("/v1/responses", RESPONSES),
        ("/v1/responses", RESPONSES_CLAUDE),
        ("/v1/responses", RESPONSES_CLAUDE_STREAM),
    ];
    for (path, body) in requests {
        let (status, answer) = send(&addr, "POST", path, body).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    wait_for(&hook, 1).await;
    let events = hook.seen(0).json();
    let events = events.as_array().unwrap();
    let got: Vec<(String, String)> = events
        .iter()
        .map(|e| (e["deployment"].to_string(), e["finish_reasons"].to_string()))
        .collect();
    let want = [
        // OpenAI passed through, plain and streamed: as the upstream said.
        (r#""openai/gpt-4o-mini""#, r#"["length"]"#),
        (r#""openai/gpt-4o-mini""#, r#"["tool_calls"]"#),
        // Anthropic passed through to an Anthropic client: Anthropic's word.
        (r#""anthropic/claude-x""#, r#"["max_tokens"]"#),
        // Anthropic behind the OpenAI route: the OpenAI value the client got.
        (r#""anthropic/claude-x""#, r#"["length"]"#),
        (r#""anthropic/claude-x""#, r#"["tool_calls"]"#),
        // The Responses API: why it is incomplete, else its status; forwarded or
        // translated, plain or streamed.
        (r#""openai/gpt-4o-mini""#, r#"["max_output_tokens"]"#),
        (r#""anthropic/claude-x""#, r#"["max_output_tokens"]"#),
        (r#""anthropic/claude-x""#, r#"["completed"]"#),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(d, f)| (d.to_string(), f.to_string()))
        .collect();
    assert_eq!(got, want, "{events:?}");
    gateway.shutdown().await;
}

/// The next line of a child's stderr, within a bound.
async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>) -> String {
    tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a log line in time")
        .unwrap()
        .expect("the gateway still logging")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_line_names_the_deployment_and_the_finish_reason() {
    let upstream = Upstream::start(vec![json(200, LENGTH)]).await;
    let config = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("log-line.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{}\", api_key: sk-p, max_retries: 0}}\n",
            upstream.base()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = next_line(&mut lines).await;
        if let Some((_, rest)) = line.split_once("gateway listening on http://") {
            break rest.split(['"', ' ']).next().unwrap().to_string();
        }
    };
    let (status, body) = send(&addr, "POST", "/v1/chat/completions", CHAT).await;
    assert_eq!(status, 200, "{body}");
    let request = loop {
        let line = next_line(&mut lines).await;
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        if value["fields"]["message"] == "request" {
            break value["fields"].clone();
        }
    };
    assert_eq!(request["deployment"], "openai/gpt-4o-mini", "{request}");
    assert_eq!(request["finish_reason"], "length", "{request}");
    assert_eq!(request["model"], "gpt", "{request}");
    child.kill().await.unwrap();
}
