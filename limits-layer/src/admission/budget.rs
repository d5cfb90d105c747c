//! A bound on waiting requests that several queues share.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// At most `max` requests waiting, counted over every queue given a clone: the
/// admission [`Controller`](super::Controller) (through
/// [`Controller::with_budget`](super::Controller::with_budget)) and any other queue of
/// the program, such as a connection pool's wait for a slot, so that one setting
/// bounds all of its waiting requests together.
///
/// Cloning is cheap; clones share the count. Other crates take a place with
/// [`try_join`](Self::try_join) and give it back with [`leave`](Self::leave) (wrap
/// the pair in a guard); this crate's queues do so by `Drop`.
///
/// ```
/// use limits_layer::admission::QueueBudget;
///
/// let budget = QueueBudget::new(1);
/// assert!(budget.try_join());
/// assert!(!budget.clone().try_join()); // full, for every clone
/// budget.leave();
/// assert_eq!(budget.waiting(), 0);
/// ```
#[derive(Clone)]
pub struct QueueBudget {
    shared: Arc<Shared>,
}

struct Shared {
    max: usize,
    waiting: AtomicUsize,
}

impl QueueBudget {
    /// A budget of `max` waiting requests. Zero: no request waits.
    pub fn new(max: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                max,
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// The most requests waiting at once.
    pub fn max(&self) -> usize {
        self.shared.max
    }

    /// Requests waiting now, over every queue sharing the budget.
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::Relaxed)
    }

    /// Takes a place if fewer than `max` requests wait; `true` if taken. Each place
    /// taken must be given back by exactly one [`leave`](Self::leave).
    pub fn try_join(&self) -> bool {
        let shared = &self.shared;
        shared
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < shared.max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a place [`try_join`](Self::try_join) took.
    pub fn leave(&self) {
        self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for QueueBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueBudget")
            .field("max", &self.max())
            .field("waiting", &self.waiting())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{Controller, Limits, Overloaded};

    #[tokio::test]
    async fn one_budget_bounds_the_waiters_of_every_controller_sharing_it() {
        let budget = QueueBudget::new(1);
        let limits = Limits {
            max_in_flight: 1,
            max_queued: 100, // ignored: the budget bounds the queue
            ..Limits::default()
        };
        let a = Controller::with_budget(limits.clone(), budget.clone());
        let b = Controller::with_budget(limits, budget.clone());
        let _a_running = a.acquire().await.expect("a free slot");
        let _b_running = b.acquire().await.expect("a free slot");

        let mut a_waiting = tokio_test::task::spawn(a.acquire());
        tokio_test::assert_pending!(a_waiting.poll());
        assert_eq!(budget.waiting(), 1);
        // The one place is taken (by a's waiter): b refuses at once.
        let err = b.acquire().await.expect_err("the shared queue is full");
        assert!(err.is::<Overloaded>(), "{err}");
        assert_eq!((a.metrics().queued, b.metrics().queued), (1, 0));

        drop(a_waiting);
        assert_eq!(budget.waiting(), 0, "the place is given back by Drop");
        let mut b_waiting = tokio_test::task::spawn(b.acquire());
        tokio_test::assert_pending!(b_waiting.poll());
        assert_eq!(b.metrics().queued, 1);
    }
}
