//! The connection limit at the poll level, over a connector that opens no sockets.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use pool_layer::limit::{
    ConnectionLimit, ConnectionLimitLayer, InvalidTarget, LimitTimeout, LimitedIo,
};
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower::{Service, ServiceExt};
use tower_layer::Layer;

/// Stands in for a socket; counts how many are alive.
#[derive(Debug)]
struct FakeIo(Arc<AtomicUsize>);

impl Drop for FakeIo {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Default)]
struct FakeConnector {
    alive: Arc<AtomicUsize>,
    fail: bool,
}

impl Service<Uri> for FakeConnector {
    type Response = FakeIo;
    type Error = io::Error;
    type Future = std::future::Ready<Result<FakeIo, io::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        if self.fail {
            return std::future::ready(Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "refused",
            )));
        }
        self.alive.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(FakeIo(self.alive.clone())))
    }
}

fn limit(global: usize, per_host: usize) -> (ConnectionLimitLayer, ConnectionLimit<FakeConnector>) {
    let layer = ConnectionLimitLayer::new(global, per_host);
    let svc = layer.layer(FakeConnector::default());
    (layer, svc)
}

fn connect(
    svc: &mut ConnectionLimit<FakeConnector>,
    uri: &'static str,
) -> task::Spawn<pool_layer::limit::ResponseFuture<FakeIo>> {
    task::spawn(svc.call(Uri::from_static(uri)))
}

#[tokio::test]
async fn permits_are_held_by_the_io_until_it_is_dropped() {
    let (layer, mut svc) = limit(10, 1);
    let io: LimitedIo<FakeIo> = svc
        .ready()
        .await
        .unwrap()
        .call(Uri::from_static("http://a"))
        .await
        .unwrap();
    assert_eq!(layer.metrics().open_connections, 1);

    let mut waiter = connect(&mut svc, "http://a");
    assert_pending!(waiter.poll());
    assert_eq!(layer.metrics().waiting, 1);

    drop(io);
    assert!(waiter.is_woken());
    let _io2 = assert_ready_ok!(waiter.poll());
    let metrics = layer.metrics();
    assert_eq!(
        (metrics.open_connections, metrics.waiting, metrics.connects),
        (1, 0, 2)
    );
}

#[tokio::test]
async fn waiters_are_served_in_fifo_order() {
    let (_layer, mut svc) = limit(10, 1);
    let first = svc.call(Uri::from_static("http://a")).await.unwrap();
    let mut w1 = connect(&mut svc, "http://a");
    let mut w2 = connect(&mut svc, "http://a");
    let mut w3 = connect(&mut svc, "http://a");
    assert_pending!(w1.poll());
    assert_pending!(w2.poll());
    assert_pending!(w3.poll());

    drop(first);
    assert_pending!(w3.poll());
    assert_pending!(w2.poll());
    let second = assert_ready_ok!(w1.poll());

    drop(second);
    assert_pending!(w3.poll());
    let third = assert_ready_ok!(w2.poll());

    drop(third);
    let _fourth = assert_ready_ok!(w3.poll());
}

#[tokio::test]
async fn a_waiter_that_gives_up_releases_its_place() {
    let (layer, mut svc) = limit(10, 1);
    let held = svc.call(Uri::from_static("http://a")).await.unwrap();
    let mut gives_up = connect(&mut svc, "http://a");
    let mut stays = connect(&mut svc, "http://a");
    assert_pending!(gives_up.poll());
    assert_pending!(stays.poll());
    assert_eq!(layer.metrics().waiting, 2);

    drop(gives_up);
    assert_eq!(layer.metrics().waiting, 1);

    drop(held);
    let io = assert_ready_ok!(stays.poll());
    drop(io);
    let metrics = layer.metrics();
    assert_eq!((metrics.open_connections, metrics.waiting), (0, 0));
    assert!(metrics.open_per_host.is_empty());
}

#[tokio::test]
async fn a_waiter_for_the_global_cap_that_gives_up_releases_its_host_permit() {
    let (layer, mut svc) = limit(1, 1);
    let held = svc.call(Uri::from_static("http://a")).await.unwrap();
    // Takes b's host permit, then waits for the global one.
    let mut waiter = connect(&mut svc, "http://b");
    assert_pending!(waiter.poll());
    assert_eq!(layer.metrics().open_per_host.len(), 2);

    drop(waiter);
    drop(held);
    let metrics = layer.metrics();
    assert_eq!(metrics.open_connections, 0);
    assert!(metrics.open_per_host.is_empty(), "{metrics:?}");
    let _b = svc.call(Uri::from_static("http://b")).await.unwrap();
}

#[tokio::test]
async fn a_failed_connect_releases_its_permits() {
    let layer = ConnectionLimitLayer::new(1, 1);
    let mut svc = layer.layer(FakeConnector {
        fail: true,
        ..Default::default()
    });
    for _ in 0..3 {
        let mut attempt = task::spawn(svc.call(Uri::from_static("http://a")));
        let err = match attempt.poll() {
            std::task::Poll::Ready(Err(err)) => err,
            other => panic!("a failing connect fails at once, got {other:?}"),
        };
        assert!(err.to_string().contains("refused"));
    }
    let metrics = layer.metrics();
    assert_eq!(
        (
            metrics.open_connections,
            metrics.connect_errors,
            metrics.connects
        ),
        (0, 3, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_permit_wait_times_out_and_holds_nothing_after() {
    let layer = ConnectionLimitLayer::new(10, 1).with_timeout(Duration::from_secs(5));
    let mut svc = layer.layer(FakeConnector::default());
    let held = svc.call(Uri::from_static("https://a")).await.unwrap();

    let started = tokio::time::Instant::now();
    let err = svc
        .call(Uri::from_static("https://a:443"))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(err.is::<LimitTimeout>(), "{err}");
    assert_eq!(
        err.to_string(),
        "no connection slot for https://a:443 within 5s (connection limit reached)"
    );

    let metrics = layer.metrics();
    assert_eq!(
        (
            metrics.open_connections,
            metrics.waiting,
            metrics.limit_timeouts
        ),
        (1, 0, 1)
    );
    drop(held);
    assert_eq!(layer.metrics().open_connections, 0);
    let _again = svc.call(Uri::from_static("https://a")).await.unwrap();
}

#[tokio::test]
async fn scheme_host_and_port_make_the_key() {
    let (layer, mut svc) = limit(10, 1);
    let _a = svc.call(Uri::from_static("http://h")).await.unwrap();
    let _b = svc.call(Uri::from_static("https://h")).await.unwrap();
    let _c = svc.call(Uri::from_static("http://h:8080")).await.unwrap();
    let mut same_as_a = connect(&mut svc, "http://H:80");
    assert_pending!(same_as_a.poll());
    let keys: Vec<String> = layer
        .metrics()
        .open_per_host
        .into_iter()
        .map(|(key, n)| format!("{key}={n}"))
        .collect();
    assert_eq!(
        keys,
        ["http://h:80=1", "http://h:8080=1", "https://h:443=1"]
    );
}

#[tokio::test]
async fn a_uri_without_a_host_is_refused() {
    let (layer, mut svc) = limit(10, 1);
    let err = svc.call(Uri::from_static("/relative")).await.unwrap_err();
    assert!(err.is::<InvalidTarget>());
    assert_eq!(layer.metrics().open_connections, 0);
}
