//! The client socket as hyper sees it: passed through, except that closing it after
//! an answer that left the request body unread lingers (bounded) to read and discard
//! what the client is still sending.
//!
//! Closing a socket with unread bytes in its receive buffer makes the kernel send a
//! reset, and a reset can reach the client before it has read the answer (a `413`,
//! say): it then sees "connection reset" instead. nginx's lingering close does the same.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::ConnState;

/// Longest linger after shutting down the write side (see the module docs).
pub const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while lingering.
pub const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// A client socket (see the module docs).
#[derive(Debug)]
pub struct ClientIo {
    inner: TcpStream,
    conn: Arc<ConnState>,
    linger: Option<Linger>,
}

#[derive(Debug)]
struct Linger {
    timer: Pin<Box<Sleep>>,
    left: usize,
}

impl ClientIo {
    pub(crate) fn new(inner: TcpStream, conn: Arc<ConnState>) -> Self {
        Self {
            inner,
            conn,
            linger: None,
        }
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.conn.wrote(written.is_ready());
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.conn.wrote(written.is_ready());
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            if !this.conn.unread_body.load(Ordering::Relaxed) {
                return Poll::Ready(Ok(()));
            }
            this.linger = Some(Linger {
                timer: Box::pin(tokio::time::sleep(LINGER_TIME)),
                left: LINGER_BYTES,
            });
        }
        let Some(linger) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 8192];
        // Bounded: each turn discards bytes from `left`, or ends.
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    linger.left = linger.left.saturating_sub(buf.filled().len());
                    if linger.left == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
                // The client's end (or an error): nothing more to wait for.
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    ready!(linger.timer.as_mut().poll(cx));
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}
