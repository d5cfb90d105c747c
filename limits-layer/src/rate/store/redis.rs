use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use redis::Script;

use super::{Decision, Limits, MemoryStore, Store, Ticket};
use crate::rate::RateLimited;
use crate::redis_link::Link;
use crate::BoxError;

/// Default timeout of every Redis call (connect included); then the local fallback.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// Default namespace prefix of the store's keys (`PREFIX:KEY`).
pub const DEFAULT_PREFIX: &str = "llm-outbound:rate";
/// Default time between attempts to reach Redis while it is down; in between, calls
/// go straight to the fallback instead of each waiting for a timeout.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The tag of tickets counted in Redis (the fallback's tickets keep tag 0).
const REDIS_TAG: u32 = 1;

// One hash per key: w = window number, r = requests, t = tokens. The window comes from
// the server's clock (TIME), so instances with skewed clocks still share windows. One
// key per call, declared in KEYS, so the scripts also run on a cluster.
const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local win_ms = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local win = math.floor(now / win_ms)
local retry = (win + 1) * win_ms - now
local cur = redis.call('HMGET', KEYS[1], 'w', 'r', 't')
local r, tk = 0, 0
if tonumber(cur[1]) == win then
  r = tonumber(cur[2]) or 0
  tk = tonumber(cur[3]) or 0
end
if rpm >= 0 and r + 1 > rpm then return {0, retry, 1} end
if tpm >= 0 and tk + tokens > tpm then return {0, retry, 2} end
redis.call('HSET', KEYS[1], 'w', win, 'r', r + 1, 't', tk + tokens)
redis.call('PEXPIRE', KEYS[1], retry + 1000)
return {1, win, retry}
";

const RECONCILE: &str = r"
local win = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'w', 't')
if tonumber(cur[1]) ~= win then return 0 end
local t = (tonumber(cur[2]) or 0) + tonumber(ARGV[2])
if t < 0 then t = 0 end
redis.call('HSET', KEYS[1], 't', t)
return 1
";

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// Namespace prefix of every key; default [`DEFAULT_PREFIX`].
    pub prefix: String,
    /// Timeout of every Redis call; default [`DEFAULT_REDIS_TIMEOUT`].
    pub timeout: Duration,
    /// While Redis is down, how often to try it again; default [`DEFAULT_PROBE_INTERVAL`].
    pub probe_interval: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            probe_interval: DEFAULT_PROBE_INTERVAL,
        }
    }
}

/// Counters of a [`RedisStore`]'s health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisMetrics {
    /// Reservations decided by the local fallback because Redis was down.
    pub fallbacks: u64,
    /// Redis calls that failed or timed out.
    pub errors: u64,
    /// Whether the last Redis call succeeded (or none was made yet).
    pub up: bool,
}

/// Counters in Redis, shared by every instance that uses the same server and prefix.
///
/// Check-and-reserve and reconcile are atomic Lua scripts on one hash per key, with
/// the window taken from the server's clock (`TIME`) and a TTL of the window's rest.
///
/// **When Redis is down** (a call fails or exceeds `timeout`): the call is decided by
/// a local [`MemoryStore`] instead (per-instance limits), counted in
/// [`RedisMetrics::fallbacks`], with one WARN when Redis goes down and one INFO when it
/// answers again. While it is down, one call tries Redis again every `probe_interval`
/// and the others go straight to the fallback; no call waits longer than `timeout`.
/// Recovery is automatic: the connection reconnects by itself and the first successful
/// call makes the store shared again.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    config: RedisConfig,
    fallback: MemoryStore,
    reserve: Script,
    reconcile: Script,
}

impl RedisStore {
    /// A store on the server at `url` (`redis://[:password@]host:port[/db]`). Connects
    /// lazily: fails only on a bad URL, never because Redis is down.
    pub fn new(url: &str, config: RedisConfig) -> Result<Self, BoxError> {
        Self::with_fallback(url, config, MemoryStore::new())
    }

    /// As [`new`](Self::new), with the local store to use while Redis is down.
    pub fn with_fallback(
        url: &str,
        config: RedisConfig,
        fallback: MemoryStore,
    ) -> Result<Self, BoxError> {
        let link = Link::new(
            url,
            config.prefix.clone(),
            config.timeout,
            config.probe_interval,
            "rate limits",
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                link,
                config,
                fallback,
                reserve: Script::new(RESERVE),
                reconcile: Script::new(RECONCILE),
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

    /// The local store used while Redis is down.
    pub fn fallback(&self) -> &MemoryStore {
        &self.inner.fallback
    }
}

impl Inner {
    async fn reserve(&self, key: &Arc<str>, tokens: u64, limits: Limits) -> Decision {
        let opt = |n: Option<u64>| n.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut call = self.reserve.key(self.link.key(key));
        call.arg(limits.window_ms())
            .arg(opt(limits.rpm))
            .arg(opt(limits.tpm))
            .arg(tokens);
        if let Some(answer) = self.link.invoke::<(i64, u64, i64)>(&call, true).await {
            return decision(key, tokens, answer);
        }
        self.link.fallbacks.fetch_add(1, Ordering::Relaxed);
        self.fallback.try_reserve(key, tokens, limits)
    }

    async fn reconcile(&self, ticket: Ticket, actual: u64) {
        let delta = i128::from(actual) - i128::from(ticket.reserved());
        let delta = i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX });
        let mut call = self.reconcile.key(self.link.key(ticket.key()));
        call.arg(ticket.window()).arg(delta);
        // Not a probe: a ticket counted in Redis is reconciled there whenever possible.
        let _ = self.link.invoke::<i64>(&call, false).await;
    }
}

fn decision(key: &Arc<str>, tokens: u64, (admitted, a, b): (i64, u64, i64)) -> Decision {
    if admitted == 1 {
        return Decision::Admitted(Ticket::new(key.clone(), a, tokens).with_tag(REDIS_TAG));
    }
    let retry = Duration::from_millis(a.max(1));
    Decision::Limited(if b == 1 {
        RateLimited::requests(retry)
    } else {
        RateLimited::tokens(retry)
    })
}

impl Store for RedisStore {
    fn reserve(
        &self,
        key: &Arc<str>,
        tokens: u64,
        limits: Limits,
    ) -> BoxFuture<'static, Result<Decision, BoxError>> {
        let inner = self.inner.clone();
        let key = key.clone();
        async move { Ok(inner.reserve(&key, tokens, limits).await) }.boxed()
    }

    fn reconcile(&self, ticket: &Ticket, actual: u64) {
        if ticket.tag() != REDIS_TAG {
            return self.inner.fallback.reconcile(ticket, actual);
        }
        // In the background, bounded by the timeout; without a runtime (a handle dropped
        // after shutdown) the reservation stays as reserved.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let inner = self.inner.clone();
            let ticket = ticket.clone();
            runtime.spawn(async move { inner.reconcile(ticket, actual).await });
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.inner.config)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}
