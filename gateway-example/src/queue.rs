//! One bound on every waiting request of the gateway: the admission queue and the
//! upstream pool's wait for a connection slot take their places in one
//! [`QueueBudget`] of `limits.max_queued`, and each wait lasts at most
//! `limits.queue_timeout_s`.
//!
//! The two layer crates do not know each other: limits-layer owns the budget, and
//! pool-layer waits on any [`pool_layer::WaitBudget`]. [`SharedQueue`] is the bridge:
//! it counts the pool's waiters in the budget and names its refusals with the
//! admission queue's own errors ([`Overloaded`], [`QueueTimeout`]), so that
//! [`limits_layer::http::rejection`] answers both alike: 429 `queue_full` at once
//! when every place is taken, 503 `queue_timeout` after waiting too long, with
//! `Retry-After`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use limits_layer::admission::{Controller, Limits, Overloaded, QueueBudget, QueueTimeout};

use crate::config::{Config, LimitsConfig};

/// The gateway's shared queue bound, as the pool's [`pool_layer::WaitBudget`].
#[derive(Debug, Clone)]
pub struct SharedQueue {
    budget: QueueBudget,
    retry_after: Duration,
}

impl SharedQueue {
    /// A budget of `limits.max_queued` waiting requests.
    pub fn new(limits: &LimitsConfig) -> Self {
        Self {
            budget: QueueBudget::new(limits.max_queued),
            retry_after: Limits::default().retry_after,
        }
    }

    /// Requests waiting now, for admission or for an upstream connection slot.
    pub fn waiting(&self) -> usize {
        self.budget.waiting()
    }

    /// The admission controller: `limits.max_in_flight` slots, its queue in the budget.
    pub fn controller(&self, limits: &LimitsConfig) -> Controller {
        Controller::with_budget(
            Limits {
                max_in_flight: limits.max_in_flight,
                max_queued: limits.max_queued,
                queue_timeout: limits.queue_timeout,
                retry_after: self.retry_after,
            },
            self.budget.clone(),
        )
    }

    /// The upstream client of the `pool` settings: one shard per worker, the caps for
    /// the whole process, its slot waits in the budget and bounded by the queue timeout.
    pub fn client(&self, config: &Config) -> pool_layer::Client<Full<Bytes>> {
        let pool = &config.pool;
        pool_layer::Client::builder()
            .max_connections(pool.max_connections)
            .max_connections_per_host(pool.max_connections_per_host)
            .idle_timeout(pool.keepalive)
            .dns_ttl(pool.dns_ttl)
            .connect_timeout(pool.connect_timeout)
            .wait_timeout(config.limits.queue_timeout)
            .wait_budget(self.clone())
            .shards(config.server.workers)
            .build()
    }
}

impl pool_layer::WaitBudget for SharedQueue {
    fn try_join(&self) -> bool {
        self.budget.try_join()
    }

    fn leave(&self) {
        self.budget.leave();
    }

    fn full_error(&self) -> pool_layer::BoxError {
        Box::new(Overloaded::new(self.retry_after))
    }

    fn timeout_error(&self, waited: Duration) -> pool_layer::BoxError {
        Box::new(QueueTimeout::new(waited, self.retry_after))
    }
}
