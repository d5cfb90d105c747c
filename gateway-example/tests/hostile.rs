//! Slow, silent and hostile clients through the real gateway on loopback: none of them
//! holds a connection, an admission slot or an upstream socket for longer than its
//! bound, and everyone else keeps being served.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use support::{json, Reply, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A model list of the built-in mock provider.
const MOCK: &str = "model_list:\n  - model_name: m\n    litellm_params: {model: mock/m}\n";

const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

async fn start(yaml: &str) -> Gateway {
    let config = Config::parse(yaml, "hostile.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Gateway::start(config, listener).await.unwrap()
}

fn model(base: &str, extra: &str) -> String {
    format!("model_list:\n  - model_name: m\n    litellm_params: {{model: openai/m, api_base: \"{base}\", api_key: sk-prov, max_retries: 0{extra}}}\n")
}

fn client() -> pool_layer::Client<Full<Bytes>> {
    pool_layer::Client::builder().build()
}

/// `(status, headers, body)` of one request through `client`.
async fn send(
    client: &pool_layer::Client<Full<Bytes>>,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, http::HeaderMap, String) {
    let method = if body.is_empty() { "GET" } else { "POST" };
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let res = client.request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Reads until the peer closes (or resets) the connection, for at most `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Reads a response head from a raw socket: its status and lowercased head text.
async fn read_head(stream: &mut TcpStream) -> (u16, String) {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut byte))
            .await
            .expect("a response head in time")
            .unwrap();
        assert_eq!(n, 1, "connection closed before a response head: {seen:?}");
        seen.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&seen).to_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head)
}

/// Waits (bounded) until `done` holds.
async fn eventually(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_are_closed_and_cannot_lock_clients_out() {
    let gateway = start(
        "server: {max_client_connections: 4, header_read_timeout_s: 0.3, workers: 1}\nmodel_list:\n  - model_name: m\n    litellm_params: {model: mock/m}\n",
    )
    .await;
    let addr = gateway.addr();
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let started = Instant::now();
    for stream in &mut silent {
        assert!(
            closed_within(stream, Duration::from_secs(3)).await,
            "a socket that never sent a byte was closed"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
    // The slots they held are free again: a health check gets in.
    let (status, _, _) = send(&client(), addr, "/health/liveliness", &[], "").await;
    assert_eq!(status, 200);
}

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_http2_connections_are_closed() {
    let gateway = start(&format!("server: {{header_read_timeout_s: 0.3}}\n{MOCK}")).await;
    // Preface and settings, then nothing.
    let mut idle = TcpStream::connect(gateway.addr()).await.unwrap();
    idle.write_all(H2_PREFACE).await.unwrap();
    // A HEADERS frame of stream 1 without END_HEADERS (flags: END_STREAM only), whose
    // CONTINUATION never comes.
    let mut half = TcpStream::connect(gateway.addr()).await.unwrap();
    half.write_all(H2_PREFACE).await.unwrap();
    half.write_all(b"\x00\x00\x01\x01\x01\x00\x00\x00\x01\x82")
        .await
        .unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(3)).await,
        "idle h2"
    );
    assert!(
        closed_within(&mut half, Duration::from_secs(3)).await,
        "half-sent HEADERS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_answers_pings_is_still_closed_when_idle() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, r#"{"id":"ok","choices":[]}"#));
    let gateway = start(&format!(
        "server: {{header_read_timeout_s: 0.3}}\n{}",
        model(&upstream.base(), "")
    ))
    .await;
    let stream = TcpStream::connect(gateway.addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::post(format!("http://{}/v1/chat/completions", gateway.addr()))
        .body(Full::new(Bytes::from(CHAT)))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    res.into_body().collect().await.unwrap();
    // hyper's client answers PINGs; the idle connection is closed all the same.
    let ended = tokio::time::timeout(Duration::from_secs(3), conn).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection was closed");
}

/// A raw upstream that never answers, and counts the connections its client closed.
async fn silent_upstream() -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (a, c) = (accepted.clone(), closed.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let closed = c.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (addr, accepted, closed)
}

/// An HTTP/2 frame: length, type, flags, stream id, payload.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_stops_answering_pings_is_closed_and_its_request_cancelled() {
    let (upstream, accepted, closed) = silent_upstream().await;
    let gateway = start(&format!(
        "server: {{header_read_timeout_s: 0.3}}\n{}",
        model(&format!("http://{upstream}"), ", timeout: 30")
    ))
    .await;
    let mut conn = TcpStream::connect(gateway.addr()).await.unwrap();
    conn.write_all(H2_PREFACE).await.unwrap();
    // HPACK, no Huffman: :method POST, :scheme http, :path (literal, indexed name),
    // :authority x.
    let path = b"/v1/chat/completions";
    let mut block = vec![0x83, 0x86, 0x44, u8::try_from(path.len()).unwrap()];
    block.extend_from_slice(path);
    block.extend_from_slice(&[0x41, 1, b'x']);
    conn.write_all(&h2_frame(0x1, 0x4, 1, &block))
        .await
        .unwrap();
    conn.write_all(&h2_frame(0x0, 0x1, 1, CHAT.as_bytes()))
        .await
        .unwrap();
    eventually(
        "the request reached the upstream",
        Duration::from_secs(5),
        || accepted.load(Ordering::SeqCst) == 1,
    )
    .await;
    // The request is in flight (not idle); the gateway's PINGs go unanswered.
    let started = Instant::now();
    assert!(
        closed_within(&mut conn, Duration::from_secs(3)).await,
        "closed"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    eventually(
        "the upstream request cancelled",
        Duration::from_secs(3),
        || closed.load(Ordering::SeqCst) == 1,
    )
    .await;
    assert_eq!(gateway.state().admission().metrics().in_flight, 0);
}

/// A raw upstream that answers every request with an endless stream (or, with
/// `plain`, an 8 MiB body) written as fast as the gateway takes it, and counts the
/// sockets open and those whose reader went away.
struct Firehose {
    addr: SocketAddr,
    open: Arc<AtomicUsize>,
    gone: Arc<AtomicUsize>,
}

async fn firehose(plain: bool) -> Firehose {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let gone = Arc::new(AtomicUsize::new(0));
    let (o, g) = (open.clone(), gone.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (open, gone) = (o.clone(), g.clone());
            open.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let text = "a".repeat(1000);
                let (head, chunk) = if plain {
                    // `{"id":"x","pad":"aaa…"}`: valid JSON, 8 MiB and a little.
                    (
                        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{{\"id\":\"x\",\"pad\":\"", (8 << 20) + 19),
                        Bytes::from(vec![b'a'; 64 * 1024]),
                    )
                } else {
                    let event = format!(
                        "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n"
                    );
                    (
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
                        Bytes::from(format!("{:x}\r\n{event}\r\n", event.len())),
                    )
                };
                let mut ok = stream.write_all(head.as_bytes()).await.is_ok();
                // Bounded: 64 MiB of stream, or the 8 MiB body.
                let total = if plain { 8 << 20 } else { 64 << 20 };
                for _ in 0..total / chunk.len() {
                    if !ok {
                        break;
                    }
                    ok = stream.write_all(&chunk).await.is_ok();
                }
                if ok && plain {
                    ok = stream.write_all(b"\"}").await.is_ok();
                }
                if !ok {
                    gone.fetch_add(1, Ordering::SeqCst);
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Firehose { addr, open, gone }
}

/// A client that sends one chat request and never reads a byte of the answer.
async fn never_reading_client(addr: SocketAddr, stream: bool) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut conn = socket.connect(addr).await.unwrap();
    let body = format!(
        r#"{{"model":"m","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
    conn.write_all(head.as_bytes()).await.unwrap();
    conn
}

async fn a_client_that_never_reads_releases_everything(plain: bool) {
    let upstream = firehose(plain).await;
    let gateway = start(&format!(
        "server: {{body_read_timeout_s: 0.3}}\npool: {{keepalive_s: 0.2}}\n{}",
        model(
            &format!("http://{}", upstream.addr),
            ", timeout: 30, stream_timeout: 0.3"
        )
    ))
    .await;
    let state = gateway.state();
    let mut client = never_reading_client(gateway.addr(), !plain).await;
    eventually("the request admitted", Duration::from_secs(5), || {
        state.admission().metrics().in_flight == 1
    })
    .await;
    // The gateway gives up on the client: the upstream request is cancelled (a
    // stream's upstream sees its reader go), the slot and upstream socket released.
    eventually("everything released", Duration::from_secs(5), || {
        state.admission().metrics().in_flight == 0
            && upstream.open.load(Ordering::SeqCst) == 0
            && state.http().metrics().connections.open_connections == 0
    })
    .await;
    if !plain {
        assert_eq!(upstream.gone.load(Ordering::SeqCst), 1);
    }
    // Closed by then (not kept for the 10 s idle timeout): once the client reads at
    // last, it gets what the kernel still holds, then the end.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        closed_within(&mut client, Duration::from_secs(3)).await,
        "client closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_client_never_reads_releases_its_slot_and_upstream() {
    a_client_that_never_reads_releases_everything(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_answer_whose_client_never_reads_releases_its_slot_and_upstream() {
    a_client_that_never_reads_releases_everything(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_with_408_while_fresh_requests_are_served() {
    a_trickled_body_is_cut_on("/v1/chat/completions").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_responses_body_holds_no_slot_and_is_cut_with_408() {
    a_trickled_body_is_cut_on("/v1/responses").await;
}

async fn a_trickled_body_is_cut_on(path: &str) {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, r#"{"id":"ok","choices":[]}"#));
    let gateway = start(&format!(
        "server: {{body_read_timeout_s: 0.4}}\n{}",
        model(&upstream.base(), "")
    ))
    .await;
    let addr = gateway.addr();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{");
    slow.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        // One byte every 50 ms, at most 40 of them; then read the answer.
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if slow.write_all(b" ").await.is_err() {
                break;
            }
        }
        (read_head(&mut slow).await, slow)
    });
    // Meanwhile: the slow body holds no admission slot, and others are served.
    let client = client();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(gateway.state().admission().metrics().in_flight, 0);
    let (status, _, _) = send(&client, addr, "/v1/chat/completions", &[], CHAT).await;
    assert_eq!(status, 200);

    let ((status, head), mut slow) = trickle.await.unwrap();
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(closed_within(&mut slow, Duration::from_secs(3)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_client_gets_413_and_then_200_on_its_next_request() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, r#"{"id":"ok","choices":[]}"#));
    let gateway = start(&format!(
        "server: {{max_body_bytes: 1024, master_key: sk-master}}\n{}",
        model(&upstream.base(), "")
    ))
    .await;
    let addr = gateway.addr();
    let client = client();
    let auth = [("authorization", "Bearer sk-master")];
    let big = format!(
        r#"{{"model":"m","messages":[],"pad":"{}"}}"#,
        "x".repeat(4096)
    );
    let (status, headers, body) = send(&client, addr, "/v1/chat/completions", &auth, &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(headers.get("connection").unwrap(), "close");
    // The pooled client does not reuse the closed connection: the next one works.
    let (status, _, body) = send(&client, addr, "/v1/chat/completions", &auth, CHAT).await;
    assert_eq!(status, 200, "{body}");

    // Any early answer with the body unread says so: a 401 before the body is read.
    let (status, headers, _) = send(&client, addr, "/v1/chat/completions", &[], CHAT).await;
    assert_eq!(status, 401);
    assert_eq!(headers.get("connection").unwrap(), "close");
    // An answer after reading the whole body keeps the connection.
    let (status, headers, _) = send(&client, addr, "/v1/chat/completions", &auth, CHAT).await;
    assert_eq!(status, 200);
    assert!(headers.get("connection").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_length_over_the_limit_is_answered_413_without_reading_the_body() {
    let gateway = start(&format!(
        "server: {{max_body_bytes: 1048576}}\ncache: {{responses: {{enabled: true}}}}\n{}",
        model("http://127.0.0.1:9", "")
    ))
    .await;
    let mut conn = TcpStream::connect(gateway.addr()).await.unwrap();
    // 40 MiB announced, not a byte of it sent.
    conn.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 41943040\r\n\r\n")
        .await
        .unwrap();
    let (status, head) = read_head(&mut conn).await;
    assert_eq!(status, 413, "{head}");
    assert!(head.contains("connection: close"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_503_as_soon_as_shutdown_starts() {
    let gateway = start(&format!("server: {{shutdown_delay_s: 0.6}}\n{MOCK}")).await;
    let addr = gateway.addr();
    let client = client();
    assert_eq!(
        send(&client, addr, "/health/readiness", &[], "").await.0,
        200
    );
    let stopping = tokio::spawn(gateway.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Not ready, and still serving during the delay.
    let (status, _, body) = send(&client, addr, "/health/readiness", &[], "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        send(&client, addr, "/health/liveliness", &[], "").await.0,
        200
    );
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_cut_by_the_drain_deadline_end_with_an_error_event() {
    let upstream = Upstream::start(vec![support::sse(
        &[r#"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}

"#],
        support::End::Hang,
    )])
    .await;
    let gateway = start(&format!(
        "server: {{shutdown_timeout_s: 0.3}}\n{}",
        model(&upstream.base(), ", stream_timeout: 30")
    ))
    .await;
    let addr = gateway.addr();
    let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let req = http::Request::post(format!("http://{addr}/v1/chat/completions"))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = client().request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("hi"));
    let stopping = tokio::spawn(gateway.shutdown());
    let rest = tokio::time::timeout(Duration::from_secs(5), body.collect())
        .await
        .expect("the stream ended")
        .expect("a complete transfer, not a broken one")
        .to_bytes();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.starts_with("data: {\"error\""), "{rest}");
    assert!(rest.contains("shutting_down"), "{rest}");
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_the_master_key_and_never_show_keys() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(json(200, r#"{"id":"ok","choices":[]}"#));
    let base = upstream.base().replace("http://", "http://user:pw-secret@");
    let gateway = start(&format!(
        "server: {{master_key: sk-master, metrics_auth: true}}\n{}",
        model(&base, "")
    ))
    .await;
    let addr = gateway.addr();
    let client = client();
    let auth = [("x-api-key", "sk-master")];
    assert_eq!(
        send(&client, addr, "/v1/chat/completions", &auth, CHAT)
            .await
            .0,
        200
    );
    assert_eq!(send(&client, addr, "/metrics", &[], "").await.0, 401);
    let (status, _, text) = send(&client, addr, "/metrics", &auth, "").await;
    assert_eq!(status, 200);
    assert!(text.contains("gateway_pool_open_connections"), "{text}");
    for secret in ["sk-master", "sk-prov", "pw-secret", "user:"] {
        assert!(!text.contains(secret), "{secret} in /metrics");
    }
    // Without a master key, `metrics_auth` is a config error, not an open endpoint.
    let err =
        Config::parse(&format!("server: {{metrics_auth: true}}\n{MOCK}"), "m.yaml").unwrap_err();
    assert!(err.at("server.metrics_auth").is_some(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_across_the_cut_of_an_upstream_error_never_reaches_the_client() {
    let key = "sk-prov-0123456789abcdef";
    let text = format!("{}{key} more", "e".repeat(505));
    let upstream = Upstream::start(vec![Reply::Body {
        status: 500,
        headers: vec![("content-type", "text/plain".into())],
        body: Bytes::from(text),
    }])
    .await;
    let gateway =
        start(&model(&upstream.base(), "").replace("api_key: sk-prov", &format!("api_key: {key}")))
            .await;
    let (status, _, body) =
        send(&client(), gateway.addr(), "/v1/chat/completions", &[], CHAT).await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains("sk-prov-0"), "{body}");
    assert!(body.contains("***"), "{body}");
}
