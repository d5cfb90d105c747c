//! AWS request signing (SigV4, by the `aws-sigv4` crate) and credentials: static keys,
//! or an STS `AssumeRole` session cached per deployment and refreshed ahead of its
//! expiry, one refresh at a time.

mod credentials;
mod sign;
mod sts;

use cache_layer::client::Secret;

pub(crate) use self::credentials::CredentialCache;
pub use self::credentials::{Credentials, REFRESH_AHEAD, STS_TIMEOUT};
pub use self::sign::sign_request;

/// How a deployment authenticates to AWS (LiteLLM's `aws_*` `litellm_params`).
/// `Debug` never shows the secret key or the session token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsAuth {
    /// `aws_region_name`: the region of the service (and of STS, unless
    /// `sts_endpoint` names another).
    pub region: String,
    /// `aws_access_key_id`.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key`.
    pub secret_access_key: Option<Secret>,
    /// `aws_session_token`, for temporary keys.
    pub session_token: Option<Secret>,
    /// `aws_role_name`: a role ARN to assume with the keys above (STS `AssumeRole`).
    pub role_arn: Option<String>,
    /// `aws_session_name`: the role session's name (default
    /// [`DEFAULT_SESSION_NAME`]).
    pub session_name: Option<String>,
    /// `aws_sts_endpoint`: the STS URL (default `https://sts.REGION.amazonaws.com`).
    pub sts_endpoint: Option<String>,
}

/// The role session name used when `aws_session_name` is not set.
pub const DEFAULT_SESSION_NAME: &str = "llm-outbound";

impl AwsAuth {
    /// The long-lived keys (the ones a role is assumed with), if both halves are set.
    pub fn keys(&self) -> Option<Credentials> {
        Some(Credentials {
            access_key_id: self.access_key_id.clone()?,
            secret_access_key: self.secret_access_key.clone()?,
            session_token: self.session_token.clone(),
        })
    }

    /// What is missing for a request to be signed, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if self.region.is_empty() {
            return Err(
                "bedrock and sagemaker_chat models need `aws_region_name` (or AWS_REGION)".into(),
            );
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), Some(_)) => Ok(()),
            (None, None) => Err(
                "bedrock and sagemaker_chat models need AWS keys: `aws_access_key_id` and `aws_secret_access_key` \
                 (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                    .into(),
            ),
            (Some(_), None) => {
                Err("`aws_access_key_id` is set without `aws_secret_access_key`".into())
            }
            (None, Some(_)) => {
                Err("`aws_secret_access_key` is set without `aws_access_key_id`".into())
            }
        }
    }

    /// The STS URL for `AssumeRole`.
    pub(crate) fn sts_url(&self) -> String {
        match &self.sts_endpoint {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("https://sts.{}.amazonaws.com", self.region),
        }
    }
}
