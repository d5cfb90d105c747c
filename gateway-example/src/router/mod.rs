//! The router: one place that decides where a request goes and what happens when a
//! deployment fails, used by every route that calls an upstream.
//!
//! - **Selection** (`select`): deployments cooling, at their `max_parallel_requests`
//!   or over their `rpm`/`tpm` this minute are skipped; `order` ranks levels; the
//!   routing strategy (and `weight`) picks among the rest.
//! - **Cooldowns** (`limits_layer::cooldown`): `allowed_fails` failures within a minute
//!   take a deployment out of rotation for `cooldown_time`; a `429` with `Retry-After`
//!   cools it for that long. A group whose deployments are all cooling answers `429`
//!   with `Retry-After` at once.
//! - **Rate limits** (`limits_layer::rate`): a deployment's `rpm`/`tpm` are counted
//!   per minute, the request's `max_tokens` (or an estimate) reserved up front and
//!   settled with the usage the provider reports (`reservation`); a group
//!   whose deployments are all at their limit answers `429` with the time until a
//!   slot frees.
//! - **Retries and fallbacks** (`serve`): retries go to another deployment, waiting
//!   `retry_after` at least; when a group's retries are spent the request goes to its
//!   `fallbacks` (or `default_fallbacks`); a context-window or content-policy refusal
//!   goes at once to `context_window_fallbacks` / `content_policy_fallbacks`. Nothing
//!   is retried once a response was returned: a stream that started is never replayed.
//!
//! With Redis configured, cooldowns and rate-limit counters live there, shared by
//! every instance; Redis down means per-instance state (a WARN, a metric) until it
//! answers again.

mod fallback;
mod reservation;
mod select;
mod serve;

pub(crate) use self::reservation::{settle, Reservation};

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderName;
use limits_layer::cooldown::{CooldownPolicy, Cooldowns, MemoryCooldowns};
use limits_layer::rate::{MemoryStore, Store};
use tokio::time::Instant;

use crate::config::{Config, DeploymentRouting, RouterConfig, Strategy};

pub(crate) use self::serve::Group;

/// The response header naming the model group that answered (after fallbacks, the
/// fallback's), as LiteLLM's `x-litellm-model-group`.
pub const X_MODEL_GROUP: HeaderName = HeaderName::from_static("x-gateway-model-group");
/// The response header naming the deployment that answered (`provider/model`).
pub const X_DEPLOYMENT: HeaderName = HeaderName::from_static("x-gateway-deployment");

/// Names the group and the deployment that answered in the response headers
/// ([`X_MODEL_GROUP`], [`X_DEPLOYMENT`]: the part of the key after the index, that is
/// `provider/model`).
pub(crate) fn name_answer(headers: &mut http::HeaderMap, group: &str, deployment: Option<&str>) {
    if let Ok(value) = http::HeaderValue::from_str(group) {
        headers.insert(X_MODEL_GROUP, value);
    }
    let upstream = deployment
        .and_then(|key| key.rsplit_once(':'))
        .map(|(_, m)| m);
    if let Some(value) = upstream.and_then(|m| http::HeaderValue::from_str(m).ok()) {
        headers.insert(X_DEPLOYMENT, value);
    }
}

/// The tokens a request may use, to reserve against `tpm` before it is sent: its
/// `max_tokens` (or `max_completion_tokens`, `max_output_tokens`) plus the prompt at
/// about four bytes a token; without a cap, the prompt estimate alone.
pub(crate) fn estimate_tokens(body: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    struct Caps {
        max_tokens: Option<u64>,
        max_completion_tokens: Option<u64>,
        max_output_tokens: Option<u64>,
    }
    let prompt = (body.len() / 4) as u64;
    let cap = serde_json::from_slice::<Caps>(body).ok().and_then(|c| {
        c.max_tokens
            .or(c.max_completion_tokens)
            .or(c.max_output_tokens)
    });
    prompt.saturating_add(cap.unwrap_or(0))
}

/// What holds a deployment's [`Member`]: the app's deployment, a test's, the member
/// itself.
pub(crate) trait HasMember {
    /// The router's view of the deployment.
    fn member(&self) -> &Member;
}

impl HasMember for Member {
    fn member(&self) -> &Member {
        self
    }
}

impl<T: HasMember> HasMember for Arc<T> {
    fn member(&self) -> &Member {
        (**self).member()
    }
}

/// One deployment as the router sees it: its key (for cooldowns and rate limits), its
/// routing settings and what it measured.
#[derive(Debug)]
pub(crate) struct Member {
    /// Unique per deployment, the same on every instance with the same config.
    pub(crate) key: Arc<str>,
    pub(crate) routing: DeploymentRouting,
    /// Requests in flight (until the response body ends).
    pub(crate) in_flight: AtomicUsize,
    /// Exponentially weighted latency to the response head, in µs (0: none yet).
    latency: AtomicU64,
    /// This minute's number and the tokens reserved in it, by this instance.
    usage: Mutex<(u64, u64)>,
    /// Its attempt counters in `/metrics` (resolved once, with the deployment).
    pub(crate) attempts: crate::metrics::Attempts,
}

impl Member {
    pub(crate) fn new(key: Arc<str>, routing: DeploymentRouting) -> Self {
        Self {
            key,
            routing,
            in_flight: AtomicUsize::new(0),
            latency: AtomicU64::new(0),
            usage: Mutex::new((0, 0)),
            attempts: crate::metrics::Attempts::default(),
        }
    }

    /// The same member, counting its attempts into `attempts`.
    pub(crate) fn with_attempts(mut self, attempts: crate::metrics::Attempts) -> Self {
        self.attempts = attempts;
        self
    }

    fn minute() -> u64 {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_secs() / 60
    }

    pub(crate) fn tokens_this_minute(&self) -> u64 {
        let usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        if usage.0 == Self::minute() {
            usage.1
        } else {
            0
        }
    }

    fn add_tokens(&self, tokens: u64) {
        // Nothing to count (no `tpm` anywhere: no estimate is made): no clock, no lock.
        if tokens == 0 {
            return;
        }
        let minute = Self::minute();
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        if usage.0 != minute {
            *usage = (minute, 0);
        }
        usage.1 = usage.1.saturating_add(tokens);
    }

    pub(crate) fn latency_micros(&self) -> u64 {
        self.latency.load(Ordering::Relaxed)
    }

    fn observe_latency(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let old = self.latency.load(Ordering::Relaxed);
        // A quarter of each new sample: recent enough to follow a slowdown.
        let new = if old == 0 {
            sample
        } else {
            old - old / 4 + sample / 4
        };
        self.latency.store(new.max(1), Ordering::Relaxed);
    }
}

/// Counters of the router's decisions, for `/metrics`.
#[derive(Debug, Default)]
pub struct RouterMetrics {
    /// Requests sent to a fallback group.
    pub fallbacks: AtomicU64,
    /// Cooldowns started (failures over `allowed_fails`, or a `Retry-After`).
    pub cooldowns: AtomicU64,
    /// Deployments skipped at their `rpm`/`tpm`.
    pub rate_limited: AtomicU64,
    /// Requests answered at once because every deployment was cooling or at its limit.
    pub unavailable: AtomicU64,
}

/// The router's shared parts: its settings, the cooldown and rate-limit stores.
pub struct Router {
    pub(crate) config: RouterConfig,
    pub(crate) strategy: Strategy,
    pub(crate) policy: CooldownPolicy,
    pub(crate) cooldowns: Arc<dyn Cooldowns>,
    pub(crate) limits: Arc<dyn Store>,
    pub(crate) metrics: RouterMetrics,
    /// The Redis stores, for their health metrics (`None`: in memory).
    pub(crate) redis: Option<RedisStores>,
}

/// The Redis-backed stores, kept for their health counters.
#[derive(Debug, Clone)]
pub(crate) struct RedisStores {
    pub(crate) limits: limits_layer::rate::store::RedisStore,
    pub(crate) cooldowns: limits_layer::cooldown::RedisCooldowns,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("strategy", &self.strategy)
            .field("policy", &self.policy)
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// The router for `config`: in memory, or in Redis when `router_settings` names one
    /// (connected lazily: a Redis that is down at start is the documented fallback).
    pub fn new(config: &Config) -> Result<Self, String> {
        let router = &config.router;
        let policy = CooldownPolicy::new(router.allowed_fails, router.cooldown_time);
        let redis = match &router.redis {
            None => None,
            Some(url) => Some(redis_stores(url.expose())?),
        };
        let (cooldowns, limits): (Arc<dyn Cooldowns>, Arc<dyn Store>) = match &redis {
            Some(r) => (Arc::new(r.cooldowns.clone()), Arc::new(r.limits.clone())),
            None => (
                Arc::new(MemoryCooldowns::new()),
                Arc::new(MemoryStore::new()),
            ),
        };
        Ok(Self {
            config: router.clone(),
            strategy: config.strategy,
            policy,
            cooldowns,
            limits,
            metrics: RouterMetrics::default(),
            redis,
        })
    }

    /// The decision counters.
    pub fn metrics(&self) -> &RouterMetrics {
        &self.metrics
    }

    /// Whether Redis answered the last call of both stores (`None`: no Redis).
    pub fn redis_up(&self) -> Option<bool> {
        let r = self.redis.as_ref()?;
        Some(r.limits.metrics().up && r.cooldowns.metrics().up)
    }

    /// Decisions made locally because Redis was down, over both stores.
    pub fn redis_fallbacks(&self) -> u64 {
        self.redis.as_ref().map_or(0, |r| {
            r.limits.metrics().fallbacks + r.cooldowns.metrics().fallbacks
        })
    }
}

fn redis_stores(url: &str) -> Result<RedisStores, String> {
    use limits_layer::rate::store::RedisConfig;
    let bad = |e: limits_layer::BoxError| format!("router_settings.redis: {e}");
    let limits =
        limits_layer::rate::store::RedisStore::new(url, RedisConfig::default()).map_err(bad)?;
    let mut config = RedisConfig::default();
    config.prefix = limits_layer::cooldown::DEFAULT_COOLDOWN_PREFIX.to_string();
    let cooldowns = limits_layer::cooldown::RedisCooldowns::new(url, config).map_err(bad)?;
    Ok(RedisStores { limits, cooldowns })
}

#[cfg(test)]
mod tests;
