//! The pool inside [`Client`](crate::Client): one for the process, its connection caps
//! counting every socket whichever shard (worker thread) opened it, its idle
//! connections kept per shard so that a worker's requests, connections and wake-ups
//! stay on its thread.
//!
//! A request goes through [`send`]. Per host (scheme + host + port) there are
//! `max_connections_per_host` HTTP/1 request slots for the whole process ([`host`]); a
//! request takes one (at once, or
//! waiting FIFO in the bounded wait queue of [`wait`]), then the most recently used
//! idle connection of its own shard ([`idle`]) — or, only when the host has every
//! connection it may have open, one idle on another shard — or connects
//! ([`connect`], which at the global cap makes room by closing the longest idle
//! connection); the request's own task drives the HTTP/1 connection while it holds it
//! ([`h1`]: no task per connection, no hand-offs between tasks); the connection goes
//! back to its shard's idle list when the response body ends ([`body`]), in the same
//! call that frees the slot. A host that negotiates HTTP/2 is
//! served over one shared connection per shard ([`h2`]). Each shard's reaper closes
//! its connections idle for longer than the idle timeout ([`reaper`]).
//!
//! Why not hyper-util's pooled client: it races every request's checkout against a
//! new connect and, when the checkout wins, finishes the connect in the background, so
//! with a host at its cap each request served by a pooled connection left a connect
//! waiting for a permit; and per request it hashed the pool key three times, boxed
//! twice and spawned a task to return the connection. Here a request with a slot never
//! waits for its host's permit but for a moment (its host has fewer requests in
//! flight than the cap), and the host is found without hashing when it is the
//! shard's previous request's host.
//!
//! Why one pool rather than one per worker: split caps starve. With a per-host cap of
//! 20 over two workers, a worker whose clients send more waits on its 10 while the
//! other's 10 sit idle; with a cap smaller than the worker count some workers could
//! not reach the host at all. Sharing only the slot semaphore and the connection
//! limit keeps the hot path local: the shared state a pooled request touches is one
//! semaphore's permit, taken and given back.
//!
//! Ownership does the cleanup: an HTTP/1 connection is owned by the idle list, the
//! request or its body; dropping it (reaper, pool dropped, request cancelled, body not
//! read to the end, room made at the global cap) drops the socket, and with it the
//! connection's permits, in that call. An HTTP/2 connection runs as a task of its
//! own, which ends when its last sender is dropped.

mod body;
mod connect;
mod error;
mod h1;
mod h2;
mod host;
mod idle;
mod reaper;
mod send;
mod wait;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body::Body as HttpBody;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use self::h1::H1;
use self::host::{Host, Last};
use self::reaper::Kept;
use self::send::Counted;
use crate::client::Connector;
use crate::dns::CachingResolver;
use crate::limit::{ConnectionLimitLayer, HostMap};
use crate::BoxError;

pub use self::body::{Body, ResponseFuture};
pub use self::error::ClientError;
pub(crate) use self::wait::Wait;
pub use self::wait::{
    TooManyWaiters, WaitBudget, WaitTimeout, Waiters, DEFAULT_MAX_WAITERS, DEFAULT_WAIT_TIMEOUT,
};

/// The pool of a client, shared by its shards.
pub(crate) struct Pool<B> {
    connector: Connector,
    /// The connector's limit: process-wide, as every shard connects through it.
    limit: ConnectionLimitLayer,
    per_host: usize,
    /// The bound on waiting for a slot, in count and in time.
    wait: Wait,
    reap_every: Duration,
    http2_only: bool,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    hosts: HostMap<Host<B>>,
    shards: Box<[Shard<B>]>,
    /// The connector's DNS cache, for its metrics.
    resolver: CachingResolver,
}

/// The state of one shard, used from its worker's thread (cache-line aligned, so the
/// shards do not slow each other).
#[repr(align(128))]
struct Shard<B> {
    last: Mutex<Option<Last<B>>>,
    kept: Mutex<Kept<B>>,
    reaper_running: AtomicBool,
    /// Reaper ticks so far: the clock the shard's idle connections are stamped with.
    ticks: AtomicU64,
    /// Woken by an idle HTTP/1 connection that sees something (its socket readable:
    /// the server closed it, mostly): the reaper then drives the shard's idle
    /// connections, closing those found closed, so that their permits come back at
    /// once rather than at the next checkout or tick.
    idle: Arc<reaper::IdleWatch>,
    /// A waker of `idle`, made once.
    idle_waker: std::task::Waker,
}

/// Settings of the pool.
pub(crate) struct Settings {
    pub(crate) limit: ConnectionLimitLayer,
    pub(crate) per_host: usize,
    pub(crate) wait: Wait,
    pub(crate) idle_timeout: Duration,
    pub(crate) http2_only: bool,
    pub(crate) shards: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new connection.
enum Conn<B> {
    H1(H1<B>),
    H2(http2::SendRequest<B>),
}

impl<B> Pool<B> {
    pub(crate) fn new(connector: Connector, settings: Settings, resolver: CachingResolver) -> Self {
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new());
        Self {
            connector,
            limit: settings.limit,
            per_host: settings.per_host,
            wait: settings.wait,
            reap_every: (settings.idle_timeout / idle::TICKS_PER_IDLE_TIMEOUT)
                .max(Duration::from_millis(1)),
            http2_only: settings.http2_only,
            h1: http1::Builder::new(),
            h2,
            hosts: HostMap::new(),
            shards: (0..settings.shards.max(1))
                .map(|_| {
                    let idle = Arc::new(reaper::IdleWatch::default());
                    Shard {
                        last: Mutex::new(None),
                        kept: Mutex::new(Kept::new()),
                        reaper_running: AtomicBool::new(false),
                        ticks: AtomicU64::new(0),
                        idle_waker: std::task::Waker::from(idle.clone()),
                        idle,
                    }
                })
                .collect(),
            resolver,
        }
    }

    /// How many shards.
    pub(crate) fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The connection limit.
    pub(crate) fn limit(&self) -> &ConnectionLimitLayer {
        &self.limit
    }

    /// The DNS cache.
    pub(crate) fn resolver(&self) -> &CachingResolver {
        &self.resolver
    }

    /// The wait queue's state.
    pub(crate) fn wait(&self) -> &Wait {
        &self.wait
    }
}

impl<B> Pool<B>
where
    B: HttpBody + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// An idle HTTP/1 connection to the host, and the shard it belongs to: the shard's
    /// own most recently used one; or, when the host has no connection permit free
    /// (every one it may have is open), one idle on another shard. A request holding
    /// a slot is one of at most `per_host` in flight to its host, so when every permit
    /// is taken some connection of the host is idle (or closing, and its permit comes
    /// back in a moment): borrowing it, rather than closing it to open one here, keeps
    /// the host's connections open and their count at the cap. The connection goes
    /// back to its own shard.
    fn take_idle(&self, host: &Host<B>, shard: usize) -> Option<(H1<B>, usize)> {
        if let Some(conn) = lock(&host.local(shard).idle).take() {
            return Some((conn, shard));
        }
        if self.shards.len() == 1 || !self.limit.host_full(&host.key) {
            return None;
        }
        host.others(shard).find_map(|(other, local)| {
            let conn = lock(&local.idle).take()?;
            tracing::trace!(host = %host.key, "per-host cap reached; borrowing another worker's idle connection");
            Some((conn, other))
        })
    }

    /// Puts an HTTP/1 connection whose response has ended back in its shard's idle list.
    fn put(self: &Arc<Self>, host: &Arc<Host<B>>, shard: usize, conn: H1<B>) {
        if conn.is_closed() {
            return;
        }
        let local = host.local(shard);
        let wanted_here = local.connecting.load(Ordering::Relaxed) > 0;
        if !wanted_here && host.waiting.load(Ordering::Relaxed) == 0 && self.limit.global_wanted() {
            // A connect to another host waits for a global permit, and no request of
            // this host waits for this connection: closing it (dropping it) gives the
            // other host a permit.
            tracing::trace!(host = %host.key, "closing a finished connection for a waiting connect");
            return;
        }
        // `shard` is the connection's own, which may not be this thread's when the
        // connection was borrowed: it goes back to its own shard, so that each shard
        // keeps the connections it opened (and the shard's reaper, if it must start,
        // starts here; it runs on any thread).
        let state = &self.shards[shard];
        conn.park(&state.idle_waker);
        let tick = state.ticks.load(Ordering::Relaxed);
        let newly_kept = lock(&local.idle).put(conn, tick, self.per_host);
        if wanted_here {
            local.returned.notify_one();
        }
        self.keep(host, shard, newly_kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::Uri;
    use http_body_util::Full;

    #[test]
    fn one_host_however_its_uri_is_written() {
        let client: crate::Client<Full<Bytes>> = crate::Client::builder().build();
        let pool = client.pool();
        let host = |uri: &str| pool.host(0, &uri.parse().unwrap_or_default());
        let a = host("http://A.example:80/v1/x").unwrap_or_else(|| panic!("a host"));
        assert_eq!(a.dst, "http://A.example:80/");
        // Same host again (the remembered one), then spelled differently, then after
        // another host: always the same entry.
        for uri in [
            "http://a.example:80/y",
            "http://a.example/z",
            "HTTP://a.EXAMPLE/",
        ] {
            assert!(Arc::ptr_eq(
                &a,
                &host(uri).unwrap_or_else(|| panic!("{uri}"))
            ));
        }
        let b = host("http://b.example/").unwrap_or_else(|| panic!("b host"));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(b.key.as_str(), "http://b.example:80");
        assert!(Arc::ptr_eq(
            &a,
            &host("http://a.example/").unwrap_or_else(|| panic!("a"))
        ));
        // Another scheme is another host.
        let tls = host("https://a.example/").unwrap_or_else(|| panic!("tls"));
        assert!(!Arc::ptr_eq(&a, &tls));
        assert!(host("/relative").is_none());
    }

    #[test]
    fn every_shard_finds_the_same_host() {
        let client: crate::Client<Full<Bytes>> = crate::Client::builder().shards(3).build();
        let pool = client.pool();
        let uri: Uri = "http://a.example/".parse().unwrap_or_default();
        let first = pool.host(0, &uri).unwrap_or_else(|| panic!("host"));
        for shard in 1..3 {
            let host = pool.host(shard, &uri).unwrap_or_else(|| panic!("host"));
            assert!(Arc::ptr_eq(&first, &host), "shard {shard}");
        }
    }
}
