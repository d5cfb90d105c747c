//! IBM Cloud IAM (watsonx.ai's authentication): an API key exchanged for a bearer
//! token at the IAM token endpoint (`grant_type=urn:ibm:params:oauth:grant-type:apikey`),
//! the token cached per key (deployments sharing a key share it), renewed
//! [`IAM_REFRESH_AHEAD`] of its expiry, one exchange in flight at a time, each bounded
//! by [`IAM_TIMEOUT`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, PoisonError, Weak};
use std::time::Duration;

use serde::Deserialize;

use crate::renew::{self, Renewing};
use crate::{HttpClient, ProviderError, Secret};

/// IBM Cloud's IAM token endpoint.
pub const IAM_URL: &str = "https://iam.cloud.ibm.com/identity/token";
/// A token is renewed this long before it expires (IAM tokens last an hour).
pub const IAM_REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// The longest one token exchange may take.
pub const IAM_TIMEOUT: Duration = Duration::from_secs(10);
/// The watsonx.ai API `version` sent when the deployment names none (LiteLLM's).
pub const DEFAULT_WATSONX_VERSION: &str = "2024-03-13";
/// The token endpoint, as errors name it.
const WHAT: &str = "the IAM token endpoint";
/// Validity assumed when IAM gives no `expires_in`.
const DEFAULT_VALIDITY: Duration = Duration::from_secs(3600);

/// How a watsonx.ai deployment is addressed and authenticated, besides its
/// `api_base` and `api_key` (the IBM Cloud API key). `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct WatsonxAuth {
    /// `project_id` (WATSONX_PROJECT_ID): the project requests run in.
    pub project_id: Option<String>,
    /// `space_id` (WATSONX_DEPLOYMENT_SPACE_ID): a deployment space, instead of a project.
    pub space_id: Option<String>,
    /// `token` (WATSONX_TOKEN): a bearer token used as it is, instead of an API key.
    pub token: Option<Secret>,
    /// The IAM token endpoint (WATSONX_IAM_URL); default [`IAM_URL`].
    pub iam_url: Option<String>,
}

impl fmt::Debug for WatsonxAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatsonxAuth")
            .field("project_id", &self.project_id)
            .field("space_id", &self.space_id)
            .field("token", &self.token.is_some())
            .field("iam_url", &self.iam_url)
            .finish()
    }
}

impl WatsonxAuth {
    /// The IAM token endpoint.
    pub fn iam_url(&self) -> &str {
        self.iam_url.as_deref().unwrap_or(IAM_URL)
    }
}

/// IAM's error shape: `{"errorCode": "BXNIM0415E", "errorMessage": "…"}`.
#[derive(Deserialize)]
struct TokenError {
    #[serde(default, rename = "errorCode")]
    code: Option<String>,
    #[serde(default, rename = "errorMessage")]
    message: Option<String>,
}

/// The token caches of the live deployments, by IAM URL and API key: deployments that
/// share a key share one token and one exchange. Entries are weak (a cache lives as
/// long as a client holding it) and dead ones are swept at each insert, so the map
/// holds no more than the live deployments' keys.
type Shared = HashMap<(String, Secret), Weak<IamTokenCache>>;
static SHARED: LazyLock<std::sync::Mutex<Shared>> = LazyLock::new(Default::default);

/// One API key's IAM token.
#[derive(Debug)]
pub(crate) struct IamTokenCache {
    api_key: Secret,
    url: String,
    token: Renewing<Secret>,
}

impl IamTokenCache {
    /// The cache of `api_key` at `url`: the one another live deployment already
    /// holds, else a new one.
    pub(crate) fn shared(api_key: Secret, url: &str) -> Arc<Self> {
        // A std lock, never held across an await: only the map is guarded here.
        let mut map = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (url.to_string(), api_key);
        if let Some(live) = map.get(&key).and_then(Weak::upgrade) {
            return live;
        }
        map.retain(|_, cache| cache.strong_count() > 0);
        let cache = Arc::new(Self {
            api_key: key.1.clone(),
            url: key.0.clone(),
            token: Renewing::new(IAM_REFRESH_AHEAD, IAM_TIMEOUT),
        });
        map.insert(key, Arc::downgrade(&cache));
        cache
    }

    /// A bearer token valid now, for the deployment `label`.
    pub(crate) async fn get(
        &self,
        http: &HttpClient,
        label: &str,
    ) -> Result<Secret, ProviderError> {
        self.token
            .get(&format!("{label}: {WHAT}"), || self.fetch(http, label))
            .await
    }

    async fn fetch(
        &self,
        http: &HttpClient,
        label: &str,
    ) -> Result<(Secret, Duration), ProviderError> {
        let key = form_encode(self.api_key.expose());
        let body =
            format!("grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey={key}");
        let uri: http::Uri = self.url.parse().map_err(|_| {
            ProviderError::bad_gateway(format!("{label}: the IAM URL `{}` is not a URL", self.url))
        })?;
        let (status, bytes) = renew::post_form(http, uri, body, label, WHAT).await?;
        if !status.is_success() {
            let why = serde_json::from_slice::<TokenError>(&bytes).ok();
            let code = why
                .as_ref()
                .and_then(|w| w.code.clone())
                .unwrap_or_else(|| status.to_string());
            let text = why.and_then(|w| w.message).unwrap_or_default();
            return Err(ProviderError::new(
                renew::refused_status(status),
                format!("{label}: IBM Cloud IAM refused the API key ({code}): {text}"),
            )
            .with_code("invalid_credentials"));
        }
        renew::token_in(&bytes, DEFAULT_VALIDITY, label, WHAT)
    }
}

/// `application/x-www-form-urlencoded` escaping of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_form_encoded() {
        assert_eq!(form_encode("a+b/c=d e"), "a%2Bb%2Fc%3Dd%20e");
        assert_eq!(form_encode("Ab0-_.~"), "Ab0-_.~");
    }

    #[test]
    fn debug_does_not_show_the_token() {
        let auth = WatsonxAuth {
            token: Some(Secret::new("tok-secret".to_string())),
            ..WatsonxAuth::default()
        };
        assert!(!format!("{auth:?}").contains("tok-secret"));
    }
}
