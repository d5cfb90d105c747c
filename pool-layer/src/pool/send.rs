//! A request's way through the pool: a slot of its host (at once, or waiting FIFO,
//! bounded in count and time), then an idle connection of its shard or a new one,
//! driven by the request's own task until the response head (HTTP/1), or the host's
//! shared HTTP/2 connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::header::{HeaderValue, HOST};
use http::{Request, Response, Uri};
use http_body::Body as HttpBody;
use tokio::sync::OwnedSemaphorePermit;

use super::body::H1Done;
use super::error::Kind;
use super::host::Host;
use super::{Body, ClientError, Conn, Pool};
use crate::BoxError;

impl<B> Pool<B>
where
    B: HttpBody + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Sends `req` for `shard` to `host` (from [`host`](Self::host) of its URI).
    ///
    /// The paths other than a pooled HTTP/1 connection (waiting, connecting, HTTP/2)
    /// are boxed: an async fn's future is as large as its largest path, and the usual
    /// request should not carry, and copy, their space.
    pub(crate) async fn send(
        self: Arc<Self>,
        shard: usize,
        host: Option<Arc<Host<B>>>,
        req: Request<B>,
    ) -> Result<Response<Body>, ClientError> {
        let host = host.ok_or(ClientError::new(Kind::NotAbsolute))?;
        loop {
            let local = host.local(shard);
            if local.multiplexed.load(Ordering::Relaxed) {
                let sender = match local.live_h2() {
                    Some(sender) => Some(sender),
                    None => Box::pin(self.h2_sender(&host, shard)).await?,
                };
                if let Some(sender) = sender {
                    return Box::pin(self.send_h2(host, shard, sender, None, req)).await;
                }
            }
            let slot = match host.slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => Box::pin(self.wait_for_slot(&host)).await?,
            };
            if host.local(shard).multiplexed.load(Ordering::Relaxed) {
                // Became multiplexed while this request waited.
                continue;
            }
            return self.send_h1(host, shard, slot, req).await;
        }
    }

    /// Waits (FIFO, bounded in count and time) for one of the host's HTTP/1 slots.
    async fn wait_for_slot(&self, host: &Host<B>) -> Result<OwnedSemaphorePermit, ClientError> {
        let _place = self
            .wait
            .join(&host.key)
            .map_err(|err| ClientError::new(Kind::Overloaded(err)))?;
        tracing::trace!(host = %host.key, "per-host cap reached; request waits for a slot");
        let _waiting = Counted::new(&host.waiting);
        let started = tokio::time::Instant::now();
        match tokio::time::timeout(self.wait.timeout, host.slots.clone().acquire_owned()).await {
            Ok(slot) => Ok(slot.expect("slot semaphores are never closed")),
            Err(_) => Err(ClientError::new(Kind::WaitTimeout(
                self.wait.timed_out(&host.key, started.elapsed()),
            ))),
        }
    }

    async fn send_h1(
        self: Arc<Self>,
        host: Arc<Host<B>>,
        shard: usize,
        slot: OwnedSemaphorePermit,
        mut req: Request<B>,
    ) -> Result<Response<Body>, ClientError> {
        // The absolute URI, kept while the request carries the origin form.
        let mut absolute: Option<Uri> = None;
        loop {
            let (mut conn, reused, home) = match self.take_idle(&host, shard) {
                Some((mut conn, home)) => {
                    if !conn.ready().await {
                        continue;
                    }
                    (conn, true, home)
                }
                None => match Box::pin(self.connect_or_returned(&host, shard)).await? {
                    None => continue,
                    Some(Conn::H1(conn)) => (conn, false, shard),
                    Some(Conn::H2(sender)) => {
                        if let Some(uri) = absolute.take() {
                            *req.uri_mut() = uri;
                        }
                        return Box::pin(self.send_h2(host, shard, sender, Some(slot), req)).await;
                    }
                },
            };
            if absolute.is_none() {
                absolute = Some(to_origin_form(&mut req, host.host_header.as_ref()));
            }
            match conn.send(req).await {
                Ok(res) => {
                    let done = H1Done {
                        pool: self,
                        host,
                        home,
                        conn,
                        slot,
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
                    _ => return Err(ClientError::new(Kind::Request(err.into_error()))),
                },
            }
        }
    }
}

/// Counts one for as long as it lives.
pub(super) struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    pub(super) fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Sets `host` as the Host header if the request has none and turns the URI into origin
/// form (`/path?query`), as HTTP/1 requests to an origin are written; returns the absolute URI.
pub(super) fn to_origin_form<B>(req: &mut Request<B>, host: Option<&HeaderValue>) -> Uri {
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

#[cfg(test)]
mod tests {
    use super::super::host::host_header;
    use super::*;

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
