//! HTTP/2: each shard serves a host that speaks it over one shared connection of its
//! own; when the host's cap leaves no permit for one, a shard shares another shard's.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{Request, Response};
use http_body::Body as HttpBody;
use hyper::client::conn::http2;
use tokio::sync::OwnedSemaphorePermit;

use super::body::{Body, H2Done};
use super::error::Kind;
use super::host::{Host, Local};
use super::{lock, ClientError, Conn, Pool};
use crate::BoxError;

impl<B> Local<B> {
    pub(super) fn live_h2(&self) -> Option<http2::SendRequest<B>> {
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

impl<B> Pool<B>
where
    B: HttpBody + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// The shard's live HTTP/2 connection to the host; in HTTP/2-only mode one is
    /// made (or shared, see [`adopt_h2`](Self::adopt_h2)) if there is none, one at a
    /// time. `None` when the host must be reached again over the HTTP/1 path, which
    /// learns its protocol by ALPN.
    pub(super) async fn h2_sender(
        self: &Arc<Self>,
        host: &Arc<Host<B>>,
        shard: usize,
    ) -> Result<Option<http2::SendRequest<B>>, ClientError> {
        let local = host.local(shard);
        if let Some(sender) = local.live_h2() {
            return Ok(Some(sender));
        }
        if !self.http2_only {
            local.multiplexed.store(false, Ordering::Relaxed);
            return Ok(None);
        }
        let _connecting = local.h2_connecting.lock().await;
        if let Some(sender) = local.live_h2() {
            return Ok(Some(sender));
        }
        if self.limit.host_full(&host.key) {
            if let Some(sender) = self.adopt_h2(host, shard) {
                return Ok(Some(sender));
            }
        }
        match self.connect(host, shard).await? {
            Conn::H2(sender) => Ok(Some(sender)),
            Conn::H1(_) => unreachable!("HTTP/2-only pools only make HTTP/2 connections"),
        }
    }

    /// Another shard's live HTTP/2 connection to the host, made this shard's too: for
    /// when the host's cap leaves no permit for a connection of this shard's own.
    pub(super) fn adopt_h2(
        self: &Arc<Self>,
        host: &Arc<Host<B>>,
        shard: usize,
    ) -> Option<http2::SendRequest<B>> {
        let sender = host.others(shard).find_map(|(_, other)| other.live_h2())?;
        tracing::trace!(host = %host.key, "per-host cap reached; sharing another worker's HTTP/2 connection");
        Some(self.keep_h2(host, shard, sender))
    }

    /// Makes `sender` the shard's shared HTTP/2 connection to the host, unless it has
    /// a live one already (then that one is used, and the new one closes once unused).
    pub(super) fn keep_h2(
        self: &Arc<Self>,
        host: &Arc<Host<B>>,
        shard: usize,
        sender: http2::SendRequest<B>,
    ) -> http2::SendRequest<B> {
        let local = host.local(shard);
        let (shared, newly_kept) = {
            let mut idle = lock(&local.idle);
            let shared = match &idle.h2 {
                Some(current) if !current.is_closed() => current.clone(),
                _ => {
                    idle.h2 = Some(sender.clone());
                    sender
                }
            };
            (shared, !std::mem::replace(&mut idle.kept, true))
        };
        local.multiplexed.store(true, Ordering::Relaxed);
        self.keep(host, shard, newly_kept);
        shared
    }

    pub(super) async fn send_h2(
        self: Arc<Self>,
        host: Arc<Host<B>>,
        shard: usize,
        mut sender: http2::SendRequest<B>,
        slot: Option<OwnedSemaphorePermit>,
        mut req: Request<B>,
    ) -> Result<Response<Body>, ClientError> {
        let local = host.local(shard);
        let tick = self.shards[shard].ticks.load(Ordering::Relaxed);
        local.h2_used.store(tick, Ordering::Relaxed);
        local.h2_active.fetch_add(1, Ordering::Relaxed);
        let done = H2Done {
            host: host.clone(),
            shard,
            _slot: slot,
        };
        // One retry: a request refused unsent by a connection that was closing.
        let mut retried = false;
        loop {
            match sender.try_send_request(req).await {
                Ok(res) => return Ok(res.map(|body| Body::new(body, Box::new(done)))),
                Err(mut err) => match err.take_message() {
                    Some(unsent) if !retried => {
                        retried = true;
                        req = unsent;
                        host.local(shard).forget_h2(&sender);
                        sender = if self.http2_only {
                            match Box::pin(self.h2_sender(&host, shard)).await? {
                                Some(sender) => sender,
                                None => continue,
                            }
                        } else {
                            match self.connect(&host, shard).await? {
                                Conn::H2(sender) => sender,
                                Conn::H1(_) => {
                                    return Err(ClientError::new(Kind::Request(err.into_error())))
                                }
                            }
                        };
                    }
                    _ => return Err(ClientError::new(Kind::Request(err.into_error()))),
                },
            }
        }
    }
}
