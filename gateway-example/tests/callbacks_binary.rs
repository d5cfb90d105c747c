//! The OTLP callbacks in the real `gateway` binary, with the process environment the
//! OpenTelemetry exporter also reads: a collector that is not there is logged and
//! costs nothing, and Langfuse never gets the collector's credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test setup: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use support::{json, Upstream};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");
const CHAT: &str = r#"{"model":"gpt","messages":[{"role":"user","content":"hi"}]}"#;
const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

/// Every variable the config or the OTLP exporter reads, so the test's own
/// environment cannot change what it sees.
const OTEL_VARS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "LANGFUSE_HOST",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
];

/// The gateway's stderr so far, filled by a task while it runs.
type Logs = Arc<Mutex<String>>;

/// Starts the binary in front of `upstream` with `extra` YAML and `env`; returns it,
/// its address and its log.
async fn spawn(
    name: &str,
    upstream: &Upstream,
    extra: &str,
    env: &[(&str, String)],
) -> (Child, String, Logs) {
    let yaml = format!(
        "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{}\", api_key: sk-test, max_retries: 0}}\n{extra}",
        upstream.base()
    );
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, yaml).unwrap();
    let mut command = Command::new(GATEWAY);
    command
        .arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in OTEL_VARS {
        command.env_remove(var);
    }
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let logs = Logs::default();
    let writer = logs.clone();
    // Read on for the whole run, so the gateway never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut logs = writer.lock().unwrap();
            logs.push_str(&line);
            logs.push('\n');
        }
    });
    let addr = eventually(&logs, listening_addr).await;
    (child, addr, logs)
}

/// The address in the gateway's startup line.
fn listening_addr(text: &str) -> Option<String> {
    const MARK: &str = "gateway listening on http://";
    let rest = &text[text.find(MARK)? + MARK.len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"')
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Waits (at most 10 s) until `found` finds something in the logs.
async fn eventually<T>(logs: &Logs, found: impl Fn(&str) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = found(&logs.lock().unwrap()) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "not in the logs:\n{}",
            logs.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn chat(client: &pool_layer::Client<Full<Bytes>>, addr: &str) -> u16 {
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(CHAT)))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let status = res.status().as_u16();
    res.into_body().collect().await.unwrap();
    status
}

/// The value of the `/metrics` sample `series` (name and labels).
async fn metric(client: &pool_layer::Client<Full<Bytes>>, addr: &str, series: &str) -> u64 {
    let req = http::Request::builder()
        .uri(format!("http://{addr}/metrics"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let text = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

/// A loopback port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_exporter_pointed_at_a_closed_port_is_logged_and_the_gateway_keeps_serving() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, ANSWER));
    let port = closed_port();
    let env = [(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://127.0.0.1:{port}"),
    )];
    let extra = "litellm_settings: {callbacks: [otel]}\ncallbacks: {flush_interval_s: 0.01, timeout_s: 2}\n";
    let (mut child, addr, logs) = spawn("otel-closed.yaml", &upstream, extra, &env).await;
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    assert_eq!(chat(&client, &addr).await, 200);
    let line = eventually(&logs, |text| {
        text.lines()
            .find(|l| l.contains("callback export failed"))
            .map(str::to_string)
    })
    .await;
    assert!(line.contains("WARN") && line.contains("otel"), "{line}");
    assert!(
        line.contains(&format!("127.0.0.1:{port}/v1/traces")),
        "{line}"
    );
    // The failure cost the requests nothing: they go on, and so do the exports.
    for _ in 0..5 {
        assert_eq!(chat(&client, &addr).await, 200);
    }
    eventually(&logs, |text| {
        (text.matches("callback export failed").count() >= 2).then_some(())
    })
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the gateway is still up"
    );
    assert_eq!(upstream.count(), 6);
    let failures = r#"gateway_callback_export_failures_total{callback="otel"}"#;
    assert!(metric(&client, &addr, failures).await >= 2);
    let exported = r#"gateway_callback_exported_events_total{callback="otel"}"#;
    assert_eq!(metric(&client, &addr, exported).await, 0);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn langfuse_gets_its_basic_auth_and_never_the_collectors_otlp_headers() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, ANSWER));
    let langfuse = Upstream::start(vec![]).await;
    langfuse.always(json(200, "{}"));
    let env = [
        ("LANGFUSE_HOST", langfuse.base()),
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1".to_string()),
        ("LANGFUSE_SECRET_KEY", "sk-lf-2".to_string()),
        // Meant for an OTLP collector; the exporter reads it for every exporter.
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-collector-key=collector-secret".to_string(),
        ),
    ];
    let extra = "litellm_settings: {callbacks: [langfuse]}\ncallbacks: {flush_interval_s: 0.01}\n";
    let (mut child, addr, _logs) = spawn("langfuse-env.yaml", &upstream, extra, &env).await;
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    assert_eq!(chat(&client, &addr).await, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while langfuse.count() == 0 {
        assert!(Instant::now() < deadline, "langfuse got nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = langfuse.seen(0);
    assert_eq!(seen.path_and_query, "/api/public/otel/v1/traces");
    let token = base64::engine::general_purpose::STANDARD.encode("pk-lf-1:sk-lf-2");
    assert_eq!(
        seen.headers["authorization"],
        format!("Basic {token}").as_str()
    );
    assert_eq!(seen.headers["content-type"], "application/x-protobuf");
    assert!(
        seen.headers.get("x-collector-key").is_none(),
        "{:?}",
        seen.headers
    );
    child.kill().await.unwrap();
}
