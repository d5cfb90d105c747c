//! The callbacks `litellm_settings` names, against real receivers on loopback: an
//! OTLP/HTTP collector (its bodies decoded with `opentelemetry-proto`), Langfuse's
//! OTLP endpoint, a webhook that counts its batches, and a webhook that never answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test setup: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};
use prost::Message;
use support::{json, sse, End, Reply, Upstream};

const CHAT: &str = r#"{"model":"gpt","messages":[{"role":"user","content":"a secret prompt"}]}"#;
const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"a secret answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

const STREAM: &str =
    r#"{"model":"gpt","stream":true,"messages":[{"role":"user","content":"a secret prompt"}]}"#;
const CHUNK: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hel\"},\"finish_reason\":null}]}\n\n";
const LAST: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n";

/// A gateway in front of `upstream` with `extra` YAML appended, reading `env` as its
/// environment.
async fn gateway(upstream: &Upstream, extra: &str, env: &[(&str, String)]) -> Gateway {
    let yaml = format!(
        "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{}\", api_key: sk-test, max_retries: 0}}\n{extra}",
        upstream.base()
    );
    let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    let config =
        Config::parse_with_env(&yaml, "callbacks.yaml", &lookup).unwrap_or_else(|e| panic!("{e}"));
    let listener = gateway_example::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    Gateway::start(config, listener).await.unwrap()
}

/// Sends one request and reads its whole answer; returns the status.
async fn send(
    client: &pool_layer::Client<Full<Bytes>>,
    gateway: &Gateway,
    method: &str,
    path: &str,
    body: &'static str,
) -> (u16, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", gateway.addr()))
        .header("content-type", "application/json")
        .header("x-request-id", "req-1")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Waits (bounded) until `receiver` has seen `n` requests.
async fn wait_for(receiver: &Upstream, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.count() < n {
        assert!(
            Instant::now() < deadline,
            "the receiver saw {} of {n} requests",
            receiver.count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every span of the receiver's requests.
fn spans(receiver: &Upstream) -> Vec<Span> {
    (0..receiver.count())
        .flat_map(|i| {
            let request = ExportTraceServiceRequest::decode(receiver.seen(i).body).unwrap();
            request
                .resource_spans
                .into_iter()
                .flat_map(|r| r.scope_spans)
                .flat_map(|s| s.spans)
        })
        .collect()
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text<'a>(span: &'a Span, key: &str) -> &'a str {
    match attr(&span.attributes, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{key}: {other:?}"),
    }
}

fn strings<'a>(span: &'a Span, key: &str) -> Vec<&'a str> {
    match attr(&span.attributes, key) {
        Some(Value::ArrayValue(array)) => array
            .values
            .iter()
            .map(|v| match &v.value {
                Some(Value::StringValue(s)) => s.as_str(),
                other => panic!("{key}: {other:?}"),
            })
            .collect(),
        other => panic!("{key}: {other:?}"),
    }
}

/// The value of the `/metrics` sample `series` (name and labels), once it is at least
/// `min` (waits, bounded).
async fn metric_at_least(
    client: &pool_layer::Client<Full<Bytes>>,
    gateway: &Gateway,
    series: &str,
    min: u64,
) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, metrics) = send(client, gateway, "GET", "/metrics", "").await;
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|n| n.trim().parse().ok());
        match value {
            Some(n) if n >= min => return n,
            _ => assert!(
                Instant::now() < deadline,
                "{series} below {min} in:\n{metrics}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn int(span: &Span, key: &str) -> i64 {
    match attr(&span.attributes, key) {
        Some(Value::IntValue(n)) => *n,
        other => panic!("{key}: {other:?}"),
    }
}

#[tokio::test]
async fn an_otlp_collector_gets_one_span_per_request_with_the_genai_attributes() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, ANSWER));
    let collector = Upstream::start(vec![]).await;
    collector.always(json(200, "{}"));
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.base()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20t0k".to_string(),
        ),
    ];
    let extra = "litellm_settings: {callbacks: [otel]}\ncallbacks: {flush_interval_s: 0.05}\n";
    let gateway = gateway(&upstream, extra, &env).await;
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    for _ in 0..3 {
        assert_eq!(
            send(&client, &gateway, "POST", "/v1/chat/completions", CHAT)
                .await
                .0,
            200
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while spans(&collector).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "spans: {}",
            spans(&collector).len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = collector.seen(0);
    assert_eq!(seen.path_and_query, "/v1/traces");
    assert_eq!(seen.headers["content-type"], "application/x-protobuf");
    assert_eq!(seen.headers["authorization"], "Bearer t0k");
    let request = ExportTraceServiceRequest::decode(seen.body).unwrap();
    let resource = request.resource_spans[0].resource.clone().unwrap();
    assert!(
        matches!(attr(&resource.attributes, "service.name"), Some(Value::StringValue(s)) if s == "llm-gateway")
    );

    let spans = spans(&collector);
    assert_eq!(spans.len(), 3, "one span per request");
    for span in &spans {
        assert_eq!(span.name, "chat gpt");
        assert_eq!(text(span, "gen_ai.operation.name"), "chat");
        assert_eq!(text(span, "gen_ai.provider.name"), "openai");
        assert_eq!(text(span, "gen_ai.system"), "openai");
        assert_eq!(text(span, "gen_ai.request.model"), "gpt");
        assert_eq!(text(span, "gen_ai.response.model"), "gpt-4o-mini");
        assert_eq!(int(span, "gen_ai.usage.input_tokens"), 3);
        assert_eq!(int(span, "gen_ai.usage.output_tokens"), 1);
        assert_eq!(strings(span, "gen_ai.response.finish_reasons"), ["stop"]);
        assert_eq!(int(span, "http.response.status_code"), 200);
        assert!(
            matches!(attr(&span.attributes, "gen_ai.client.operation.duration"), Some(Value::DoubleValue(s)) if *s > 0.0)
        );
        assert!(matches!(
            attr(&span.attributes, "gen_ai.server.time_to_first_token"),
            Some(Value::DoubleValue(_))
        ));
        assert!(
            span.end_time_unix_nano > span.start_time_unix_nano && span.start_time_unix_nano > 0
        );
        assert_eq!((span.trace_id.len(), span.span_id.len()), (16, 8));
    }
    assert_ne!(
        spans[0].trace_id, spans[1].trace_id,
        "each request is its own trace"
    );
    let bodies: Vec<u8> = (0..collector.count())
        .flat_map(|i| collector.seen(i).body.to_vec())
        .collect();
    assert!(
        !String::from_utf8_lossy(&bodies).contains("secret"),
        "no prompt or completion text leaves"
    );
    let exported = r#"gateway_callback_exported_events_total{callback="otel"}"#;
    assert_eq!(metric_at_least(&client, &gateway, exported, 3).await, 3);
    let failures = r#"gateway_callback_export_failures_total{callback="otel"}"#;
    assert_eq!(metric_at_least(&client, &gateway, failures, 0).await, 0);
    gateway.shutdown().await;
}

#[tokio::test]
async fn langfuse_gets_the_spans_at_its_otlp_path_with_basic_auth() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, ANSWER));
    let langfuse = Upstream::start(vec![]).await;
    langfuse.always(json(200, "{}"));
    let env = [
        ("LANGFUSE_HOST", langfuse.base()),
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1".to_string()),
        ("LANGFUSE_SECRET_KEY", "sk-lf-2".to_string()),
    ];
    let extra =
        "litellm_settings: {success_callback: [langfuse]}\ncallbacks: {flush_interval_s: 0.05}\n";
    let gateway = gateway(&upstream, extra, &env).await;
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    send(&client, &gateway, "POST", "/v1/chat/completions", CHAT).await;
    wait_for(&langfuse, 1).await;
    let seen = langfuse.seen(0);
    assert_eq!(seen.path_and_query, "/api/public/otel/v1/traces");
    let token = base64::engine::general_purpose::STANDARD.encode("pk-lf-1:sk-lf-2");
    assert_eq!(
        seen.headers["authorization"],
        format!("Basic {token}").as_str()
    );
    let spans = spans(&langfuse);
    assert_eq!(spans.len(), 1);
    assert_eq!(text(&spans[0], "gen_ai.request.model"), "gpt");
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_webhook_gets_the_successes_in_one_batch() {
    let upstream = Upstream::start(vec![
        json(200, ANSWER),
        json(200, ANSWER),
        json(500, r#"{"error":{"message":"boom","type":"server_error"}}"#),
        json(200, ANSWER),
    ])
    .await;
    let hook = Upstream::start(vec![]).await;
    hook.always(json(200, "{}"));
    let extra = format!(
        "litellm_settings: {{success_callback: [webhook]}}\ncallbacks: {{webhook_url: \"{}/hook\", webhook_headers: {{x-token: abc}}, batch_size: 3, flush_interval_s: 60}}\n",
        hook.base()
    );
    let gateway = gateway(&upstream, &extra, &[]).await;
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    for _ in 0..4 {
        send(&client, &gateway, "POST", "/v1/chat/completions", CHAT).await;
    }
    // A full batch goes at once, long before the minute of the flush interval.
    wait_for(&hook, 1).await;
    let seen = hook.seen(0);
    assert_eq!(seen.path_and_query, "/hook");
    assert_eq!(seen.headers["x-token"], "abc");
    assert_eq!(seen.headers["content-type"], "application/json");
    let events = seen.json();
    let events = events.as_array().unwrap();
    assert_eq!(
        events.len(),
        3,
        "the three successes in one POST, the failure left out"
    );
    for event in events {
        assert_eq!(event["route"], "/v1/chat/completions");
        assert_eq!(event["model"], "gpt");
        assert_eq!(event["provider"], "openai");
        assert_eq!(event["response_model"], "gpt-4o-mini");
        assert_eq!(event["status"], 200);
        assert_eq!(event["success"], true);
        assert_eq!(event["request_id"], "req-1");
        assert_eq!(event["usage"]["prompt_tokens"], 3);
    }
    assert!(!String::from_utf8_lossy(&seen.body).contains("secret"));
    assert_eq!(hook.count(), 1);
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_stalled_webhook_never_slows_a_request_and_its_drops_are_counted() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, ANSWER));
    let hook = Upstream::start(vec![]).await;
    hook.always(Reply::Delayed(
        Duration::from_secs(3600),
        Box::new(json(200, "{}")),
    ));
    let extra = format!(
        "limits: {{callback_queue: 2}}\nlitellm_settings: {{callbacks: [webhook]}}\ncallbacks: {{webhook_url: \"{}/hook\", batch_size: 1, flush_interval_s: 0.01, timeout_s: 600}}\n",
        hook.base()
    );
    let gateway = gateway(&upstream, &extra, &[]).await;
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let started = Instant::now();
        assert_eq!(
            send(&client, &gateway, "POST", "/v1/chat/completions", CHAT)
                .await
                .0,
            200
        );
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(2),
        "slowest request: {slowest:?}"
    );
    let registry = gateway.state().registry().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry.metrics().dropped_slow == 0 {
        assert!(Instant::now() < deadline, "{:?}", registry.metrics());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, metrics) = send(&client, &gateway, "GET", "/metrics", "").await;
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gateway_callback_events_dropped_slow_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no drop counter in:\n{metrics}"));
    assert!(dropped > 0);
    assert_eq!(
        hook.count(),
        1,
        "one POST, stalled; nothing piles up behind it"
    );
    gateway.shutdown().await;
}

#[test]
fn unknown_callback_names_are_ignored_with_a_warning() {
    let yaml = "model_list:\n  - model_name: gpt\n    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-test}\nlitellm_settings: {success_callback: [datadog], callbacks: [otel]}\n";
    let config =
        Config::parse_with_env(yaml, "c.yaml", &|_: &str| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.ignored_lines(),
        ["litellm_settings: success_callback"]
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("`datadog` is not supported")),
        "{:?}",
        config.warnings
    );
    assert_eq!(config.callbacks.sinks.len(), 1);
    assert_eq!(
        config.callbacks.sinks[0].url,
        gateway_example::config::DEFAULT_OTLP_TRACES_ENDPOINT
    );
}

#[test]
fn a_webhook_without_a_url_is_an_error_that_says_so() {
    let yaml = "model_list:\n  - model_name: gpt\n    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-test}\nlitellm_settings: {failure_callback: [webhook]}\n";
    let err = Config::parse_with_env(yaml, "c.yaml", &|_: &str| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("callbacks.webhook_url"), "{err}");
}

#[test]
fn a_sink_named_for_successes_and_failures_sees_every_request() {
    let yaml = "model_list:\n  - model_name: gpt\n    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-test}\nlitellm_settings: {success_callback: [webhook], failure_callback: [webhook]}\ncallbacks: {webhook_url: \"http://127.0.0.1:9/hook\"}\n";
    let config =
        Config::parse_with_env(yaml, "c.yaml", &|_: &str| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.callbacks.sinks.len(), 1);
    assert_eq!(
        config.callbacks.sinks[0].only,
        gateway_example::config::Only::All
    );
    assert!(config.ignored_lines().is_empty());
}

#[tokio::test]
async fn a_stalled_otlp_collector_never_slows_a_request_and_its_drops_are_counted() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, ANSWER));
    let collector = Upstream::start(vec![]).await;
    collector.always(Reply::Delayed(
        Duration::from_secs(3600),
        Box::new(json(200, "{}")),
    ));
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.base())];
    let extra = "limits: {callback_queue: 2}\nlitellm_settings: {callbacks: [otel]}\ncallbacks: {batch_size: 1, flush_interval_s: 0.01, timeout_s: 600}\n";
    let gateway = gateway(&upstream, extra, &env).await;
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let started = Instant::now();
        assert_eq!(
            send(&client, &gateway, "POST", "/v1/chat/completions", CHAT)
                .await
                .0,
            200
        );
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(2),
        "slowest request: {slowest:?}"
    );
    let registry = gateway.state().registry().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry.metrics().dropped_slow == 0 {
        assert!(Instant::now() < deadline, "{:?}", registry.metrics());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, metrics) = send(&client, &gateway, "GET", "/metrics", "").await;
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gateway_callback_events_dropped_slow_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no drop counter in:\n{metrics}"));
    assert!(dropped > 0);
    wait_for(&collector, 1).await;
    assert_eq!(
        collector.count(),
        1,
        "one export, stalled; nothing piles up behind it"
    );
    assert_eq!(collector.seen(0).path_and_query, "/v1/traces");
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_stream_gets_its_span_with_finish_reasons_and_a_cut_stream_an_error_span() {
    let upstream = Upstream::start(vec![
        sse(&[CHUNK, LAST], End::Close),
        sse(&[CHUNK], End::Abort),
    ])
    .await;
    let collector = Upstream::start(vec![]).await;
    collector.always(json(200, "{}"));
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.base())];
    let extra = "litellm_settings: {callbacks: [otel]}\ncallbacks: {flush_interval_s: 0.05}\n";
    let gateway = gateway(&upstream, extra, &env).await;
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    for _ in 0..2 {
        let (status, _) = send(&client, &gateway, "POST", "/v1/chat/completions", STREAM).await;
        assert_eq!(status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while spans(&collector).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "spans: {}",
            spans(&collector).len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let spans = spans(&collector);
    let outcome = |span: &Span| text(span, "gateway.outcome").to_string();
    let whole = spans.iter().find(|s| outcome(s) == "completed").unwrap();
    assert_eq!(strings(whole, "gen_ai.response.finish_reasons"), ["length"]);
    assert_eq!(int(whole, "gen_ai.usage.input_tokens"), 5);
    assert_eq!(int(whole, "gen_ai.usage.output_tokens"), 2);
    assert!(matches!(
        attr(&whole.attributes, "gen_ai.server.time_to_first_token"),
        Some(Value::DoubleValue(s)) if *s > 0.0
    ));
    let status = whole.status.clone().unwrap_or_default();
    assert_eq!(status.code, StatusCode::Unset as i32, "{status:?}");

    let cut = spans.iter().find(|s| outcome(s) == "truncated").unwrap();
    let status = cut.status.clone().unwrap_or_default();
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Error as i32, "truncated")
    );
    assert!(attr(&cut.attributes, "gen_ai.response.finish_reasons").is_none());
    gateway.shutdown().await;
}
