use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::PollSemaphore;

use super::{Overloaded, QueueBudget, QueueTimeout};
use crate::BoxError;

/// Default most requests running at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1000;
/// Default most requests waiting for a slot.
pub const DEFAULT_MAX_QUEUED: usize = 2000;
/// Default longest wait in the queue.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `Retry-After` hint given with a rejection.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The limits of one [`Controller`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most requests running at once. Default [`DEFAULT_MAX_IN_FLIGHT`]. At least 1.
    pub max_in_flight: usize,
    /// Most requests waiting, in FIFO order, for a slot; beyond, [`Overloaded`] at
    /// once. Default [`DEFAULT_MAX_QUEUED`]. Zero means no queue. Ignored by
    /// [`Controller::with_budget`], whose budget bounds the queue instead.
    pub max_queued: usize,
    /// Longest wait in the queue before [`QueueTimeout`]. Default
    /// [`DEFAULT_QUEUE_TIMEOUT`].
    pub queue_timeout: Duration,
    /// The retry hint carried by rejections. Default [`DEFAULT_RETRY_AFTER`].
    pub retry_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_queued: DEFAULT_MAX_QUEUED,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }
}

/// A snapshot of a controller's gauges and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdmissionMetrics {
    /// Requests holding a slot now.
    pub in_flight: usize,
    /// Requests waiting for a slot now.
    pub queued: usize,
    /// Requests given a slot since start.
    pub admitted: u64,
    /// Requests rejected because the queue was full.
    pub rejected_overload: u64,
    /// Requests rejected after waiting `queue_timeout`.
    pub rejected_timeout: u64,
}

impl AdmissionMetrics {
    pub(crate) fn add(&mut self, other: &AdmissionMetrics) {
        self.in_flight += other.in_flight;
        self.queued += other.queued;
        self.admitted += other.admitted;
        self.rejected_overload += other.rejected_overload;
        self.rejected_timeout += other.rejected_timeout;
    }
}

/// Admission control: `max_in_flight` slots, a FIFO queue of at most `max_queued`
/// waiters, a queue timeout. Cloning is cheap; clones share the slots and the queue, so
/// one controller can guard several routes or services.
#[derive(Clone)]
pub struct Controller {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    limits: Limits,
    slots: Arc<Semaphore>,
    /// The bound on waiting, maybe shared with other queues.
    budget: QueueBudget,
    /// This controller's waiting requests.
    queued: AtomicUsize,
    admitted: AtomicU64,
    rejected_overload: AtomicU64,
    rejected_timeout: AtomicU64,
}

impl Controller {
    /// A controller with these limits.
    ///
    /// # Panics
    ///
    /// If `max_in_flight` is zero.
    pub fn new(limits: Limits) -> Self {
        let budget = QueueBudget::new(limits.max_queued);
        Self::with_budget(limits, budget)
    }

    /// A controller whose waiting requests take their places in `budget`, which other
    /// queues may share (then `limits.max_queued` is ignored): a request that finds no
    /// free slot is refused at once when the budget is full, whoever fills it.
    ///
    /// # Panics
    ///
    /// If `max_in_flight` is zero.
    pub fn with_budget(limits: Limits, budget: QueueBudget) -> Self {
        assert!(limits.max_in_flight > 0, "max_in_flight must be at least 1");
        Self {
            shared: Arc::new(Shared {
                slots: Arc::new(Semaphore::new(limits.max_in_flight)),
                budget,
                limits,
                queued: AtomicUsize::new(0),
                admitted: AtomicU64::new(0),
                rejected_overload: AtomicU64::new(0),
                rejected_timeout: AtomicU64::new(0),
            }),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Asks for a slot: ready at once if one is free; otherwise joins the queue if it
    /// has room (else fails at once with [`Overloaded`]) and waits at most
    /// `queue_timeout` ([`QueueTimeout`]). Dropping the future leaves the queue.
    pub fn acquire(&self) -> Acquire {
        let shared = &self.shared;
        if let Ok(slot) = shared.slots.clone().try_acquire_owned() {
            return Acquire::done(Ok(self.admit(slot)));
        }
        if !shared.budget.try_join() {
            shared.rejected_overload.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("admission queue full, rejecting");
            return Acquire::done(Err(Overloaded::new(shared.limits.retry_after).into()));
        }
        shared.queued.fetch_add(1, Ordering::AcqRel);
        let place = QueuePlace(self.shared.clone());
        Acquire {
            state: State::Waiting {
                slots: PollSemaphore::new(shared.slots.clone()),
                deadline: tokio::time::sleep(shared.limits.queue_timeout),
                started: Instant::now(),
                place: Some(place),
                controller: self.clone(),
            },
        }
    }

    fn admit(&self, slot: OwnedSemaphorePermit) -> Permit {
        self.shared.admitted.fetch_add(1, Ordering::Relaxed);
        Permit {
            _slot: slot,
            _owner: self.shared.clone(),
        }
    }

    /// A snapshot of the gauges and counters.
    pub fn metrics(&self) -> AdmissionMetrics {
        let s = &self.shared;
        AdmissionMetrics {
            in_flight: s.limits.max_in_flight - s.slots.available_permits(),
            queued: s.queued.load(Ordering::Relaxed),
            admitted: s.admitted.load(Ordering::Relaxed),
            rejected_overload: s.rejected_overload.load(Ordering::Relaxed),
            rejected_timeout: s.rejected_timeout.load(Ordering::Relaxed),
        }
    }

    /// True if nothing holds or waits for a slot of this controller.
    pub(crate) fn is_idle(&self) -> bool {
        // Permits and queue places each hold a reference to `shared`.
        Arc::strong_count(&self.shared) == 1
    }
}

impl Default for Controller {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("limits", &self.shared.limits)
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// A slot: the request holding it counts as in flight until it is dropped.
pub struct Permit {
    _slot: OwnedSemaphorePermit,
    _owner: Arc<Shared>,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// A place in the queue, given back on drop however the wait ends.
struct QueuePlace(Arc<Shared>);

impl Drop for QueuePlace {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
        self.0.budget.leave();
    }
}

pin_project! {
    /// The future of [`Controller::acquire`].
    pub struct Acquire {
        #[pin]
        state: State,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Done { result: Option<Result<Permit, BoxError>> },
        Waiting {
            slots: PollSemaphore,
            #[pin]
            deadline: Sleep,
            started: Instant,
            place: Option<QueuePlace>,
            controller: Controller,
        },
    }
}

impl Acquire {
    pub(crate) fn done(result: Result<Permit, BoxError>) -> Self {
        Self {
            state: State::Done {
                result: Some(result),
            },
        }
    }

    /// The outcome, if it was decided without waiting: `Some` for a free slot or an
    /// immediate rejection, `None` if the request has to queue.
    pub(crate) fn take_decided(&mut self) -> Option<Result<Permit, BoxError>> {
        match &mut self.state {
            State::Done { result } => result.take(),
            State::Waiting { .. } => None,
        }
    }
}

impl Future for Acquire {
    type Output = Result<Permit, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Done { result } => {
                Poll::Ready(result.take().expect("Acquire polled after completion"))
            }
            StateProj::Waiting {
                slots,
                deadline,
                started,
                place,
                controller,
            } => {
                // The slot first: one granted at the deadline still counts.
                if let Poll::Ready(slot) = slots.poll_acquire(cx) {
                    place.take();
                    let slot = slot.expect("admission semaphores are never closed");
                    return Poll::Ready(Ok(controller.admit(slot)));
                }
                std::task::ready!(deadline.poll(cx));
                place.take();
                let shared = &controller.shared;
                shared.rejected_timeout.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("admission queue wait timed out");
                Poll::Ready(Err(QueueTimeout::new(
                    started.elapsed(),
                    shared.limits.retry_after,
                )
                .into()))
            }
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").finish_non_exhaustive()
    }
}
