//! HTTP/1 connections are driven by the requests that use them, with no task of their
//! own; a close by the server while a connection is idle is still seen, at checkout
//! or by the reaper, and frees the connection's permit.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use pool_layer::Client;
use support::{ok_handler, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

type Body = Empty<Bytes>;

fn get_request(url: &str) -> http::Request<Body> {
    http::Request::get(url)
        .body(Empty::new())
        .unwrap_or_else(|e| panic!("request: {e}"))
}

async fn get(client: &Client<Body>, url: &str) -> Result<Bytes, String> {
    let res = client
        .request(get_request(url))
        .await
        .map_err(|e| e.to_string())?;
    let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(body.to_bytes())
}

/// A server answering `ok` on each connection until the test sends on the
/// connection's `close` channel (one per accepted connection, in `closers`), then
/// closing it and reporting on `closed`.
struct ClosingServer {
    addr: std::net::SocketAddr,
    closers: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    closed: mpsc::UnboundedReceiver<()>,
}

impl ClosingServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let (closers_tx, closers) = mpsc::unbounded_channel();
        let (closed_tx, closed) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (close_tx, mut close) = oneshot::channel::<()>();
                let _ = closers_tx.send(close_tx);
                let closed_tx = closed_tx.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let n = tokio::select! {
                            read = socket.read(&mut chunk) => match read {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            },
                            _ = &mut close => break,
                        };
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let res = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if socket.write_all(res.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                    drop(socket);
                    let _ = closed_tx.send(());
                });
            }
        });
        Self {
            addr,
            closers,
            closed,
        }
    }

    /// Closes the next accepted connection (in order) and waits until it is closed.
    async fn close_next(&mut self) {
        let close = self.closers.recv().await.expect("a connection");
        let _ = close.send(());
        self.closed.recv().await.expect("closed");
    }
}

#[test]
fn http1_connections_run_in_their_requests_tasks_not_tasks_of_their_own() {
    // The server runs on a runtime of its own, so that the client's runtime counts
    // only the client's tasks.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let server = server_rt.block_on(TestServer::start(ok_handler()));
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    client_rt.block_on(async {
        let client: Client<Body> = Client::builder().build();
        let url = server.url("/");
        let request = || client.request(get_request(&url));
        // Five responses at once, their bodies held: five connections, all busy.
        let (a, b, c, d, e) = tokio::join!(request(), request(), request(), request(), request());
        let responses = [a, b, c, d, e].map(|r| r.unwrap_or_else(|e| panic!("response: {e}")));
        assert_eq!(client.metrics().connections.open_connections, 5);
        let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
        assert_eq!(tasks, 0, "no task per connection");
        for res in responses {
            let body = res.into_body().collect().await;
            assert_eq!(body.map(|b| b.to_bytes()).ok(), Some(Bytes::from("ok")));
        }
        // Back in the pool: the shard's reaper is the one task.
        let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
        assert_eq!(tasks, 1, "the reaper alone");
        assert_eq!(client.metrics().connections.open_connections, 5);
        assert_eq!(get(&client, &url).await, Ok(Bytes::from("ok")));
        assert_eq!(server.stats.accepted(), 5, "the connections are reused");
    });
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_connection_the_server_closed_is_not_used_and_frees_its_permit() {
    let mut server = ClosingServer::start().await;
    let client: Client<Body> = Client::builder().build();
    let url = format!("http://{}/", server.addr);
    assert_eq!(get(&client, &url).await, Ok(Bytes::from("ok")));
    server.close_next().await;
    // Let the event loop see the close (yield_now returns after the driver's turn).
    tokio::task::yield_now().await;
    assert_eq!(client.metrics().connections.open_connections, 1);

    // The checkout polls the parked connection, sees the close and connects anew.
    assert_eq!(get(&client, &url).await, Ok(Bytes::from("ok")));
    let metrics = client.metrics();
    assert_eq!(metrics.connections.connects, 2);
    assert_eq!(
        metrics.connections.open_connections, 1,
        "the closed one's permit is back"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_reaper_drops_an_idle_connection_the_server_closed_before_its_idle_timeout() {
    let mut server = ClosingServer::start().await;
    // The reaper ticks every quarter of the idle timeout (0.5 s); idle expiry would
    // take 2 to 2.5 s.
    let idle = Duration::from_secs(2);
    let client: Client<Body> = Client::builder().idle_timeout(idle).build();
    let url = format!("http://{}/", server.addr);
    assert_eq!(get(&client, &url).await, Ok(Bytes::from("ok")));
    let parked = Instant::now();
    server.close_next().await;

    while client.metrics().connections.open_connections != 0 {
        assert!(
            parked.elapsed() < idle * 3 / 4,
            "the closed connection is still counted open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
