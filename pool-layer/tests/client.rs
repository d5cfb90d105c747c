//! The assembled client against real loopback servers that count their sockets.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http_body_util::{BodyExt, Full};
use pool_layer::Client;
use support::{gated_handler, ok_handler, self_signed, slow_handler, Stats, TestServer};

type Body = Full<Bytes>;

async fn get(client: &Client<Body>, url: &str) -> Result<String, String> {
    let req = http::Request::get(url)
        .body(Body::default())
        .map_err(|e| e.to_string())?;
    let res = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    if res.status() != 200 {
        return Err(format!("status {}", res.status()));
    }
    let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
}

/// Runs `n` GETs with at most `concurrency` at a time; returns how many succeeded
/// (and prints the first failure, so a failing count comes with its cause).
async fn burst(client: &Client<Body>, url: &str, n: usize, concurrency: usize) -> usize {
    let results: Vec<_> = stream::iter(0..n)
        .map(|_| get(client, url))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if let Some(Err(first)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first failure: {first}");
    }
    results.iter().filter(|r| r.is_ok()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_requests_never_exceed_the_per_host_cap() {
    let server = TestServer::start(slow_handler(Duration::from_millis(1))).await;
    let client: Client<Body> = Client::builder().max_connections_per_host(8).build();

    let ok = burst(&client, &server.url("/"), 500, 500).await;

    assert_eq!(ok, 500, "every request succeeds");
    // Requests beyond the cap waited at the per-host gate, not as connects. Without the
    // gate, every request served by a pooled connection leaves a background connect
    // waiting for a permit (~490 here, tens of thousands under sustained load); with
    // it, only the few that race a connection's return to the pool do.
    let metrics = client.metrics().connections;
    assert!(metrics.waiting < 50, "{metrics:?}");
    assert!(metrics.connects <= 8, "{metrics:?}");
    assert!(
        server.stats.max_open() <= 8,
        "server saw {} open sockets",
        server.stats.max_open()
    );
    assert_eq!(server.stats.requests(), 500);
    assert!(client.metrics().connections.open_connections <= 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_host_at_its_cap_does_not_delay_another_host() {
    let (release, gate) = tokio::sync::watch::channel(false);
    let slow = TestServer::start(gated_handler(gate)).await;
    let fast = TestServer::start(ok_handler()).await;
    let client: Client<Body> = Client::builder()
        .max_connections(10)
        .max_connections_per_host(8)
        .build();

    // Fill the slow host's cap with requests that do not finish.
    let stuck: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let url = slow.url("/");
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    slow.stats
        .wait_open("the slow host at its cap", |open| *open == 8)
        .await;

    // The other host is served at once, through the two global permits left.
    let ok = tokio::time::timeout(
        Duration::from_secs(5),
        burst(&client, &fast.url("/"), 50, 10),
    )
    .await
    .expect("the fast host is not held up by the slow one");
    assert_eq!(ok, 50);
    assert!(
        fast.stats.max_open() <= 2,
        "fast host saw {}",
        fast.stats.max_open()
    );
    assert!(client.metrics().connections.open_connections <= 10);

    release.send_replace(true);
    for task in stuck {
        assert_eq!(task.await.expect("task"), Ok("ok".to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_cap_holds_across_hosts() {
    let both = Stats::new();
    let a = TestServer::start_counting(slow_handler(Duration::from_millis(2)), vec![both.clone()])
        .await;
    let b = TestServer::start_counting(slow_handler(Duration::from_millis(2)), vec![both.clone()])
        .await;
    let client: Client<Body> = Client::builder()
        .max_connections(6)
        .max_connections_per_host(4)
        .build();

    let (url_a, url_b) = (a.url("/"), b.url("/"));
    let (ok_a, ok_b) = tokio::join!(
        burst(&client, &url_a, 200, 50),
        burst(&client, &url_b, 200, 50)
    );

    assert_eq!((ok_a, ok_b), (200, 200));
    assert!(a.stats.max_open() <= 4, "host a saw {}", a.stats.max_open());
    assert!(b.stats.max_open() <= 4, "host b saw {}", b.stats.max_open());
    assert!(
        both.max_open() <= 6,
        "both hosts together saw {}",
        both.max_open()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_after_the_idle_timeout_and_release_their_permits() {
    let server = TestServer::start(ok_handler()).await;
    let client: Client<Body> = Client::builder()
        .idle_timeout(Duration::from_millis(300))
        .build();

    assert_eq!(burst(&client, &server.url("/"), 20, 5).await, 20);
    assert!(
        server.stats.open() > 0,
        "connections are kept alive while fresh"
    );

    server
        .stats
        .wait_open("idle connections to close", |open| *open == 0)
        .await;
    let metrics = wait_until(&client, |m| m.connections.open_connections == 0).await;
    assert!(metrics.connections.open_per_host.is_empty(), "{metrics:?}");

    // The permits are back: a new request opens a new connection.
    let before = server.stats.accepted();
    assert_eq!(get(&client, &server.url("/")).await, Ok("ok".into()));
    assert_eq!(server.stats.accepted(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_client_closes_every_socket() {
    let server = TestServer::start(ok_handler()).await;
    let client: Client<Body> = Client::builder().build();

    assert_eq!(burst(&client, &server.url("/"), 1000, 20).await, 1000);
    assert!(
        server.stats.accepted() <= 50,
        "the per-host default cap holds"
    );
    let clone = client.clone();
    drop(client);
    drop(clone);

    server
        .stats
        .wait_open("every socket to close", |open| *open == 0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_share_connections_under_the_cap() {
    let server = TestServer::start(slow_handler(Duration::from_millis(20))).await;
    let client: Client<Body> = Client::builder()
        .http2_only(true)
        .max_connections_per_host(4)
        .build();

    let ok = burst(&client, &server.url("/"), 200, 200).await;

    assert_eq!(ok, 200);
    assert!(
        server.stats.max_open() <= 4,
        "server saw {}",
        server.stats.max_open()
    );
    // Multiplexed: far fewer sockets than concurrent requests.
    assert!(
        server.stats.accepted() <= 4,
        "server accepted {}",
        server.stats.accepted()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_negotiates_http2_by_alpn_and_the_cap_holds() {
    let (acceptor, roots) = self_signed();
    let server = TestServer::start_tls(slow_handler(Duration::from_millis(10)), acceptor).await;
    let client: Client<Body> = Client::builder()
        .root_certificates(roots)
        .max_connections_per_host(3)
        .build();
    let url = format!("https://localhost:{}/", server.addr.port());

    let res = client
        .request(
            http::Request::get(&url)
                .body(Body::default())
                .expect("request"),
        )
        .await
        .expect("https request");
    assert_eq!(res.version(), http::Version::HTTP_2);

    assert_eq!(burst(&client, &url, 100, 100).await, 100);
    assert!(
        server.stats.max_open() <= 3,
        "server saw {}",
        server.stats.max_open()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_an_untrusted_certificate_fails_and_releases_its_permit() {
    let (acceptor, _roots) = self_signed();
    let server = TestServer::start_tls(ok_handler(), acceptor).await;
    let client: Client<Body> = Client::builder().max_connections_per_host(1).build();
    let url = format!("https://localhost:{}/", server.addr.port());

    for _ in 0..3 {
        let err = get(&client, &url)
            .await
            .expect_err("self-signed is not trusted");
        assert!(err.to_lowercase().contains("certificate"), "{err}");
    }
    let metrics = client.metrics().connections;
    assert_eq!(metrics.open_connections, 0);
    assert_eq!(metrics.connect_errors, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_resolved_once_through_the_dns_cache() {
    let server = TestServer::start(ok_handler()).await;
    // One connection per host, so every request after the first reuses it or waits:
    // the resolver is asked once per new connection at most.
    let client: Client<Body> = Client::builder().max_connections_per_host(2).build();
    let url = format!("http://localhost:{}/", server.addr.port());

    assert_eq!(burst(&client, &url, 50, 10).await, 50);

    let dns = client.metrics().dns;
    assert_eq!(dns.misses, 1, "{dns:?}");
    assert_eq!(dns.cached_names, 1);
}

async fn wait_until(
    client: &Client<Body>,
    mut pred: impl FnMut(&pool_layer::PoolMetrics) -> bool,
) -> pool_layer::PoolMetrics {
    // The server sees a close a moment before hyper's connection task drops the IO.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = client.metrics();
        if pred(&metrics) {
            return metrics;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never settled: {metrics:?}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_finds_no_free_connection_in_time_fails_cleanly() {
    let (release, gate) = tokio::sync::watch::channel(false);
    let server = TestServer::start(gated_handler(gate)).await;
    let client: Client<Body> = Client::builder()
        .max_connections_per_host(1)
        .connect_timeout(Duration::from_millis(300))
        .build();
    let url = server.url("/");
    let held = {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move { get(&client, &url).await })
    };
    server
        .stats
        .wait_open("the one connection in use", |open| *open == 1)
        .await;

    let err = get(&client, &url)
        .await
        .expect_err("no slot within the timeout");
    assert!(err.contains("LimitTimeout"), "{err}");
    assert_eq!(
        server.stats.accepted(),
        1,
        "the waiting request never opened a socket"
    );

    release.send_replace(true);
    assert_eq!(held.await.expect("task"), Ok("ok".into()));
    assert_eq!(
        get(&client, &url).await,
        Ok("ok".into()),
        "the slot came back with the body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_caps_and_metrics_cover_them_all() {
    let server = TestServer::start(slow_handler(Duration::from_millis(2))).await;
    let client: Client<Body> = Client::builder()
        .max_connections(7)
        .max_connections_per_host(5)
        .shards(2)
        .build();
    assert_eq!(client.shards(), 2);
    let (first, second) = (client.shard(0), client.shard(1));
    // Shard 0 holds 3 of the 5 per-host connections, shard 1 the other 2.
    assert_eq!(burst(&first, &server.url("/"), 100, 100).await, 100);
    assert!(
        server.stats.max_open() <= 3,
        "one shard opened {} sockets",
        server.stats.max_open()
    );
    let url = server.url("/");
    let (a, b) = tokio::join!(
        burst(&first, &url, 200, 100),
        burst(&second, &url, 200, 100)
    );
    assert_eq!((a, b), (200, 200));
    assert!(
        server.stats.max_open() <= 5,
        "both shards opened {} sockets",
        server.stats.max_open()
    );
    // Both shards' connections were used, and the caps add up to the configured ones.
    assert!(server.stats.accepted() > 3, "{}", server.stats.accepted());
    let metrics = client.metrics().connections;
    assert_eq!(
        (metrics.max_connections, metrics.max_connections_per_host),
        (7, 5)
    );
    assert_eq!(metrics.open_connections, server.stats.open());
    assert_eq!(metrics.open_per_host.len(), 1, "{metrics:?}");
    assert_eq!(metrics.open_per_host[0].1, metrics.open_connections);
    // Clamped so that every shard can reach a host.
    let clamped: Client<Body> = Client::builder()
        .max_connections_per_host(3)
        .shards(8)
        .build();
    assert_eq!(clamped.shards(), 3);
}
