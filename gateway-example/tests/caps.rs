//! The connection caps and the bounded queue, composed in the real gateway: caps hold
//! for the whole process whichever worker serves a request, a request waiting for an
//! upstream connection slot is queued like one waiting for admission (429 at once when
//! the queue is full, 503 after the queue timeout), and slots come back with the
//! response body. The upstream is a loopback server that counts the requests it
//! serves at once and the sockets the kernel has ESTABLISHED on its port.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

const COMPLETION: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
const CHUNK: &str = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n";

/// What the upstream saw.
#[derive(Default)]
struct Seen {
    /// Requests being answered now, and the most at once.
    active: AtomicUsize,
    max_active: AtomicUsize,
    /// The most sockets ESTABLISHED on the upstream's port, sampled at every accept and
    /// every request.
    max_established: AtomicUsize,
    requests: AtomicUsize,
    accepted: AtomicUsize,
}

/// Counts one active request for as long as it lives.
struct Active(Arc<Seen>);

impl Active {
    fn new(seen: &Arc<Seen>) -> Self {
        let now = seen.active.fetch_add(1, Ordering::SeqCst) + 1;
        seen.max_active.fetch_max(now, Ordering::SeqCst);
        seen.requests.fetch_add(1, Ordering::SeqCst);
        Self(seen.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A slow OpenAI-compatible upstream on loopback: each answer comes after `delay`
/// and once `gate` is open; a streaming request gets one chunk at once and then one
/// every 100 ms for 10 s.
struct Upstream {
    base: String,
    seen: Arc<Seen>,
}

impl Upstream {
    async fn start(delay: Duration, gate: watch::Receiver<bool>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Seen::default());
        let counts = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                counts
                    .max_established
                    .fetch_max(established(port), Ordering::SeqCst);
                let (seen, gate) = (counts.clone(), gate.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (seen, gate) = (seen.clone(), gate.clone());
                        answer(req, seen, gate, delay, port)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            seen,
        }
    }

    fn max_active(&self) -> usize {
        self.seen.max_active.load(Ordering::SeqCst)
    }

    fn max_established(&self) -> usize {
        self.seen.max_established.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.seen.requests.load(Ordering::SeqCst)
    }

    fn active(&self) -> usize {
        self.seen.active.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `n` requests are being answered.
    async fn wait_active(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.active() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} requests reached the upstream",
                self.active()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

type UpBody = BoxBody<Bytes, Infallible>;

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    seen: Arc<Seen>,
    mut gate: watch::Receiver<bool>,
    delay: Duration,
    port: u16,
) -> Result<hyper::Response<UpBody>, Infallible> {
    let active = Active::new(&seen);
    seen.max_established
        .fetch_max(established(port), Ordering::SeqCst);
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let stream = body.is_ok_and(|b| {
        serde_json::from_slice::<Value>(&b).is_ok_and(|v| v["stream"] == Value::Bool(true))
    });
    tokio::time::sleep(delay).await;
    let _ = gate.wait_for(|open| *open).await;
    if !stream {
        drop(active);
        let res = hyper::Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(COMPLETION.as_bytes())).boxed())
            .unwrap();
        return Ok(res);
    }
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
    tokio::spawn(async move {
        // The stream counts as active until the gateway stops reading it.
        let _active = active;
        for _ in 0..100 {
            if tx
                .send_data(Bytes::from_static(CHUNK.as_bytes()))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let res = hyper::Response::builder()
        .header("content-type", "text/event-stream")
        .body(body.boxed())
        .unwrap();
    Ok(res)
}

/// Sockets in state ESTABLISHED whose local port is `port`, from `/proc/net/tcp` (0
/// where there is none): the server's side of each connection, gone the moment the
/// client closes it.
fn established(port: u16) -> usize {
    // The table is read a page at a time while sockets come and go, so a socket can
    // be listed twice: count each connection (local and remote address) once.
    let port = format!(":{port:04X}");
    let mut seen = std::collections::HashSet::new();
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(table) = std::fs::read_to_string(path) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 3 && fields[1].ends_with(&port) && fields[3] == "01" {
                seen.insert((fields[1].to_string(), fields[2].to_string()));
            }
        }
    }
    seen.len()
}

/// A gateway with these `server`/`pool`/`limits` settings and `models` model names,
/// all served by the one upstream.
async fn gateway(sections: &str, upstream: &Upstream, models: usize) -> Gateway {
    let mut yaml = format!("{sections}\nmodel_list:\n");
    for i in 0..models {
        yaml.push_str(&format!(
            "  - model_name: m{i}\n    litellm_params: {{model: openai/m{i}, api_base: \"{}\", api_key: sk-up, max_retries: 0}}\n",
            upstream.base
        ));
    }
    let config = Config::parse(&yaml, "caps.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = gateway_example::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    Gateway::start(config, listener).await.unwrap()
}

/// A client that opens a connection per concurrent request (so that the kernel
/// spreads them over the workers).
fn wide_client() -> pool_layer::Client<Full<Bytes>> {
    pool_layer::Client::builder()
        .max_connections(1000)
        .max_connections_per_host(1000)
        .build()
}

/// An answer: status, `Retry-After`, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: String,
}

impl Answer {
    fn code(&self) -> String {
        let json: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        json["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Sends a chat request for `model` and reads the whole answer.
async fn chat(
    client: &pool_layer::Client<Full<Bytes>>,
    addr: std::net::SocketAddr,
    model: &str,
) -> Answer {
    let body = format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#);
    let req = http::Request::post(format!("http://{addr}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `n` concurrent chat requests through `client`, cycling over `models` model names.
async fn burst_with(
    client: &pool_layer::Client<Full<Bytes>>,
    gateway: &Gateway,
    n: usize,
    models: usize,
) -> Vec<Answer> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (client, addr) = (client.clone(), gateway.addr());
            tokio::spawn(async move { chat(&client, addr, &format!("m{}", i % models)).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(n);
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// `n` concurrent chat requests, each on a client connection of its own.
async fn burst(gateway: &Gateway, n: usize, models: usize) -> Vec<Answer> {
    burst_with(&wide_client(), gateway, n, models).await
}

fn open_gate() -> watch::Receiver<bool> {
    watch::channel(true).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_requests_on_two_workers_all_wait_their_turn_under_a_per_host_cap_of_8() {
    let upstream = Upstream::start(Duration::from_millis(100), open_gate()).await;
    let gateway = gateway(
        "server: {workers: 2}\npool: {max_connections_per_host: 8}",
        &upstream,
        4,
    )
    .await;
    let answers = burst(&gateway, 200, 4).await;
    let failed: Vec<_> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(upstream.requests(), 200);
    assert_eq!(
        upstream.max_active(),
        8,
        "the whole cap, and no more, in use"
    );
    assert!(
        upstream.max_established() <= 8,
        "{} sockets at once, {} in all",
        upstream.max_established(),
        upstream.seen.accepted.load(Ordering::SeqCst)
    );
    let pool = gateway.state().http().metrics();
    assert!(pool.connections.open_connections <= 8, "{pool:?}");
    assert_eq!(pool.rejected_full + pool.rejected_timeout, 0, "{pool:?}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_running_and_the_queued_get_429_at_once_and_none_a_5xx() {
    // Slow enough that all 100 arrive while the first two still run.
    let upstream = Upstream::start(Duration::from_millis(800), open_gate()).await;
    let gateway = gateway(
        "server: {workers: 2}\npool: {max_connections_per_host: 2}\nlimits: {max_queued: 10, queue_timeout_s: 20}",
        &upstream,
        1,
    )
    .await;
    let started = tokio::time::Instant::now();
    let answers = burst(&gateway, 100, 1).await;
    let elapsed = started.elapsed();
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let full: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    let other: Vec<_> = answers
        .iter()
        .filter(|a| a.status != 200 && a.status != 429)
        .collect();
    assert!(other.is_empty(), "{other:?}");
    // 2 running + 10 waiting are served; the other 88 are refused.
    assert_eq!((ok, full.len()), (12, 88));
    for answer in &full {
        assert_eq!(answer.code(), "queue_full", "{answer:?}");
        assert!(answer.retry_after.is_some_and(|s| s >= 1), "{answer:?}");
    }
    // Six rounds of two: ~5 s, well inside the queue timeout.
    assert!(elapsed < Duration::from_secs(10), "answered in {elapsed:?}");
    assert!(upstream.max_active() <= 2);
    assert_eq!(gateway.state().http().metrics().rejected_full, 88);
    // And `/metrics` says so, with nobody left waiting.
    let req = http::Request::get(format!("http://{}/metrics", gateway.addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = wide_client().request(req).await.unwrap();
    let text = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&text);
    for line in [
        "gateway_pool_slot_rejected_total{reason=\"queue_full\"} 88",
        "gateway_pool_slot_waiting 0",
    ] {
        assert!(text.lines().any(|l| l == line), "`{line}` not in:\n{text}");
    }
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_waits_longer_than_the_queue_timeout_gets_503_with_retry_after() {
    // The gateway's workers run on their own threads and clocks, so this waits for
    // real: a short queue timeout keeps it brief (pool-layer tests the wait itself
    // with paused time).
    let (release, gate) = watch::channel(false);
    let upstream = Upstream::start(Duration::ZERO, gate).await;
    let gateway = gateway(
        "server: {workers: 2}\npool: {max_connections_per_host: 1}\nlimits: {queue_timeout_s: 0.3}",
        &upstream,
        1,
    )
    .await;
    let client = wide_client();
    let held = {
        let (client, addr) = (client.clone(), gateway.addr());
        tokio::spawn(async move { chat(&client, addr, "m0").await.status })
    };
    upstream.wait_active(1).await;
    let started = tokio::time::Instant::now();
    let late = chat(&client, gateway.addr(), "m0").await;
    let waited = started.elapsed();
    assert_eq!(late.status, 503, "{late:?}");
    assert_eq!(late.code(), "queue_timeout", "{late:?}");
    assert!(late.retry_after.is_some_and(|s| s >= 1), "{late:?}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    release.send_replace(true);
    assert_eq!(held.await.unwrap(), 200);
    assert_eq!(
        upstream.requests(),
        1,
        "the late request never reached the upstream"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_all_on_one_worker_still_get_the_whole_per_host_cap() {
    let (release, gate) = watch::channel(false);
    let upstream = Upstream::start(Duration::ZERO, gate).await;
    let gateway = gateway(
        "server: {workers: 2}\npool: {max_connections_per_host: 4}",
        &upstream,
        2,
    )
    .await;
    // One HTTP/2 connection to the gateway: every request lands on the one worker
    // that accepted it.
    let client: pool_layer::Client<Full<Bytes>> =
        pool_layer::Client::builder().http2_only(true).build();
    let answers = {
        let (client, gateway) = (client.clone(), &gateway);
        async move { burst_with(&client, gateway, 4, 2).await }
    };
    let check = async {
        // All four at the upstream at once: the worker used the other's share too.
        upstream.wait_active(4).await;
        assert_eq!(
            client.metrics().connections.connects,
            1,
            "one client connection"
        );
        release.send_replace(true);
    };
    let (answers, ()) = tokio::join!(answers, check);
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert!(upstream.max_established() <= 4);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_host_cap_of_1_on_4_workers_serves_every_request_one_at_a_time() {
    let upstream = Upstream::start(Duration::from_millis(20), open_gate()).await;
    let gateway = gateway(
        "server: {workers: 4}\npool: {max_connections_per_host: 1}",
        &upstream,
        3,
    )
    .await;
    let answers = burst(&gateway, 40, 3).await;
    let failed: Vec<_> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(upstream.requests(), 40);
    assert_eq!(upstream.max_active(), 1);
    assert!(
        upstream.max_established() <= 1,
        "{}",
        upstream.max_established()
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_closed_after_the_first_chunk_release_their_slots_at_once() {
    let upstream = Upstream::start(Duration::ZERO, open_gate()).await;
    let gateway = gateway(
        "server: {workers: 2}\npool: {max_connections_per_host: 2}\nlimits: {queue_timeout_s: 2}",
        &upstream,
        1,
    )
    .await;
    let client = wide_client();
    for round in 0..3 {
        // Two streams take both slots; each client reads one chunk and goes away.
        for _ in 0..2 {
            let body =
                r#"{"model":"m0","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
            let req = http::Request::post(format!("http://{}/v1/chat/completions", gateway.addr()))
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            let res = client.request(req).await.unwrap();
            assert_eq!(res.status(), 200);
            let mut body = res.into_body();
            let first = body.frame().await.unwrap().unwrap();
            assert!(
                first.data_ref().is_some_and(|d| !d.is_empty()),
                "round {round}"
            );
            drop(body); // unread: the client's connection closes
        }
        // The next requests for the host all get a slot well within the queue timeout.
        let started = tokio::time::Instant::now();
        let answers = burst(&gateway, 4, 1).await;
        assert!(
            answers.iter().all(|a| a.status == 200),
            "round {round}: {answers:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "round {round}");
    }
    // Counted by the kernel: the upstream notices a closed stream only at its next chunk.
    assert!(
        upstream.max_established() <= 2,
        "{}",
        upstream.max_established()
    );
    gateway.shutdown().await;
}
