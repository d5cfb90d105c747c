//! The `bare-proxy` binary (the floor target of `benches/e2e.sh`) against a loopback
//! upstream that records what it receives.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the upstream saw of one request.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    uri: String,
    host: String,
    body: String,
}

/// An upstream on `127.0.0.1:0` answering every request with a fixed JSON body.
async fn upstream() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await?.to_bytes();
                            log.lock().unwrap().push(Seen {
                                method: parts.method.to_string(),
                                uri: parts.uri.to_string(),
                                host: parts.headers[http::header::HOST]
                                    .to_str()
                                    .unwrap()
                                    .to_owned(),
                                body: String::from_utf8_lossy(&body).into_owned(),
                            });
                            Ok::<_, hyper::Error>(http::Response::new(Full::new(
                                Bytes::from_static(br#"{"ok":true}"#),
                            )))
                        }
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// The running binary, killed when dropped.
struct Proxy(Child, SocketAddr);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bare-proxy` in front of `upstream` and waits (up to 10 s) until it accepts.
async fn bare_proxy(upstream: &str) -> Proxy {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_bare-proxy"))
        .args([&addr.to_string(), upstream, "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proxy = Proxy(child, addr);
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return proxy;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("bare-proxy did not start listening on {addr}");
}

async fn post(addr: SocketAddr, path: &str, body: &'static str) -> (u16, String) {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = http::Request::post(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .unwrap()
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn forwards_path_query_and_body_with_the_upstreams_host() {
    let (up, seen) = upstream().await;
    let proxy = bare_proxy(&format!("http://{up}")).await;
    for i in 0..3 {
        let (status, body) = post(proxy.1, "/v1/chat/completions?x=1", r#"{"model":"m"}"#).await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"ok":true}"#),
            "request {i}"
        );
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for s in seen {
        assert_eq!(
            s,
            Seen {
                method: "POST".into(),
                uri: "/v1/chat/completions?x=1".into(),
                host: up.to_string(),
                body: r#"{"model":"m"}"#.into(),
            }
        );
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    // A port nothing listens on: bound, then closed.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = bare_proxy(&format!("http://{gone}")).await;
    let (status, body) = post(proxy.1, "/x", "{}").await;
    assert_eq!(status, 502, "{body}");
}

#[test]
fn a_relative_upstream_url_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_bare-proxy"))
        .args(["127.0.0.1:0", "/no-scheme"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("an absolute URL is needed"), "{err}");
}
