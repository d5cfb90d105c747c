//! The per-host request gate of [`Client`](crate::Client): HTTP/1 requests beyond the
//! per-host connection cap wait here, in FIFO order and for at most the connect
//! timeout, holding their slot until the response body ends.
//!
//! Why a gate in front of the pool as well as the connection limit under it: hyper's
//! pool races every request's checkout against a new connect, and when the checkout
//! wins it finishes the connect in the background. With the host at its cap, each of
//! those connects waits for a permit, so under sustained load thousands of orphaned
//! connects pile up (each holding a timer and a queue place) until they time out. An
//! HTTP/1 connection serves one request at a time, so letting at most `cap` requests
//! per host reach the pool means connects never have to wait and never pile up. Hosts
//! whose responses come back over HTTP/2 are multiplexed and skip the gate.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::limit::{HostKey, HostMap, LimitTimeout};

/// Per-host request slots.
pub(crate) struct Gate {
    per_host: usize,
    timeout: Duration,
    hosts: HostMap<HostGate>,
    /// The host of the last request, found again by comparing the URI's scheme and
    /// authority: most clients send to one host at a time, and this skips building
    /// the key and hashing it.
    last: Mutex<Option<Last>>,
}

struct Last {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    host: Arc<HostGate>,
}

pub(crate) struct HostGate {
    key: HostKey,
    slots: Arc<Semaphore>,
    /// Set once a response from this host came over HTTP/2.
    multiplexed: AtomicBool,
}

impl Gate {
    pub(crate) fn new(per_host: usize, timeout: Duration) -> Self {
        Self {
            per_host,
            timeout,
            hosts: HostMap::new(),
            last: Mutex::new(None),
        }
    }

    /// The gate of `uri`'s host (`None` without a host: the connector refuses such a
    /// URI with a clear error).
    pub(crate) fn host(&self, uri: &http::Uri) -> Option<Arc<HostGate>> {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return self.lookup(uri);
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = last.as_ref() {
            // Both comparisons ignore ASCII case, as host keys do.
            if last.scheme == *scheme && last.authority == *authority {
                return Some(last.host.clone());
            }
        }
        let host = self.lookup(uri)?;
        *last = Some(Last {
            scheme: scheme.clone(),
            authority: authority.clone(),
            host: host.clone(),
        });
        Some(host)
    }

    fn lookup(&self, uri: &http::Uri) -> Option<Arc<HostGate>> {
        let per_host = self.per_host;
        HostKey::with_str(uri, |key| {
            self.hosts.get_or_insert_str(key, |key| HostGate {
                key: key.clone(),
                slots: Arc::new(Semaphore::new(per_host)),
                multiplexed: AtomicBool::new(false),
            })
        })
    }

    /// Waits for a slot of the host. Returns the slot (none for multiplexed hosts)
    /// and the host's gate, to tell it the response's HTTP version.
    pub(crate) async fn enter(
        &self,
        host: Option<Arc<HostGate>>,
    ) -> Result<(Option<Slot>, Option<Arc<HostGate>>), LimitTimeout> {
        let Some(host) = host else {
            return Ok((None, None));
        };
        if host.multiplexed.load(Ordering::Relaxed) {
            return Ok((None, Some(host)));
        }
        let permit = match host.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::trace!(host = %host.key, "per-host cap reached; request waits for a connection");
                let wait = host.slots.clone().acquire_owned();
                match tokio::time::timeout(self.timeout, wait).await {
                    Ok(permit) => permit.expect("gate semaphores are never closed"),
                    Err(_) => return Err(LimitTimeout::new(host.key.clone(), self.timeout)),
                }
            }
        };
        Ok((Some((permit, host.clone())), Some(host)))
    }
}

impl HostGate {
    pub(crate) fn saw_version(&self, version: http::Version) {
        if version == http::Version::HTTP_2 {
            self.multiplexed.store(true, Ordering::Relaxed);
        }
    }
}

/// The error of a [`Client`](crate::Client) request: hyper-util's, or
/// [`LimitTimeout`] when no connection slot for the host came free in time.
#[derive(Debug)]
pub struct ClientError {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Request(hyper_util::client::legacy::Error),
    Gate(LimitTimeout),
}

impl ClientError {
    pub(crate) fn request(err: hyper_util::client::legacy::Error) -> Self {
        Self {
            kind: Kind::Request(err),
        }
    }

    pub(crate) fn gate(err: LimitTimeout) -> Self {
        Self {
            kind: Kind::Gate(err),
        }
    }

    /// True if the request never reached a connection: connect failed, timed out, or
    /// no slot came free. Such a request is safe to retry elsewhere.
    pub fn is_connect(&self) -> bool {
        match &self.kind {
            Kind::Request(err) => err.is_connect(),
            Kind::Gate(_) => true,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Request(err) => fmt::Display::fmt(err, f),
            Kind::Gate(err) => fmt::Display::fmt(err, f),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Request(err) => err.source(),
            Kind::Gate(_) => None,
        }
    }
}

/// A request's per-host slot; holding the host's gate keeps its map entry (and so its
/// semaphore) alive while the slot is out.
pub(crate) type Slot = (OwnedSemaphorePermit, Arc<HostGate>);

pin_project! {
    /// A response body from the [`Client`](crate::Client): hyper's body, holding the
    /// request's per-host slot until it ends, fails or is dropped.
    pub struct Body {
        #[pin]
        inner: Incoming,
        slot: Option<Slot>,
    }
}

impl Body {
    pub(crate) fn new(inner: Incoming, slot: Option<Slot>) -> Self {
        Self { inner, slot }
    }

    /// hyper's body, giving up the slot now.
    pub fn into_inner(self) -> Incoming {
        self.inner
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("holds_slot", &self.slot.is_some())
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
        if !matches!(frame, Some(Ok(_))) || this.inner.is_end_stream() {
            this.slot.take();
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

/// The future of [`Client::request`](crate::Client::request). Boxed: it waits at the
/// gate and then for hyper, and one allocation is small next to a request.
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

    #[test]
    fn one_host_one_gate_however_its_uri_is_written() {
        let gate = Gate::new(4, Duration::from_secs(1));
        let host = |uri: &str| gate.host(&uri.parse().unwrap_or_default());
        let a = host("http://A.example:80/v1/x").unwrap_or_else(|| panic!("a host"));
        // Same host again (the remembered one), then spelled differently, then after
        // another host: always the same gate.
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
}
