//! Each client connection, watched: whatever state it is in, a connection that makes
//! no progress is closed after a bounded time, by a timer of its own that does not
//! depend on hyper polling anything.
//!
//! - **Idle** (no request in flight: before the first byte, during hyper-util's
//!   protocol detection, with HTTP/2 `HEADERS` never finished, between requests): closed
//!   `server.header_read_timeout_s` after the last request ended (or the connection
//!   opened), gracefully (HTTP/2 `GOAWAY`), and at once if that does not end it.
//! - **Not reading** (a response whose client accepts no bytes: its body yielded a frame
//!   and hyper has not come back for the next, because the socket or the HTTP/2 window
//!   is full): closed after the deployment's `stream_timeout` (the gateway's own
//!   answers: `server.body_read_timeout_s`), or once past the request's total `timeout`.
//!   Dropping the connection drops the response body: the upstream request is
//!   cancelled, its admission slot and upstream connection released. Memory is bounded
//!   meanwhile by hyper's write buffer and the kernel's socket buffers. A socket that
//!   refuses writes for `server.body_read_timeout_s` is closed too (the bytes of a
//!   response whose body has ended wait there).
//! - **Drain**: [`Phase::Draining`] shuts the connection down gracefully; at
//!   [`Phase::Cut`] every response still streaming ends with an error event (see
//!   [`WatchedBody`]) and the connection gets [`CUT_GRACE`] to send it.

mod call;
mod drive;
mod io;
mod service;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::time::Instant;

pub use call::PerConnection;
pub(crate) use drive::drive;
use drive::KEEP;
pub use io::{ClientIo, LINGER_BYTES, LINGER_TIME};
pub use service::{SendLimits, Watched, WatchedBody, WatchedFuture};

/// How long a connection whose streams were cut at the drain deadline gets to send
/// their error events before it is closed.
pub const CUT_GRACE: Duration = Duration::from_secs(1);

/// Where a worker's shutdown is, as its connections see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Serving as usual.
    Serving,
    /// Finishing what is in flight; no new requests on kept-alive connections.
    Draining,
    /// The drain deadline passed: streams end now, with an error event.
    Cut,
}

/// What a connection's service, bodies, socket and watchdog share.
#[derive(Debug)]
pub struct ConnState {
    born: Instant,
    /// Requests from the service's call until their response body is dropped.
    active: AtomicUsize,
    /// When `active` last fell to zero, in ms since `born`.
    idle_since_ms: AtomicU64,
    /// Responses being sent, as their bodies report progress.
    responses: Mutex<Vec<Arc<Progress>>>,
    /// Wakes the watchdog when a response is added or the socket blocks, and it would
    /// otherwise sleep past that one's deadline.
    added: Notify,
    /// When the watchdog wakes next, in ms since `born`.
    next_check_ms: AtomicU64,
    /// Since when (ms since `born`) writes to the socket have been refused with no
    /// byte taken since; `u64::MAX`: not blocked.
    write_blocked_ms: AtomicU64,
    /// Longest the socket may stay blocked, whatever is being sent.
    stall_ms: u64,
    /// An answer left its request body unread: the socket lingers when closed.
    pub(crate) unread_body: AtomicBool,
    /// HTTP/1: the body of the current request was read to its end (or it had none).
    request_done: AtomicBool,
    /// What the watch task asks of the connection: keep on, shut down gracefully, or
    /// close now; only ever raised.
    command: AtomicU8,
    /// Wakes the connection's task for a command.
    conn_waker: AtomicWaker,
}

impl ConnState {
    /// A connection opened now, whose socket may refuse writes for at most `stall`
    /// (bytes of a response whose body has ended wait there too).
    pub fn new(stall: Duration) -> Arc<Self> {
        Arc::new(Self {
            write_blocked_ms: AtomicU64::new(u64::MAX),
            next_check_ms: AtomicU64::new(0),
            stall_ms: duration_ms(stall),
            born: Instant::now(),
            active: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            responses: Mutex::new(Vec::new()),
            added: Notify::new(),
            unread_body: AtomicBool::new(false),
            request_done: AtomicBool::new(true),
            command: AtomicU8::new(KEEP),
            conn_waker: AtomicWaker::new(),
        })
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.born).as_millis()).unwrap_or(u64::MAX)
    }

    fn responses(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Progress>>> {
        // A panic elsewhere while holding it leaves a list that is still valid.
        self.responses.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes whether a write to the socket was taken (`true`) or refused.
    fn wrote(&self, taken: bool) {
        let blocked = self.write_blocked_ms.load(Ordering::Relaxed) != u64::MAX;
        if taken && blocked {
            self.write_blocked_ms.store(u64::MAX, Ordering::Relaxed);
        } else if !taken && !blocked {
            let now = self.ms(Instant::now());
            self.write_blocked_ms.store(now, Ordering::Relaxed);
            self.wake_by(now.saturating_add(self.stall_ms));
        }
    }

    fn add(&self, progress: Arc<Progress>) {
        let stall = progress.stall_ms.load(Ordering::Relaxed);
        self.responses().push(progress);
        // Usually the watchdog wakes soon enough (a stall limit is longer than the idle
        // timeout): no wake-up, which would poll the whole connection, per response.
        self.wake_by(self.ms(Instant::now()).saturating_add(stall));
    }

    /// Wakes the watchdog if it would sleep past `due` (ms since `born`).
    fn wake_by(&self, due: u64) {
        if due < self.next_check_ms.load(Ordering::Relaxed) {
            self.added.notify_one();
        }
    }

    /// Ends every response still being sent (see [`WatchedBody`]).
    fn cut_all(&self) {
        for progress in self.responses().iter() {
            progress.cut.store(true, Ordering::Relaxed);
            progress.waker.wake();
        }
    }

    /// Resolves when the connection must be closed: idle for `idle`, or a response
    /// whose client stopped reading.
    async fn watchdog(&self, idle: Duration) -> Verdict {
        loop {
            let now = Instant::now();
            let now_ms = self.ms(now);
            let mut next_ms = now_ms.saturating_add(duration_ms(idle));
            {
                let mut responses = self.responses();
                responses.retain(|p| !p.finished.load(Ordering::Relaxed));
                for progress in responses.iter() {
                    match progress.check(now_ms) {
                        Some(due) => next_ms = next_ms.min(due),
                        None => return Verdict::NotReading,
                    }
                }
            }
            let blocked = self.write_blocked_ms.load(Ordering::Relaxed);
            if blocked != u64::MAX {
                let due = blocked.saturating_add(self.stall_ms);
                if due <= now_ms {
                    return Verdict::NotReading;
                }
                next_ms = next_ms.min(due);
            }
            if self.active.load(Ordering::Relaxed) == 0 {
                let due = self
                    .idle_since_ms
                    .load(Ordering::Relaxed)
                    .saturating_add(duration_ms(idle));
                if due <= now_ms {
                    return Verdict::Idle;
                }
                next_ms = next_ms.min(due);
            }
            let next_ms = next_ms.max(now_ms + 1);
            self.next_check_ms.store(next_ms, Ordering::Relaxed);
            let next = self.born + Duration::from_millis(next_ms);
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = self.added.notified() => {}
            }
        }
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why the watchdog closes a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Idle,
    NotReading,
}

/// A request counted in flight on its connection while it lives.
#[derive(Debug)]
pub(crate) struct Active(Arc<ConnState>);

impl Active {
    pub(crate) fn new(conn: Arc<ConnState>) -> Self {
        conn.active.fetch_add(1, Ordering::Relaxed);
        Self(conn)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::Relaxed) == 1 {
            let now = self.0.ms(Instant::now());
            self.0.idle_since_ms.store(now, Ordering::Relaxed);
        }
    }
}

/// One response's progress, as its body reports it and the watchdog reads it.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Even: the body's turn (hyper is polling it, or it waits for its upstream);
    /// odd: the consumer's turn (it yielded a frame that hyper has not taken further).
    turns: AtomicU64,
    stall_ms: AtomicU64,
    /// The total deadline in ms since the connection was born; `u64::MAX`: none.
    deadline_ms: AtomicU64,
    // The watchdog's own notes: the turn it last saw, and since when.
    seen_turn: AtomicU64,
    seen_at_ms: AtomicU64,
    /// Set by the drain deadline: the body ends at its next poll.
    cut: AtomicBool,
    waker: AtomicWaker,
    /// The body is gone.
    finished: AtomicBool,
}

impl Progress {
    /// When to look again (ms since the connection was born), or `None` when the
    /// client has not taken a frame for too long.
    fn check(&self, now_ms: u64) -> Option<u64> {
        let turn = self.turns.load(Ordering::Relaxed);
        let stall = self.stall_ms.load(Ordering::Relaxed);
        if turn % 2 == 0 || turn != self.seen_turn.swap(turn, Ordering::Relaxed) {
            self.seen_at_ms.store(now_ms, Ordering::Relaxed);
            return Some(now_ms.saturating_add(stall));
        }
        let due = self
            .seen_at_ms
            .load(Ordering::Relaxed)
            .saturating_add(stall)
            .min(self.deadline_ms.load(Ordering::Relaxed));
        (now_ms < due).then_some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_requests_is_idle_after_the_idle_timeout() {
        let conn = ConnState::new(Duration::from_secs(30));
        let started = Instant::now();
        assert_eq!(conn.watchdog(IDLE).await, Verdict::Idle);
        assert_eq!(started.elapsed(), IDLE);

        // A request in flight is not idle; the idle time counts from its end.
        let conn = ConnState::new(Duration::from_secs(30));
        let active = Active::new(conn.clone());
        let watchdog = tokio::spawn({
            let conn = conn.clone();
            async move { conn.watchdog(IDLE).await }
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert!(!watchdog.is_finished());
        drop(active);
        let started = Instant::now();
        assert_eq!(watchdog.await.unwrap(), Verdict::Idle);
        let waited = started.elapsed();
        assert!(
            waited >= IDLE && waited <= IDLE + Duration::from_secs(1),
            "{waited:?}"
        );
    }

    /// A response with a stall limit of 1 s, registered on `conn` with a request in
    /// flight.
    fn response(conn: &Arc<ConnState>) -> (Arc<Progress>, Active) {
        let active = Active::new(conn.clone());
        let progress = Arc::new(Progress::default());
        progress.stall_ms.store(1000, Ordering::Relaxed);
        progress.deadline_ms.store(u64::MAX, Ordering::Relaxed);
        conn.add(progress.clone());
        (progress, active)
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_not_taken_for_the_stall_limit_means_the_client_stopped_reading() {
        let conn = ConnState::new(Duration::from_secs(30));
        let (progress, _active) = response(&conn);
        let watchdog = tokio::spawn({
            let conn = conn.clone();
            async move { conn.watchdog(IDLE).await }
        });
        // The consumer takes a frame every 500 ms for 5 s: fine.
        for _ in 0..10 {
            progress.turns.fetch_add(1, Ordering::Relaxed); // a frame yielded
            tokio::time::sleep(Duration::from_millis(500)).await;
            progress.turns.fetch_add(1, Ordering::Relaxed); // taken: polled again
        }
        // Waiting for the upstream (the body's turn) for long is not the client's fault.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!watchdog.is_finished());
        // A frame yielded and never taken.
        progress.turns.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        assert_eq!(watchdog.await.unwrap(), Verdict::NotReading);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited <= Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_refuses_writes_for_the_stall_limit_means_the_client_stopped_reading() {
        let conn = ConnState::new(Duration::from_secs(3));
        let started = Instant::now();
        let watchdog = tokio::spawn({
            let conn = conn.clone();
            async move { conn.watchdog(IDLE).await }
        });
        let _active = Active::new(conn.clone());
        tokio::time::sleep(Duration::from_secs(1)).await;
        conn.wrote(false);
        assert_eq!(watchdog.await.unwrap(), Verdict::NotReading);
        assert_eq!(started.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_cut_wakes_and_marks_every_response() {
        let conn = ConnState::new(Duration::from_secs(30));
        let (a, _x) = response(&conn);
        let (b, _y) = response(&conn);
        conn.cut_all();
        assert!(a.cut.load(Ordering::Relaxed) && b.cut.load(Ordering::Relaxed));
    }
}
