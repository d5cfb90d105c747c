//! Bedrock deployments' AWS settings, as LiteLLM takes them: `aws_*` keys in
//! `litellm_params` (`os.environ/` allowed), else the standard `AWS_*` variables.

use provider_adapters::aws::AwsAuth;
use provider_adapters::Secret;

use super::litellm::{EnvDefaults, Params};

/// A deployment's `aws_*` `litellm_params`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsParams {
    /// `aws_access_key_id`.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key`.
    pub secret_access_key: Option<String>,
    /// `aws_session_token`.
    pub session_token: Option<String>,
    /// `aws_region_name`.
    pub region_name: Option<String>,
    /// `aws_role_name`: a role ARN to assume.
    pub role_name: Option<String>,
    /// `aws_session_name`.
    pub session_name: Option<String>,
    /// `aws_sts_endpoint`.
    pub sts_endpoint: Option<String>,
}

/// The region variables, first set wins (LiteLLM's, then the AWS SDKs').
pub(crate) const REGION_VARS: &[&str] = &["AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"];
/// The key variables the AWS SDKs read.
pub(crate) const KEY_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];
/// Every variable read for Bedrock.
pub(crate) const ALL_VARS: &[&str] = &[
    "AWS_REGION_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// The AWS settings of a Bedrock (or SageMaker) deployment. Keys come as a pair, from the deployment
/// or from the environment, never half from each; the session token goes with them.
pub(crate) fn auth(params: &Params, env: &EnvDefaults) -> AwsAuth {
    let p = &params.aws;
    let from_env = |name: &'static str| env.get(name);
    let (key, secret, token) = if p.access_key_id.is_some() || p.secret_access_key.is_some() {
        (
            p.access_key_id.clone(),
            p.secret_access_key.clone(),
            p.session_token.clone(),
        )
    } else {
        (
            from_env(KEY_VARS[0]),
            from_env(KEY_VARS[1]),
            p.session_token.clone().or_else(|| from_env(KEY_VARS[2])),
        )
    };
    AwsAuth {
        region: p
            .region_name
            .clone()
            .or_else(|| REGION_VARS.iter().find_map(|v| from_env(v)))
            .unwrap_or_default(),
        access_key_id: key.filter(|k| !k.is_empty()),
        secret_access_key: secret.filter(|k| !k.is_empty()).map(Secret::new),
        session_token: token.filter(|k| !k.is_empty()).map(Secret::new),
        role_arn: p.role_name.clone(),
        session_name: p.session_name.clone(),
        sts_endpoint: p.sts_endpoint.clone(),
    }
}
