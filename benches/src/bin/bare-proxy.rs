//! The floor under the gateway: a reverse proxy made of only the parts the gateway
//! serves and sends with — hyper-util's server connection (HTTP/1 with a header-read
//! timeout, keep-alive), one single-threaded event loop per worker with its own
//! `SO_REUSEPORT` socket and a timer pacer, and `pool_layer::Client` (one shard per
//! worker) — with none of the gateway's layers, no JSON and no routing: each request's
//! body is read whole and sent to one upstream as it came.
//!
//! ```text
//! bare-proxy LISTEN_ADDR UPSTREAM_BASE_URL [WORKERS]
//! bare-proxy 127.0.0.1:18086 http://127.0.0.1:18081 2
//! ```
//!
//! `benches/e2e.sh` runs it as the `hyper` target, so the table shows how much of the
//! gateway's cost per request is the HTTP machinery itself and how much its layers
//! add; `benches/callgrind.sh --bare` counts its instructions per request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

/// The largest request body read (as the gateway's default `server.max_body_bytes`).
const MAX_BODY: usize = 10 * 1024 * 1024;
/// As the gateway's default `server.header_read_timeout_s`.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

type Body = Either<pool_layer::Body, Full<Bytes>>;
type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bare-proxy LISTEN_ADDR UPSTREAM_BASE_URL [WORKERS]";
    let addr: SocketAddr = args.first().ok_or(usage)?.parse()?;
    let upstream: Uri = args.get(1).ok_or(usage)?.parse()?;
    if upstream.scheme().is_none() || upstream.authority().is_none() {
        return Err(
            format!("{upstream}: an absolute URL is needed, like http://127.0.0.1:8080").into(),
        );
    }
    let workers: usize = match args.get(2) {
        Some(n) => n.parse()?,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let workers = workers.max(1);
    // A plain bind first, so that an address in use is an error.
    let addr = std::net::TcpListener::bind(addr)?.local_addr()?;

    let client: pool_layer::Client<Full<Bytes>> =
        pool_layer::Client::builder().shards(workers).build();
    let threads = (0..workers)
        .map(|worker| {
            let client = client.shard(worker);
            let upstream = upstream.clone();
            std::thread::Builder::new()
                .name(format!("bare-proxy-{worker}"))
                .spawn(move || -> Result<(), Error> {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?
                        .block_on(serve(addr, client, upstream))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for thread in threads {
        thread.join().map_err(|_| "a worker panicked")??;
    }
    Ok(())
}

/// One worker: its own socket on `addr`, serving until the process ends.
async fn serve(
    addr: SocketAddr,
    client: pool_layer::Client<Full<Bytes>>,
    upstream: Uri,
) -> Result<(), Error> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(1024)?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let _pacer = gateway_example::server::TimerPacer::start(Duration::from_secs(1));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                eprintln!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let upstream = upstream.clone();
        let service =
            hyper::service::service_fn(move |req| forward(client.clone(), upstream.clone(), req));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(conn);
    }
}

/// Sends `req` to the upstream with its path, headers and body as they came.
async fn forward(
    client: pool_layer::Client<Full<Bytes>>,
    upstream: Uri,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                format!("request body: {err}"),
            ))
        }
    };
    let mut uri = upstream.into_parts();
    uri.path_and_query = parts.uri.path_and_query().cloned();
    parts.uri = match Uri::from_parts(uri) {
        Ok(uri) => uri,
        Err(err) => return Ok(plain(StatusCode::BAD_REQUEST, err.to_string())),
    };
    // The pool names the upstream in `Host`.
    parts.headers.remove(http::header::HOST);
    match client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(res) => Ok(res.map(Either::Left)),
        Err(err) => Ok(plain(StatusCode::BAD_GATEWAY, err.to_string())),
    }
}

fn plain(status: StatusCode, message: String) -> Response<Body> {
    let mut res = Response::new(Either::Right(Full::new(Bytes::from(message))));
    *res.status_mut() = status;
    res
}
