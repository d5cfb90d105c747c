//! The gateway's own sections (`server`, `pool`, `limits`, `cache`), where every key
//! is known and a stranger is an error. LiteLLM's are in
//! [`litellm_sections`](super::litellm_sections).

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
