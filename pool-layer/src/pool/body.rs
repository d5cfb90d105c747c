//! The response body of a pooled request: it holds the request's slot and
//! connection, drives an HTTP/1 connection while it is read, and gives both back when
//! it ends (or closes the connection when it is dropped unread); and the boxed future
//! of a request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;

use super::h1::H1;
use super::host::Host;
use super::{ClientError, Pool};
use crate::BoxError;

/// What a response body does while it is read (drive its connection, if the body's
/// task runs it) and when it ends or is dropped: give its connection back (if it may
/// be reused) and its slot.
pub(super) trait Done: Send + Sync {
    /// The body's next frame from `inner`.
    fn poll_frame(
        &mut self,
        inner: Pin<&mut Incoming>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>>;
    fn done(self: Box<Self>, reusable: bool);
}

pub(super) struct H1Done<B> {
    pub(super) pool: Arc<Pool<B>>,
    pub(super) host: Arc<Host<B>>,
    /// The shard whose idle list the connection goes back to.
    pub(super) home: usize,
    pub(super) conn: H1<B>,
    /// Freed after the connection is back, so the request it wakes finds it.
    pub(super) slot: OwnedSemaphorePermit,
}

impl<B> Done for H1Done<B>
where
    B: HttpBody + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn poll_frame(
        &mut self,
        mut inner: Pin<&mut Incoming>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.conn
            .poll_frame(cx, |quiet| inner.as_mut().poll_frame(quiet))
    }

    fn done(self: Box<Self>, reusable: bool) {
        let this = *self;
        if reusable {
            this.pool.put(&this.host, this.home, this.conn);
        } else {
            // Closes the socket now, before the slot is freed: whoever the slot wakes
            // finds the connection's permits free.
            drop(this.conn);
        }
        drop(this.slot);
    }
}

pub(super) struct H2Done<B> {
    pub(super) host: Arc<Host<B>>,
    pub(super) shard: usize,
    pub(super) _slot: Option<OwnedSemaphorePermit>,
}

impl<B: Send> Done for H2Done<B> {
    // The HTTP/2 connection is shared, and runs as a task of its own.
    fn poll_frame(
        &mut self,
        inner: Pin<&mut Incoming>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        inner.poll_frame(cx)
    }

    fn done(self: Box<Self>, _reusable: bool) {}
}

impl<B> Drop for H2Done<B> {
    fn drop(&mut self) {
        self.host
            .local(self.shard)
            .h2_active
            .fetch_sub(1, Ordering::Relaxed);
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
    pub(super) fn new(inner: Incoming, done: Box<dyn Done>) -> Self {
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
        // An HTTP/1 connection is driven by the task reading its body.
        let frame = std::task::ready!(match this.done.as_mut() {
            Some(done) => done.poll_frame(this.inner.as_mut(), cx),
            None => this.inner.as_mut().poll_frame(cx),
        });
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
