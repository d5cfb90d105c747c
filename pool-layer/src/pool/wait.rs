//! Waiting for a connection slot: the bound on how many requests wait (a
//! [`WaitBudget`], which other queues of the process may share) and on how long.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::limit::HostKey;
use crate::BoxError;

/// Default most requests waiting for a connection slot, all hosts together (the
/// project's default queue bound).
pub const DEFAULT_MAX_WAITERS: usize = 2000;
/// Default longest wait for a connection slot (the project's default queue timeout).
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound on waiting requests that the pool takes a place in whenever a request
/// cannot get a connection slot at once (its host at its cap, or every connection of
/// the process in use).
///
/// The pool's own is [`Waiters`]. A program with other queues in front of the pool
/// (an admission queue) implements this over the counter those queues use, so that
/// one bound covers every waiting request: the pool then never knows, nor needs to
/// know, what else waits. The errors it names become the [`source`] of the
/// [`ClientError`](crate::ClientError), so the program can map them as it maps its
/// other queue's rejections.
///
/// [`source`]: std::error::Error::source
pub trait WaitBudget: Send + Sync + 'static {
    /// Takes a place if the bound allows one more waiter; `true` if taken. Every
    /// place taken is given back by exactly one [`leave`](Self::leave).
    fn try_join(&self) -> bool;

    /// Gives back a place [`try_join`](Self::try_join) took.
    fn leave(&self);

    /// The error a request refused for want of a place carries as its source.
    fn full_error(&self) -> BoxError {
        Box::new(TooManyWaiters(()))
    }

    /// The error a request that waited `waited` in vain carries as its source.
    fn timeout_error(&self, waited: Duration) -> BoxError {
        Box::new(WaitTimeout { waited })
    }
}

/// The pool's own [`WaitBudget`]: at most `max` waiters.
#[derive(Debug)]
pub struct Waiters {
    max: usize,
    waiting: AtomicUsize,
}

impl Waiters {
    /// At most `max` requests wait; zero means none does (a request that finds no
    /// slot fails at once).
    pub fn new(max: usize) -> Self {
        Self {
            max,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

impl WaitBudget for Waiters {
    fn try_join(&self) -> bool {
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    fn leave(&self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every waiting place was taken: the request was refused at once, without waiting.
#[derive(Debug, Clone)]
pub struct TooManyWaiters(());

impl fmt::Display for TooManyWaiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("too many requests waiting for a connection slot")
    }
}

impl std::error::Error for TooManyWaiters {}

/// A request waited for a connection slot for as long as allowed.
#[derive(Debug, Clone)]
pub struct WaitTimeout {
    waited: Duration,
}

impl WaitTimeout {
    /// How long the request waited.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no connection slot came free within {:?}", self.waited)
    }
}

impl std::error::Error for WaitTimeout {}

/// The pool's side of waiting: the budget, the timeout and the counters.
pub(crate) struct Wait {
    budget: Arc<dyn WaitBudget>,
    pub(crate) timeout: Duration,
    /// Requests of this pool waiting now (the budget may count others too).
    waiting: AtomicUsize,
    rejected_full: AtomicU64,
    rejected_timeout: AtomicU64,
}

impl Wait {
    pub(crate) fn new(budget: Arc<dyn WaitBudget>, timeout: Duration) -> Self {
        Self {
            budget,
            timeout,
            waiting: AtomicUsize::new(0),
            rejected_full: AtomicU64::new(0),
            rejected_timeout: AtomicU64::new(0),
        }
    }

    /// A place in the budget, or the error (from the budget) that refuses the request.
    pub(crate) fn join(&self, host: &HostKey) -> Result<Place<'_>, BoxError> {
        if !self.budget.try_join() {
            self.rejected_full.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%host, "wait queue full; refusing a request at once");
            return Err(self.budget.full_error());
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Ok(Place(self))
    }

    /// The error of a request that waited `waited` for `host` in vain.
    pub(crate) fn timed_out(&self, host: &HostKey, waited: Duration) -> BoxError {
        self.rejected_timeout.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%host, ?waited, "gave up waiting for a connection slot");
        self.budget.timeout_error(waited)
    }

    pub(crate) fn metrics(&self) -> (usize, u64, u64) {
        (
            self.waiting.load(Ordering::Relaxed),
            self.rejected_full.load(Ordering::Relaxed),
            self.rejected_timeout.load(Ordering::Relaxed),
        )
    }
}

/// A waiting place, given back by `Drop` however the wait ends.
pub(crate) struct Place<'a>(&'a Wait);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
        self.0.budget.leave();
    }
}
