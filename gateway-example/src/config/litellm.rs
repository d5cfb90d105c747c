//! LiteLLM's conventions, as its proxy applies them to a `config.yaml`: the provider
//! of an un-prefixed model name, the environment variables each provider falls back
//! to, and the `litellm_params` keys (with their aliases) that mean something here.

use std::collections::BTreeMap;
use std::time::Duration;

use provider_adapters::{Endpoint, Provider, Secret};

pub(crate) use super::provider_env::{ProviderEnv, NEEDS_BASE, PROVIDER_ENV};

/// The provider LiteLLM infers for a model name without a `provider/` prefix, by the
/// model families each provider serves (LiteLLM looks the name up in its model list;
/// these prefixes cover the families in it). `None`: not a known family. A `gemini-*`
/// name is `gemini` (Google AI Studio) here; [`endpoint`] makes it `vertex_ai` when the
/// deployment is set up for Vertex AI, as LiteLLM's docs use it.
pub fn infer_provider(model: &str) -> Option<&'static str> {
    const FAMILIES: &[(&str, &str)] = &[
        ("gpt-", "openai"),
        ("chatgpt-", "openai"),
        ("o1", "openai"),
        ("o3", "openai"),
        ("o4", "openai"),
        ("text-embedding-3", "openai"),
        ("text-embedding-ada", "openai"),
        ("davinci", "openai"),
        ("babbage", "openai"),
        ("ft:gpt-", "openai"),
        ("codex-", "openai"),
        ("computer-use-preview", "openai"),
        ("omni-moderation", "openai"),
        ("text-moderation", "openai"),
        ("claude-", "anthropic"),
        ("gemini-", "gemini"),
        ("learnlm-", "gemini"),
        ("mistral-", "mistral"),
        ("open-mistral", "mistral"),
        ("codestral", "mistral"),
        ("ministral", "mistral"),
        ("pixtral", "mistral"),
        ("deepseek-", "deepseek"),
        ("grok-", "xai"),
    ];
    let lower = model.to_ascii_lowercase();
    FAMILIES
        .iter()
        .find(|(family, _)| lower.starts_with(family))
        .map(|(_, provider)| *provider)
}

/// What to suggest for a model name whose provider is neither given nor inferred.
/// A Claude or Gemini name served under another provider's name (Bedrock, Vertex AI
/// ids) gets its own provider's prefix, never `openai/`.
pub fn prefix_hint(model: &str) -> String {
    let lower = model.to_ascii_lowercase();
    if lower.contains("claude") {
        format!("`anthropic/{model}` (Anthropic's API)")
    } else if lower.contains("gemini") || lower.contains("gemma") {
        format!("`gemini/{model}` (Google AI Studio) or `vertex_ai/{model}`")
    } else if lower.contains("llama") || lower.contains("qwen") || lower.contains("phi") {
        format!("`ollama/{model}` (a local Ollama) or `hosted_vllm/{model}` with `api_base`")
    } else {
        format!(
            "`openai/{model}` with `api_base` for an OpenAI-compatible server, or `ollama/{model}`"
        )
    }
}

/// The Azure `api_version` variable; the Vertex AI project and location variables.
pub(crate) const AZURE_API_VERSION: &str = "AZURE_API_VERSION";
/// LiteLLM's Vertex AI project variable.
pub(crate) const VERTEXAI_PROJECT: &str = "VERTEXAI_PROJECT";
/// LiteLLM's Vertex AI location variable.
pub(crate) const VERTEXAI_LOCATION: &str = "VERTEXAI_LOCATION";

/// The provider variables that were set when the config was read, so wildcard
/// deployments can build an endpoint per request without reading the environment
/// again.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvDefaults {
    vars: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for EnvDefaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the values are credentials.
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl EnvDefaults {
    /// Reads every variable of [`PROVIDER_ENV`] (and the Azure/Vertex ones) that is set.
    pub(crate) fn read(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let names = PROVIDER_ENV
            .iter()
            .flat_map(|p| p.key.iter().chain(p.base))
            .chain(&[AZURE_API_VERSION, VERTEXAI_PROJECT, VERTEXAI_LOCATION])
            .chain(super::bedrock::ALL_VARS)
            .chain(super::watsonx::ALL_VARS);
        let vars = names
            .filter_map(|name| var(name).filter(|v| !v.is_empty()).map(|v| (*name, v)))
            .collect();
        Self { vars }
    }

    /// The value of one variable read.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names
            .iter()
            .find_map(|n| self.vars.get(n).map(|v| (*n, v.clone())))
    }
}

/// A deployment's own connection settings (from `litellm_params`), before the
/// environment's defaults fill the gaps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// `api_base` (or `base_url`).
    pub api_base: Option<String>,
    /// `api_key`.
    pub api_key: Option<String>,
    /// `api_version`.
    pub api_version: Option<String>,
    /// `vertex_project` (or `vertex_ai_project`).
    pub vertex_project: Option<String>,
    /// `vertex_location` (or `vertex_ai_location`).
    pub vertex_location: Option<String>,
    /// `vertex_credentials`: a service account, read and checked.
    pub vertex_credentials: Option<provider_adapters::google::ServiceAccount>,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `stream_timeout`.
    pub stream_timeout: Option<Duration>,
    /// `first_token_timeout`.
    pub first_token_timeout: Option<Duration>,
    /// `drop_params` (the deployment's, else `litellm_settings`').
    pub drop_params: bool,
    /// The `aws_*` keys (Bedrock).
    pub aws: super::bedrock::AwsParams,
    /// `project_id`, `space_id`, `token` (watsonx.ai).
    pub watsonx: super::watsonx::WatsonxParams,
}

/// `provider/model`, with the provider inferred (LiteLLM's way) when not given.
pub fn qualify(model: &str) -> Result<String, String> {
    if let Some((prefix, _)) = model.split_once('/') {
        if PROVIDER_ENV.iter().any(|p| p.prefix == prefix) {
            return Ok(model.to_string());
        }
    }
    match infer_provider(model) {
        Some(provider) => Ok(format!("{provider}/{model}")),
        None if model.contains('/') => Provider::parse(model).map(|_| model.to_string()),
        None => Err(format!(
            "`{model}` has no provider prefix and is not a model family the provider can be \
             inferred from; write it as {}",
            prefix_hint(model)
        )),
    }
}

/// The endpoint for `model` (`provider/name`, or a name whose provider is inferred)
/// with `params`, the gaps filled from `env` as LiteLLM does. Errors say what is
/// missing and which variable would supply it.
pub fn endpoint(model: &str, params: &Params, env: &EnvDefaults) -> Result<Endpoint, String> {
    let mut qualified = qualify(model)?;
    // LiteLLM sends an un-prefixed `gemini-*` to Vertex AI; the gateway does so when
    // the deployment (or the environment, without an AI Studio key) names a project.
    if qualified.starts_with("gemini/")
        && !model.starts_with("gemini/")
        && prefers_vertex(params, env)
    {
        qualified = format!("vertex_ai/{model}");
    }
    let prefix = qualified.split_once('/').map_or("", |(p, _)| p);
    let mut endpoint = Endpoint::new(&qualified)?;
    let vars = PROVIDER_ENV.iter().find(|p| p.prefix == prefix);
    let from_env = |names: &[&'static str]| env.first(names);
    let base = params
        .api_base
        .clone()
        .or_else(|| vars.and_then(|v| from_env(v.base)).map(|(_, value)| value));
    match base {
        Some(base) => endpoint.api_base = Some(check_base(&base)?),
        // These have no public API: without a base their key would go to OpenAI's.
        None if NEEDS_BASE.contains(&prefix) => {
            let vars = vars.map_or(String::new(), |v| {
                v.base.iter().map(|n| format!(" or set {n}")).collect()
            });
            return Err(format!(
                "`{qualified}` needs `api_base` (the server's URL){vars}"
            ));
        }
        None => {}
    }
    endpoint.api_key = params
        .api_key
        .clone()
        .or_else(|| vars.and_then(|v| from_env(v.key)).map(|(_, value)| value))
        .filter(|k| !k.is_empty())
        .map(Secret::new);
    if let Some(v) = vars {
        // A provider's public API without a key fails on the first request; a custom
        // base (a proxy, a local server) may need none.
        let public = params.api_base.is_none() && !base_from_env(v, env);
        if v.needs_key
            && endpoint.api_key.is_none()
            && (public || endpoint.provider == Provider::Azure)
        {
            let names = v.key.join(" or ");
            return Err(format!(
                "`{qualified}` needs an API key: set `api_key` (e.g. `os.environ/{}`) or {names} in the environment",
                v.key.first().copied().unwrap_or("API_KEY")
            ));
        }
    }
    endpoint.api_version = params.api_version.clone().or_else(|| {
        let var = match endpoint.provider {
            Provider::Azure => AZURE_API_VERSION,
            Provider::Watsonx => super::watsonx::VERSION_VAR,
            _ => return None,
        };
        env.first(&[var]).map(|(_, v)| v)
    });
    if matches!(
        endpoint.provider,
        Provider::VertexAi | Provider::VertexAiAnthropic
    ) {
        let account = params.vertex_credentials.as_ref();
        endpoint.vertex_project = params
            .vertex_project
            .clone()
            .or_else(|| env.first(&[VERTEXAI_PROJECT]).map(|(_, v)| v))
            .or_else(|| account.and_then(|a| a.project_id.clone()));
        endpoint.vertex_credentials = params.vertex_credentials.clone();
        endpoint.vertex_location = params
            .vertex_location
            .clone()
            .or_else(|| env.first(&[VERTEXAI_LOCATION]).map(|(_, v)| v));
    }
    if matches!(
        endpoint.provider,
        Provider::Bedrock | Provider::SagemakerChat
    ) {
        endpoint.aws = Some(super::bedrock::auth(params, env));
    }
    if endpoint.provider == Provider::Watsonx {
        endpoint.watsonx = Some(super::watsonx::auth(params, env));
    }
    endpoint.drop_params = params.drop_params;
    if let Some(t) = params.timeout {
        endpoint.timeout = t;
    }
    if let Some(t) = params.stream_timeout {
        endpoint.stream_timeout = t;
    }
    endpoint.first_token_timeout = params.first_token_timeout;
    endpoint.validate().map_err(|e| match endpoint.provider {
        Provider::Azure => format!("{e}, or set AZURE_API_BASE"),
        Provider::VertexAi | Provider::VertexAiAnthropic => {
            format!("{e} (or `vertex_ai_project`), or set {VERTEXAI_PROJECT}")
        }
        Provider::Watsonx => format!(
            "{e}; or set WATSONX_URL, WATSONX_APIKEY (or WATSONX_TOKEN), WATSONX_PROJECT_ID (or WATSONX_DEPLOYMENT_SPACE_ID)"
        ),
        _ => e,
    })?;
    Ok(endpoint)
}

fn prefers_vertex(params: &Params, env: &EnvDefaults) -> bool {
    params.vertex_project.is_some()
        || params.vertex_location.is_some()
        || params.vertex_credentials.is_some()
        || (env.first(&[VERTEXAI_PROJECT]).is_some()
            && env.first(&["GEMINI_API_KEY", "GOOGLE_API_KEY"]).is_none())
}

fn base_from_env(vars: &ProviderEnv, env: &EnvDefaults) -> bool {
    env.first(vars.base).is_some()
}

/// An `api_base` the gateway can send to: `http(s)://host[:port][/path]`, nothing
/// after the path. A query string would be silently dropped or mangled when the
/// operation's path is appended, so it is refused (Azure's `api-version` has its own
/// key, `api_version`).
pub(crate) fn check_base(base: &str) -> Result<String, String> {
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!(
            "api_base `{base}` must start with http:// or https://"
        ));
    }
    if base.contains('?') || base.contains('#') {
        return Err(format!(
            "api_base `{base}` has a query string or fragment; give only scheme, host, port and \
             path (for Azure, set `api_version` instead of `?api-version=`)"
        ));
    }
    match base.parse::<http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(base.to_string()),
        _ => Err(format!("api_base `{base}` is not a valid URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_inferred_as_litellm_does() {
        for (model, provider) in [
            ("gpt-4o", "openai"),
            ("gpt-4.1-mini", "openai"),
            ("o3-mini", "openai"),
            ("o4-mini", "openai"),
            ("o1", "openai"),
            ("text-embedding-3-small", "openai"),
            ("claude-3-7-sonnet-latest", "anthropic"),
            ("claude-sonnet-4-20250514", "anthropic"),
            ("gemini-1.5-pro", "gemini"),
            ("gemini-2.0-flash", "gemini"),
            ("mistral-large-latest", "mistral"),
            ("deepseek-chat", "deepseek"),
            ("grok-3", "xai"),
        ] {
            assert_eq!(infer_provider(model), Some(provider), "{model}");
        }
        assert_eq!(infer_provider("llama3.2"), None);
    }

    #[test]
    fn hints_never_suggest_openai_for_claude_or_gemini() {
        for model in [
            "us.anthropic.claude-3-5-sonnet",
            "publishers/google/gemini-pro",
            "my-gemma",
        ] {
            let hint = prefix_hint(model);
            assert!(!hint.contains("openai/"), "{model}: {hint}");
        }
        assert!(prefix_hint("us.anthropic.claude-3").contains("anthropic/"));
    }

    #[test]
    fn an_api_base_with_a_query_is_refused() {
        assert!(check_base("https://h.example/v1?key=1").is_err());
        assert!(check_base("https://h.example/v1#x").is_err());
        assert!(check_base("ftp://h").is_err());
        assert!(check_base("http://").is_err());
        assert_eq!(
            check_base("http://127.0.0.1:8/v1").as_deref(),
            Ok("http://127.0.0.1:8/v1")
        );
    }
}
