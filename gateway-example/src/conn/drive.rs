//! A connection's two tasks: the one that drives it (polling nothing but hyper's
//! connection and the command its watch task sets), and that watch task (the watchdog,
//! the worker's shutdown phases, and the deadline of a close already asked for).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{ConnState, Phase, Verdict, CUT_GRACE};

/// What the watch task asks of the connection (see [`ConnState::command`]).
pub(super) const KEEP: u8 = 0;
const SHUT_DOWN: u8 = 1;
const CLOSE: u8 = 2;

/// Drives one client connection to its end: until it completes, its watch task (see
/// the module docs) has it closed, or the worker's shutdown reaches it.
///
/// The timers live in a task of their own, which talks to this one through an atomic
/// and a waker: the connection's task, woken for nearly every byte, polls nothing but
/// the connection and that atomic.
pub(crate) async fn drive<C>(
    conn: C,
    state: Arc<ConnState>,
    phase: watch::Receiver<Phase>,
    idle: Duration,
) where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let _watch = AbortOnDrop(tokio::spawn(watch(state.clone(), phase, idle)));
    let mut conn = std::pin::pin!(conn);
    let mut shut = false;
    std::future::poll_fn(|cx| {
        match state.command.load(Ordering::Relaxed) {
            KEEP => {}
            CLOSE => return Poll::Ready(()),
            _ if !shut => {
                shut = true;
                conn.as_mut().graceful_shutdown();
            }
            _ => {}
        }
        match conn.as_mut().poll(cx) {
            Poll::Ready(Err(err)) => {
                tracing::debug!(error = %err, "client connection ended with an error");
                Poll::Ready(())
            }
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Pending => {
                state.conn_waker.register(cx.waker());
                Poll::Pending
            }
        }
    })
    .await;
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The watch task of a connection: its watchdog, the worker's shutdown phases, and the
/// deadline of a close already asked for.
async fn watch(state: Arc<ConnState>, mut phase: watch::Receiver<Phase>, idle: Duration) {
    let ask = |command: u8| {
        state.command.fetch_max(command, Ordering::Relaxed);
        state.conn_waker.wake();
    };
    let watchdog = state.watchdog(idle);
    tokio::pin!(watchdog);
    let mut watching = true;
    let mut phases = true;
    // Once closing: the latest the connection may end.
    let closing = tokio::time::sleep(Duration::MAX);
    tokio::pin!(closing);
    loop {
        tokio::select! {
            () = &mut closing => return ask(CLOSE),
            verdict = &mut watchdog, if watching => {
                watching = false;
                match verdict {
                    Verdict::Idle => {
                        tracing::debug!("closing an idle client connection");
                        ask(SHUT_DOWN);
                        close_by(closing.as_mut(), idle.min(CUT_GRACE));
                    }
                    Verdict::NotReading => {
                        tracing::debug!("closing a client connection that stopped reading");
                        return ask(CLOSE);
                    }
                }
            }
            changed = phase.changed(), if phases => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Cut };
                match now {
                    Phase::Serving => {}
                    Phase::Draining => ask(SHUT_DOWN),
                    Phase::Cut => {
                        phases = false;
                        ask(SHUT_DOWN);
                        state.cut_all();
                        close_by(closing.as_mut(), CUT_GRACE);
                    }
                }
            }
        }
    }
}

/// Makes `closing` fire within `grace`, unless it fires sooner already.
fn close_by(closing: std::pin::Pin<&mut tokio::time::Sleep>, grace: Duration) {
    let at = Instant::now() + grace;
    if at < closing.deadline() {
        closing.reset(at);
    }
}
