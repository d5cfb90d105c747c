use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{self, BoxFuture, FutureExt};
use tokio::time::Instant;

use super::{Decision, Limits, Store, Ticket};
use crate::rate::RateLimited;
use crate::BoxError;

/// Default most keys a [`MemoryStore`] tracks at once.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// Counters in this process's memory: fixed windows measured on tokio's clock
/// (so `tokio::time::pause()` drives them in tests), one entry per key.
///
/// The key set is bounded (`max_keys`, default [`DEFAULT_MAX_KEYS`]): when it is full,
/// keys whose window is over are forgotten; if every key is still in its window, a
/// request for a new key is rejected ([`RateLimited::is_keys`]) until the oldest window
/// ends. Clones share the counters.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: Instant,
    max_keys: usize,
    entries: Mutex<HashMap<Arc<str>, Entry>>,
    rejected_keys: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_ms: u64,
    index: u64,
    requests: u64,
    tokens: u64,
}

impl Entry {
    fn is_over(&self, now_ms: u64) -> bool {
        now_ms / self.window_ms != self.index
    }

    fn retry_ms(&self, now_ms: u64) -> u64 {
        (self.index + 1)
            .saturating_mul(self.window_ms)
            .saturating_sub(now_ms)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store of at most [`DEFAULT_MAX_KEYS`] keys.
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    /// A store of at most `max_keys` keys (at least 1).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                max_keys: max_keys.max(1),
                entries: Mutex::new(HashMap::new()),
                rejected_keys: AtomicU64::new(0),
            }),
        }
    }

    /// Keys currently tracked (some may be in a window that is over).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Requests rejected because the key set was full.
    pub fn rejected_keys(&self) -> u64 {
        self.inner.rejected_keys.load(Ordering::Relaxed)
    }

    /// [`Store::reserve`] without the future: decides at once.
    pub fn try_reserve(&self, key: &Arc<str>, tokens: u64, limits: Limits) -> Decision {
        let now_ms = self.now_ms();
        let window_ms = limits.window_ms();
        let fresh = Entry {
            window_ms,
            index: now_ms / window_ms,
            requests: 0,
            tokens: 0,
        };
        let mut entries = self.lock();
        if !entries.contains_key(key) && entries.len() >= self.inner.max_keys {
            entries.retain(|_, e| !e.is_over(now_ms));
            if entries.len() >= self.inner.max_keys {
                self.inner.rejected_keys.fetch_add(1, Ordering::Relaxed);
                let retry = entries.values().map(|e| e.retry_ms(now_ms)).min();
                return Decision::Limited(RateLimited::keys(ms(retry.unwrap_or(window_ms))));
            }
        }
        let entry = entries.entry(key.clone()).or_insert(fresh);
        // A window that is over, or a key whose limits changed window length, starts afresh.
        if entry.is_over(now_ms) || entry.window_ms != window_ms {
            *entry = fresh;
        }
        let retry = ms(entry.retry_ms(now_ms));
        if limits.rpm.is_some_and(|rpm| entry.requests >= rpm) {
            return Decision::Limited(RateLimited::requests(retry));
        }
        if limits
            .tpm
            .is_some_and(|tpm| entry.tokens.saturating_add(tokens) > tpm)
        {
            return Decision::Limited(RateLimited::tokens(retry));
        }
        entry.requests += 1;
        entry.tokens = entry.tokens.saturating_add(tokens);
        Decision::Admitted(Ticket::new(key.clone(), entry.index, tokens))
    }

    /// Tokens counted in `key`'s current window (0 if none), for metrics and tests.
    pub fn tokens(&self, key: &str) -> u64 {
        let now_ms = self.now_ms();
        self.lock()
            .get(key)
            .filter(|e| !e.is_over(now_ms))
            .map_or(0, |e| e.tokens)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Entry>> {
        // The map holds plain counters, valid after any panic; keep serving.
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms.max(1))
}

impl Store for MemoryStore {
    fn reserve(
        &self,
        key: &Arc<str>,
        tokens: u64,
        limits: Limits,
    ) -> BoxFuture<'static, Result<Decision, BoxError>> {
        future::ready(Ok(self.try_reserve(key, tokens, limits))).boxed()
    }

    fn reconcile(&self, ticket: &Ticket, actual: u64) {
        let now_ms = self.now_ms();
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(ticket.key()) {
            if entry.index == ticket.window() && !entry.is_over(now_ms) {
                entry.tokens = entry
                    .tokens
                    .saturating_sub(ticket.reserved())
                    .saturating_add(actual);
            }
        }
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_keys", &self.inner.max_keys)
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}
