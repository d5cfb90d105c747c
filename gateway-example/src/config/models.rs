//! `model_list`: each entry becomes a [`Deployment`] (one upstream) or, when its
//! `model_name` has a `*`, a [`WildcardRoute`] (an upstream per requested name).

use std::time::Duration;

use serde_norway::Value;

use super::litellm::{self, EnvDefaults, Params};
use super::reader::{describe, entries, near_miss, Ctx};
use super::{Deployment, ModelInfo, WildcardRoute, MAX_RETRIES};

/// What every entry inherits from `litellm_settings`/`router_settings` and the
/// environment.
pub(crate) struct Inherited {
    pub(crate) max_retries: u32,
    pub(crate) timeout: Option<Duration>,
    /// `litellm_settings.drop_params`.
    pub(crate) drop_params: bool,
    pub(crate) env: EnvDefaults,
}

/// `litellm_params` keys the gateway uses; the second column maps aliases.
const USED_PARAMS: &[(&str, &str)] = &[
    ("model", "model"),
    ("api_base", "api_base"),
    ("base_url", "api_base"),
    ("api_key", "api_key"),
    ("api_version", "api_version"),
    ("timeout", "timeout"),
    ("request_timeout", "timeout"),
    ("stream_timeout", "stream_timeout"),
    ("first_token_timeout", "first_token_timeout"),
    ("max_retries", "max_retries"),
    ("num_retries", "max_retries"),
    ("vertex_project", "vertex_project"),
    ("vertex_ai_project", "vertex_project"),
    ("vertex_location", "vertex_location"),
    ("vertex_ai_location", "vertex_location"),
    ("vertex_credentials", "vertex_credentials"),
    ("custom_llm_provider", "custom_llm_provider"),
    ("mock_response", "mock_response"),
    ("drop_params", "drop_params"),
    ("aws_access_key_id", "aws_access_key_id"),
    ("aws_secret_access_key", "aws_secret_access_key"),
    ("aws_session_token", "aws_session_token"),
    ("aws_region_name", "aws_region_name"),
    ("aws_role_name", "aws_role_name"),
    ("aws_session_name", "aws_session_name"),
    ("aws_sts_endpoint", "aws_sts_endpoint"),
    ("aws_bedrock_runtime_endpoint", "api_base"),
    ("rpm", "rpm"),
    ("tpm", "tpm"),
    ("weight", "weight"),
    ("order", "order"),
    ("max_parallel_requests", "max_parallel_requests"),
    ("project_id", "project_id"),
    ("space_id", "space_id"),
    ("token", "token"),
];

/// LiteLLM `litellm_params` keys accepted and listed as ignored.
const IGNORED_PARAMS: &[&str] = &[
    "input_cost_per_token",
    "output_cost_per_token",
    "input_cost_per_second",
    "output_cost_per_second",
    "organization",
    "additional_drop_params",
    "tags",
    "region_name",
    "max_budget",
    "budget_duration",
    "cache_control_injection_points",
    "merge_reasoning_content_in_choices",
    "use_in_pass_through",
    "use_litellm_proxy",
    "aws_profile_name",
    "azure_ad_token",
    "tenant_id",
    "client_id",
    "client_secret",
    "litellm_credential_name",
    "model_info",
    "extra_headers",
    "headers",
    "seed",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "configurable_clientside_auth_params",
];

/// Entry-level keys besides `model_name`, `litellm_params`, `model_info` and
/// `rpm`/`tpm` (LiteLLM's router reads those in either place) that are accepted.
const ENTRY_IGNORED: &[&str] = &["model_id", "deployment_id"];

/// Largest `rpm`/`tpm`/`weight`/`order`/`max_parallel_requests`.
const MAX_ROUTING: u64 = 1 << 40;

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

/// `litellm_params`, read.
struct Read {
    model: String,
    params: Params,
    max_retries: u32,
    mock_response: Option<String>,
    routing: super::DeploymentRouting,
}

fn read_params(ctx: &mut Ctx<'_>, at: &str, value: &Value, inherited: &Inherited) -> Option<Read> {
    let mut model = None;
    let mut provider = None;
    let mut params = Params {
        timeout: inherited.timeout,
        drop_params: inherited.drop_params,
        ..Params::default()
    };
    let mut max_retries = inherited.max_retries;
    let mut mock_response = None;
    let mut routing = super::DeploymentRouting::default();
    let used: Vec<&str> = USED_PARAMS.iter().map(|(k, _)| *k).collect();
    for (key, value) in entries(ctx, at, Some(value)) {
        let path = format!("{at}.{key}");
        let Some((_, canonical)) = USED_PARAMS.iter().find(|(k, _)| *k == key) else {
            if IGNORED_PARAMS.contains(&key.as_str()) {
                ctx.ignored.add("model_list[].litellm_params", &key);
            } else if let Some(close) = near_miss(&key, &used) {
                // A near miss of a key we use is a typo that would change behaviour.
                ctx.error(
                    &path,
                    format!("unknown field `{key}` (did you mean `{close}`?)"),
                );
            } else {
                ctx.ignored.add("model_list[].litellm_params", &key);
            }
            continue;
        };
        let v = Some(&value);
        match *canonical {
            "model" => model = ctx.string(&path, v),
            "custom_llm_provider" => provider = ctx.string(&path, v),
            "api_base" => {
                if let Some(base) = ctx.string(&path, v) {
                    match litellm::check_base(&base) {
                        Ok(base) => params.api_base = Some(base),
                        Err(problem) => ctx.error(&path, problem),
                    }
                }
            }
            // An empty key (an unset secret) is no key: the provider's variable, or
            // the needs-a-key check, decide what happens.
            "api_key" => params.api_key = ctx.string(&path, v).filter(|k| !k.is_empty()),
            "api_version" => params.api_version = ctx.string(&path, v),
            "vertex_project" => params.vertex_project = ctx.string(&path, v),
            "vertex_location" => params.vertex_location = ctx.string(&path, v),
            "vertex_credentials" => {
                params.vertex_credentials = super::vertex::credentials(ctx, &path, &value)
            }
            "timeout" => params.timeout = ctx.seconds(&path, v).or(params.timeout),
            "stream_timeout" => params.stream_timeout = ctx.seconds(&path, v),
            "first_token_timeout" => params.first_token_timeout = ctx.seconds(&path, v),
            "max_retries" => {
                if let Some(n) = ctx.whole(&path, v, 0, MAX_RETRIES.into()) {
                    max_retries = n as u32;
                }
            }
            "mock_response" => mock_response = ctx.string(&path, v),
            "aws_access_key_id" => params.aws.access_key_id = ctx.string(&path, v),
            "aws_secret_access_key" => params.aws.secret_access_key = ctx.string(&path, v),
            "aws_session_token" => params.aws.session_token = ctx.string(&path, v),
            "aws_region_name" => params.aws.region_name = ctx.string(&path, v),
            "aws_role_name" => params.aws.role_name = ctx.string(&path, v),
            "aws_session_name" => params.aws.session_name = ctx.string(&path, v),
            "project_id" => params.watsonx.project_id = ctx.string(&path, v),
            "space_id" => params.watsonx.space_id = ctx.string(&path, v),
            "token" => params.watsonx.token = ctx.string(&path, v),
            "aws_sts_endpoint" => {
                if let Some(url) = ctx.string(&path, v) {
                    match litellm::check_base(&url) {
                        Ok(url) => params.aws.sts_endpoint = Some(url),
                        Err(problem) => ctx.error(&path, problem),
                    }
                }
            }
            "rpm" => routing.rpm = ctx.whole(&path, v, 1, MAX_ROUTING),
            "tpm" => routing.tpm = ctx.whole(&path, v, 1, MAX_ROUTING),
            "weight" => routing.weight = weight(ctx, &path, &value).unwrap_or(routing.weight),
            "order" => {
                if let Some(n) = ctx.whole(&path, v, 0, u64::from(u32::MAX)) {
                    routing.order = n as u32;
                }
            }
            "max_parallel_requests" => {
                routing.max_parallel_requests = ctx
                    .whole(&path, v, 1, MAX_ROUTING)
                    .and_then(|n| usize::try_from(n).ok())
            }
            // A deployment's own `drop_params` wins over `litellm_settings`'.
            "drop_params" => {
                if let Some(drop) = ctx.boolean(&path, v) {
                    params.drop_params = drop;
                }
            }
            _ => {}
        }
    }
    let Some(model) = model else {
        ctx.error(
            &format!("{at}.model"),
            "is required (e.g. `openai/gpt-4o-mini`)",
        );
        return None;
    };
    // `custom_llm_provider` names the provider of an un-prefixed model.
    let model = match provider {
        Some(p) if !model.starts_with(&format!("{p}/")) => format!("{p}/{model}"),
        _ => model,
    };
    Some(Read {
        model,
        params,
        max_retries,
        mock_response,
        routing,
    })
}

/// `weight`: LiteLLM takes any positive number; kept to whole shares from 1 to 1000
/// (a fraction is rounded, at least 1).
fn weight(ctx: &mut Ctx<'_>, key: &str, value: &Value) -> Option<u32> {
    match value.as_f64() {
        Some(w) if w.is_finite() && w > 0.0 && w <= 1000.0 => Some((w.round() as u32).max(1)),
        _ => {
            ctx.error(
                key,
                format!(
                    "must be a weight above 0 and at most 1000, got {}",
                    describe(value)
                ),
            );
            None
        }
    }
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
