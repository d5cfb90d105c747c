//! Opening a connection for a request that holds a slot of its host and found no idle
//! connection it may use; and, at the global cap, making room first.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http_body::Body as HttpBody;
use hyper_util::client::legacy::connect::Connection;
use tower::ServiceExt;

use super::error::Kind;
use super::h1::H1;
use super::host::Host;
use super::{lock, ClientError, Conn, Counted, Pool};
use crate::limit::LimitTimeout;
use crate::BoxError;

impl<B> Pool<B>
where
    B: HttpBody + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Connects, after making room if a cap is reached: at the host's cap, shares
    /// another shard's HTTP/2 connection if there is one (else the host's permit comes
    /// free in a moment: see `Pool::take_idle`); at the global cap, closes the longest
    /// idle connection of any host, waits as a queued request, and gives up the
    /// connect (`None`) if a connection of the host comes back to the shard before it
    /// is made.
    pub(super) async fn connect_or_returned(
        self: &Arc<Self>,
        host: &Arc<Host<B>>,
        shard: usize,
    ) -> Result<Option<Conn<B>>, ClientError> {
        if self.limit.host_full(&host.key) {
            if let Some(sender) = self.adopt_h2(host, shard) {
                return Ok(Some(Conn::H2(sender)));
            }
        }
        if !self.limit.global_exhausted() {
            return self.connect(host, shard).await.map(Some);
        }
        // Waiting for a global permit is waiting for a connection slot: it takes a
        // place in the queue, and its time is the wait timeout.
        let _place = self
            .wait
            .join(&host.key)
            .map_err(|err| ClientError::new(Kind::Overloaded(err)))?;
        let started = tokio::time::Instant::now();
        self.close_longest_idle(host, shard);
        let local = host.local(shard);
        let _connecting = Counted::new(&local.connecting);
        let connect = self.connect(host, shard);
        let returned = std::pin::pin!(local.returned.notified());
        match futures_util::future::select(connect, returned).await {
            futures_util::future::Either::Left((Err(err), _)) if err.is_limit_timeout() => {
                let waited = started.elapsed();
                Err(ClientError::new(Kind::WaitTimeout(
                    self.wait.timed_out(&host.key, waited),
                )))
            }
            futures_util::future::Either::Left((conn, _)) => conn.map(Some),
            futures_util::future::Either::Right(_) => Ok(None),
        }
    }

    /// Closes the idle HTTP/1 connection that went idle first on the first shard
    /// (starting with `shard`) that has one, over all hosts, to free its permits for a
    /// connect of `wanting`.
    ///
    /// Not a connection that is spoken for: one of a host whose every slot is held
    /// (a request of that host holds a slot and no connection yet, and is about to
    /// take it), unless `wanting` has no connection at all. Closing it would only make
    /// that request connect in turn: under a global cap smaller than the hosts' caps
    /// together, hosts would close each other's connections on every request.
    /// A host with a connection is served through it meanwhile; one with none takes
    /// one, so no host starves.
    fn close_longest_idle(&self, wanting: &Host<B>, shard: usize) {
        let starving = !self.limit.host_has_connection(&wanting.key);
        let n = self.shards.len();
        for i in 0..n {
            let state = &self.shards[(shard + i) % n];
            let host = {
                let kept = lock(&state.kept);
                let mut oldest: Option<(&Arc<Host<B>>, u64)> = None;
                for host in &kept.hosts {
                    if !starving && host.slots.available_permits() == 0 {
                        continue;
                    }
                    if let Some(at) = lock(&host.local((shard + i) % n).idle).oldest() {
                        if oldest.is_none_or(|(_, tick)| at < tick) {
                            oldest = Some((host, at));
                        }
                    }
                }
                oldest.map(|(host, _)| host.clone())
            };
            if let Some(host) = host {
                let closed = lock(&host.local((shard + i) % n).idle).pop_oldest();
                if closed.is_some() {
                    tracing::debug!(host = %host.key, "global connection cap reached; closed an idle connection");
                    return;
                }
            }
        }
    }

    /// Opens a connection to the host: HTTP/2 (kept as the shard's shared connection
    /// to the host) if the pool is HTTP/2-only or TLS negotiated it, else HTTP/1.
    ///
    /// Boxed: the handshakes' futures are large, and a request that finds a pooled
    /// connection should not carry (and move) their space.
    pub(super) fn connect<'a>(
        self: &'a Arc<Self>,
        host: &'a Arc<Host<B>>,
        shard: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Conn<B>, ClientError>> + Send + 'a>> {
        Box::pin(self.connect_unboxed(host, shard))
    }

    async fn connect_unboxed(
        self: &Arc<Self>,
        host: &Arc<Host<B>>,
        shard: usize,
    ) -> Result<Conn<B>, ClientError> {
        let io = self
            .connector
            .clone()
            .oneshot(host.dst.clone())
            .await
            .map_err(|err| ClientError::new(Kind::Connect(err)))?;
        if self.http2_only || io.connected().is_negotiated_h2() {
            let (sender, conn) = self
                .h2
                .handshake(io)
                .await
                .map_err(|err| ClientError::new(Kind::Handshake(err)))?;
            drive(host, conn);
            Ok(Conn::H2(self.keep_h2(host, shard, sender)))
        } else {
            let (sender, conn) = self
                .h1
                .handshake(io)
                .await
                .map_err(|err| ClientError::new(Kind::Handshake(err)))?;
            // Not spawned: the tasks of the requests using it drive it.
            Ok(Conn::H1(H1::new(sender, conn)))
        }
    }
}

impl ClientError {
    /// True if the connector gave up waiting for a connection permit.
    fn is_limit_timeout(&self) -> bool {
        match &self.kind {
            Kind::Connect(err) => err.is::<LimitTimeout>(),
            _ => false,
        }
    }
}

/// Runs an HTTP/2 connection's hyper task on the current thread's runtime until the
/// connection ends (its last sender dropped, or closed by either side); the socket
/// and its permits go with it.
fn drive<B, C>(host: &Host<B>, conn: C)
where
    C: Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    let key = host.key.clone();
    tokio::spawn(async move {
        if let Err(err) = conn.await {
            tracing::debug!(host = %key, error = %err, "HTTP/2 connection ended");
        }
    });
}
