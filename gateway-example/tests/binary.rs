//! The real `gateway` binary: config errors exit 2 naming file and key, `--check-config`,
//! `--version`, SIGTERM and SIGHUP draining in-flight requests, SIGUSR1/2 ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test setup: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use support::{json, Reply, Upstream};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_bad_config_exits_2_naming_the_file_and_key() {
    let path = write_config("typo.yaml", "limits: {max_queue: 10}\nmodel_list: []\n");
    let out = Command::new(GATEWAY)
        .arg("--config")
        .arg(&path)
        .arg("--check-config")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("typo.yaml")
            && stderr.contains("limits.max_queue")
            && stderr.contains("unknown field"),
        "{stderr}"
    );

    let path = write_config("env.yaml", "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, api_key: os.environ/GATEWAY_BINARY_TEST_UNSET}\n");
    let out = Command::new(GATEWAY)
        .arg("--config")
        .arg(&path)
        .env_remove("GATEWAY_BINARY_TEST_UNSET")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("environment variable `GATEWAY_BINARY_TEST_UNSET` is not set"));

    let out = Command::new(GATEWAY)
        .args(["--config", "/nonexistent/gateway.yaml"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn check_config_accepts_the_demo_and_help_documents_the_flags() {
    let out = Command::new(GATEWAY)
        .arg("--check-config")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 3 deployments of 3 models"));
    let help = Command::new(GATEWAY).arg("--help").output().await.unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--config", "--listen", "--check-config", "--log-format"] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[tokio::test]
async fn version_prints_the_crate_version_and_the_git_commit() {
    let out = Command::new(GATEWAY)
        .arg("--version")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let commit = env!("GATEWAY_GIT_COMMIT"); // what build.rs found
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("gateway {} (commit {commit})\n", env!("CARGO_PKG_VERSION"))
    );
    // build.rs asked git for this checkout's commit (unless told one at build time).
    if std::env::var_os("GATEWAY_GIT_COMMIT").is_none() {
        let git = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output();
        match git {
            Ok(git) if git.status.success() => {
                assert_eq!(commit, String::from_utf8_lossy(&git.stdout).trim());
                assert!(commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            _ => assert_eq!(commit, "unknown"),
        }
    }
}

/// Starts the binary on an ephemeral port; returns it and its address.
async fn spawn(config: &std::path::Path) -> (Child, String) {
    let (child, addr, _logs) = spawn_logging(config, None).await;
    (child, addr)
}

/// The address in the startup line of the gateway's log (on stderr, text or JSON).
fn listening_addr(line: &str) -> Option<String> {
    let at = line.find("gateway listening on http://")?;
    let rest = &line[at + "gateway listening on http://".len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"')
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Like [`spawn`]; with `Some(level)`, logs at that level (`RUST_LOG`). Returns the
/// child, its address, and a task collecting all of its stderr until it exits.
async fn spawn_logging(
    config: &std::path::Path,
    level: Option<&str>,
) -> (Child, String, tokio::task::JoinHandle<String>) {
    let mut command = Command::new(GATEWAY);
    command
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(level) = level {
        command.env("RUST_LOG", level);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let addr = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the listening line");
            seen.push_str(&line);
            seen.push('\n');
            if let Some(addr) = listening_addr(&line) {
                return addr;
            }
        }
    })
    .await
    .unwrap();
    // Read on, so the gateway never blocks on a full pipe.
    let logs = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    (child, addr, logs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_and_drains_in_flight_requests() {
    stops_accepting_and_drains_on("-TERM", "drain.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_stops_accepting_and_drains_like_sigterm() {
    stops_accepting_and_drains_on("-HUP", "drain-hup.yaml").await;
}

/// Sends `signal` to the gateway (with `kill`) while a request is in flight.
async fn signal(child: &Child, signal: &str) {
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill")
        .args([signal, &pid])
        .status()
        .await
        .unwrap()
        .success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_and_sigusr2_are_ignored() {
    let config = write_config(
        "usr.yaml",
        "model_list:\n  - model_name: m\n    litellm_params: {model: mock/m}\n",
    );
    let (mut child, addr) = spawn(&config).await;
    signal(&child, "-USR1").await;
    signal(&child, "-USR2").await;
    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder().build();
    let req = http::Request::get(format!("http://{addr}/health/liveliness"))
        .body(Full::default())
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(5), client.request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), 200, "still serving");
    assert!(child.try_wait().unwrap().is_none(), "still running");
    signal(&child, "-TERM").await;
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success());
}

async fn stops_accepting_and_drains_on(signal_name: &str, config_name: &str) {
    let upstream = Upstream::start(vec![Reply::Delayed(
        Duration::from_millis(800),
        Box::new(json(200, r#"{"id":"slow","choices":[]}"#)),
    )])
    .await;
    let config = write_config(
        config_name,
        &format!("model_list:\n  - model_name: m\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\"}}\n", upstream.base()),
    );
    let (mut child, addr) = spawn(&config).await;

    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder().build();
    let req = http::Request::post(format!("http://{addr}/v1/chat/completions"))
        .body(Full::new(Bytes::from(r#"{"model":"m","messages":[]}"#)))
        .unwrap();
    let in_flight = tokio::spawn(async move {
        let res = client.request(req).await.unwrap();
        (
            res.status(),
            res.into_body().collect().await.unwrap().to_bytes(),
        )
    });
    // Let the request reach the upstream, then ask the gateway to stop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while upstream.count() == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    signal(&child, signal_name).await;

    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "the in-flight request finished");
    assert!(String::from_utf8_lossy(&body).contains("slow"));
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit after draining: {exit:?}");
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let config = write_config("slowloris.yaml", "server: {header_read_timeout_s: 0.5}\nmodel_list:\n  - model_name: m\n    litellm_params: {model: mock/m}\n");
    let (_child, addr) = spawn(&config).await;
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the gateway closed the half-sent request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_never_appear_in_logs_even_at_trace_level() {
    let provider_key = "sk-provider-SECRET-7f3a9c";
    let master_key = "sk-master-SECRET-51be02";
    let upstream = Upstream::start(vec![
        json(200, r#"{"id":"ok","choices":[]}"#),
        json(
            401,
            &format!(r#"{{"error":{{"message":"Incorrect API key provided: {provider_key}"}}}}"#),
        ),
    ])
    .await;
    let config = write_config(
        "secrets.yaml",
        &format!(
            "server: {{master_key: {master_key}}}\nmodel_list:\n  - model_name: m\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\", api_key: {provider_key}, max_retries: 0}}\n",
            upstream.base()
        ),
    );
    let (mut child, addr, logs) = spawn_logging(&config, Some("trace")).await;

    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder().build();
    for (key, expect) in [(master_key, 200), (master_key, 401), ("sk-wrong", 401)] {
        let req = http::Request::post(format!("http://{addr}/v1/chat/completions"))
            .header("authorization", format!("Bearer {key}"))
            .body(Full::new(Bytes::from(r#"{"model":"m","messages":[]}"#)))
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.status(), expect);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(
            !String::from_utf8_lossy(&body).contains(provider_key),
            "the provider key leaked into an error body"
        );
    }
    let metrics = client.request(
        http::Request::get(format!("http://{addr}/metrics"))
            .body(Full::default())
            .unwrap(),
    );
    let metrics = tokio::time::timeout(Duration::from_secs(10), metrics)
        .await
        .expect("/metrics answers in time")
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.into_body().collect().await.unwrap().to_bytes())
        .into_owned();
    assert!(metrics.contains("gateway_pool_open_connections"));
    assert!(
        !metrics.contains(provider_key) && !metrics.contains(master_key),
        "a key is in /metrics"
    );
    let pid = child.id().unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    child.wait().await.unwrap();
    let logs = logs.await.unwrap();
    assert!(
        logs.len() > 1000,
        "trace logging was on ({} bytes)",
        logs.len()
    );
    assert!(
        !logs.contains(provider_key),
        "the provider key is in the logs"
    );
    assert!(!logs.contains(master_key), "the master key is in the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_drain_at_once() {
    let upstream = Upstream::start(vec![Reply::Delayed(
        Duration::from_secs(20),
        Box::new(json(200, r#"{"id":"slow","choices":[]}"#)),
    )])
    .await;
    let config = write_config(
        "second-signal.yaml",
        &format!("server: {{shutdown_timeout_s: 60}}\nmodel_list:\n  - model_name: m\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\"}}\n", upstream.base()),
    );
    let (mut child, addr) = spawn(&config).await;
    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder().build();
    let req = http::Request::post(format!("http://{addr}/v1/chat/completions"))
        .body(Full::new(Bytes::from(r#"{"model":"m","messages":[]}"#)))
        .unwrap();
    let _in_flight = tokio::spawn(async move { client.request(req).await.map(|r| r.status()) });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while upstream.count() == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    signal(&child, "-TERM").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "draining the slow request"
    );
    signal(&child, "-INT").await;
    let exit = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("the second signal ends the process at once")
        .unwrap();
    assert_eq!(exit.code(), Some(1));
}
