//! Maps queue and rate-limit rejections to HTTP statuses: [`Overloaded`] → 429
//! (`queue_full`), [`RateLimited`] → 429 (`rate_limited`), [`QueueTimeout`] → 503
//! (`queue_timeout`), all with `Retry-After`. The body format is the caller's.
//!
//! The errors are found anywhere along an error's `source` chain, so another layer's
//! error maps the same way when its cause is one of them. That is how a queue outside
//! this crate answers like the admission queue without either crate depending on the
//! other: a connection pool that waits on the same [`QueueBudget`] reports a refusal
//! or a timeout with an `Overloaded` or a `QueueTimeout` as the source of its own error
//! (the program that shares the budget supplies them; pool-layer's `WaitBudget` has a
//! hook for each), and its `is_overloaded()` / `is_wait_timeout()` predicates and this
//! mapping agree by construction.
//!
//! [`QueueBudget`]: crate::admission::QueueBudget
//!
//! # Example
//!
//! ```
//! use limits_layer::admission::{Controller, Limits};
//! use limits_layer::http::rejection;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let controller = Controller::new(Limits { max_in_flight: 1, max_queued: 0, ..Limits::default() });
//! let _held = controller.acquire().await.unwrap();
//! let err = controller.acquire().await.unwrap_err();
//!
//! let rejection = rejection(&*err).expect("an admission error");
//! assert_eq!(rejection.status, 429);
//! assert_eq!(rejection.retry_after_secs, 1);
//! # }
//! ```

use http::{HeaderValue, StatusCode};

use crate::admission::{Overloaded, QueueTimeout};
use crate::rate::RateLimited;

/// How to answer a queue rejection over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// 429 for [`Overloaded`] and [`RateLimited`], 503 for [`QueueTimeout`].
    pub status: StatusCode,
    /// Seconds for the `Retry-After` header (at least 1).
    pub retry_after_secs: u64,
    /// A [`RateLimited`] rejection (code `rate_limited`).
    rate_limited: bool,
}

impl Rejection {
    /// The `Retry-After` header value.
    pub fn retry_after(&self) -> HeaderValue {
        HeaderValue::from(self.retry_after_secs)
    }

    /// A short machine-readable code: `queue_full`, `queue_timeout` or `rate_limited`.
    pub fn code(&self) -> &'static str {
        if self.rate_limited {
            return "rate_limited";
        }
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            "queue_full"
        } else {
            "queue_timeout"
        }
    }
}

/// The HTTP answer for `err` (searched along its `source` chain), or `None` if it is
/// not a queue rejection.
pub fn rejection(err: &(dyn std::error::Error + 'static)) -> Option<Rejection> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(overloaded) = err.downcast_ref::<Overloaded>() {
            return Some(Rejection {
                status: StatusCode::TOO_MANY_REQUESTS,
                retry_after_secs: secs(overloaded.retry_after()),
                rate_limited: false,
            });
        }
        if let Some(timeout) = err.downcast_ref::<QueueTimeout>() {
            return Some(Rejection {
                status: StatusCode::SERVICE_UNAVAILABLE,
                retry_after_secs: secs(timeout.retry_after()),
                rate_limited: false,
            });
        }
        // Over a key's RPM/TPM: 429, retry when the window ends.
        if let Some(limited) = err.downcast_ref::<RateLimited>() {
            return Some(Rejection {
                status: StatusCode::TOO_MANY_REQUESTS,
                retry_after_secs: secs(limited.retry_after()),
                rate_limited: true,
            });
        }
        current = err.source();
    }
    None
}

fn secs(d: std::time::Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Another layer's error whose cause is a queue rejection.
    #[derive(Debug)]
    struct Wrapped(Box<dyn std::error::Error + Send + Sync>);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no connection slot")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn a_rejection_found_as_the_source_of_another_error_maps_the_same() {
        let full = Wrapped(Box::new(Overloaded::new(Duration::from_millis(1500))));
        let full = rejection(&full).expect("a rejection");
        assert_eq!(
            (full.status, full.retry_after_secs, full.code()),
            (StatusCode::TOO_MANY_REQUESTS, 2, "queue_full")
        );
        let late = Wrapped(Box::new(QueueTimeout::new(
            Duration::from_secs(30),
            Duration::ZERO,
        )));
        let late = rejection(&late).expect("a rejection");
        assert_eq!(
            (late.status, late.retry_after_secs, late.code()),
            (StatusCode::SERVICE_UNAVAILABLE, 1, "queue_timeout")
        );
        assert_eq!(rejection(&Wrapped(Box::new(std::fmt::Error))), None);
    }
}
