//! The pool inside [`Client`](crate::Client): per host, a FIFO of request slots (the
//! per-host cap for HTTP/1), the idle HTTP/1 connections, and the one shared HTTP/2
//! connection; a reaper task closes connections idle for longer than the idle timeout.
//!
//! Why not hyper-util's pooled client: it races every request's checkout against a
//! new connect and, when the checkout wins, finishes the connect in the background, so
//! with a host at its cap each request served by a pooled connection left a connect
//! waiting for a permit; and per request it hashed the pool key three times, boxed
//! twice and spawned a task to return the connection. Here a request takes a slot of
//! its host (at most `max_connections_per_host` HTTP/1 requests per host are in
//! flight, so a connect never has to wait for its host's permit), then the most
//! recently used idle connection, or connects; the connection goes back to the idle
//! list when the response body ends, in the same call that frees the slot. The host is
//! found without hashing when it is the previous request's host.
//!
//! Ownership does the cleanup: an idle connection is a hyper `SendRequest`; dropping it
//! (reaper, pool dropped, body not read to the end) ends hyper's connection task, which
//! drops the socket and with it the connection's permits.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, HOST};
use http::{Request, Response, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::client::Connector;
use crate::limit::{ConnectionLimitLayer, HostKey, HostMap, LimitTimeout};
use crate::BoxError;

/// An idle connection is closed after between 4 and 5 ticks of the reaper, which ticks
/// every quarter of the idle timeout: so after between 1 and 1.25 idle timeouts.
const TICKS_PER_IDLE_TIMEOUT: u32 = 4;
const EXPIRED_AFTER_TICKS: u64 = TICKS_PER_IDLE_TIMEOUT as u64 + 1;

/// One shard's pool.
pub(crate) struct Pool<B> {
    connector: Connector,
    /// The connector's limit, to see when every global permit is taken.
    limit: ConnectionLimitLayer,
    per_host: usize,
    /// Bound on waiting for a slot.
    wait_timeout: Duration,
    reap_every: Duration,
    http2_only: bool,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    hosts: HostMap<Host<B>>,
    /// The host of the last request, found again by comparing the URI's scheme and
    /// authority: most clients send to one host at a time, and this skips building
    /// the key and hashing it.
    last: Mutex<Option<Last<B>>>,
    /// Hosts holding idle connections, held strongly so that their connections stay
    /// pooled while no request names them, and whether the reaper runs.
    kept: Mutex<Kept<B>>,
    reaper_running: AtomicBool,
    /// Reaper ticks so far: the clock idle connections are stamped with.
    ticks: AtomicU64,
}

struct Last<B> {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    host: Arc<Host<B>>,
}

struct Kept<B> {
    hosts: Vec<Arc<Host<B>>>,
    reaper: bool,
}

pub(crate) struct Host<B> {
    key: HostKey,
    /// `scheme://authority`, what the connector is asked for.
    dst: Uri,
    /// The `Host` header HTTP/1 requests to it get when they have none, made once.
    host_header: Option<HeaderValue>,
    slots: Arc<Semaphore>,
    /// Set while the host is served over one shared HTTP/2 connection.
    multiplexed: AtomicBool,
    idle: Mutex<Idle<B>>,
    /// Held while an HTTP/2 connection to the host is being made, so a burst makes one.
    h2_connecting: tokio::sync::Mutex<()>,
    /// Requests on the HTTP/2 connection whose bodies have not ended.
    h2_active: AtomicUsize,
    /// Reaper tick of the last request on the HTTP/2 connection.
    h2_used: AtomicU64,
    /// Requests connecting while every global permit is taken, and the signal to them
    /// that a connection of the host came back first.
    connecting: AtomicUsize,
    returned: tokio::sync::Notify,
    /// Requests waiting for a slot.
    waiting: AtomicUsize,
}

struct Idle<B> {
    /// Idle HTTP/1 connections with the reaper tick they went idle at, most recently
    /// used last. At most `per_host` (every one holds a per-host permit).
    h1: Vec<(http1::SendRequest<B>, u64)>,
    h2: Option<http2::SendRequest<B>>,
    /// In `Pool::kept`.
    kept: bool,
}

/// Settings of a shard's pool.
pub(crate) struct Settings {
    pub(crate) limit: ConnectionLimitLayer,
    pub(crate) per_host: usize,
    pub(crate) wait_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) http2_only: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<B> Pool<B> {
    pub(crate) fn new(connector: Connector, settings: Settings) -> Self {
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new());
        Self {
            connector,
            limit: settings.limit,
            per_host: settings.per_host,
            wait_timeout: settings.wait_timeout,
            reap_every: (settings.idle_timeout / TICKS_PER_IDLE_TIMEOUT)
                .max(Duration::from_millis(1)),
            http2_only: settings.http2_only,
            h1: http1::Builder::new(),
            h2,
            hosts: HostMap::new(),
            last: Mutex::new(None),
            kept: Mutex::new(Kept {
                hosts: Vec::new(),
                reaper: false,
            }),
            reaper_running: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
        }
    }
}

impl<B> Pool<B>
where
    B: HttpBody + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// The host of `uri` (`None` unless the URI is absolute).
    pub(crate) fn host(&self, uri: &Uri) -> Option<Arc<Host<B>>> {
        let (scheme, authority) = (uri.scheme()?, uri.authority()?);
        let mut last = lock(&self.last);
        if let Some(last) = last.as_ref() {
            // Both comparisons ignore ASCII case, as host keys do; the byte-for-byte
            // comparison first is the fast path (the same host, spelled the same).
            let same_authority =
                last.authority.as_str() == authority.as_str() || last.authority == *authority;
            if last.scheme == *scheme && same_authority {
                return Some(last.host.clone());
            }
        }
        let host = self.lookup(scheme, authority, uri)?;
        *last = Some(Last {
            scheme: scheme.clone(),
            authority: authority.clone(),
            host: host.clone(),
        });
        Some(host)
    }

    fn lookup(
        &self,
        scheme: &http::uri::Scheme,
        authority: &http::uri::Authority,
        uri: &Uri,
    ) -> Option<Arc<Host<B>>> {
        let dst = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .ok()?;
        HostKey::with_str(uri, |key| {
            self.hosts.get_or_insert_str(key, |key| Host {
                key: key.clone(),
                host_header: host_header(&dst),
                dst,
                slots: Arc::new(Semaphore::new(self.per_host)),
                multiplexed: AtomicBool::new(self.http2_only),
                idle: Mutex::new(Idle {
                    h1: Vec::new(),
                    h2: None,
                    kept: false,
                }),
                h2_connecting: tokio::sync::Mutex::new(()),
                h2_active: AtomicUsize::new(0),
                h2_used: AtomicU64::new(0),
                connecting: AtomicUsize::new(0),
                returned: tokio::sync::Notify::new(),
                waiting: AtomicUsize::new(0),
            })
        })
    }

    /// Sends `req` to `host` (from [`host`](Self::host) of its URI).
    ///
    /// The paths other than a pooled HTTP/1 connection (connecting, HTTP/2) are boxed:
    /// an async fn's future is as large as its largest path, and the usual request
    /// should not carry, and copy, their space (this future was ~3 KB, now ~1.5 KB).
    pub(crate) async fn send(
        self: Arc<Self>,
        host: Option<Arc<Host<B>>>,
        req: Request<B>,
    ) -> Result<Response<Body>, ClientError> {
        let host = host.ok_or(ClientError {
            kind: Kind::NotAbsolute,
        })?;
        loop {
            if host.multiplexed.load(Ordering::Relaxed) {
                let sender = match host.live_h2() {
                    Some(sender) => Some(sender),
                    None => Box::pin(self.h2_sender(&host)).await?,
                };
                if let Some(sender) = sender {
                    return Box::pin(self.send_h2(host, sender, None, req)).await;
                }
            }
            let slot = self.enter(&host).await?;
            if host.multiplexed.load(Ordering::Relaxed) {
                // Became multiplexed while this request waited.
                continue;
            }
            return self.send_h1(host, slot, req).await;
        }
    }

    /// Waits (FIFO, bounded) for one of the host's HTTP/1 request slots.
    async fn enter(&self, host: &Arc<Host<B>>) -> Result<OwnedSemaphorePermit, ClientError> {
        if let Ok(slot) = host.slots.clone().try_acquire_owned() {
            return Ok(slot);
        }
        tracing::trace!(host = %host.key, "per-host cap reached; request waits for a connection");
        let _waiting = Counted::new(&host.waiting);
        match tokio::time::timeout(self.wait_timeout, host.slots.clone().acquire_owned()).await {
            Ok(slot) => Ok(slot.expect("slot semaphores are never closed")),
            Err(_) => Err(ClientError {
                kind: Kind::Slot(LimitTimeout::new(host.key.clone(), self.wait_timeout)),
            }),
        }
    }

    async fn send_h1(
        self: Arc<Self>,
        host: Arc<Host<B>>,
        slot: OwnedSemaphorePermit,
        mut req: Request<B>,
    ) -> Result<Response<Body>, ClientError> {
        // The absolute URI, kept while the request carries the origin form.
        let mut absolute: Option<Uri> = None;
        loop {
            let (mut sender, reused) = match host.take_idle() {
                Some(mut sender) => {
                    if sender.ready().await.is_err() {
                        continue;
                    }
                    (sender, true)
                }
                None => match Box::pin(self.connect_or_returned(&host)).await? {
                    None => continue,
                    Some(Conn::H1(sender)) => (sender, false),
                    Some(Conn::H2(sender)) => {
                        if let Some(uri) = absolute.take() {
                            *req.uri_mut() = uri;
                        }
                        return Box::pin(self.send_h2(host, sender, Some(slot), req)).await;
                    }
                },
            };
            if absolute.is_none() {
                absolute = Some(to_origin_form(&mut req, host.host_header.as_ref()));
            }
            match sender.try_send_request(req).await {
                Ok(res) => {
                    let done = H1Done {
                        pool: self,
                        host,
                        sender,
                        _slot: slot,
                    };
                    return Ok(res.map(|body| Body::new(body, Box::new(done))));
                }
                Err(mut err) => match err.take_message() {
                    // The connection closed before the request went out (typically an
                    // idle connection the server had just closed): another one.
                    Some(unsent) if reused => {
                        tracing::debug!(host = %host.key, error = %err.error(), "pooled connection closed; retrying on another");
                        req = unsent;
                    }
                    _ => {
                        return Err(ClientError {
                            kind: Kind::Request(err.into_error()),
                        })
                    }
                },
            }
        }
    }

    async fn send_h2(
        self: Arc<Self>,
        host: Arc<Host<B>>,
        mut sender: http2::SendRequest<B>,
        slot: Option<OwnedSemaphorePermit>,
        mut req: Request<B>,
    ) -> Result<Response<Body>, ClientError> {
        host.h2_used
            .store(self.ticks.load(Ordering::Relaxed), Ordering::Relaxed);
        host.h2_active.fetch_add(1, Ordering::Relaxed);
        let done = H2Done { host, _slot: slot };
        // One retry: a request refused unsent by a connection that was closing.
        let mut retried = false;
        loop {
            match sender.try_send_request(req).await {
                Ok(res) => return Ok(res.map(|body| Body::new(body, Box::new(done)))),
                Err(mut err) => match err.take_message() {
                    Some(unsent) if !retried => {
                        retried = true;
                        req = unsent;
                        done.host.forget_h2(&sender);
                        sender = if self.http2_only {
                            match Box::pin(self.h2_sender(&done.host)).await? {
                                Some(sender) => sender,
                                None => continue,
                            }
                        } else {
                            match self.connect(&done.host).await? {
                                Conn::H2(sender) => sender,
                                Conn::H1(_) => {
                                    return Err(ClientError {
                                        kind: Kind::Request(err.into_error()),
                                    })
                                }
                            }
                        };
                    }
                    _ => {
                        return Err(ClientError {
                            kind: Kind::Request(err.into_error()),
                        })
                    }
                },
            }
        }
    }

    /// Connects; but if every global permit is taken, first closes the longest idle
    /// connection (of any host), and gives up the connect (`None`) if a connection of
    /// the host comes back before it is made.
    async fn connect_or_returned(
        self: &Arc<Self>,
        host: &Arc<Host<B>>,
    ) -> Result<Option<Conn<B>>, ClientError> {
        if !self.limit.global_exhausted() {
            return self.connect(host).await.map(Some);
        }
        self.close_longest_idle();
        let _connecting = Counted::new(&host.connecting);
        let connect = self.connect(host);
        let returned = std::pin::pin!(host.returned.notified());
        match futures_util::future::select(connect, returned).await {
            futures_util::future::Either::Left((conn, _)) => conn.map(Some),
            futures_util::future::Either::Right(_) => Ok(None),
        }
    }

    /// Closes the idle HTTP/1 connection that went idle first, over all hosts, to
    /// free its permits for a connect.
    fn close_longest_idle(&self) {
        let host = {
            let kept = lock(&self.kept);
            let mut oldest: Option<(&Arc<Host<B>>, u64)> = None;
            for host in &kept.hosts {
                if let Some((_, at)) = lock(&host.idle).h1.first() {
                    if oldest.is_none_or(|(_, tick)| *at < tick) {
                        oldest = Some((host, *at));
                    }
                }
            }
            oldest.map(|(host, _)| host.clone())
        };
        if let Some(host) = host {
            let closed = {
                let mut idle = lock(&host.idle);
                (!idle.h1.is_empty()).then(|| idle.h1.remove(0))
            };
            if closed.is_some() {
                tracing::debug!(host = %host.key, "global connection cap reached; closed an idle connection");
            }
        }
    }

    /// The host's live HTTP/2 connection; in HTTP/2-only mode one is made if there is
    /// none (one at a time). `None` when the host must be reached again over the
    /// HTTP/1 path, which learns its protocol by ALPN.
    async fn h2_sender(
        self: &Arc<Self>,
        host: &Arc<Host<B>>,
    ) -> Result<Option<http2::SendRequest<B>>, ClientError> {
        if let Some(sender) = host.live_h2() {
            return Ok(Some(sender));
        }
        if !self.http2_only {
            host.multiplexed.store(false, Ordering::Relaxed);
            return Ok(None);
        }
        let _connecting = host.h2_connecting.lock().await;
        if let Some(sender) = host.live_h2() {
            return Ok(Some(sender));
        }
        match self.connect(host).await? {
            Conn::H2(sender) => Ok(Some(sender)),
            Conn::H1(_) => unreachable!("HTTP/2-only pools only make HTTP/2 connections"),
        }
    }

    /// Opens a connection to the host: HTTP/2 (kept as the host's shared connection)
    /// if the pool is HTTP/2-only or TLS negotiated it, else HTTP/1.
    ///
    /// Boxed: the handshakes' futures are large, and a request that finds a pooled
    /// connection should not carry (and move) their space.
    fn connect<'a>(
        self: &'a Arc<Self>,
        host: &'a Arc<Host<B>>,
    ) -> Pin<Box<dyn Future<Output = Result<Conn<B>, ClientError>> + Send + 'a>> {
        Box::pin(self.connect_unboxed(host))
    }

    async fn connect_unboxed(
        self: &Arc<Self>,
        host: &Arc<Host<B>>,
    ) -> Result<Conn<B>, ClientError> {
        let io = self
            .connector
            .clone()
            .oneshot(host.dst.clone())
            .await
            .map_err(|err| ClientError {
                kind: Kind::Connect(err),
            })?;
        if self.http2_only || io.connected().is_negotiated_h2() {
            let (sender, conn) = self.h2.handshake(io).await.map_err(|err| ClientError {
                kind: Kind::Handshake(err),
            })?;
            drive(host, "HTTP/2", conn);
            Ok(Conn::H2(self.keep_h2(host, sender)))
        } else {
            let (sender, conn) = self.h1.handshake(io).await.map_err(|err| ClientError {
                kind: Kind::Handshake(err),
            })?;
            drive(host, "HTTP/1", conn);
            Ok(Conn::H1(sender))
        }
    }

    /// Makes `sender` the host's shared HTTP/2 connection, unless it has a live one
    /// already (then that one is used, and the new one closes once unused).
    fn keep_h2(
        self: &Arc<Self>,
        host: &Arc<Host<B>>,
        sender: http2::SendRequest<B>,
    ) -> http2::SendRequest<B> {
        let (shared, newly_kept) = {
            let mut idle = lock(&host.idle);
            let shared = match &idle.h2 {
                Some(current) if !current.is_closed() => current.clone(),
                _ => {
                    idle.h2 = Some(sender.clone());
                    sender
                }
            };
            (shared, !std::mem::replace(&mut idle.kept, true))
        };
        host.multiplexed.store(true, Ordering::Relaxed);
        self.keep(host, newly_kept);
        shared
    }

    /// Puts an HTTP/1 connection whose response has ended back in the idle list.
    fn put(self: &Arc<Self>, host: &Arc<Host<B>>, sender: http1::SendRequest<B>) {
        if sender.is_closed() {
            return;
        }
        let wanted_here = host.connecting.load(Ordering::Relaxed) > 0;
        if !wanted_here && host.waiting.load(Ordering::Relaxed) == 0 && self.limit.global_wanted() {
            // A connect to another host waits for a global permit, and no request of
            // this host waits for this connection: closing it (dropping its sender)
            // gives the other host a permit.
            tracing::trace!(host = %host.key, "closing a finished connection for a waiting connect");
            return;
        }
        let tick = self.ticks.load(Ordering::Relaxed);
        let newly_kept = {
            let mut idle = lock(&host.idle);
            if idle.h1.len() >= self.per_host {
                // Only closed connections can be over the cap (each open one holds a
                // per-host permit); drop them, and the oldest if that was not enough.
                idle.h1.retain(|(sender, _)| !sender.is_closed());
                if idle.h1.len() >= self.per_host {
                    idle.h1.remove(0);
                }
            }
            idle.h1.push((sender, tick));
            !std::mem::replace(&mut idle.kept, true)
        };
        if wanted_here {
            host.returned.notify_one();
        }
        self.keep(host, newly_kept);
    }

    /// Adds `host` to the kept hosts if `newly_kept`, and makes sure the reaper runs.
    fn keep(self: &Arc<Self>, host: &Arc<Host<B>>, newly_kept: bool) {
        if !newly_kept && self.reaper_running.load(Ordering::Relaxed) {
            return;
        }
        let mut kept = lock(&self.kept);
        if newly_kept {
            kept.hosts.push(host.clone());
        }
        if !kept.reaper {
            // Outside a runtime (a body dropped on a plain thread) there is nowhere to
            // run it; the next connection put back from within one starts it.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                kept.reaper = true;
                self.reaper_running.store(true, Ordering::Relaxed);
                runtime.spawn(reap(Arc::downgrade(self), self.reap_every));
            }
        }
    }
}

/// Runs a connection's hyper task until the connection ends (its last sender dropped,
/// or closed by either side); the socket and its permits go with it.
fn drive<B, C>(host: &Host<B>, protocol: &'static str, conn: C)
where
    C: Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    let key = host.key.clone();
    tokio::spawn(async move {
        if let Err(err) = conn.await {
            tracing::debug!(host = %key, error = %err, "{protocol} connection ended");
        }
    });
}

/// Counts one for as long as it lives.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Conn<B> {
    H1(http1::SendRequest<B>),
    H2(http2::SendRequest<B>),
}

impl<B> Host<B> {
    /// The most recently used idle HTTP/1 connection that is still open.
    fn take_idle(&self) -> Option<http1::SendRequest<B>> {
        let mut idle = lock(&self.idle);
        while let Some((sender, _)) = idle.h1.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn live_h2(&self) -> Option<http2::SendRequest<B>> {
        let idle = lock(&self.idle);
        idle.h2.as_ref().filter(|h2| !h2.is_closed()).cloned()
    }

    /// Forgets the shared HTTP/2 connection if it is closed (`sender` refused a
    /// request).
    fn forget_h2(&self, sender: &http2::SendRequest<B>) {
        let mut idle = lock(&self.idle);
        if sender.is_closed() || idle.h2.as_ref().is_some_and(|h2| h2.is_closed()) {
            idle.h2 = None;
        }
    }
}

/// Sets `host` as the Host header if the request has none and turns the URI into origin
/// form (`/path?query`), as HTTP/1 requests to an origin are written; returns the absolute URI.
fn to_origin_form<B>(req: &mut Request<B>, host: Option<&HeaderValue>) -> Uri {
    if let Some(value) = host {
        if !req.headers().contains_key(HOST) {
            req.headers_mut().insert(HOST, value.clone());
        }
    }
    let origin = match req.uri().path_and_query() {
        Some(path) if path.as_str() != "/" => Uri::from(path.clone()),
        _ => Uri::default(),
    };
    std::mem::replace(req.uri_mut(), origin)
}

/// `host[:port]`, the port only when it is not the scheme's default.
fn host_header(uri: &Uri) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    match uri.port_u16() {
        Some(port) if port != default => HeaderValue::from_str(&format!("{host}:{port}")).ok(),
        _ => HeaderValue::from_str(host).ok(),
    }
}

/// What a response body does when it ends or is dropped: give its connection back (if
/// it may be reused) and its slot.
trait Done: Send + Sync {
    fn done(self: Box<Self>, reusable: bool);
}

struct H1Done<B> {
    pool: Arc<Pool<B>>,
    host: Arc<Host<B>>,
    sender: http1::SendRequest<B>,
    /// Freed after the connection is back, so the request it wakes finds it.
    _slot: OwnedSemaphorePermit,
}

impl<B> Done for H1Done<B>
where
    B: HttpBody + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn done(self: Box<Self>, reusable: bool) {
        let this = *self;
        if reusable {
            this.pool.put(&this.host, this.sender);
        }
    }
}

struct H2Done<B> {
    host: Arc<Host<B>>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl<B: Send> Done for H2Done<B> {
    fn done(self: Box<Self>, _reusable: bool) {}
}

impl<B> Drop for H2Done<B> {
    fn drop(&mut self) {
        self.host.h2_active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The reaper of one pool: every tick, closes connections idle for longer than the
/// idle timeout and forgets hosts left with none; ends when no host has any (the next
/// connection put back starts it again) or the pool is gone.
async fn reap<B>(pool: Weak<Pool<B>>, every: Duration) {
    /// Marks the reaper stopped if its task is dropped (its runtime shut down), so
    /// another can start.
    struct Running<B>(Option<Weak<Pool<B>>>);
    impl<B> Drop for Running<B> {
        fn drop(&mut self) {
            if let Some(pool) = self.0.take().and_then(|pool| pool.upgrade()) {
                lock(&pool.kept).reaper = false;
                pool.reaper_running.store(false, Ordering::Relaxed);
            }
        }
    }
    let mut running = Running(Some(pool.clone()));
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(pool) = pool.upgrade() else {
            running.0 = None;
            return;
        };
        let tick = pool.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        let hosts = std::mem::take(&mut lock(&pool.kept).hosts);
        let mut still = Vec::with_capacity(hosts.len());
        let mut closed = Vec::new();
        for host in hosts {
            let mut idle = lock(&host.idle);
            let before = idle.h1.len();
            idle.h1.retain(|(sender, at)| {
                !sender.is_closed() && tick.saturating_sub(*at) < EXPIRED_AFTER_TICKS
            });
            let mut dropped = before - idle.h1.len();
            let unused = host.h2_active.load(Ordering::Relaxed) == 0
                && tick.saturating_sub(host.h2_used.load(Ordering::Relaxed)) >= EXPIRED_AFTER_TICKS;
            if idle.h2.as_ref().is_some_and(|h2| h2.is_closed() || unused) {
                idle.h2 = None;
                dropped += 1;
            }
            if dropped > 0 {
                closed.push((host.key.clone(), dropped));
            }
            if idle.h1.is_empty() && idle.h2.is_none() {
                idle.kept = false;
            } else {
                drop(idle);
                still.push(host);
            }
        }
        for (host, count) in closed {
            tracing::debug!(%host, count, "closed idle connections");
        }
        let mut kept = lock(&pool.kept);
        kept.hosts.extend(still);
        if kept.hosts.is_empty() {
            kept.reaper = false;
            pool.reaper_running.store(false, Ordering::Relaxed);
            running.0 = None;
            return;
        }
    }
}

/// The error of a [`Client`](crate::Client) request.
#[derive(Debug)]
pub struct ClientError {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The URI has no scheme or no host.
    NotAbsolute,
    /// No slot of the host came free within the connect timeout.
    Slot(LimitTimeout),
    /// The connector failed: DNS, TCP, TLS, the connect timeout or the connection
    /// limit's own timeout.
    Connect(BoxError),
    /// The HTTP handshake on a new connection failed.
    Handshake(hyper::Error),
    /// The request failed on its connection.
    Request(hyper::Error),
}

impl ClientError {
    /// True if the request never reached a connection: the URI was not absolute, no
    /// slot came free, or connecting failed. Such a request was not sent, so it is
    /// safe to retry elsewhere.
    pub fn is_connect(&self) -> bool {
        !matches!(self.kind, Kind::Request(_))
    }

    /// True if waiting for a connection (a slot of the host, or a connection permit)
    /// or connecting took longer than the connect timeout.
    pub fn is_timeout(&self) -> bool {
        match &self.kind {
            Kind::Slot(_) => true,
            Kind::Connect(err) => {
                err.is::<LimitTimeout>() || err.is::<tower::timeout::error::Elapsed>()
            }
            _ => false,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::NotAbsolute => {
                f.write_str("the request URI must be absolute (http:// or https://)")
            }
            Kind::Slot(err) => fmt::Display::fmt(err, f),
            Kind::Connect(_) => f.write_str("connect error"),
            Kind::Handshake(_) => f.write_str("HTTP handshake on a new connection failed"),
            Kind::Request(_) => f.write_str("request failed"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::NotAbsolute | Kind::Slot(_) => None,
            Kind::Connect(err) => Some(&**err),
            Kind::Handshake(err) | Kind::Request(err) => Some(err),
        }
    }
}

pin_project! {
    /// A response body from the [`Client`](crate::Client): hyper's body, holding the
    /// request's per-host slot and its connection until it ends (the connection then
    /// goes back to the pool), fails or is dropped (the connection is then closed,
    /// unless the body had ended).
    pub struct Body {
        #[pin]
        inner: Incoming,
        done: Option<Box<dyn Done>>,
    }

    impl PinnedDrop for Body {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(done) = this.done.take() {
                done.done(this.inner.is_end_stream());
            }
        }
    }
}

impl Body {
    fn new(inner: Incoming, done: Box<dyn Done>) -> Self {
        Self {
            inner,
            done: Some(done),
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("ended", &self.done.is_none())
            .finish_non_exhaustive()
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(_)) if !this.inner.is_end_stream() => {}
            Some(Ok(_)) | None => {
                if let Some(done) = this.done.take() {
                    done.done(true);
                }
            }
            Some(Err(_)) => {
                if let Some(done) = this.done.take() {
                    done.done(false);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The future of [`Client::request`](crate::Client::request). Boxed: it may wait for a
/// slot, connect and then wait for the response, and one allocation is small next to
/// a request.
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<Response<Body>, ClientError>> + Send>>,
}

impl ResponseFuture {
    pub(crate) fn new(
        inner: Pin<Box<dyn Future<Output = Result<Response<Body>, ClientError>> + Send>>,
    ) -> Self {
        Self { inner }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[test]
    fn one_host_however_its_uri_is_written() {
        let client: crate::Client<Full<Bytes>> = crate::Client::builder().build();
        let pool = client.pool();
        let host = |uri: &str| pool.host(&uri.parse().unwrap_or_default());
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
    fn origin_form_keeps_path_and_query_and_adds_the_host() {
        let mut req = Request::get("https://api.example.com:8443/v1/x?a=b")
            .body(())
            .unwrap_or_default();
        let host = host_header(req.uri());
        let absolute = to_origin_form(&mut req, host.as_ref());
        assert_eq!(absolute, "https://api.example.com:8443/v1/x?a=b");
        assert_eq!(req.uri(), "/v1/x?a=b");
        assert_eq!(req.headers()[HOST], "api.example.com:8443");

        let mut req = Request::get("https://api.example.com:443")
            .body(())
            .unwrap_or_default();
        let host = host_header(req.uri());
        to_origin_form(&mut req, host.as_ref());
        assert_eq!(req.uri(), "/");
        assert_eq!(req.headers()[HOST], "api.example.com");
    }
}
