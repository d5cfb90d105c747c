use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::LimitedIo;
use crate::BoxError;

/// The future of a [`ConnectionLimit`](super::ConnectionLimit) connect: waits for the
/// permits, then runs the inner connect.
///
/// It is boxed: a connect happens once per new socket, next to a TCP and often a TLS
/// handshake, so one allocation there costs nothing measurable, and a boxed future is
/// `Unpin`, which hyper-util's client requires of connector futures. Dropping it at
/// any point releases everything it holds.
pub struct ResponseFuture<T> {
    inner: Pin<Box<dyn Future<Output = Result<LimitedIo<T>, BoxError>> + Send>>,
}

impl<T> ResponseFuture<T> {
    pub(super) fn new(
        inner: Pin<Box<dyn Future<Output = Result<LimitedIo<T>, BoxError>> + Send>>,
    ) -> Self {
        Self { inner }
    }
}

impl<T> Future for ResponseFuture<T> {
    type Output = Result<LimitedIo<T>, BoxError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
