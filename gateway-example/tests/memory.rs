//! Memory and worker time that one request body can take, measured as the growth of
//! this process's peak RSS (`VmHWM`, reset through `/proc/self/clear_refs`) while the
//! gateway runs in it. The tests take turns, so that one's allocations do not show in
//! another's figure. Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use support::{json, Upstream};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// One measuring test at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MIB: usize = 1024 * 1024;

/// Resets the peak RSS to the current RSS.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// The peak RSS since the last reset, in bytes.
fn peak() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// The current RSS, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

async fn start(yaml: &str) -> Gateway {
    let config = Config::parse(yaml, "memory.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Gateway::start(config, listener).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_holds_before_buffering_with_the_cache_on() {
    let _turn = TURN.lock().await;
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, r#"{"id":"ok","choices":[]}"#));
    let gateway = start(&format!(
        "server: {{max_body_bytes: 1048576}}\ncache: {{responses: {{enabled: true}}}}\nmodel_list:\n  - model_name: m\n    litellm_params: {{model: openai/m, api_base: \"{}\"}}\n",
        upstream.base()
    ))
    .await;
    // 40 MiB of `{"a":0},` sent chunked (no `Content-Length`), made as it is sent.
    let chunk = Bytes::from(r#"{"a":0},"#.repeat(8192));
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(4);
    let feeder = tokio::spawn(async move {
        tx.send_data(Bytes::from_static(br#"{"model":"m","messages":[],"x":["#))
            .await
            .ok();
        for _ in 0..(40 * MIB) / chunk.len() {
            if tx.send_data(chunk.clone()).await.is_err() {
                break;
            }
        }
    });
    let client: pool_layer::Client<_> = pool_layer::Client::builder().build();
    let req = http::Request::post(format!("http://{}/v1/chat/completions", gateway.addr()))
        .body(body)
        .unwrap();
    reset_peak();
    let before = rss();
    let res = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .unwrap();
    // The gateway answers 413 and lingers before closing, reading and discarding at
    // most `LINGER_BYTES` (8 MiB) for at most `LINGER_TIME`; this client sends 40 MiB,
    // so the close still leaves bytes unread, the kernel resets the connection, and a
    // client still sending may see the reset before it reads the 413. Either way
    // nothing was buffered past the limit, which is what this test is about.
    match res {
        Ok(res) => assert_eq!(res.status(), 413),
        Err(err) => {
            let text = format!("{err:?}").to_ascii_lowercase();
            assert!(
                ["reset", "closed", "broken pipe"]
                    .iter()
                    .any(|w| text.contains(w)),
                "not a 413 and not a reset: {err:?}"
            );
        }
    }
    let grown = peak().saturating_sub(before);
    feeder.abort();
    println!(
        "40 MiB body against a 1 MiB limit, cache on: peak RSS grew {:.1} MiB",
        grown as f64 / MIB as f64
    );
    assert!(grown < 24 * MIB, "peak RSS grew {grown} bytes");
    assert_eq!(upstream.count(), 0);
}

/// `{"model":"m","messages":[{"role":"user","content":[PART, PART, ...]}]}` with
/// `parts` text parts, as an Anthropic-format translation has to turn into a tree.
fn many_parts(parts: usize) -> Bytes {
    let mut body =
        String::from(r#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":["#);
    for i in 0..parts {
        if i > 0 {
            body.push(',');
        }
        body.push_str(r#"{"type":"text","text":"a"}"#);
    }
    body.push_str("]}]}");
    Bytes::from(body)
}

/// The gateway on one worker, before an upstream speaking Anthropic's format (so that
/// OpenAI-format requests are translated).
async fn translating() -> (Gateway, Upstream) {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(
        200,
        r#"{"id":"m1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#,
    ));
    let gateway = start(&format!(
        "server: {{max_body_bytes: 16777216, workers: 1}}\nmodel_list:\n  - model_name: m\n    litellm_params: {{model: anthropic/m, api_base: \"{}\", api_key: k, max_retries: 0}}\n",
        upstream.base()
    ))
    .await;
    (gateway, upstream)
}

/// Sends `body` to chat completions; the status.
async fn chat(gateway: &Gateway, body: Bytes) -> u16 {
    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder().build();
    let req = http::Request::post(format!("http://{}/v1/chat/completions", gateway.addr()))
        .body(Full::new(body))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let status = res.status().as_u16();
    res.into_body().collect().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_many_objects_body_is_refused_in_bounded_memory_and_others_stay_fast() {
    let _turn = TURN.lock().await;
    let (gateway, upstream) = translating().await;
    let gateway = std::sync::Arc::new(gateway);
    // 10 MiB of tiny objects: some 400 000 parts.
    let body = many_parts(10 * MIB / 27);
    let size = body.len();
    reset_peak();
    let before = rss();
    let big = tokio::spawn({
        let gateway = gateway.clone();
        async move { chat(&gateway, body).await }
    });
    // Meanwhile, on the same (only) worker: small requests, timed.
    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder().build();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let req = http::Request::get(format!("http://{}/health/liveliness", gateway.addr()))
            .body(Full::default())
            .unwrap();
        let res = client.request(req).await.unwrap();
        res.into_body().collect().await.unwrap();
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(big.await.unwrap(), 400, "refused as too complex");
    let grown = peak().saturating_sub(before);
    println!(
        "{:.1} MiB of {} tiny objects: refused, peak RSS grew {:.1} MiB ({:.2}x the body: the gateway's copy of it); slowest concurrent request {slowest:?}",
        size as f64 / MIB as f64,
        size / 27,
        grown as f64 / MIB as f64,
        grown as f64 / size as f64,
    );
    assert!(
        grown < 4 * size,
        "peak RSS grew {grown} bytes for a {size}-byte body"
    );
    assert!(slowest < Duration::from_secs(1), "slowest {slowest:?}");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_within_the_shape_bounds_is_translated_in_bounded_memory() {
    let _turn = TURN.lock().await;
    let (gateway, upstream) = translating().await;
    // Just under the bound on objects and arrays.
    let parts = gateway_example::intake::MAX_JSON_CONTAINERS - 10;
    let body = many_parts(parts);
    let size = body.len();
    reset_peak();
    let before = rss();
    let started = Instant::now();
    assert_eq!(chat(&gateway, body).await, 200);
    let took = started.elapsed();
    let grown = peak().saturating_sub(before);
    println!(
        "{parts} parts ({:.2} MiB) translated: peak RSS grew {:.1} MiB ({:.1}x the body) in {took:?}",
        size as f64 / MIB as f64,
        grown as f64 / MIB as f64,
        grown as f64 / size as f64,
    );
    assert!(grown < 64 * MIB, "peak RSS grew {grown} bytes");
    assert_eq!(upstream.count(), 1);
}
