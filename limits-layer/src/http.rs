//! Maps admission and rate-limit errors to HTTP statuses: [`Overloaded`] and
//! [`RateLimited`] → 429, [`QueueTimeout`] → 503, all with `Retry-After`. The body format is the caller's.
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

/// How to answer an admission rejection over HTTP.
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
/// not an admission rejection.
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
