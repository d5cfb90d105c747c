//! Fault injection through the real gateway: every upstream failure gets a precise
//! error, the process keeps serving, and every gauge (in flight, queued, open upstream
//! connections) returns to zero afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use support::{json, sse, End, Reply, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A raw TCP upstream that does `act` with each connection.
async fn raw_upstream<F, Fut>(act: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let act = std::sync::Arc::new(act);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let act = act.clone();
            tokio::spawn(async move { act(stream).await });
        }
    });
    addr
}

/// Reads a request head (enough to answer after it).
async fn read_head(stream: &mut tokio::net::TcpStream) {
    let mut buf = vec![0u8; 8192];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

struct Harness {
    gateway: Gateway,
    client: pool_layer::Client<Full<Bytes>>,
}

async fn start(models: &[(&str, String)]) -> Harness {
    let mut yaml = String::from("pool: {keepalive_s: 0.2}\nmodel_list:\n");
    for (name, base) in models {
        yaml.push_str(&format!(
            "  - model_name: {name}\n    litellm_params: {{model: openai/m, api_base: \"{base}\", api_key: sk-prov, max_retries: 0, timeout: 2, stream_timeout: 0.3}}\n"
        ));
    }
    let config = Config::parse(&yaml, "faults.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Harness {
        gateway: Gateway::start(config, listener).await.unwrap(),
        client: pool_layer::Client::builder().build(),
    }
}

impl Harness {
    async fn chat(&self, model: &str, stream: bool) -> (u16, String) {
        let body = format!(
            r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
        );
        let req = http::Request::post(format!(
            "http://{}/v1/chat/completions",
            self.gateway.addr()
        ))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
        let res = self.client.request(req).await.unwrap();
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// In flight, queued and open upstream connections all back to zero (bounded wait).
    async fn gauges_return_to_zero(&self) {
        let state = self.gateway.state();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            let admission = state.admission().metrics();
            let pool = state.http().metrics().connections;
            if admission.in_flight == 0
                && admission.queued == 0
                && pool.open_connections == 0
                && pool.waiting == 0
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gauges stuck: {admission:?} {pool:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn error_message(body: &str) -> String {
    let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    json["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_reset_and_dns_failures_are_502() {
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let reset = raw_upstream(|stream| async move { drop(stream) }).await;
    let h = start(&[
        ("refused", format!("http://{refused}")),
        ("reset", format!("http://{reset}")),
        ("dns", "http://no-such-host.invalid".to_string()),
        ("tls", format!("https://{reset}")),
    ])
    .await;
    for model in ["refused", "reset", "dns", "tls"] {
        let (status, body) = h.chat(model, false).await;
        assert_eq!(status, 502, "{model}: {body}");
        assert!(!error_message(&body).is_empty());
    }
    h.gauges_return_to_zero().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_upstream_is_a_precise_502() {
    let upstream = Upstream::start(vec![
        json(200, "this is not json"),
        Reply::Body {
            status: 200,
            headers: vec![],
            body: Bytes::from(vec![b'x'; 40 * 1024 * 1024]),
        },
    ])
    .await;
    let h = start(&[("m", upstream.base())]).await;
    let (status, body) = h.chat("m", false).await;
    assert_eq!(status, 502);
    assert!(error_message(&body).contains("not valid JSON"), "{body}");
    let (status, body) = h.chat("m", false).await;
    assert_eq!(status, 502);
    assert!(error_message(&body).contains("larger than"), "{body}");
    h.gauges_return_to_zero().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_streams_end_with_an_error_event_and_release_everything() {
    let chunk = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
    let upstream = Upstream::start(vec![
        sse(&[chunk], End::Abort),
        sse(&[chunk], End::Hang),
        sse(&[chunk, "data: {not json\n\n"], End::Close),
        sse(&[], End::Hang),
    ])
    .await;
    let h = start(&[("m", upstream.base())]).await;
    for expect in [
        "stream_broken",
        "upstream_timeout",
        "stream_truncated",
        "upstream_timeout",
    ] {
        let (status, body) = h.chat("m", true).await;
        assert_eq!(status, 200);
        let last = body
            .trim_end()
            .rsplit("\n\n")
            .next()
            .unwrap()
            .strip_prefix("data: ")
            .unwrap();
        let event: Value = serde_json::from_str(last).unwrap();
        assert_eq!(event["error"]["code"], expect, "{body}");
        assert!(!body.contains("[DONE]") && !body.contains("\"finish_reason\":\"stop\""));
    }
    h.gauges_return_to_zero().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_closes_mid_body_is_a_502() {
    let cut = raw_upstream(|mut stream| async move {
        read_head(&mut stream).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"id\":";
        // Close with most of the promised body still owed.
        let _ = stream.write_all(head.as_bytes()).await;
    })
    .await;
    let h = start(&[("m", format!("http://{cut}"))]).await;
    let (status, body) = h.chat("m", false).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        error_message(&body).contains("upstream response broke"),
        "{body}"
    );
    h.gauges_return_to_zero().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_hangs_before_headers_times_out_with_504() {
    let hang = raw_upstream(|mut stream| async move {
        read_head(&mut stream).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let h = start(&[("m", format!("http://{hang}"))]).await;
    let (status, body) = h.chat("m", false).await;
    assert_eq!(status, 504, "{body}");
    let (status, body) = h.chat("m", true).await;
    assert_eq!(status, 504, "{body}");
    h.gauges_return_to_zero().await;
}

/// A client that shuts down its sending side is taken as gone (hyper's default), the
/// same as one that disconnects: the gateway answers promptly by closing, and releases
/// the upstream at once instead of streaming to nobody. Nothing hangs or leaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_half_closes_is_released_promptly() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(Reply::Delayed(
        Duration::from_millis(200),
        Box::new(json(200, r#"{"id":"x","choices":[]}"#)),
    ));
    let h = start(&[("m", upstream.base())]).await;
    let mut stream = tokio::net::TcpStream::connect(h.gateway.addr())
        .await
        .unwrap();
    let body = r#"{"model":"m","messages":[]}"#;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the gateway closes the connection")
        .unwrap();
    h.gauges_return_to_zero().await;
    // And it keeps serving everyone else.
    assert_eq!(h.chat("m", false).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_times_overload_is_served_or_refused_and_nothing_hangs() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(Reply::Delayed(
        Duration::from_millis(20),
        Box::new(json(200, r#"{"id":"x","choices":[]}"#)),
    ));
    let config = Config::parse(
        &format!(
            "pool: {{keepalive_s: 0.2}}\nlimits: {{max_in_flight: 10, max_queued: 90}}\nmodel_list:\n  - model_name: m\n    litellm_params: {{model: openai/m, api_base: \"{}\", max_retries: 0}}\n",
            upstream.base()
        ),
        "overload.yaml",
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = std::sync::Arc::new(Harness {
        gateway: Gateway::start(config, listener).await.unwrap(),
        client: pool_layer::Client::builder()
            .max_connections_per_host(300)
            .build(),
    });

    let watcher = {
        let h = h.clone();
        tokio::spawn(async move {
            let mut worst = 0;
            for _ in 0..400 {
                let m = h.gateway.state().admission().metrics();
                assert!(m.queued <= 90 && m.in_flight <= 10, "{m:?}");
                worst = worst.max(m.queued);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            worst
        })
    };
    let requests: Vec<_> = (0..1000)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.chat("m", false).await.0 })
        })
        .collect();
    let mut served = 0;
    let mut refused = 0;
    for r in requests {
        match tokio::time::timeout(Duration::from_secs(30), r)
            .await
            .expect("no request hangs")
            .unwrap()
        {
            200 => served += 1,
            429 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(served + refused, 1000);
    assert!(
        served >= 100,
        "at least a queue's worth was served ({served})"
    );
    assert!(watcher.await.unwrap() > 0, "the queue was used");
    h.gauges_return_to_zero().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_paths_and_methods_get_404_or_405_never_a_crash() {
    let h = start(&[("m", "http://127.0.0.1:9".to_string())]).await;
    let paths = [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/messages",
        "/v1/models",
        "/health/liveliness",
        "/health/readiness",
        "/metrics",
        "/v1/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/v1/chat/completions/../../../x",
        "//v1//models",
        "/v1/chat/completions%00",
        "/\u{1F600}",
    ];
    for path in paths {
        for method in [
            "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECTX",
        ] {
            let Ok(req) = http::Request::builder()
                .method(method)
                .uri(format!(
                    "http://{}{}",
                    h.gateway.addr(),
                    path.replace('\u{1F600}', "%F0%9F%98%80")
                ))
                .body(Full::new(Bytes::new()))
            else {
                continue;
            };
            let res = h.client.request(req).await.unwrap();
            let status = res.status().as_u16();
            assert!(
                matches!(status, 200 | 400 | 404 | 405 | 502),
                "{method} {path}: {status}"
            );
            if status == 404 || status == 405 {
                let body = res.into_body().collect().await.unwrap().to_bytes();
                assert!(
                    serde_json::from_slice::<Value>(&body).is_ok(),
                    "{method} {path}: JSON error body"
                );
            }
        }
    }
    // Still serving.
    assert_eq!(h.chat("unknown-model", false).await.0, 404);
}
