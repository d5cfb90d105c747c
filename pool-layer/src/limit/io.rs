use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;

use super::HostKey;

/// The permits of one connection: one from its host's budget and one from the global
/// budget. Dropping it gives both back.
pub struct ConnectionPermit {
    // Field order is drop order, and `Shared::metrics` relies on it: the host permit
    // is released before the global one.
    _host: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
    key: HostKey,
}

impl ConnectionPermit {
    pub(super) fn new(
        host: OwnedSemaphorePermit,
        global: OwnedSemaphorePermit,
        key: HostKey,
    ) -> Self {
        Self {
            _host: host,
            _global: global,
            key,
        }
    }

    /// The host this permit counts against.
    pub fn host(&self) -> &HostKey {
        &self.key
    }
}

impl fmt::Debug for ConnectionPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionPermit")
            .field("host", &self.key)
            .finish()
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        tracing::debug!(host = %self.key, "connection closed, permits released");
    }
}

pin_project! {
    /// A connection's IO together with the permits it counts against.
    ///
    /// hyper owns this value for the connection's whole life; when hyper drops the
    /// connection (closed by either side, idle timeout, pool dropped), the permits are
    /// released. Reads, writes and [`Connection::connected`] are forwarded unchanged.
    pub struct LimitedIo<T> {
        #[pin]
        io: T,
        permit: ConnectionPermit,
    }
}

impl<T> LimitedIo<T> {
    pub(super) fn new(io: T, permit: ConnectionPermit) -> Self {
        Self { io, permit }
    }

    /// The wrapped IO.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The wrapped IO, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// The permit this connection holds.
    pub fn permit(&self) -> &ConnectionPermit {
        &self.permit
    }

    /// Splits into the IO and its permit. The caller now owns the permit, and the
    /// connection stops counting when the permit is dropped, whatever happens to the IO.
    pub fn into_parts(self) -> (T, ConnectionPermit) {
        (self.io, self.permit)
    }
}

impl<T: fmt::Debug> fmt::Debug for LimitedIo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedIo")
            .field("io", &self.io)
            .field("host", &self.permit.key)
            .finish()
    }
}

impl<T: Read> Read for LimitedIo<T> {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<T: Write> Write for LimitedIo<T> {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }
}

impl<T: Connection> Connection for LimitedIo<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}
