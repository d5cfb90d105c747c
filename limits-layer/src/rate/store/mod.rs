//! Where the counters live: the [`Store`] trait, the in-memory [`MemoryStore`] and,
//! with the `redis` feature, the shared `RedisStore`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::RateLimited;
use crate::BoxError;

mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use self::memory::{MemoryStore, DEFAULT_MAX_KEYS};
#[cfg(feature = "redis")]
pub use self::redis::{
    RedisConfig, RedisMetrics, RedisStore, DEFAULT_PREFIX, DEFAULT_PROBE_INTERVAL,
    DEFAULT_REDIS_TIMEOUT,
};

/// Default length of a rate-limit window: one minute (RPM and TPM).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// The limits of one key: at most `rpm` requests and `tpm` tokens per fixed `window`.
///
/// `None` means unlimited. A reservation larger than `tpm` is cut to `tpm`, so such a
/// request is admitted into an empty window instead of being refused forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most requests per window.
    pub rpm: Option<u64>,
    /// Most tokens (reserved, then reconciled) per window.
    pub tpm: Option<u64>,
    /// The window's length; default [`DEFAULT_WINDOW`].
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rpm: None,
            tpm: None,
            window: DEFAULT_WINDOW,
        }
    }
}

impl Limits {
    /// No limit, one-minute windows.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `rpm` requests per window.
    pub fn rpm(mut self, rpm: u64) -> Self {
        self.rpm = Some(rpm);
        self
    }

    /// At most `tpm` tokens per window.
    pub fn tpm(mut self, tpm: u64) -> Self {
        self.tpm = Some(tpm);
        self
    }

    /// Windows of `window` (at least 1 ms) instead of a minute.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The reservation actually made for an estimate of `tokens`.
    pub fn clamp_tokens(&self, tokens: u64) -> u64 {
        self.tpm.map_or(tokens, |tpm| tokens.min(tpm))
    }

    /// The window in whole milliseconds, at least 1.
    pub(crate) fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// An admitted reservation: which key and window it counted in, and how many tokens
/// it reserved. Stores make them; [`Store::reconcile`] takes them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    key: Arc<str>,
    window: u64,
    reserved: u64,
    tag: u32,
}

impl Ticket {
    /// A reservation of `reserved` tokens for `key` in window number `window`.
    pub fn new(key: Arc<str>, window: u64, reserved: u64) -> Self {
        Self {
            key,
            window,
            reserved,
            tag: 0,
        }
    }

    /// A store-defined tag (which backend issued the ticket, for example).
    pub fn with_tag(mut self, tag: u32) -> Self {
        self.tag = tag;
        self
    }

    /// The key.
    pub fn key(&self) -> &Arc<str> {
        &self.key
    }

    /// The window's number (store-defined: window start divided by its length).
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Tokens reserved.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// The store-defined tag (0 unless set).
    pub fn tag(&self) -> u32 {
        self.tag
    }
}

/// What [`Store::reserve`] decided.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Counted: one request and the reserved tokens.
    Admitted(Ticket),
    /// Over a limit: nothing was counted.
    Limited(RateLimited),
}

/// Rate-limit counters: check-and-reserve atomically, reconcile later.
///
/// Implementations count one request and `tokens` tokens in the key's current window
/// if both fit under `limits`, else count nothing and say when a slot frees.
pub trait Store: Send + Sync + 'static {
    /// Checks `key`'s current window and, if the request fits, reserves it.
    /// `tokens` is already clamped to `limits.tpm`.
    fn reserve(
        &self,
        key: &Arc<str>,
        tokens: u64,
        limits: Limits,
    ) -> BoxFuture<'static, Result<Decision, BoxError>>;

    /// Replaces the ticket's reserved tokens with `actual`, if its window is still the
    /// key's current one (a window that is over is not reopened). Never blocks: a
    /// remote store sends it in the background, with a timeout.
    fn reconcile(&self, ticket: &Ticket, actual: u64);
}

impl<T: Store + ?Sized> Store for Arc<T> {
    fn reserve(
        &self,
        key: &Arc<str>,
        tokens: u64,
        limits: Limits,
    ) -> BoxFuture<'static, Result<Decision, BoxError>> {
        (**self).reserve(key, tokens, limits)
    }

    fn reconcile(&self, ticket: &Ticket, actual: u64) {
        (**self).reconcile(ticket, actual)
    }
}
