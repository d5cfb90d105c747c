//! watsonx.ai deployments' settings, as LiteLLM takes them: `project_id`, `space_id`
//! and `token` in `litellm_params` (`os.environ/` allowed), else the `WATSONX_*`
//! variables (`api_base` is WATSONX_URL, `api_key` WATSONX_APIKEY, both read with
//! the other providers' in `provider_env`).

use provider_adapters::ibm::WatsonxAuth;
use provider_adapters::Secret;

use super::litellm::{EnvDefaults, Params};

/// A deployment's watsonx.ai `litellm_params`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatsonxParams {
    /// `project_id`.
    pub project_id: Option<String>,
    /// `space_id`: a deployment space, instead of a project.
    pub space_id: Option<String>,
    /// `token`: a bearer token used as it is, instead of an API key.
    pub token: Option<String>,
}

/// The project variables, first set wins.
const PROJECT_VARS: &[&str] = &["WATSONX_PROJECT_ID", "WX_PROJECT_ID"];
/// The deployment space variables.
const SPACE_VARS: &[&str] = &["WATSONX_DEPLOYMENT_SPACE_ID", "WATSONX_SPACE_ID"];
/// The static token variables.
const TOKEN_VARS: &[&str] = &["WATSONX_TOKEN"];
/// The IAM token endpoint's variable (tests, private IAM endpoints).
const IAM_URL_VAR: &str = "WATSONX_IAM_URL";
/// The API `version` variable.
pub(crate) const VERSION_VAR: &str = "WATSONX_API_VERSION";
/// Every variable read for watsonx.ai besides its key and URL.
pub(crate) const ALL_VARS: &[&str] = &[
    "WATSONX_PROJECT_ID",
    "WX_PROJECT_ID",
    "WATSONX_DEPLOYMENT_SPACE_ID",
    "WATSONX_SPACE_ID",
    "WATSONX_TOKEN",
    IAM_URL_VAR,
    VERSION_VAR,
];

/// The watsonx.ai settings of a deployment: its own keys, else the environment's.
/// A deployment's own `api_key` is never overridden by WATSONX_TOKEN from the
/// environment: the variable fills in only for a deployment that names no credential.
pub(crate) fn auth(params: &Params, env: &EnvDefaults) -> WatsonxAuth {
    let p = &params.watsonx;
    let first = |names: &[&str]| names.iter().find_map(|n| env.get(n));
    let nonempty = |v: Option<String>| v.filter(|v| !v.is_empty());
    WatsonxAuth {
        project_id: nonempty(p.project_id.clone().or_else(|| first(PROJECT_VARS))),
        space_id: nonempty(p.space_id.clone().or_else(|| first(SPACE_VARS))),
        token: nonempty(p.token.clone().or_else(|| {
            params
                .api_key
                .is_none()
                .then(|| first(TOKEN_VARS))
                .flatten()
        }))
        .map(Secret::new),
        iam_url: env.get(IAM_URL_VAR),
    }
}
