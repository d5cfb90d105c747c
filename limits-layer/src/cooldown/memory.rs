use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{self, BoxFuture, FutureExt};
use tokio::time::Instant;

use super::{CooldownPolicy, Cooldowns, MAX_COOLDOWN};

/// Default most keys a [`MemoryCooldowns`] tracks; beyond, a new key is not tracked
/// (it stays in rotation) until expired entries make room.
pub const DEFAULT_MAX_COOLDOWN_KEYS: usize = 10_000;

/// Cooldowns in this process's memory, on Tokio's clock (so `tokio::time::pause`
/// drives them in tests). Bounded in keys; a cloned handle shares the same state.
#[derive(Clone)]
pub struct MemoryCooldowns {
    inner: Arc<Mutex<State>>,
    /// Keys whose entry has a cooldown set (ended or not), kept equal to the count in
    /// `State` under its lock: zero means nothing cools, read without the lock.
    cooling: Arc<AtomicUsize>,
}

struct State {
    keys: HashMap<Arc<str>, Entry>,
    max_keys: usize,
    /// Entries with `until` set.
    cooling: usize,
}

#[derive(Clone, Copy)]
struct Entry {
    /// Start of the window the failures count in.
    window_start: Instant,
    failures: u32,
    until: Option<Instant>,
}

impl Default for MemoryCooldowns {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCooldowns {
    /// Empty, tracking at most [`DEFAULT_MAX_COOLDOWN_KEYS`] keys.
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_COOLDOWN_KEYS)
    }

    /// Empty, tracking at most `max_keys` keys.
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                keys: HashMap::new(),
                max_keys: max_keys.max(1),
                cooling: 0,
            })),
            cooling: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the state's count of cooling entries (called under its lock).
    fn publish(&self, state: &State) {
        self.cooling.store(state.cooling, Ordering::Release);
    }

    /// `true` when no key has a cooldown set: one atomic read, no lock.
    pub fn none_cooling_now(&self) -> bool {
        self.cooling.load(Ordering::Acquire) == 0
    }

    /// The time left of each key's cooldown, now (a cooldown found ended is cleared).
    pub fn cooling_now(&self, keys: &[Arc<str>]) -> Vec<Option<Duration>> {
        let now = Instant::now();
        let mut state = self.lock();
        let left = keys
            .iter()
            .map(|k| {
                let entry = state.keys.get_mut(k)?;
                let until = entry.until?;
                if until > now {
                    return Some(until - now);
                }
                entry.until = None;
                state.cooling -= 1;
                None
            })
            .collect();
        self.publish(&state);
        left
    }

    /// Counts a failure now; `Some(cooldown)` if it started one.
    pub fn failure_now(&self, key: &Arc<str>, policy: CooldownPolicy) -> Option<Duration> {
        let now = Instant::now();
        let mut state = self.lock();
        let started = state.failure(key, policy, now);
        self.publish(&state);
        started
    }

    /// Cools `key` for `time` from now, unless it already cools longer.
    pub fn cool_now(&self, key: &Arc<str>, time: Duration) {
        let now = Instant::now();
        let until = now + time.min(MAX_COOLDOWN);
        let mut state = self.lock();
        if let Some(entry) = state.entry(key, now) {
            let was = entry
                .until
                .replace(entry.until.map_or(until, |u| u.max(until)));
            if was.is_none() {
                state.cooling += 1;
            }
        }
        self.publish(&state);
    }
}

impl State {
    /// [`MemoryCooldowns::failure_now`] under the lock.
    fn failure(
        &mut self,
        key: &Arc<str>,
        policy: CooldownPolicy,
        now: Instant,
    ) -> Option<Duration> {
        let entry = self.entry(key, now)?;
        if now.duration_since(entry.window_start) >= policy.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures <= policy.allowed_fails {
            return None;
        }
        entry.failures = 0;
        entry.window_start = now;
        if entry.until.replace(now + policy.cooldown).is_none() {
            self.cooling += 1;
        }
        Some(policy.cooldown)
    }

    /// The key's entry, made if there is room (after dropping entries that no longer
    /// hold anything); `None` when the key set is full.
    fn entry(&mut self, key: &Arc<str>, now: Instant) -> Option<&mut Entry> {
        if !self.keys.contains_key(key) && self.keys.len() >= self.max_keys {
            self.keys.retain(|_, e| {
                e.until.is_some_and(|u| u > now)
                    || (e.failures > 0
                        && now.duration_since(e.window_start) < super::DEFAULT_FAILURE_WINDOW)
            });
            // What is left with a cooldown set (the ended ones went, or had none).
            self.cooling = self.keys.values().filter(|e| e.until.is_some()).count();
            if self.keys.len() >= self.max_keys {
                return None;
            }
        }
        Some(self.keys.entry(key.clone()).or_insert(Entry {
            window_start: now,
            failures: 0,
            until: None,
        }))
    }
}

impl Cooldowns for MemoryCooldowns {
    fn none_cooling(&self) -> bool {
        self.none_cooling_now()
    }

    fn cooling(&self, keys: &[Arc<str>]) -> BoxFuture<'static, Vec<Option<Duration>>> {
        future::ready(self.cooling_now(keys)).boxed()
    }

    fn failure(
        &self,
        key: &Arc<str>,
        policy: CooldownPolicy,
    ) -> BoxFuture<'static, Option<Duration>> {
        future::ready(self.failure_now(key, policy)).boxed()
    }

    fn cool(&self, key: &Arc<str>, time: Duration) -> BoxFuture<'static, ()> {
        self.cool_now(key, time);
        future::ready(()).boxed()
    }
}

impl fmt::Debug for MemoryCooldowns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCooldowns")
            .field("keys", &self.lock().keys.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<str> {
        Arc::from("d")
    }

    #[tokio::test(start_paused = true)]
    async fn allowed_fails_then_a_cooldown_that_ends() {
        let c = MemoryCooldowns::new();
        let policy = CooldownPolicy::new(2, Duration::from_secs(10));
        assert_eq!(c.failure_now(&key(), policy), None);
        assert_eq!(c.failure_now(&key(), policy), None);
        assert_eq!(c.failure_now(&key(), policy), Some(Duration::from_secs(10)));
        assert_eq!(c.cooling_now(&[key()]), [Some(Duration::from_secs(10))]);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(c.cooling_now(&[key()]), [None]);
    }

    #[tokio::test(start_paused = true)]
    async fn none_cooling_holds_exactly_while_no_cooldown_is_set() {
        let c = MemoryCooldowns::new();
        let policy = CooldownPolicy::new(0, Duration::from_secs(10));
        assert!(c.none_cooling_now());
        c.failure_now(&key(), policy);
        assert!(!c.none_cooling_now(), "a cooldown started by failures");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!c.none_cooling_now(), "ended, but not yet seen ended");
        assert_eq!(c.cooling_now(&[key()]), [None]);
        assert!(c.none_cooling_now(), "seen ended, cleared");
        c.cool_now(&key(), Duration::from_secs(5));
        c.cool_now(&key(), Duration::from_secs(9));
        assert!(!c.none_cooling_now(), "an explicit cooldown");
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(c.cooling_now(&[key()]), [None]);
        assert!(c.none_cooling_now(), "one key cooled twice counts once");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_older_than_the_window_do_not_count() {
        let c = MemoryCooldowns::new();
        let policy = CooldownPolicy::new(1, Duration::from_secs(10));
        assert_eq!(c.failure_now(&key(), policy), None);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(c.failure_now(&key(), policy), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_explicit_cooldown_is_capped_and_never_shortened() {
        let c = MemoryCooldowns::new();
        c.cool_now(&key(), Duration::from_secs(30));
        c.cool_now(&key(), Duration::from_secs(5));
        assert_eq!(c.cooling_now(&[key()]), [Some(Duration::from_secs(30))]);
        c.cool_now(&key(), Duration::from_secs(86_400));
        assert_eq!(c.cooling_now(&[key()]), [Some(MAX_COOLDOWN)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_key_set_leaves_new_keys_in_rotation() {
        let c = MemoryCooldowns::with_max_keys(1);
        c.cool_now(&key(), Duration::from_secs(30));
        let other: Arc<str> = Arc::from("e");
        c.cool_now(&other, Duration::from_secs(30));
        assert_eq!(c.cooling_now(std::slice::from_ref(&other)), [None]);
        tokio::time::advance(Duration::from_secs(31)).await;
        c.cool_now(&other, Duration::from_secs(30));
        assert!(c.cooling_now(&[other])[0].is_some());
    }
}
