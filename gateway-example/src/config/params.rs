//! A deployment's `litellm_params`: the keys the gateway acts on (with their
//! aliases) read into [`Params`] and the router's numbers; LiteLLM's other keys listed
//! as ignored; a near miss of a used key is an error.

use serde_norway::Value;

use super::litellm::{self, Params};
use super::models::{Inherited, MAX_ROUTING};
use super::reader::{describe, entries, near_miss, Ctx};
use super::MAX_RETRIES;

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

/// `litellm_params`, read.
pub(super) struct Read {
    pub(super) model: String,
    pub(super) params: Params,
    pub(super) max_retries: u32,
    pub(super) mock_response: Option<String>,
    pub(super) routing: super::DeploymentRouting,
}

pub(super) fn read_params(
    ctx: &mut Ctx<'_>,
    at: &str,
    value: &Value,
    inherited: &Inherited,
) -> Option<Read> {
    let mut reading = Reading {
        model: None,
        provider: None,
        params: Params {
            timeout: inherited.timeout,
            drop_params: inherited.drop_params,
            ..Params::default()
        },
        max_retries: inherited.max_retries,
        mock_response: None,
        routing: super::DeploymentRouting::default(),
    };
    let used: Vec<&str> = USED_PARAMS.iter().map(|(k, _)| *k).collect();
    for (key, value) in entries(ctx, at, Some(value)) {
        let path = format!("{at}.{key}");
        match USED_PARAMS.iter().find(|(k, _)| *k == key) {
            Some((_, canonical)) => reading.take(ctx, &path, canonical, &value),
            None if IGNORED_PARAMS.contains(&key.as_str()) => {
                ctx.ignored.add("model_list[].litellm_params", &key)
            }
            // A near miss of a key we use is a typo that would change behaviour.
            None => match near_miss(&key, &used) {
                Some(close) => ctx.error(
                    &path,
                    format!("unknown field `{key}` (did you mean `{close}`?)"),
                ),
                None => ctx.ignored.add("model_list[].litellm_params", &key),
            },
        }
    }
    reading.finish(ctx, at)
}

/// `litellm_params` as it is read, key by key.
struct Reading {
    model: Option<String>,
    provider: Option<String>,
    params: Params,
    max_retries: u32,
    mock_response: Option<String>,
    routing: super::DeploymentRouting,
}

impl Reading {
    /// Takes one used key, by its canonical name.
    fn take(&mut self, ctx: &mut Ctx<'_>, path: &str, canonical: &str, value: &Value) {
        let v = Some(value);
        let params = &mut self.params;
        match canonical {
            "model" => self.model = ctx.string(path, v),
            "custom_llm_provider" => self.provider = ctx.string(path, v),
            "api_base" => params.api_base = base_url(ctx, path, value),
            // An empty key (an unset secret) is no key: the provider's variable, or
            // the needs-a-key check, decide what happens.
            "api_key" => params.api_key = ctx.string(path, v).filter(|k| !k.is_empty()),
            "api_version" => params.api_version = ctx.string(path, v),
            "timeout" => params.timeout = ctx.seconds(path, v).or(params.timeout),
            "stream_timeout" => params.stream_timeout = ctx.seconds(path, v),
            "first_token_timeout" => params.first_token_timeout = ctx.seconds(path, v),
            "max_retries" => {
                if let Some(n) = ctx.whole(path, v, 0, MAX_RETRIES.into()) {
                    self.max_retries = n as u32;
                }
            }
            "mock_response" => self.mock_response = ctx.string(path, v),
            // A deployment's own `drop_params` wins over `litellm_settings`'.
            "drop_params" => {
                if let Some(drop) = ctx.boolean(path, v) {
                    params.drop_params = drop;
                }
            }
            "rpm" | "tpm" | "weight" | "order" | "max_parallel_requests" => {
                take_routing(&mut self.routing, ctx, path, canonical, value)
            }
            _ => take_credential(params, ctx, path, canonical, value),
        }
    }

    /// The read params, or `None` (an error reported) without a `model`.
    fn finish(self, ctx: &mut Ctx<'_>, at: &str) -> Option<Read> {
        let Some(model) = self.model else {
            ctx.error(
                &format!("{at}.model"),
                "is required (e.g. `openai/gpt-4o-mini`)",
            );
            return None;
        };
        // `custom_llm_provider` names the provider of an un-prefixed model.
        let model = match self.provider {
            Some(p) if !model.starts_with(&format!("{p}/")) => format!("{p}/{model}"),
            _ => model,
        };
        Some(Read {
            model,
            params: self.params,
            max_retries: self.max_retries,
            mock_response: self.mock_response,
            routing: self.routing,
        })
    }
}

/// A URL key (`api_base`, `aws_sts_endpoint`), checked.
fn base_url(ctx: &mut Ctx<'_>, path: &str, value: &Value) -> Option<String> {
    let url = ctx.string(path, Some(value))?;
    match litellm::check_base(&url) {
        Ok(url) => Some(url),
        Err(problem) => {
            ctx.error(path, problem);
            None
        }
    }
}

/// The router's keys of a deployment: `rpm`, `tpm`, `weight`, `order`,
/// `max_parallel_requests`.
fn take_routing(
    routing: &mut super::DeploymentRouting,
    ctx: &mut Ctx<'_>,
    path: &str,
    canonical: &str,
    value: &Value,
) {
    let v = Some(value);
    match canonical {
        "rpm" => routing.rpm = ctx.whole(path, v, 1, MAX_ROUTING),
        "tpm" => routing.tpm = ctx.whole(path, v, 1, MAX_ROUTING),
        "weight" => routing.weight = weight(ctx, path, value).unwrap_or(routing.weight),
        "order" => {
            if let Some(n) = ctx.whole(path, v, 0, u64::from(u32::MAX)) {
                routing.order = n as u32;
            }
        }
        "max_parallel_requests" => {
            routing.max_parallel_requests = ctx
                .whole(path, v, 1, MAX_ROUTING)
                .and_then(|n| usize::try_from(n).ok())
        }
        _ => {}
    }
}

/// A cloud provider's credential keys (Vertex AI, AWS, watsonx).
fn take_credential(
    params: &mut Params,
    ctx: &mut Ctx<'_>,
    path: &str,
    canonical: &str,
    value: &Value,
) {
    let v = Some(value);
    match canonical {
        "vertex_project" => params.vertex_project = ctx.string(path, v),
        "vertex_location" => params.vertex_location = ctx.string(path, v),
        "vertex_credentials" => {
            params.vertex_credentials = super::vertex::credentials(ctx, path, value)
        }
        "aws_access_key_id" => params.aws.access_key_id = ctx.string(path, v),
        "aws_secret_access_key" => params.aws.secret_access_key = ctx.string(path, v),
        "aws_session_token" => params.aws.session_token = ctx.string(path, v),
        "aws_region_name" => params.aws.region_name = ctx.string(path, v),
        "aws_role_name" => params.aws.role_name = ctx.string(path, v),
        "aws_session_name" => params.aws.session_name = ctx.string(path, v),
        "aws_sts_endpoint" => params.aws.sts_endpoint = base_url(ctx, path, value),
        "project_id" => params.watsonx.project_id = ctx.string(path, v),
        "space_id" => params.watsonx.space_id = ctx.string(path, v),
        "token" => params.watsonx.token = ctx.string(path, v),
        _ => {}
    }
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
