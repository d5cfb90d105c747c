//! Evicting a real hyper client never breaks whoever holds it: requests after eviction
//! work, and a stream in flight runs to completion through many evictions.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use cache_layer::client::{ClientCacheLayer, ClientKey, NewService};
use cache_layer::ttl::{CacheConfig, TtlCache};
use tower_layer::Layer;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;
type StreamSlot = Arc<Mutex<Option<Sender<Bytes>>>>;

/// `/ok` answers "ok"; `/stream` answers with a body whose chunks the test sends.
async fn server() -> (SocketAddr, StreamSlot) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let slot: StreamSlot = Arc::default();
    let handler_slot = slot.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let slot = handler_slot.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let slot = slot.clone();
                    async move {
                        let body = if req.uri().path() == "/stream" {
                            let (tx, body) = Channel::<Bytes, Infallible>::new(1);
                            *slot.lock().unwrap() = Some(tx);
                            body.boxed()
                        } else {
                            Full::new(Bytes::from_static(b"ok"))
                                .map_err(|e| match e {})
                                .boxed()
                        };
                        Ok::<_, Infallible>(http::Response::new(body))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, slot)
}

fn new_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

async fn get_ok(client: &HttpClient, addr: SocketAddr) -> String {
    let res = client
        .get(format!("http://{addr}/ok").parse().unwrap())
        .await
        .expect("the client still works");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// Expires every entry: paused time, advanced past the TTL, resumed for real IO.
async fn past_ttl(ttl: Duration) {
    tokio::time::pause();
    tokio::time::advance(ttl + Duration::from_secs(1)).await;
    tokio::time::resume();
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_evicted_for_capacity_still_makes_requests() {
    let (addr, _) = server().await;
    let cache = TtlCache::new(CacheConfig {
        capacity: 1,
        ..CacheConfig::default()
    });
    let client = cache.insert("a", new_client()).unwrap();
    assert_eq!(get_ok(&client, addr).await, "ok");

    cache.insert("b", new_client()).unwrap();
    assert!(cache.get("a").is_none(), "evicted for capacity");
    assert_eq!(get_ok(&client, addr).await, "ok");
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_expired_by_ttl_still_makes_requests() {
    let (addr, _) = server().await;
    let ttl = Duration::from_secs(600);
    let cache = TtlCache::new(CacheConfig {
        ttl,
        ..CacheConfig::default()
    });
    let client = cache.insert("a", new_client()).unwrap();
    assert_eq!(get_ok(&client, addr).await, "ok");

    past_ttl(ttl).await;
    assert!(cache.get("a").is_none(), "expired");
    assert_eq!(get_ok(&client, addr).await, "ok");
    assert_eq!(cache.metrics().evicted_expired, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_survives_its_client_being_evicted_by_capacity_then_again_and_again() {
    stream_through_evictions(0).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_survives_its_client_being_evicted_by_ttl_then_again_and_again() {
    stream_through_evictions(1).await;
}

/// Streams 20 chunks while, between chunks, the key's client is evicted: by capacity
/// on rounds where `round % 2 == capacity_parity`, by TTL on the others. Round 0
/// evicts the very client that carries the stream.
async fn stream_through_evictions(capacity_parity: usize) {
    let (addr, slot) = server().await;
    let ttl = Duration::from_secs(600);
    let cache = ClientCacheLayer::with_config(CacheConfig {
        capacity: 2,
        ttl,
        ..CacheConfig::default()
    })
    .layer(|_key: ClientKey| new_client());
    let key = ClientKey::new(format!("http://{addr}"));

    let client = cache.new_service(key.clone());
    let res = client
        .get(format!("http://{addr}/stream").parse().unwrap())
        .await
        .unwrap();
    let mut body = res.into_body();
    let mut tx = slot
        .lock()
        .unwrap()
        .take()
        .expect("the server holds the stream");

    let mut received = Vec::new();
    for i in 0..20 {
        tx.send_data(Bytes::from(format!("chunk {i};")))
            .await
            .unwrap();
        let frame = body.frame().await.expect("stream goes on").unwrap();
        received.push(String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap());

        if i % 2 == capacity_parity {
            // New keys whose clients are held, so every entry is in use and the least
            // recently used one (this key's) has to go.
            let _held: Vec<_> = (0..2)
                .map(|n| cache.new_service(ClientKey::new(format!("http://other-{i}-{n}"))))
                .collect();
        } else {
            past_ttl(ttl).await;
        }
        let fresh = cache.new_service(key.clone());
        assert!(
            !Arc::ptr_eq(fresh.get_ref(), client.get_ref()),
            "round {i}: evicted"
        );
    }
    drop(tx);
    assert!(body.frame().await.is_none(), "the stream ends normally");
    let expected: Vec<String> = (0..20).map(|i| format!("chunk {i};")).collect();
    assert_eq!(received, expected);

    let metrics = cache.metrics();
    assert!(metrics.evicted_expired >= 10, "{metrics:?}");
    assert!(metrics.evicted_capacity >= 10, "{metrics:?}");
    if capacity_parity == 0 {
        assert!(
            metrics.evicted_while_held >= 1,
            "the streaming client itself: {metrics:?}"
        );
    }
}
