//! `model_list`: each entry becomes a [`Deployment`] (one upstream) or, when its
//! `model_name` has a `*`, a [`WildcardRoute`] (an upstream per requested name).

use std::time::Duration;

use serde_norway::Value;

use super::litellm::{self, EnvDefaults};
use super::params::{read_params, Read};
use super::reader::{describe, entries, near_miss, Ctx};
use super::{Deployment, ModelInfo, WildcardRoute};

/// What every entry inherits from `litellm_settings`/`router_settings` and the
/// environment.
pub(crate) struct Inherited {
    pub(crate) max_retries: u32,
    pub(crate) timeout: Option<Duration>,
    /// `litellm_settings.drop_params`.
    pub(crate) drop_params: bool,
    pub(crate) env: EnvDefaults,
}

/// Entry-level keys besides `model_name`, `litellm_params`, `model_info` and
/// `rpm`/`tpm` (LiteLLM's router reads those in either place) that are accepted.
const ENTRY_IGNORED: &[&str] = &["model_id", "deployment_id"];

/// Largest `rpm`/`tpm`/`weight`/`order`/`max_parallel_requests`.
pub(super) const MAX_ROUTING: u64 = 1 << 40;

/// `model_info` keys the gateway uses (shown by `GET /v1/models/{id}`).
const INFO_USED: &[&str] = &[
    "id",
    "mode",
    "base_model",
    "max_tokens",
    "max_input_tokens",
    "max_output_tokens",
    "input_cost_per_token",
    "output_cost_per_token",
];

/// Reads `model_list`; bad entries are reported and left out.
pub(crate) fn model_list(
    ctx: &mut Ctx<'_>,
    value: Option<&Value>,
    inherited: &Inherited,
) -> (Vec<Deployment>, Vec<WildcardRoute>) {
    let mut deployments = Vec::new();
    let mut wildcards = Vec::new();
    let items = match value {
        None | Some(Value::Null) => &[][..],
        Some(Value::Sequence(items)) => items.as_slice(),
        Some(other) => {
            ctx.error(
                "model_list",
                format!("must be a list of models, got {}", describe(other)),
            );
            return (deployments, wildcards);
        }
    };
    for (i, item) in items.iter().enumerate() {
        match entry(ctx, &format!("model_list[{i}]"), item, inherited) {
            Some(Entry::One(d)) => deployments.push(d),
            Some(Entry::Wildcard(w)) => wildcards.push(w),
            None => {}
        }
    }
    (deployments, wildcards)
}

enum Entry {
    One(Deployment),
    Wildcard(WildcardRoute),
}

fn entry(ctx: &mut Ctx<'_>, at: &str, item: &Value, inherited: &Inherited) -> Option<Entry> {
    let errors_before = ctx.errors.len() + ctx.unreported;
    let mut model_name = None;
    let mut params = None;
    let mut info = ModelInfo::default();
    let mut entry_limits = (None, None);
    for (key, value) in entries(ctx, at, Some(item)) {
        let path = format!("{at}.{key}");
        match key.as_str() {
            "rpm" => entry_limits.0 = ctx.whole(&path, Some(&value), 1, MAX_ROUTING),
            "tpm" => entry_limits.1 = ctx.whole(&path, Some(&value), 1, MAX_ROUTING),
            "model_name" => match &value {
                Value::String(s) if !s.trim().is_empty() => model_name = Some(s.clone()),
                _ => ctx.error(&path, "must be a non-empty string"),
            },
            "litellm_params" | "params" if params.is_some() => ctx.error(
                &path,
                "given twice (`params` is an alias of `litellm_params`)",
            ),
            "litellm_params" | "params" => params = Some(value),
            "model_info" => info = model_info(ctx, &path, &value),
            other if ENTRY_IGNORED.contains(&other) => ctx.ignored.add("model_list[]", other),
            other => match near_miss(other, &["model_name", "litellm_params", "model_info"]) {
                Some(close) => ctx.error(
                    &path,
                    format!("unknown field `{other}` (did you mean `{close}`?)"),
                ),
                None => ctx.ignored.add("model_list[]", other),
            },
        }
    }
    let Some(model_name) = model_name else {
        if ctx.errors.len() + ctx.unreported == errors_before {
            ctx.error(
                &format!("{at}.model_name"),
                "is required: the name clients ask for",
            );
        }
        return None;
    };
    let Some(params) = params else {
        ctx.error(
            &format!("{at}.litellm_params"),
            "is required (with at least `model`)",
        );
        return None;
    };
    let at = format!("{at}.litellm_params");
    let mut read = read_params(ctx, &at, &params, inherited)?;
    read.routing.rpm = read.routing.rpm.or(entry_limits.0);
    read.routing.tpm = read.routing.tpm.or(entry_limits.1);
    // Built even after an error in the entry, so that the model's own problem is
    // reported in the same run.
    let built = build(ctx, &at, model_name, read, info, inherited);
    let errors = ctx.errors.len() + ctx.unreported;
    built.filter(|_| errors == errors_before)
}

fn build(
    ctx: &mut Ctx<'_>,
    at: &str,
    model_name: String,
    read: Read,
    info: ModelInfo,
    inherited: &Inherited,
) -> Option<Entry> {
    let key = format!("{at}.model");
    let mock = read.model.strip_prefix("mock/").map(str::to_string);
    if model_name.contains('*') {
        if mock.is_some() {
            ctx.error(&key, "mock models cannot be wildcards");
            return None;
        }
        // Checked with a sample name, so a missing key shows now, not per request.
        if read.model != "*" {
            if let Err(problem) =
                litellm::endpoint(&read.model.replace('*', "x"), &read.params, &inherited.env)
            {
                ctx.error(&key, problem);
                return None;
            }
        }
        return Some(Entry::Wildcard(WildcardRoute {
            pattern: model_name,
            model: read.model,
            params: read.params,
            env: inherited.env.clone(),
            max_retries: read.max_retries,
            info,
        }));
    }
    let endpoint = match &mock {
        // The mock speaks OpenAI chat; its address is known only at start.
        Some(name) if !name.is_empty() && !name.contains('*') => {
            provider_adapters::Endpoint::new(&format!("openai/{name}")).map(|mut endpoint| {
                if let Some(t) = read.params.timeout {
                    endpoint.timeout = t;
                }
                if let Some(t) = read.params.stream_timeout {
                    endpoint.stream_timeout = t;
                }
                endpoint.first_token_timeout = read.params.first_token_timeout;
                endpoint.drop_params = read.params.drop_params;
                endpoint
            })
        }
        Some(_) => Err("mock models are `mock/NAME`".to_string()),
        None if read.model.contains('*') => Err(format!(
            "`{}` is a pattern, but `model_name` `{model_name}` has no `*` to match it with",
            read.model
        )),
        None => litellm::endpoint(&read.model, &read.params, &inherited.env),
    };
    match endpoint {
        Ok(endpoint) => Some(Entry::One(Deployment {
            model_name,
            endpoint,
            mock: mock.is_some(),
            mock_response: read.mock_response,
            max_retries: read.max_retries,
            info,
            routing: read.routing,
        })),
        Err(problem) => {
            ctx.error(&key, problem);
            None
        }
    }
}

fn model_info(ctx: &mut Ctx<'_>, at: &str, value: &Value) -> ModelInfo {
    let mut info = ModelInfo::default();
    for (key, value) in entries(ctx, at, Some(value)) {
        let path = format!("{at}.{key}");
        let v = Some(&value);
        match key.as_str() {
            "id" => info.id = ctx.string(&path, v),
            "mode" => info.mode = ctx.string(&path, v),
            "base_model" => info.base_model = ctx.string(&path, v),
            "max_tokens" => info.max_tokens = ctx.whole(&path, v, 1, u64::from(u32::MAX)),
            "max_input_tokens" => {
                info.max_input_tokens = ctx.whole(&path, v, 1, u64::from(u32::MAX))
            }
            "max_output_tokens" => {
                info.max_output_tokens = ctx.whole(&path, v, 1, u64::from(u32::MAX))
            }
            "input_cost_per_token" => info.input_cost_per_token = cost(ctx, &path, &value),
            "output_cost_per_token" => info.output_cost_per_token = cost(ctx, &path, &value),
            other => {
                debug_assert!(!INFO_USED.contains(&other));
                ctx.ignored.add("model_list[].model_info", other);
            }
        }
    }
    info
}

fn cost(ctx: &mut Ctx<'_>, key: &str, value: &Value) -> Option<f64> {
    match value.as_f64() {
        Some(c) if c.is_finite() && c >= 0.0 => Some(c),
        _ => {
            ctx.error(
                key,
                format!("must be a cost of zero or more, got {}", describe(value)),
            );
            None
        }
    }
}
