use std::fmt;
use std::time::Duration;

/// A request was over its key's limit and was rejected at once, without waiting.
///
/// [`retry_after`](Self::retry_after) is the time until its window ends and a slot
/// frees; the predicates say which limit it hit. [`crate::http::rejection`] maps it to
/// 429 with `Retry-After`.
#[derive(Debug, Clone)]
pub struct RateLimited {
    kind: Kind,
    retry_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Requests,
    Tokens,
    Keys,
}

impl RateLimited {
    /// The requests-per-window limit (RPM) was reached.
    pub fn requests(retry_after: Duration) -> Self {
        Self {
            kind: Kind::Requests,
            retry_after,
        }
    }

    /// The tokens-per-window limit (TPM) could not hold this request's reservation.
    pub fn tokens(retry_after: Duration) -> Self {
        Self {
            kind: Kind::Tokens,
            retry_after,
        }
    }

    /// The store tracks as many keys as it may, all in their current window, and this
    /// request's key is new.
    pub fn keys(retry_after: Duration) -> Self {
        Self {
            kind: Kind::Keys,
            retry_after,
        }
    }

    /// How long until a slot frees (for `Retry-After`).
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// Whether the requests-per-window limit (RPM) was hit.
    pub fn is_requests(&self) -> bool {
        self.kind == Kind::Requests
    }

    /// Whether the tokens-per-window limit (TPM) was hit.
    pub fn is_tokens(&self) -> bool {
        self.kind == Kind::Tokens
    }

    /// Whether the store's key set was full.
    pub fn is_keys(&self) -> bool {
        self.kind == Kind::Keys
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::Requests => "requests per window",
            Kind::Tokens => "tokens per window",
            Kind::Keys => "rate-limited keys tracked",
        };
        write!(
            f,
            "rate limited: too many {what}, retry in {:?}",
            self.retry_after
        )
    }
}

impl std::error::Error for RateLimited {}
