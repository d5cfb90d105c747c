use std::fmt;
use std::time::Duration;

/// The admission queue is full: the request was rejected at once, without waiting.
#[derive(Debug, Clone)]
pub struct Overloaded {
    retry_after: Duration,
}

impl Overloaded {
    /// The rejection of a full queue, with this retry hint. For other queues that
    /// share the admission queue's budget and answer as it does.
    pub fn new(retry_after: Duration) -> Self {
        Self { retry_after }
    }

    /// How long the caller should wait before retrying (for `Retry-After`).
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

impl fmt::Display for Overloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("overloaded: too many requests in flight and queued, retry later")
    }
}

impl std::error::Error for Overloaded {}

/// A request waited in the admission queue longer than the queue timeout.
#[derive(Debug, Clone)]
pub struct QueueTimeout {
    waited: Duration,
    retry_after: Duration,
}

impl QueueTimeout {
    /// The rejection of a request that waited `waited` in vain, with this retry hint.
    /// For other queues that share the admission queue's budget and answer as it does.
    pub fn new(waited: Duration, retry_after: Duration) -> Self {
        Self {
            waited,
            retry_after,
        }
    }

    /// How long the request waited.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// How long the caller should wait before retrying (for `Retry-After`).
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

impl fmt::Display for QueueTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?} waiting in the queue", self.waited)
    }
}

impl std::error::Error for QueueTimeout {}
