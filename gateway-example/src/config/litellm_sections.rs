//! LiteLLM's sections (`litellm_settings`, `router_settings`, `general_settings`,
//! `environment_variables`), where the keys the gateway acts on are used and the rest
//! listed as ignored (a near miss of a used key is an error).

use std::time::Duration;

use provider_adapters::Secret;
use serde_norway::Value;

use super::reader::{describe, entries, near_miss, Ctx};
use super::sections::master_key;
use super::*;

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
