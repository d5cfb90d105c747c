use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::store::{Store, Ticket};

/// Marks "no usage reported yet".
const UNREPORTED: u64 = u64::MAX;

/// The handle of one admitted request's token reservation, put in the request's and
/// the response's extensions by [`RateLimit`](super::RateLimit).
///
/// Whoever learns the real usage (the inner service, or the caller when a stream's
/// last event arrives) calls [`report`](Self::report). The reservation is reconciled
/// with the last reported number when the last clone of the handle is dropped, once;
/// a reservation that was never reported stays counted as reserved (the estimate was
/// the caller's bound, so keeping it is the safe side).
#[derive(Clone)]
pub struct TokenUsage {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    ticket: Ticket,
    actual: AtomicU64,
}

impl TokenUsage {
    pub(crate) fn new(store: Arc<dyn Store>, ticket: Ticket) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                ticket,
                actual: AtomicU64::new(UNREPORTED),
            }),
        }
    }

    /// Records the request's real token usage (the last report counts).
    pub fn report(&self, tokens: u64) {
        self.inner
            .actual
            .store(tokens.min(UNREPORTED - 1), Ordering::Relaxed);
    }

    /// The usage reported so far, if any.
    pub fn reported(&self) -> Option<u64> {
        let actual = self.inner.actual.load(Ordering::Relaxed);
        (actual != UNREPORTED).then_some(actual)
    }

    /// Tokens reserved up front.
    pub fn reserved(&self) -> u64 {
        self.inner.ticket.reserved()
    }

    /// The rate-limit key the request counted under.
    pub fn key(&self) -> &str {
        self.inner.ticket.key()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let actual = *self.actual.get_mut();
        if actual != UNREPORTED && actual != self.ticket.reserved() {
            self.store.reconcile(&self.ticket, actual);
        }
    }
}

impl fmt::Debug for TokenUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenUsage")
            .field("key", &self.key())
            .field("reserved", &self.reserved())
            .field("reported", &self.reported())
            .finish()
    }
}
