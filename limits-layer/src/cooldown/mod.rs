//! Cooldowns per key (a circuit breaker per deployment): `allowed_fails` failures
//! within a window take a key out of rotation for `cooldown`, and a key can be cooled
//! for an explicit time (an upstream's `429` with `Retry-After`). Kept in memory
//! ([`MemoryCooldowns`]) or, with the `redis` feature, in Redis shared by every
//! instance (`RedisCooldowns`, with a local fallback while Redis is down).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use limits_layer::cooldown::{CooldownPolicy, Cooldowns, MemoryCooldowns};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cooldowns = MemoryCooldowns::new();
//! let policy = CooldownPolicy::new(1, Duration::from_secs(5));
//! let key: Arc<str> = Arc::from("openai/gpt-4o-mini@0");
//! assert_eq!(cooldowns.failure(&key, policy).await, None); // one failure is allowed
//! assert_eq!(cooldowns.failure(&key, policy).await, Some(Duration::from_secs(5)));
//! assert!(cooldowns.cooling(&[key.clone()]).await[0].is_some());
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use self::memory::{MemoryCooldowns, DEFAULT_MAX_COOLDOWN_KEYS};
#[cfg(feature = "redis")]
pub use self::redis::{RedisCooldowns, DEFAULT_COOLDOWN_PREFIX};

/// Default failures allowed within [`DEFAULT_FAILURE_WINDOW`] before a key cools down
/// (LiteLLM's `allowed_fails`).
pub const DEFAULT_ALLOWED_FAILS: u32 = 3;
/// Default cooldown (LiteLLM's `cooldown_time`).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5);
/// The window failures are counted in: one minute, as LiteLLM counts them.
pub const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Longest explicit cooldown taken from an upstream (`Retry-After`), so a peer cannot
/// take a deployment out of rotation for days.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(3600);

/// When failures cool a key down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CooldownPolicy {
    /// Failures allowed within `window`; the next one starts a cooldown.
    pub allowed_fails: u32,
    /// How long a key is out of rotation.
    pub cooldown: Duration,
    /// The window failures are counted in; default [`DEFAULT_FAILURE_WINDOW`].
    pub window: Duration,
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        Self::new(DEFAULT_ALLOWED_FAILS, DEFAULT_COOLDOWN)
    }
}

impl CooldownPolicy {
    /// `allowed_fails` failures a minute allowed, then `cooldown` out of rotation.
    pub fn new(allowed_fails: u32, cooldown: Duration) -> Self {
        Self {
            allowed_fails,
            cooldown,
            window: DEFAULT_FAILURE_WINDOW,
        }
    }
}

/// Where cooldowns live. Calls never fail: a remote store decides locally when its
/// backend is down (and says so in its own metrics).
pub trait Cooldowns: Send + Sync + 'static {
    /// For each key, the time left of its cooldown, `None` if it is in rotation.
    fn cooling(&self, keys: &[Arc<str>]) -> BoxFuture<'static, Vec<Option<Duration>>>;

    /// Counts a failure of `key`; `Some(cooldown)` if this failure started a cooldown.
    fn failure(
        &self,
        key: &Arc<str>,
        policy: CooldownPolicy,
    ) -> BoxFuture<'static, Option<Duration>>;

    /// Cools `key` for `time` (at most [`MAX_COOLDOWN`]), unless it already cools longer.
    fn cool(&self, key: &Arc<str>, time: Duration) -> BoxFuture<'static, ()>;

    /// `true` when no key is cooling, known without I/O (then [`cooling`] would answer
    /// `None` for every key, and a caller may skip it). `false` means "ask": the
    /// default, and always the answer of a store whose state is remote.
    ///
    /// [`cooling`]: Cooldowns::cooling
    fn none_cooling(&self) -> bool {
        false
    }
}

impl<T: Cooldowns + ?Sized> Cooldowns for Arc<T> {
    fn cooling(&self, keys: &[Arc<str>]) -> BoxFuture<'static, Vec<Option<Duration>>> {
        (**self).cooling(keys)
    }

    fn failure(
        &self,
        key: &Arc<str>,
        policy: CooldownPolicy,
    ) -> BoxFuture<'static, Option<Duration>> {
        (**self).failure(key, policy)
    }

    fn cool(&self, key: &Arc<str>, time: Duration) -> BoxFuture<'static, ()> {
        (**self).cool(key, time)
    }

    fn none_cooling(&self) -> bool {
        (**self).none_cooling()
    }
}
