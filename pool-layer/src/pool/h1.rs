//! An HTTP/1 connection driven by the task of the request that uses it.
//!
//! hyper's HTTP/1 client comes in two halves: a `SendRequest` that hands requests
//! over a channel, and the `Connection` future that writes them, reads the answers
//! and feeds the response bodies. The usual way spawns the `Connection` as a task of
//! its own, so that every proxied request crosses tasks four or five times (the
//! request to the connection's task, the response head back, then each body chunk
//! asked for and handed over), each a wake-up and a poll of another task.
//!
//! Here the pool keeps both halves together. While a request holds the connection,
//! its own task polls the `Connection` alongside the response future and then
//! alongside the response body, as Pingora runs the upstream exchange inside the
//! downstream connection's task: one task does the whole exchange. The signals
//! between the halves (a request queued, a body frame taken, more of the body wanted)
//! would still wake that task while it runs, each wake one more poll of its whole
//! stack that finds nothing new; so the connection is polled with a waker of its own
//! ([`Wake`]) that, while the task is driving the connection, only notes the wake-up
//! (and the connection is polled again at once), and otherwise (the socket became
//! readable) wakes the task. While the connection is idle nobody polls it, and what
//! its socket sees (the server closing it, mostly) wakes the shard's reaper, which
//! drives the idle connections and closes those found closed; a request that takes it
//! from the pool polls it first too.
//!
//! Dropping it drops the socket at once, and with it the connection's permits: a
//! request cancelled, or a body dropped before its end, releases its connection in
//! the same call.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;
use http::{Request, Response};
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use hyper::client::conn::{http1, TrySendError};
use sync_wrapper::SyncWrapper;

use crate::client::Connector;
use crate::BoxError;

/// The socket type under a pooled connection.
pub(super) type Io = <Connector as tower_service::Service<http::Uri>>::Response;

/// hyper's `Connection` future, boxed once per connection: small to move between the
/// idle list, the request and its body, and without the bounds on `B` that its type
/// would put on every type of the pool. Only ever polled through `&mut`, so it need
/// not be `Sync` for the response body to be.
type Driver = SyncWrapper<Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>>;

/// Most polls of the connection in one call of [`Link::drive`] when each wakes it
/// again; then the task yields (woken at once), as hyper's own loops do.
const MAX_TURNS: usize = 8;

/// Both halves of an HTTP/1 connection.
pub(super) struct H1<B> {
    sender: http1::SendRequest<B>,
    link: Link,
}

/// The connection's half that does the I/O, and the waker it is polled with.
struct Link {
    conn: Driver,
    /// The `Connection` future has completed: the connection is closed.
    ended: bool,
    wake: Arc<Wake>,
    /// A waker of `wake`, made once.
    waker: Waker,
}

/// The waker a connection is polled with. While its task drives the connection
/// (`DRIVING`), a wake-up is only noted (`WOKEN`) and the connection polled again;
/// otherwise it wakes the task that last drove the connection, if that task still
/// holds it.
struct Wake {
    state: AtomicU8,
    task: AtomicWaker,
}

const DRIVING: u8 = 1;
const WOKEN: u8 = 2;

impl std::task::Wake for Wake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.state.fetch_or(WOKEN, Ordering::AcqRel) & DRIVING == 0 {
            self.task.wake();
        }
    }
}

impl Wake {
    /// The task `task` starts driving the connection.
    fn enter(&self, task: &Waker) {
        self.task.register(task);
        self.state.store(DRIVING, Ordering::Release);
    }

    /// True if the connection was woken since the last call (or `enter`).
    fn take_woken(&self) -> bool {
        self.state.fetch_and(!WOKEN, Ordering::AcqRel) & WOKEN != 0
    }

    /// The task stops driving the connection; true if it was woken meanwhile and
    /// was not polled since (the task must be woken for it).
    fn leave(&self) -> bool {
        self.state.swap(0, Ordering::AcqRel) & WOKEN != 0
    }
}

impl Link {
    /// Polls the connection with its own waker.
    fn poll_conn(&mut self) {
        poll_conn(
            &mut self.conn,
            &mut self.ended,
            &mut Context::from_waker(&self.waker),
        );
    }

    /// Polls `step` (something only this connection completes: the response head, a
    /// body frame, readiness for a request) and drives the connection until `step` is
    /// ready, the connection waits for its socket, or it is closed (`None`).
    ///
    /// `step` is polled without a waker: what it waits for is made ready only by the
    /// connection, in these polls. The connection is polled with its own waker (see
    /// [`Wake`]): a wake-up while this runs means it can go on, and it is polled
    /// again; a later one (its socket) wakes `cx`'s task.
    fn drive<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut step: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<Option<T>> {
        let mut quiet = Context::from_waker(Waker::noop());
        // Driving from here: taking a body frame wakes the connection's side, which
        // must not wake this task.
        self.wake.enter(cx.waker());
        let mut turns = 0;
        let result = match step(&mut quiet) {
            Poll::Ready(done) => Poll::Ready(Some(done)),
            Poll::Pending => loop {
                self.poll_conn();
                turns += 1;
                if let Poll::Ready(done) = step(&mut quiet) {
                    break Poll::Ready(Some(done));
                }
                if self.ended {
                    break Poll::Ready(None);
                }
                if turns == MAX_TURNS || !self.wake.take_woken() {
                    break Poll::Pending;
                }
            },
        };
        // Woken since its last poll (on the last turn, or after it): the task must
        // come back to it, as no wake-up reached the task meanwhile.
        if self.wake.leave() && result.is_pending() {
            cx.waker().wake_by_ref();
        }
        result
    }
}

fn poll_conn(conn: &mut Driver, ended: &mut bool, cx: &mut Context<'_>) {
    if *ended {
        return;
    }
    if let Poll::Ready(result) = conn.get_mut().as_mut().poll(cx) {
        *ended = true;
        if let Err(err) = result {
            tracing::debug!(error = %err, "HTTP/1 connection ended");
        }
    }
}

impl<B> H1<B>
where
    B: HttpBody + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    pub(super) fn new(sender: http1::SendRequest<B>, conn: http1::Connection<Io, B>) -> Self {
        let wake = Arc::new(Wake {
            state: AtomicU8::new(0),
            task: AtomicWaker::new(),
        });
        Self {
            sender,
            link: Link {
                conn: SyncWrapper::new(Box::pin(conn)),
                ended: false,
                waker: Waker::from(wake.clone()),
                wake,
            },
        }
    }

    /// Sends `req` and waits for the response head, driving the connection meanwhile.
    pub(super) async fn send(
        &mut self,
        req: Request<B>,
    ) -> Result<Response<Incoming>, TrySendError<Request<B>>> {
        let mut response = std::pin::pin!(self.sender.try_send_request(req));
        let link = &mut self.link;
        std::future::poll_fn(
            |cx| match link.drive(cx, |quiet| response.as_mut().poll(quiet)) {
                Poll::Ready(Some(done)) => Poll::Ready(done),
                Poll::Pending => Poll::Pending,
                // Closed without answering: hyper fails the request's response as its
                // connection ends, so this poll finds that error.
                Poll::Ready(None) => response.as_mut().poll(cx),
            },
        )
        .await
    }
}

impl<B> H1<B> {
    /// True once the connection is closed (by either side, or after an error).
    pub(super) fn is_closed(&self) -> bool {
        self.link.ended || self.sender.is_closed()
    }

    /// The next frame of a response body from this connection, driving it meanwhile.
    pub(super) fn poll_frame<F>(
        &mut self,
        cx: &mut Context<'_>,
        mut frame: impl FnMut(&mut Context<'_>) -> Poll<Option<F>>,
    ) -> Poll<Option<F>> {
        match self.link.drive(cx, &mut frame) {
            Poll::Ready(Some(done)) => Poll::Ready(done),
            Poll::Pending => Poll::Pending,
            // Closed with the frame not there: hyper ends the body as its connection
            // ends (with an error, if cut short), so this poll finds that end.
            Poll::Ready(None) => frame(cx),
        }
    }

    /// Leaves the connection idle: what it sees from now on (its socket readable: the
    /// server closed it, mostly) wakes `idle` (its shard's idle watch), not the task
    /// that last used it. (Its socket is watched with the connection's own waker since
    /// the last poll, which read until the socket had nothing more.)
    pub(super) fn park(&self, idle: &Waker) {
        self.link.wake.task.register(idle);
    }

    /// Drives an idle connection once: one the server closed sees its end and is
    /// closed; one still open watches its socket again, waking `idle` (see
    /// [`park`](Self::park)).
    pub(super) fn poll_idle(&mut self, idle: &Waker) {
        self.park(idle);
        self.link.poll_conn();
    }

    /// Takes the connection out of the idle list: nothing wakes anyone until a task
    /// drives it.
    pub(super) fn unpark(&self) {
        self.link.wake.task.take();
    }

    /// Waits until the connection may take a request; false if it is closed.
    pub(super) async fn ready(&mut self) -> bool {
        let (sender, link) = (&mut self.sender, &mut self.link);
        std::future::poll_fn(|cx| {
            link.drive(cx, |quiet| sender.poll_ready(quiet))
                .map(|ready| matches!(ready, Some(Ok(()))))
        })
        .await
    }
}
