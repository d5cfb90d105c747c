//! Fires a burst of concurrent requests at a loopback server it starts itself, and
//! prints how many sockets the server saw: the per-host cap holds however many
//! requests are in flight, and dropping the client closes every socket.
//!
//! ```text
//! cargo run -p pool-layer --example burst -- [REQUESTS] [PER_HOST_CAP]
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http_body_util::{BodyExt, Full};
use pool_layer::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(500);
    let per_host: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50);

    // Each request takes 5 ms of "work" on the server, so many are in flight at once.
    let server = support::TestServer::start(support::slow_handler(Duration::from_millis(5))).await;
    let client: Client<Full<Bytes>> = Client::builder().max_connections_per_host(per_host).build();
    let url = server.url("/v1/chat/completions");

    println!("{requests} concurrent requests to {url}, per-host cap {per_host}");
    let started = Instant::now();
    let results: Vec<_> = stream::iter(0..requests)
        .map(|_| {
            let client = client.clone();
            let req = http::Request::get(url.as_str()).body(Full::default());
            async move {
                let res = client.request(req?).await?;
                let status = res.status();
                res.into_body().collect().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(status)
            }
        })
        .buffer_unordered(requests)
        .collect()
        .await;
    let ok = results
        .iter()
        .filter(|r| matches!(r, Ok(s) if s.is_success()))
        .count();
    let elapsed = started.elapsed();

    let metrics = client.metrics();
    println!("succeeded:               {ok}/{requests} in {elapsed:.2?}");
    println!("server: sockets accepted {}", server.stats.accepted());
    println!("server: most open at once {}", server.stats.max_open());
    println!(
        "client: connections open {}",
        metrics.connections.open_connections
    );
    println!("client: connects made     {}", metrics.connections.connects);
    println!(
        "client: dns misses/hits   {}/{}",
        metrics.dns.misses, metrics.dns.hits
    );

    drop(client);
    server
        .stats
        .wait_open("the server to see every socket closed", |open| *open == 0)
        .await;
    println!(
        "client dropped: server sees {} open sockets",
        server.stats.open()
    );

    if ok != requests || server.stats.max_open() > per_host {
        return Err("the burst did not stay within the cap".into());
    }
    Ok(())
}
