//! The gateway's own sections (`server`, `pool`, `limits`, `cache`), where every key
//! is known and a stranger is an error, and LiteLLM's (`litellm_settings`,
//! `router_settings`, `general_settings`, `environment_variables`), where the keys the
//! gateway acts on are used and the rest listed as ignored.

use std::net::SocketAddr;
use std::time::Duration;

use provider_adapters::Secret;
use serde_norway::Value;

use super::reader::{describe, entries, near_miss, Ctx, MAX_COUNT};
use super::*;

/// A gateway section's keys, checked against the known ones as they are taken.
struct Section {
    name: &'static str,
    entries: Vec<(String, Value)>,
}

impl Section {
    fn read(ctx: &mut Ctx<'_>, name: &'static str, value: Option<&Value>, known: &[&str]) -> Self {
        let entries = entries(ctx, name, value);
        for (key, _) in &entries {
            if !known.contains(&key.as_str()) {
                let hint = near_miss(key, known)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                ctx.error(
                    &format!("{name}.{key}"),
                    format!(
                        "unknown field `{key}`{hint}; `{name}` takes {}",
                        known.join(", ")
                    ),
                );
            }
        }
        Self { name, entries }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.name)
    }

    fn secs(&self, ctx: &mut Ctx<'_>, key: &str, default: Duration) -> Duration {
        ctx.seconds(&self.path(key), self.get(key))
            .unwrap_or(default)
    }

    fn count(&self, ctx: &mut Ctx<'_>, key: &str, default: usize, min: u64, max: u64) -> usize {
        ctx.whole(&self.path(key), self.get(key), min, max)
            .map_or(default, |n| usize::try_from(n).unwrap_or(default))
    }
}

pub(crate) fn server(
    ctx: &mut Ctx<'_>,
    value: Option<&Value>,
    general_key: Option<Secret>,
) -> ServerConfig {
    let s = Section::read(
        ctx,
        "server",
        value,
        &[
            "listen",
            "master_key",
            "max_body_bytes",
            "request_timeout_s",
            "header_read_timeout_s",
            "shutdown_timeout_s",
            "max_client_connections",
            "workers",
            "body_read_timeout_s",
            "shutdown_delay_s",
            "metrics_auth",
            "log_requests",
        ],
    );
    let listen = match ctx.string("server.listen", s.get("listen")) {
        None => DEFAULT_LISTEN,
        Some(text) => text.parse::<SocketAddr>().unwrap_or_else(|_| {
            ctx.error(
                "server.listen",
                format!("`{text}` is not an address like 127.0.0.1:4000"),
            );
            DEFAULT_LISTEN
        }),
    };
    let master_key = match s.get("master_key") {
        Some(v) => master_key(ctx, "server.master_key", v),
        None => general_key,
    };
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let server = ServerConfig {
        listen,
        master_key,
        max_body_bytes: s.count(
            ctx,
            "max_body_bytes",
            DEFAULT_MAX_BODY_BYTES,
            1,
            MAX_BODY_BYTES,
        ),
        request_timeout: s.secs(ctx, "request_timeout_s", DEFAULT_REQUEST_TIMEOUT),
        header_read_timeout: s.secs(ctx, "header_read_timeout_s", DEFAULT_HEADER_READ_TIMEOUT),
        shutdown_timeout: s.secs(ctx, "shutdown_timeout_s", DEFAULT_SHUTDOWN_TIMEOUT),
        max_client_connections: s.count(
            ctx,
            "max_client_connections",
            DEFAULT_MAX_CLIENT_CONNECTIONS,
            1,
            MAX_COUNT,
        ),
        workers: s.count(ctx, "workers", cpus.min(MAX_WORKERS), 1, MAX_WORKERS as u64),
        body_read_timeout: s.secs(ctx, "body_read_timeout_s", DEFAULT_BODY_READ_TIMEOUT),
        // Zero is the default here (no delay), so it is allowed.
        shutdown_delay: match s.get("shutdown_delay_s") {
            Some(v) if v.as_f64() == Some(0.0) => Duration::ZERO,
            _ => s.secs(ctx, "shutdown_delay_s", DEFAULT_SHUTDOWN_DELAY),
        },
        metrics_auth: ctx
            .boolean("server.metrics_auth", s.get("metrics_auth"))
            .unwrap_or(false),
        log_requests: ctx
            .boolean("server.log_requests", s.get("log_requests"))
            .unwrap_or(true),
    };
    if server.metrics_auth && server.master_key.is_none() {
        ctx.error(
            "server.metrics_auth",
            "needs `server.master_key`: without it there is no key to require",
        );
    }
    server
}

/// A master key: a non-empty string. An empty one (an unset secret injected as `""`)
/// would turn authentication off without a word, so it is an error.
pub(crate) fn master_key(ctx: &mut Ctx<'_>, key: &str, value: &Value) -> Option<Secret> {
    match value {
        Value::Null => {
            ctx.error(
                key,
                "is empty; give the key, or remove the line to run without authentication",
            );
            None
        }
        Value::String(_) => match ctx.string(key, Some(value)) {
            Some(k) if k.trim().is_empty() => {
                ctx.error(
                    key,
                    "is empty (an unset secret?); give the key, or remove the line to run without authentication",
                );
                None
            }
            k => k.map(Secret::new),
        },
        other => {
            ctx.error(key, format!("must be a string, got {}", describe(other)));
            None
        }
    }
}

pub(crate) fn pool(ctx: &mut Ctx<'_>, value: Option<&Value>) -> PoolConfig {
    use pool_layer::limit::{DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_HOST};
    let s = Section::read(
        ctx,
        "pool",
        value,
        &[
            "max_connections",
            "max_connections_per_host",
            "keepalive_s",
            "dns_ttl_s",
            "connect_timeout_s",
        ],
    );
    PoolConfig {
        max_connections: s.count(
            ctx,
            "max_connections",
            DEFAULT_MAX_CONNECTIONS,
            1,
            MAX_COUNT,
        ),
        max_connections_per_host: s.count(
            ctx,
            "max_connections_per_host",
            DEFAULT_MAX_CONNECTIONS_PER_HOST,
            1,
            MAX_COUNT,
        ),
        keepalive: s.secs(ctx, "keepalive_s", pool_layer::DEFAULT_IDLE_TIMEOUT),
        dns_ttl: s.secs(ctx, "dns_ttl_s", pool_layer::dns::DEFAULT_TTL),
        connect_timeout: s.secs(
            ctx,
            "connect_timeout_s",
            pool_layer::DEFAULT_CONNECT_TIMEOUT,
        ),
    }
}

pub(crate) fn limits(ctx: &mut Ctx<'_>, value: Option<&Value>) -> LimitsConfig {
    use limits_layer::admission::{
        DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_QUEUED, DEFAULT_QUEUE_TIMEOUT,
    };
    use limits_layer::callbacks::{DEFAULT_EVENT_QUEUE, DEFAULT_MAX_CALLBACKS};
    let s = Section::read(
        ctx,
        "limits",
        value,
        &[
            "max_in_flight",
            "max_queued",
            "queue_timeout_s",
            "max_callbacks",
            "callback_queue",
        ],
    );
    LimitsConfig {
        max_in_flight: s.count(ctx, "max_in_flight", DEFAULT_MAX_IN_FLIGHT, 1, MAX_COUNT),
        max_queued: s.count(ctx, "max_queued", DEFAULT_MAX_QUEUED, 0, MAX_COUNT),
        queue_timeout: s.secs(ctx, "queue_timeout_s", DEFAULT_QUEUE_TIMEOUT),
        max_callbacks: s.count(ctx, "max_callbacks", DEFAULT_MAX_CALLBACKS, 0, MAX_COUNT),
        callback_queue: s.count(ctx, "callback_queue", DEFAULT_EVENT_QUEUE, 1, MAX_COUNT),
    }
}

pub(crate) fn cache(ctx: &mut Ctx<'_>, value: Option<&Value>) -> CacheConfig {
    use cache_layer::ttl::{DEFAULT_CAPACITY, DEFAULT_MAX_ITEM_WEIGHT, DEFAULT_TTL};
    let s = Section::read(
        ctx,
        "cache",
        value,
        &["client_ttl_s", "client_capacity", "responses"],
    );
    let r = Section::read(
        ctx,
        "cache.responses",
        s.get("responses"),
        &["enabled", "ttl_s", "capacity", "max_item_bytes"],
    );
    CacheConfig {
        client_ttl: s.secs(ctx, "client_ttl_s", DEFAULT_TTL),
        client_capacity: s.count(ctx, "client_capacity", DEFAULT_CAPACITY, 1, MAX_COUNT),
        responses: ResponsesConfig {
            enabled: ctx
                .boolean("cache.responses.enabled", r.get("enabled"))
                .unwrap_or(false),
            ttl: r.secs(ctx, "ttl_s", DEFAULT_TTL),
            capacity: r.count(ctx, "capacity", DEFAULT_CAPACITY, 1, MAX_COUNT),
            max_item_bytes: r.count(
                ctx,
                "max_item_bytes",
                DEFAULT_MAX_ITEM_WEIGHT,
                1,
                MAX_BODY_BYTES,
            ),
        },
    }
}

/// What LiteLLM's sections set for the gateway.
pub(crate) struct LiteLlm {
    pub(crate) aliases: Vec<ModelAlias>,
    pub(crate) strategy: Strategy,
    pub(crate) max_retries: u32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) master_key: Option<Secret>,
    /// `litellm_settings.drop_params`: parameters a provider cannot honour are dropped
    /// instead of refused.
    pub(crate) drop_params: bool,
    /// Fallbacks, cooldowns, retries, Redis.
    pub(crate) router: super::router::RouterConfig,
    /// The names in `callbacks`, `success_callback` and `failure_callback`.
    pub(crate) callbacks: Vec<super::callbacks::Named>,
}

/// `litellm_settings` keys the gateway acts on (for near-miss errors).
const LITELLM_USED: &[&str] = &[
    "num_retries",
    "request_timeout",
    "drop_params",
    "cache",
    "cache_params",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "callbacks",
    "success_callback",
    "failure_callback",
];

/// A key the gateway does not act on: listed as ignored, or an error when it is a near
/// miss of one it does act on (a typo that would silently change behaviour).
fn unused(ctx: &mut Ctx<'_>, section: &str, key: &str, used: &[&str]) {
    match near_miss(key, used) {
        Some(close) => ctx.error(
            &format!("{section}.{key}"),
            format!("unknown field `{key}` (did you mean `{close}`?)"),
        ),
        None => ctx.ignored.add(section, key),
    }
}

/// `litellm_settings`, `router_settings`, `general_settings` (read after
/// `environment_variables`, which [`environment`] took first).
pub(crate) fn litellm(ctx: &mut Ctx<'_>, raw: &super::raw::RawFile) -> LiteLlm {
    let mut out = LiteLlm {
        aliases: Vec::new(),
        strategy: Strategy::LeastBusy,
        max_retries: DEFAULT_MAX_RETRIES,
        timeout: None,
        master_key: None,
        drop_params: false,
        router: super::router::RouterConfig::default(),
        callbacks: Vec::new(),
    };
    let mut redis = super::router::RedisParts::default();
    let mut cache = None;
    let mut cache_params = None;
    for (key, value) in entries(ctx, "litellm_settings", raw.litellm_settings.as_ref()) {
        let path = format!("litellm_settings.{key}");
        match key.as_str() {
            "num_retries" => {
                if let Some(n) = ctx.whole(&path, Some(&value), 0, MAX_RETRIES.into()) {
                    out.max_retries = n as u32;
                }
            }
            "request_timeout" => out.timeout = ctx.seconds(&path, Some(&value)).or(out.timeout),
            "drop_params" => {
                out.drop_params = ctx.boolean(&path, Some(&value)).unwrap_or(false);
            }
            "cache" => cache = ctx.boolean(&path, Some(&value)),
            "cache_params" => cache_params = Some(value),
            k if k.ends_with("fallbacks") && super::router::ROUTER_KEYS.contains(&k) => {
                out.router.take(ctx, &mut redis, k, &path, &value);
            }
            "callbacks" | "success_callback" | "failure_callback" => {
                super::callbacks::names(ctx, &key, &value, &mut out.callbacks);
            }
            _ => unused(ctx, "litellm_settings", &key, LITELLM_USED),
        }
    }
    out.router
        .cache(ctx, &mut redis, cache, cache_params.as_ref());
    let mut used: Vec<&str> = vec![
        "routing_strategy",
        "model_group_alias",
        "num_retries",
        "timeout",
    ];
    used.extend(super::router::ROUTER_KEYS);
    for (key, value) in entries(ctx, "router_settings", raw.router_settings.as_ref()) {
        let path = format!("router_settings.{key}");
        match key.as_str() {
            "routing_strategy" => out.strategy = strategy(ctx, &path, &value),
            "model_group_alias" => out.aliases = aliases(ctx, &path, &value),
            "num_retries" => {
                if let Some(n) = ctx.whole(&path, Some(&value), 0, MAX_RETRIES.into()) {
                    out.max_retries = n as u32;
                }
            }
            "timeout" => out.timeout = ctx.seconds(&path, Some(&value)).or(out.timeout),
            k if super::router::ROUTER_KEYS.contains(&k) => {
                out.router.take(ctx, &mut redis, k, &path, &value);
            }
            _ => unused(ctx, "router_settings", &key, &used),
        }
    }
    out.router.redis = redis.url(ctx);
    for (key, value) in entries(ctx, "general_settings", raw.general_settings.as_ref()) {
        match key.as_str() {
            "master_key" => out.master_key = master_key(ctx, "general_settings.master_key", &value),
            _ => ctx.ignored.add("general_settings", &key),
        }
    }
    out
}

/// `model_group_alias`: `{alias: model}` or `{alias: {model, hidden}}`.
fn aliases(ctx: &mut Ctx<'_>, key: &str, value: &Value) -> Vec<ModelAlias> {
    let mut out = Vec::new();
    for (alias, target) in entries(ctx, key, Some(value)) {
        let path = format!("{key}.{alias}");
        let (model, hidden) = match &target {
            Value::String(model) => (Some(model.clone()), false),
            Value::Mapping(_) => {
                let mut model = None;
                let mut hidden = false;
                for (k, v) in entries(ctx, &path, Some(&target)) {
                    match k.as_str() {
                        "model" => model = ctx.string(&format!("{path}.model"), Some(&v)),
                        "hidden" => {
                            hidden = ctx
                                .boolean(&format!("{path}.hidden"), Some(&v))
                                .unwrap_or(false)
                        }
                        other => ctx.error(
                            &format!("{path}.{other}"),
                            format!("unknown field `{other}`; an alias takes `model` and `hidden`"),
                        ),
                    }
                }
                (model, hidden)
            }
            other => {
                ctx.error(
                    &path,
                    format!(
                        "must be a model name or {{model, hidden}}, got {}",
                        describe(other)
                    ),
                );
                (None, false)
            }
        };
        match model {
            Some(model) => out.push(ModelAlias {
                alias,
                model,
                hidden,
            }),
            None => ctx.error(&path, "names no `model`"),
        }
    }
    out
}

fn strategy(ctx: &mut Ctx<'_>, key: &str, value: &Value) -> Strategy {
    match ctx.string(key, Some(value)).as_deref() {
        Some("least-busy") | None => Strategy::LeastBusy,
        Some("simple-shuffle" | "round-robin") => Strategy::RoundRobin,
        Some("usage-based-routing-v2" | "usage-based-routing") => Strategy::UsageBased,
        Some("latency-based-routing") => Strategy::LatencyBased,
        Some(other) => {
            ctx.warnings.push(format!(
                "{}: `{key}: {other}` is not supported; using least-busy",
                ctx.file
            ));
            Strategy::LeastBusy
        }
    }
}

/// `environment_variables`: LiteLLM sets them in its environment at start; here they
/// fill in variables the environment does not have (the environment wins).
pub(crate) fn environment(ctx: &mut Ctx<'_>, value: Option<&Value>) {
    for (key, value) in entries(ctx, "environment_variables", value) {
        let path = format!("environment_variables.{key}");
        match &value {
            Value::String(s) => {
                ctx.env_section.insert(key, s.clone());
            }
            Value::Number(n) => {
                ctx.env_section.insert(key, n.to_string());
            }
            Value::Bool(b) => {
                ctx.env_section.insert(key, b.to_string());
            }
            other => ctx.error(&path, format!("must be a string, got {}", describe(other))),
        }
    }
}
