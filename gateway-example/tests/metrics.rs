//! `/metrics` as an operator's tools read it: `promtool check metrics` over the text
//! after plain, streamed, failed and cut requests, and the Grafana dashboard's queries
//! against the metrics the gateway serves. promtool comes from Debian's `prometheus`
//! package, installed by `.ci/install-test-deps.sh` when it is missing: never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test setup: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use support::{json, sse, End, Upstream};

const CHAT: &str = r#"{"model":"gpt","messages":[{"role":"user","content":"hi"}]}"#;
const STREAM: &str = r#"{"model":"gpt","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
const CHUNK: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hel\"},\"finish_reason\":null}]}\n\n";
const LAST: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

/// A gateway in front of an upstream that answers, in turn: a plain answer, a
/// stream, a 500, and a stream cut in the middle; each request sent once. Returns the
/// `/metrics` response's content type and text.
async fn metrics_after_traffic() -> (String, String) {
    let upstream = Upstream::start(vec![
        json(200, ANSWER),
        sse(&[CHUNK, LAST], End::Close),
        json(500, r#"{"error":{"message":"boom","type":"server_error"}}"#),
        sse(&[CHUNK], End::Abort),
    ])
    .await;
    let yaml = format!(
        "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{}\", api_key: sk-test, max_retries: 0}}\n",
        upstream.base()
    );
    let config = Config::parse(&yaml, "metrics.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = gateway_example::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    let send = |method: &str, path: &str, body: &'static str| {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", gateway.addr()))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = client.request(req);
        async move {
            let res = res.await.unwrap();
            let content_type = res.headers()[http::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned();
            // A cut stream may end in an error: the bytes before it are enough.
            let body = match res.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => Bytes::new(),
            };
            (content_type, String::from_utf8_lossy(&body).into_owned())
        }
    };
    for body in [CHAT, STREAM, CHAT, STREAM] {
        send("POST", "/v1/chat/completions", body).await;
    }
    let out = send("GET", "/metrics", "").await;
    gateway.shutdown().await;
    out
}

/// promtool, installed first if missing.
fn promtool() -> Command {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if !found {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/install-test-deps.sh");
        let status = Command::new(&script)
            .status()
            .expect("run install-test-deps.sh");
        assert!(
            status.success(),
            "{} could not install promtool",
            script.display()
        );
    }
    Command::new("promtool")
}

/// The problems `promtool check metrics` reports in `text`, one per line (empty:
/// none), and whether it could parse it at all.
fn promtool_check(text: &str) -> (bool, Vec<String>) {
    let mut child = promtool()
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let problems =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // Exit 1 is a text promtool cannot parse; 3 only lint problems.
    let parsed = out.status.code() != Some(1);
    (
        parsed,
        problems
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

#[tokio::test]
async fn metrics_pass_promtool_after_plain_streamed_failed_and_cut_requests() {
    let (content_type, text) = metrics_after_traffic().await;
    assert_eq!(content_type, gateway_example::metrics::CONTENT_TYPE);
    assert_eq!(
        text.lines().last(),
        Some("# EOF"),
        "OpenMetrics ends with # EOF"
    );
    for outcome in ["completed", "truncated"] {
        assert!(
            text.contains(&format!("outcome=\"{outcome}\"")),
            "{outcome} in\n{text}"
        );
    }
    assert!(text.contains("status=\"500\""), "{text}");
    let (parsed, problems) = promtool_check(&text);
    assert!(
        parsed,
        "promtool cannot parse /metrics: {problems:?}\n{text}"
    );
    // promtool lints in the classic text format, where a counter's HELP names its
    // samples; OpenMetrics (what the content type announces) names the family, whose
    // samples end in `_total`. That is the only problem allowed, and only for
    // families declared as counters.
    for problem in &problems {
        let family = problem
            .strip_suffix("_total no help text")
            .unwrap_or_else(|| panic!("promtool: {problem}\n{text}"));
        assert!(
            text.contains(&format!("# TYPE {family} counter\n"))
                && text.contains(&format!("# HELP {family} ")),
            "promtool: {problem} (not a documented counter family)"
        );
    }
}

/// The metric names a PromQL expression uses (`gateway_…`, without the suffixes of
/// histogram samples).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("gateway_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[tokio::test]
async fn every_dashboard_query_uses_metrics_the_gateway_serves() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/gateway.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("valid JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    assert!(
        exprs.len() >= 8,
        "a dashboard of the main metrics: {exprs:?}"
    );

    let (_, text) = metrics_after_traffic().await;
    let served: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no gateway metric in {expr}");
        for name in names {
            assert!(
                served.contains(name.as_str()),
                "{name} (in {expr}) is not in /metrics"
            );
        }
    }
}

/// The `gateway_tokens_total` of `model` and `kind` in `text`, over its deployments
/// (0 if absent).
fn tokens(text: &str, model: &str, kind: &str) -> u64 {
    let start = format!("gateway_tokens_total{{model=\"{model}\",");
    let kind = format!(",kind=\"{kind}\"}} ");
    text.lines()
        .filter(|l| l.starts_with(&start))
        .filter_map(|l| l.split_once(&kind).map(|(_, v)| v))
        .map(|v| v.trim().parse::<u64>().unwrap())
        .sum()
}

/// One request (`body` to `path`) through a gateway whose model `m` is `provider`'s,
/// answered by `reply`; the `/metrics` text after it.
async fn metrics_after(
    provider: &str,
    reply: support::Reply,
    path: &str,
    body: &'static str,
) -> String {
    let upstream = Upstream::start(vec![reply]).await;
    let yaml = format!(
        "model_list:\n  - model_name: m\n    litellm_params: {{model: {provider}, api_base: \"{}\", api_key: sk-test, max_retries: 0}}\n",
        upstream.base()
    );
    let config = Config::parse(&yaml, "tokens.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = gateway_example::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    let get = |method: &str, path: &str, body: &'static str| {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", gateway.addr()))
            .header("content-type", "application/json")
            .header("anthropic-version", "2023-06-01")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = client.request(req);
        async move {
            let res = res.await.unwrap();
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let (status, answer) = get("POST", path, body).await;
    assert_eq!(status, 200, "{answer}");
    let (_, text) = get("GET", "/metrics", "").await;
    gateway.shutdown().await;
    text
}

const MESSAGES: &str =
    r#"{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES_STREAM: &str =
    r#"{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const ANTHROPIC_ANSWER: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":7,"cache_read_input_tokens":0}}"#;
const ANTHROPIC_EVENTS: [&str; 6] = [
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
];
const OPENAI_ANSWER: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#;
const OPENAI_USAGE_CHUNK: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}\n\n";
const GEMINI_ANSWER: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":7,"totalTokenCount":18}}"#;
const CHAT_M: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_M_STREAM: &str = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn token_counts_equal_the_usage_each_upstream_reported() {
    let done = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    let cases = [
        (
            "openai passed through",
            "openai/gpt-4o-mini",
            json(200, OPENAI_ANSWER),
            "/v1/chat/completions",
            CHAT_M,
        ),
        (
            "openai stream passed through",
            "openai/gpt-4o-mini",
            sse(
                &[CHUNK, done, OPENAI_USAGE_CHUNK, "data: [DONE]\n\n"],
                End::Close,
            ),
            "/v1/chat/completions",
            CHAT_M_STREAM,
        ),
        (
            "anthropic to chat",
            "anthropic/claude-x",
            json(200, ANTHROPIC_ANSWER),
            "/v1/chat/completions",
            CHAT_M,
        ),
        (
            "anthropic stream to chat",
            "anthropic/claude-x",
            sse(&ANTHROPIC_EVENTS, End::Close),
            "/v1/chat/completions",
            CHAT_M_STREAM,
        ),
        (
            "anthropic passed through",
            "anthropic/claude-x",
            json(200, ANTHROPIC_ANSWER),
            "/v1/messages",
            MESSAGES,
        ),
        (
            "anthropic stream passed through",
            "anthropic/claude-x",
            sse(&ANTHROPIC_EVENTS, End::Close),
            "/v1/messages",
            MESSAGES_STREAM,
        ),
        (
            "openai to messages",
            "openai/gpt-4o-mini",
            json(200, OPENAI_ANSWER),
            "/v1/messages",
            MESSAGES,
        ),
        (
            "gemini to chat",
            "gemini/gemini-2.0-flash",
            json(200, GEMINI_ANSWER),
            "/v1/chat/completions",
            CHAT_M,
        ),
    ];
    for (case, provider, reply, path, body) in cases {
        let text = metrics_after(provider, reply, path, body).await;
        let counts = (tokens(&text, "m", "input"), tokens(&text, "m", "output"));
        assert_eq!(
            counts,
            (11, 7),
            "{case}:\n{}",
            text.lines()
                .filter(|l| l.contains("tokens"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // Cached and reasoning tokens, where the provider reports them.
    let text = metrics_after(
        "openai/gpt-4o-mini",
        json(200, OPENAI_ANSWER),
        "/v1/chat/completions",
        CHAT_M,
    )
    .await;
    assert_eq!(
        (
            tokens(&text, "m", "cached_input"),
            tokens(&text, "m", "reasoning")
        ),
        (4, 2)
    );
}

const EMBED: &str = r#"{"model":"m","input":"hi"}"#;
const EMBEDDINGS: &str = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":11,"total_tokens":11}}"#;
const RESPONSES: &str = r#"{"model":"m","input":"hi"}"#;
const RESPONSES_STREAM: &str = r#"{"model":"m","input":"hi","stream":true}"#;
const RESPONSE: &str = r#"{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-4o-mini","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[]}]}],"usage":{"input_tokens":11,"input_tokens_details":{"cached_tokens":4},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":18}}"#;
const RESPONSE_EVENTS: [&str; 3] = [
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n",
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":11,\"input_tokens_details\":{\"cached_tokens\":4},\"output_tokens\":7,\"output_tokens_details\":{\"reasoning_tokens\":2},\"total_tokens\":18}}}\n\n",
];
const COMPLETION_REQUEST: &str = r#"{"model":"m","prompt":"hi","max_tokens":8}"#;
const COMPLETION: &str = r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[{"text":" there","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}"#;

#[tokio::test]
async fn token_counts_on_embeddings_responses_and_completions_equal_the_upstream_usage() {
    let cases = [
        (
            "embeddings",
            json(200, EMBEDDINGS),
            "/v1/embeddings",
            EMBED,
            (11, 0),
        ),
        (
            "responses",
            json(200, RESPONSE),
            "/v1/responses",
            RESPONSES,
            (11, 7),
        ),
        (
            "responses streamed",
            sse(&RESPONSE_EVENTS, End::Close),
            "/v1/responses",
            RESPONSES_STREAM,
            (11, 7),
        ),
        (
            "completions",
            json(200, COMPLETION),
            "/v1/completions",
            COMPLETION_REQUEST,
            (11, 7),
        ),
    ];
    for (case, reply, path, body, expected) in cases {
        let text = metrics_after("openai/gpt-4o-mini", reply, path, body).await;
        let counts = (tokens(&text, "m", "input"), tokens(&text, "m", "output"));
        assert_eq!(
            counts,
            expected,
            "{case}:\n{}",
            text.lines()
                .filter(|l| l.contains("tokens") || l.contains("requests_total"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        if path == "/v1/responses" {
            // The Responses API's details: cached input and reasoning tokens.
            let details = (
                tokens(&text, "m", "cached_input"),
                tokens(&text, "m", "reasoning"),
            );
            assert_eq!(details, (4, 2), "{case}");
        }
    }
}

#[tokio::test]
async fn a_responses_stream_cut_before_its_final_event_counts_as_truncated() {
    let text = metrics_after(
        "openai/gpt-4o-mini",
        sse(&RESPONSE_EVENTS[..2], End::Close),
        "/v1/responses",
        RESPONSES_STREAM,
    )
    .await;
    assert!(
        text.lines().any(
            |l| l.starts_with("gateway_requests_total{route=\"/v1/responses\"")
                && l.contains("outcome=\"truncated\"")
                && l.ends_with(" 1")
        ),
        "{text}"
    );
}
