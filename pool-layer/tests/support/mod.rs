//! A loopback HTTP server that counts the sockets it actually sees.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub type Handler = Arc<dyn Fn(Request<Incoming>) -> BoxFuture<Response<Full<Bytes>>> + Send + Sync>;

/// Socket counts of one server (or of several sharing one `Stats`).
#[derive(Debug)]
pub struct Stats {
    accepted: AtomicUsize,
    max_open: AtomicUsize,
    requests: AtomicUsize,
    open: watch::Sender<usize>,
    max_established: AtomicUsize,
}

impl Stats {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            accepted: AtomicUsize::new(0),
            max_open: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            open: watch::channel(0).0,
            max_established: AtomicUsize::new(0),
        })
    }
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    pub fn max_open(&self) -> usize {
        self.max_open.load(Ordering::SeqCst)
    }
    /// The most sockets the kernel had ESTABLISHED on the server's port, sampled at
    /// each accept. Unlike [`max_open`](Self::max_open), which counts a socket until the
    /// server has read its end, this drops a socket the moment the client closes it.
    pub fn max_established(&self) -> usize {
        self.max_established.load(Ordering::SeqCst)
    }
    pub fn open(&self) -> usize {
        *self.open.borrow()
    }
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    /// Waits (bounded) until the number of open sockets satisfies `pred`.
    pub async fn wait_open(&self, what: &str, pred: impl FnMut(&usize) -> bool) {
        let mut rx = self.open.subscribe();
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(pred))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; open = {}", self.open()))
            .expect("sender lives in self");
    }
    fn opened(self: &Arc<Self>) -> OpenGuard {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        self.open.send_modify(|open| {
            *open += 1;
            self.max_open.fetch_max(*open, Ordering::SeqCst);
        });
        OpenGuard(self.clone())
    }
}

struct OpenGuard(Arc<Stats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.send_modify(|open| *open -= 1);
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn ok_handler() -> Handler {
    Arc::new(|_req| Box::pin(async { Response::new(Full::new(Bytes::from_static(b"ok"))) }))
}

/// Answers after `delay` of server-side work.
pub fn slow_handler(delay: Duration) -> Handler {
    Arc::new(move |_req| {
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Response::new(Full::new(Bytes::from_static(b"ok")))
        })
    })
}

/// Answers only once `gate` says true.
pub fn gated_handler(gate: watch::Receiver<bool>) -> Handler {
    Arc::new(move |_req| {
        let mut gate = gate.clone();
        Box::pin(async move {
            let _ = gate.wait_for(|open| *open).await;
            Response::new(Full::new(Bytes::from_static(b"ok")))
        })
    })
}

impl TestServer {
    /// HTTP/1.1 and h2c (prior knowledge) on `127.0.0.1:0`.
    pub async fn start(handler: Handler) -> Self {
        Self::start_counting(handler, vec![]).await
    }

    /// Also counts into each of `also` (e.g. one `Stats` shared by two servers).
    pub async fn start_counting(handler: Handler, also: Vec<Arc<Stats>>) -> Self {
        Self::spawn(handler, also, None).await
    }

    /// HTTPS (HTTP/1.1 and h2 by ALPN) with the given acceptor.
    pub async fn start_tls(handler: Handler, tls: tokio_rustls::TlsAcceptor) -> Self {
        Self::spawn(handler, vec![], Some(tls)).await
    }

    async fn spawn(
        handler: Handler,
        also: Vec<Arc<Stats>>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let stats = Stats::new();
        let counted = {
            let mut all = also;
            all.push(stats.clone());
            all
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let guards: Vec<OpenGuard> = counted.iter().map(|s| s.opened()).collect();
                let established = established(addr.port());
                for s in &counted {
                    s.max_established.fetch_max(established, Ordering::SeqCst);
                }
                let handler = handler.clone();
                let counted = counted.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _guards = guards;
                    let svc = hyper::service::service_fn(move |req| {
                        for s in &counted {
                            s.requests.fetch_add(1, Ordering::SeqCst);
                        }
                        let fut = handler(req);
                        async move { Ok::<_, Infallible>(fut.await) }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        });
        Self { addr, stats, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// A self-signed certificate for `localhost`: the server's acceptor and the client's
/// root store trusting it.
pub fn self_signed() -> (tokio_rustls::TlsAcceptor, rustls::RootCertStore) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .expect("server cert");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).expect("add root");
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), roots)
}

/// Sockets in state ESTABLISHED whose local port is `port`, from `/proc/net/tcp` (0
/// where there is none).
pub fn established(port: u16) -> usize {
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
