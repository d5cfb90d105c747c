//! The router's settings, from LiteLLM's keys: `router_settings` (`fallbacks`,
//! `context_window_fallbacks`, `content_policy_fallbacks`, `default_fallbacks`,
//! `allowed_fails`, `cooldown_time`, `retry_after`, `max_fallbacks`, `redis_*`) and the
//! same fallback keys in `litellm_settings`, where LiteLLM also reads them.

use std::time::Duration;

use provider_adapters::Secret;
use serde_norway::Value;

use super::reader::{describe, entries, Ctx};

/// Default `allowed_fails`: failures a minute a deployment may have before it cools.
pub const DEFAULT_ALLOWED_FAILS: u32 = limits_layer::cooldown::DEFAULT_ALLOWED_FAILS;
/// Default `cooldown_time`.
pub const DEFAULT_COOLDOWN_TIME: Duration = limits_layer::cooldown::DEFAULT_COOLDOWN;
/// Default `retry_after`: the least wait before a retry (an upstream's `Retry-After`
/// waits longer, up to [`MAX_RETRY_WAIT`]).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::ZERO;
/// Longest a retry waits for an upstream's `Retry-After`; a longer one is not waited
/// for (another deployment or a fallback is tried, or the error is answered).
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
/// Default `max_fallbacks`: fallback groups tried for one request (LiteLLM's).
pub const DEFAULT_MAX_FALLBACKS: usize = 5;
/// Largest `allowed_fails` / `max_fallbacks`.
const MAX_SMALL: u64 = 1000;

/// One `fallbacks` entry: when `model`'s deployments fail, try these groups in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The model group (a `model_name` or alias).
    pub model: String,
    /// The groups to try, in order.
    pub to: Vec<String>,
}

/// What steers the router (see `crate::router`).
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    /// `fallbacks`: after a group's retries are spent.
    pub fallbacks: Vec<Fallback>,
    /// `context_window_fallbacks`: at once, when the prompt is too long for the model.
    pub context_window_fallbacks: Vec<Fallback>,
    /// `content_policy_fallbacks`: at once, when the provider refused the content.
    pub content_policy_fallbacks: Vec<Fallback>,
    /// `default_fallbacks`: for every group without its own `fallbacks` entry.
    pub default_fallbacks: Vec<String>,
    /// `allowed_fails`; default [`DEFAULT_ALLOWED_FAILS`].
    pub allowed_fails: u32,
    /// `cooldown_time`; default [`DEFAULT_COOLDOWN_TIME`].
    pub cooldown_time: Duration,
    /// `retry_after`; default [`DEFAULT_RETRY_AFTER`].
    pub retry_after: Duration,
    /// `max_fallbacks`; default [`DEFAULT_MAX_FALLBACKS`].
    pub max_fallbacks: usize,
    /// The Redis server shared by the instances (`redis_url`, or `redis_host` +
    /// `redis_port` + `redis_password`, in `router_settings` or `cache_params`).
    pub redis: Option<Secret>,
    /// `litellm_settings.cache` with `cache_params.type: redis`: the response cache in
    /// Redis (its `ttl`, `namespace`).
    pub redis_cache: Option<RedisCache>,
}

/// `litellm_settings.cache_params` of a Redis response cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCache {
    /// `ttl`; default the `cache.responses` TTL.
    pub ttl: Option<Duration>,
    /// `namespace`: key prefix.
    pub namespace: Option<String>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            fallbacks: Vec::new(),
            context_window_fallbacks: Vec::new(),
            content_policy_fallbacks: Vec::new(),
            default_fallbacks: Vec::new(),
            allowed_fails: DEFAULT_ALLOWED_FAILS,
            cooldown_time: DEFAULT_COOLDOWN_TIME,
            retry_after: DEFAULT_RETRY_AFTER,
            max_fallbacks: DEFAULT_MAX_FALLBACKS,
            redis: None,
            redis_cache: None,
        }
    }
}

/// The pieces of a Redis address, from wherever they were given.
#[derive(Default)]
pub(crate) struct RedisParts {
    url: Option<String>,
    host: Option<String>,
    port: Option<u64>,
    password: Option<String>,
}

/// The router keys of `router_settings` and `litellm_settings`.
pub(crate) const ROUTER_KEYS: &[&str] = &[
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "allowed_fails",
    "cooldown_time",
    "retry_after",
    "max_fallbacks",
    "redis_url",
    "redis_host",
    "redis_port",
    "redis_password",
];

impl RouterConfig {
    /// Takes one router key (`key` is one of [`ROUTER_KEYS`]); `path` names it in errors.
    pub(crate) fn take(
        &mut self,
        ctx: &mut Ctx<'_>,
        redis: &mut RedisParts,
        key: &str,
        path: &str,
        value: &Value,
    ) {
        let v = Some(value);
        match key {
            "fallbacks" => self.fallbacks = fallbacks(ctx, path, value),
            "context_window_fallbacks" => {
                self.context_window_fallbacks = fallbacks(ctx, path, value)
            }
            "content_policy_fallbacks" => {
                self.content_policy_fallbacks = fallbacks(ctx, path, value)
            }
            "default_fallbacks" => self.default_fallbacks = names(ctx, path, value),
            "allowed_fails" => {
                if let Some(n) = ctx.whole(path, v, 0, MAX_SMALL) {
                    self.allowed_fails = n as u32;
                }
            }
            "cooldown_time" => {
                if let Some(t) = ctx.seconds(path, v) {
                    self.cooldown_time = t;
                }
            }
            "retry_after" => self.retry_after = wait(ctx, path, value),
            "max_fallbacks" => {
                if let Some(n) = ctx.whole(path, v, 0, MAX_SMALL) {
                    self.max_fallbacks = n as usize;
                }
            }
            _ => redis.take(ctx, key, path, value),
        }
    }

    /// `litellm_settings.cache` / `cache_params`: the Redis response cache, and the
    /// Redis address when `cache_params` gives one.
    pub(crate) fn cache(
        &mut self,
        ctx: &mut Ctx<'_>,
        redis: &mut RedisParts,
        enabled: Option<bool>,
        params: Option<&Value>,
    ) {
        let mut kind = None;
        let mut cache = RedisCache {
            ttl: None,
            namespace: None,
        };
        for (key, value) in entries(ctx, "litellm_settings.cache_params", params) {
            let path = format!("litellm_settings.cache_params.{key}");
            match key.as_str() {
                "type" => kind = ctx.string(&path, Some(&value)),
                "ttl" => cache.ttl = ctx.seconds(&path, Some(&value)),
                "namespace" => cache.namespace = ctx.string(&path, Some(&value)),
                "host" | "port" | "password" | "url" => {
                    redis.take(ctx, &format!("redis_{key}"), &path, &value)
                }
                _ => ctx.ignored.add("litellm_settings.cache_params", &key),
            }
        }
        if enabled != Some(true) {
            return;
        }
        match kind.as_deref() {
            Some("redis") => self.redis_cache = Some(cache),
            // The local kind is the gateway's `cache.responses` (in process).
            None | Some("local") => ctx.warnings.push(format!(
                "{}: `litellm_settings.cache` without `type: redis` is the in-process cache: \
                 set `cache.responses.enabled: true` for it",
                ctx.file
            )),
            Some(other) => ctx.error(
                "litellm_settings.cache_params.type",
                format!("`{other}` is not supported here; use `redis` (shared) or `cache.responses` (in process)"),
            ),
        }
    }

    /// Checks that every group a fallback names is served; errors name the key.
    pub(crate) fn check_names(&self, ctx: &mut Ctx<'_>, served: &dyn Fn(&str) -> bool) {
        let lists = [
            ("fallbacks", &self.fallbacks),
            ("context_window_fallbacks", &self.context_window_fallbacks),
            ("content_policy_fallbacks", &self.content_policy_fallbacks),
        ];
        for (key, list) in lists {
            for f in list {
                for name in std::iter::once(&f.model).chain(&f.to) {
                    if !served(name) {
                        ctx.error(
                            &format!("router_settings.{key}.{}", f.model),
                            format!("names `{name}`, which is no `model_name` of `model_list`"),
                        );
                    }
                }
            }
        }
        for name in &self.default_fallbacks {
            if !served(name) {
                ctx.error(
                    "router_settings.default_fallbacks",
                    format!("names `{name}`, which is no `model_name` of `model_list`"),
                );
            }
        }
    }
}

impl RedisParts {
    fn take(&mut self, ctx: &mut Ctx<'_>, key: &str, path: &str, value: &Value) {
        let v = Some(value);
        match key {
            "redis_url" => self.url = ctx.string(path, v).filter(|s| !s.is_empty()),
            "redis_host" => self.host = ctx.string(path, v).filter(|s| !s.is_empty()),
            "redis_port" => self.port = ctx.whole(path, v, 1, 65535),
            "redis_password" => self.password = ctx.string(path, v).filter(|s| !s.is_empty()),
            _ => {}
        }
    }

    /// The server's URL: `redis_url`, or built from host, port and password.
    pub(crate) fn url(self, ctx: &mut Ctx<'_>) -> Option<Secret> {
        if let Some(url) = self.url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                ctx.error(
                    "router_settings.redis_url",
                    "must start with redis:// or rediss://",
                );
                return None;
            }
            return Some(Secret::new(url));
        }
        let host = self.host?;
        let port = self.port.unwrap_or(6379);
        let auth = self.password.map(|p| format!(":{p}@")).unwrap_or_default();
        Some(Secret::new(format!("redis://{auth}{host}:{port}")))
    }
}

/// `[{group: [fallback, ...]}, ...]` (LiteLLM's shape), or one mapping of them.
fn fallbacks(ctx: &mut Ctx<'_>, path: &str, value: &Value) -> Vec<Fallback> {
    let maps: Vec<&Value> = match value {
        Value::Sequence(items) => items.iter().collect(),
        Value::Mapping(_) => vec![value],
        Value::Null => Vec::new(),
        other => {
            ctx.error(
                path,
                format!(
                    "must be a list of {{model: [fallbacks]}}, got {}",
                    describe(other)
                ),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for map in maps {
        for (model, to) in entries(ctx, path, Some(map)) {
            let to = names(ctx, &format!("{path}.{model}"), &to);
            out.push(Fallback { model, to });
        }
    }
    out
}

/// A list of model names (one name alone is taken as a list of one).
fn names(ctx: &mut Ctx<'_>, path: &str, value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                other => {
                    ctx.error(
                        path,
                        format!("must list model names, got {}", describe(other)),
                    );
                    None
                }
            })
            .collect(),
        Value::Null => Vec::new(),
        other => {
            ctx.error(
                path,
                format!("must be a list of model names, got {}", describe(other)),
            );
            Vec::new()
        }
    }
}

/// Seconds, zero allowed (`retry_after: 0` is LiteLLM's default).
fn wait(ctx: &mut Ctx<'_>, path: &str, value: &Value) -> Duration {
    match value.as_f64() {
        Some(0.0) => Duration::ZERO,
        _ => ctx
            .seconds(path, Some(value))
            .map_or(DEFAULT_RETRY_AFTER, |t| t.min(MAX_RETRY_WAIT)),
    }
}
