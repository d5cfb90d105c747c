use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use redis::Script;

use super::{CooldownPolicy, Cooldowns, MemoryCooldowns, MAX_COOLDOWN};
use crate::rate::store::{RedisConfig, RedisMetrics};
use crate::redis_link::Link;
use crate::BoxError;

/// Default namespace prefix of the cooldown keys.
pub const DEFAULT_COOLDOWN_PREFIX: &str = "llm-outbound:cooldown";

// KEYS[1]: the failure counter, KEYS[2]: the cooldown flag (same hash tag, one slot).
// ARGV: allowed fails, window ms, cooldown ms. The counter expires with its window.
const FAILURE: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then
    redis.call('SET', KEYS[2], 1, 'PX', ARGV[3])
  end
  return 1
end
return 0
";

// KEYS[1]: the cooldown flag; ARGV[1]: ms. Never shortens a longer cooldown.
const COOL: &str = r"
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[1])
end
return 1
";

/// Cooldowns in Redis, shared by every instance on the same server and prefix: a
/// failure counter per key that expires with its window, and a cooldown flag whose
/// TTL is the cooldown (both set atomically by Lua scripts).
///
/// **When Redis is down** (a call fails or exceeds the timeout): cooldowns are kept in
/// a local [`MemoryCooldowns`] (per instance), counted in [`RedisMetrics::fallbacks`],
/// with one WARN when Redis goes down and one INFO when it answers again; no call waits
/// longer than the timeout. A key cools while either place says it does, so a cooldown
/// started during an outage still holds after Redis is back.
#[derive(Clone)]
pub struct RedisCooldowns {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    local: MemoryCooldowns,
    failure: Script,
    cool: Script,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisCooldowns {
    /// Cooldowns on the server at `url`; `config.prefix` is the namespace (use
    /// [`DEFAULT_COOLDOWN_PREFIX`] rather than the rate limiter's). Connects lazily:
    /// fails only on a bad URL.
    pub fn new(url: &str, config: RedisConfig) -> Result<Self, BoxError> {
        let link = Link::new(
            url,
            config.prefix,
            config.timeout,
            config.probe_interval,
            "cooldowns",
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                link,
                local: MemoryCooldowns::new(),
                failure: Script::new(FAILURE),
                cool: Script::new(COOL),
            }),
        })
    }

    /// The health counters.
    pub fn metrics(&self) -> RedisMetrics {
        let link = &self.inner.link;
        RedisMetrics {
            fallbacks: link.fallbacks.load(Ordering::Relaxed),
            errors: link.errors.load(Ordering::Relaxed),
            up: link.is_up(),
        }
    }
}

impl Inner {
    fn flag(&self, key: &str) -> String {
        self.link.key(&format!("{{{key}}}:cool"))
    }

    fn fallback(&self) {
        self.link.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    async fn cooling(&self, keys: Vec<Arc<str>>) -> Vec<Option<Duration>> {
        let local = self.local.cooling_now(&keys);
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.pttl(self.flag(key));
        }
        let Some(left) = self.link.query::<Vec<i64>>(&pipe, true).await else {
            self.fallback();
            return local;
        };
        left.into_iter()
            .map(|ms| u64::try_from(ms).ok().filter(|ms| *ms > 0))
            .map(|ms| ms.map(Duration::from_millis))
            .zip(local)
            .map(|(shared, local)| shared.max(local))
            .collect()
    }

    async fn failure(&self, key: Arc<str>, policy: CooldownPolicy) -> Option<Duration> {
        let mut call = self.failure.key(self.link.key(&format!("{{{key}}}:fails")));
        call.key(self.flag(&key))
            .arg(policy.allowed_fails)
            .arg(ms(policy.window))
            .arg(ms(policy.cooldown));
        match self.link.invoke::<i64>(&call, true).await {
            Some(1) => Some(policy.cooldown),
            Some(_) => None,
            None => {
                self.fallback();
                self.local.failure_now(&key, policy)
            }
        }
    }

    async fn cool(&self, key: Arc<str>, time: Duration) {
        let time = time.min(MAX_COOLDOWN);
        let mut call = self.cool.key(self.flag(&key));
        call.arg(ms(time));
        if self.link.invoke::<i64>(&call, true).await.is_none() {
            self.fallback();
            self.local.cool_now(&key, time);
        }
    }
}

impl Cooldowns for RedisCooldowns {
    fn cooling(&self, keys: &[Arc<str>]) -> BoxFuture<'static, Vec<Option<Duration>>> {
        let inner = self.inner.clone();
        let keys = keys.to_vec();
        async move { inner.cooling(keys).await }.boxed()
    }

    fn failure(
        &self,
        key: &Arc<str>,
        policy: CooldownPolicy,
    ) -> BoxFuture<'static, Option<Duration>> {
        let inner = self.inner.clone();
        let key = key.clone();
        async move { inner.failure(key, policy).await }.boxed()
    }

    fn cool(&self, key: &Arc<str>, time: Duration) -> BoxFuture<'static, ()> {
        let inner = self.inner.clone();
        let key = key.clone();
        async move { inner.cool(key, time).await }.boxed()
    }
}

impl fmt::Debug for RedisCooldowns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCooldowns")
            .field("link", &self.inner.link)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}
