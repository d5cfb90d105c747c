use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use tokio::sync::OwnedSemaphorePermit;
use tower::ServiceExt;
use tower_service::Service;

use super::state::{Shared, Waiting};
use super::{
    ConnectionMetrics, ConnectionPermit, HostKey, InvalidTarget, LimitTimeout, LimitedIo,
    ResponseFuture,
};
use crate::BoxError;

/// A connector that counts every socket it opens against a global and a per-host cap.
///
/// Made by [`ConnectionLimitLayer`](super::ConnectionLimitLayer); see the
/// [module docs](super) for the model.
pub struct ConnectionLimit<C> {
    inner: C,
    shared: Arc<Shared>,
    timeout: Option<Duration>,
}

impl<C> ConnectionLimit<C> {
    pub(super) fn from_parts(inner: C, shared: Arc<Shared>, timeout: Option<Duration>) -> Self {
        Self {
            inner,
            shared,
            timeout,
        }
    }

    /// A snapshot of the shared gauges and counters.
    pub fn metrics(&self) -> ConnectionMetrics {
        self.shared.metrics()
    }

    /// The inner connector.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The inner connector, mutably.
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// The inner connector; the limit's state stays with its other clones.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

// Written by hand so that `C: Clone` is the only bound; the budget is shared, not copied.
impl<C: Clone> Clone for ConnectionLimit<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            timeout: self.timeout,
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for ConnectionLimit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionLimit")
            .field("inner", &self.inner)
            .field("max_connections", &self.shared.max_total)
            .field("max_connections_per_host", &self.shared.max_per_host)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<C> Service<Uri> for ConnectionLimit<C>
where
    C: Service<Uri> + Clone + Send + 'static,
    C::Future: Send,
    C::Response: Send,
    C::Error: Into<BoxError>,
{
    type Response = LimitedIo<C::Response>;
    type Error = BoxError;
    type Future = ResponseFuture<C::Response>;

    /// Always ready: the permit to wait for depends on the URI's host, which only
    /// `call` knows, so the wait happens in the returned future. The inner connector's
    /// readiness is awaited there too, after the permits.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let inner = self.inner.clone();
        let shared = self.shared.clone();
        let timeout = self.timeout;
        ResponseFuture::new(Box::pin(connect(shared, timeout, inner, uri)))
    }
}

async fn connect<C>(
    shared: Arc<Shared>,
    timeout: Option<Duration>,
    inner: C,
    uri: Uri,
) -> Result<LimitedIo<C::Response>, BoxError>
where
    C: Service<Uri>,
    C::Error: Into<BoxError>,
{
    let key = HostKey::from_uri(&uri).ok_or_else(InvalidTarget::new)?;
    let permit = match timeout {
        Some(limit) => tokio::time::timeout(limit, acquire(&shared, &key))
            .await
            .map_err(|_| {
                shared.limit_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(host = %key, ?limit, "gave up waiting for a connection permit");
                LimitTimeout::new(key.clone(), limit)
            })?,
        None => acquire(&shared, &key).await,
    };
    match inner.oneshot(uri).await {
        Ok(io) => {
            shared.connects.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(host = %key, "connection opened");
            Ok(LimitedIo::new(io, permit))
        }
        Err(err) => {
            shared.connect_errors.fetch_add(1, Ordering::Relaxed);
            let err = err.into();
            tracing::debug!(host = %key, error = %err, "connect failed, permits released");
            Err(err)
        }
    }
}

/// Takes the host permit, then the global one. Counted as waiting only if either is
/// not free at once.
async fn acquire(shared: &Shared, key: &HostKey) -> ConnectionPermit {
    let host = shared.host(key);
    let mut waiting = None;
    let host_permit = match host.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            waiting = Some(Waiting::new(&shared.waiting));
            tracing::trace!(host = %key, "per-host connection cap reached, waiting");
            wait(host).await
        }
    };
    let global_permit = match shared.global.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            waiting.get_or_insert_with(|| Waiting::new(&shared.waiting));
            let _global = Waiting::new(&shared.waiting_global);
            tracing::trace!(host = %key, "global connection cap reached, waiting");
            wait(shared.global.clone()).await
        }
    };
    drop(waiting);
    ConnectionPermit::new(host_permit, global_permit, key.clone())
}

async fn wait(sem: Arc<tokio::sync::Semaphore>) -> OwnedSemaphorePermit {
    sem.acquire_owned()
        .await
        .expect("connection limit semaphores are never closed")
}
