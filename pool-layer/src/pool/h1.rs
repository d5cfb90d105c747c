//! A pooled HTTP/1 connection that no task of its own runs: hyper's sender together
//! with hyper's connection state machine, which the request holding the connection
//! polls alongside its response future and then its response body, as Pingora runs
//! upstream I/O inside the downstream request's task.
//!
//! Why: with the state machine spawned as a task, every proxied request crossed
//! tasks four times (request to the connection task, response head back, each body
//! chunk back, and the connection task's turn to take the next request), each a
//! channel send, a wake-up and a poll of another task. Here one task does the whole
//! exchange; hyper's channels are still used, but their sends wake the task that is
//! already running.
//!
//! While the connection sits idle in the pool nobody polls it: a close by the server
//! is seen when the connection is next checked out ([`H1::ready`]) or by the shard's
//! reaper ([`H1::is_closed`]), which then drops it (and with it the socket and its
//! permits).

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{http1, TrySendError};

/// hyper's HTTP/1 connection future, boxed once per connection (its IO type is the
/// connector's, its size some hundreds of bytes: the box moves as one pointer).
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// An HTTP/1 connection: its sender and its state machine, while it is open.
pub(super) struct H1<B> {
    sender: http1::SendRequest<B>,
    /// `None` once the connection has ended (closed by either side, or failed).
    conn: Option<Driver>,
}

impl<B> H1<B> {
    /// A connection from hyper's handshake.
    pub(super) fn new(
        sender: http1::SendRequest<B>,
        conn: impl Future<Output = hyper::Result<()>> + Send + 'static,
    ) -> Self {
        Self {
            sender,
            conn: Some(Box::pin(conn)),
        }
    }

    /// Polls the connection's state machine (reads, writes, hands the response head
    /// and body to hyper's channels); false once the connection has ended. An ended
    /// connection is dropped at once: hyper then fails the request it had taken, and
    /// gives back one it had not.
    pub(super) fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(conn) = self.conn.as_mut() {
            if let Poll::Ready(ended) = conn.as_mut().poll(cx) {
                if let Err(err) = ended {
                    tracing::debug!(error = %err, "HTTP/1 connection ended");
                }
                self.conn = None;
            }
        }
        self.conn.is_some()
    }

    /// True if the connection has ended, as far as it can tell without waiting: it is
    /// polled with a waker that does nothing, as nobody waits for an idle connection.
    pub(super) fn is_closed(&mut self) -> bool {
        !self.drive(&mut Context::from_waker(Waker::noop()))
    }

    /// True unless the connection was seen to end.
    pub(super) fn is_open(&self) -> bool {
        self.conn.is_some() && !self.sender.is_closed()
    }

    /// Waits until the connection can take a request: an idle connection's state
    /// machine is polled first, which also notices a close by the server.
    ///
    /// Polled first without a waker: hyper's state machine then leaves a waker that
    /// does nothing on the channel the request is about to be sent on, and sending it
    /// does not wake (and so poll again) this very task; a waker is left only if the
    /// connection is not ready at once.
    pub(super) async fn ready(&mut self) -> hyper::Result<()> {
        self.drive(&mut Context::from_waker(Waker::noop()));
        poll_fn(|cx| {
            if let Poll::Ready(ready) = self.sender.poll_ready(cx) {
                return Poll::Ready(ready);
            }
            self.drive(cx);
            self.sender.poll_ready(cx)
        })
        .await
    }

    /// Sends `req` and waits for the response head, driving the connection meanwhile.
    /// The request comes back in the error if it never went out.
    pub(super) async fn send(
        &mut self,
        req: Request<B>,
    ) -> Result<Response<Incoming>, TrySendError<Request<B>>>
    where
        B: http_body::Body + 'static,
    {
        let mut response = std::pin::pin!(self.sender.try_send_request(req));
        let res = poll_fn(|cx| {
            // The connection first: it writes the request and reads the response,
            // which the response future then finds in its channel. The response comes
            // only from this task's own polls of the connection, whose socket holds
            // the task's waker: the response future needs none (one would wake this
            // very task when the response is handed over, for one more poll).
            self.drive(cx);
            response
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
        })
        .await;
        // Again without a waker, so that the body's first poll (which tells hyper the
        // body wants data) does not wake this task either.
        self.drive(&mut Context::from_waker(Waker::noop()));
        res
    }
}

impl<B> fmt::Debug for H1<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H1")
            .field("open", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}
