//! Where and how to reach one deployment: provider, upstream model, base URL,
//! credential, timeouts.

use std::fmt;
use std::time::Duration;

use cache_layer::client::{ClientKey, Secret};

use crate::aws::AwsAuth;
use crate::google::ServiceAccount;
use crate::ibm::WatsonxAuth;
use crate::providers::{compatible, Operation};
use crate::ProviderError;

/// Default total time for one request (for a stream: until its end).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default longest gap between two stream chunks.
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(60);
/// Default largest non-streaming upstream body accepted.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// The provider APIs spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// OpenAI, or any OpenAI-compatible server (vLLM, Groq, Together, LM Studio…).
    OpenAi,
    /// Azure OpenAI: deployment URLs, `api-key` header, `api-version` query.
    Azure,
    /// Anthropic Messages API.
    Anthropic,
    /// Google AI Studio (Gemini API).
    Gemini,
    /// Gemini on Vertex AI.
    VertexAi,
    /// Ollama's native API.
    Ollama,
    /// Amazon Bedrock's Converse API, SigV4-signed.
    Bedrock,
    /// Claude on Vertex AI (`vertex_ai/claude-*`): Anthropic's format, Vertex URLs.
    VertexAiAnthropic,
    /// IBM watsonx.ai's text chat API, with an IBM Cloud IAM token.
    Watsonx,
    /// An Amazon SageMaker endpoint serving the Messages API, SigV4-signed.
    SagemakerChat,
}

impl Provider {
    /// Splits `provider/model` (LiteLLM naming). Returns the provider, the upstream
    /// model, and the default base URL the prefix implies, if any.
    pub fn parse(model: &str) -> Result<(Provider, &str, Option<&'static str>), String> {
        let (prefix, name) = model
            .split_once('/')
            .ok_or_else(|| format!("`{model}` has no provider prefix (e.g. `openai/{model}`)"))?;
        if name.is_empty() {
            return Err(format!("`{model}` names no model after the provider"));
        }
        let provider = match prefix {
            "openai" | "text-completion-openai" => Provider::OpenAi,
            "azure" => Provider::Azure,
            "anthropic" => Provider::Anthropic,
            "gemini" => Provider::Gemini,
            "vertex_ai" if name.starts_with("claude") => Provider::VertexAiAnthropic,
            "vertex_ai" => Provider::VertexAi,
            "ollama" | "ollama_chat" => Provider::Ollama,
            "bedrock" => return crate::providers::bedrock::parse_model(model, name),
            "watsonx" => return crate::providers::watsonx::parse_model(model, name),
            "sagemaker_chat" => return crate::providers::sagemaker::parse_model(model, name),
            "sagemaker" => return Err(crate::providers::sagemaker::parse_legacy(model, name)),
            other => match compatible::find(other) {
                Some(c) => {
                    return Ok((Provider::OpenAi, name, Some(c.base).filter(|b| !b.is_empty())))
                }
                None => {
                    return Err(format!(
                        "unknown provider `{other}` in `{model}`; supported: openai, azure, anthropic, \
                         gemini, vertex_ai, ollama, bedrock, watsonx, sagemaker_chat, and \
                         OpenAI-compatible {}; any other \
                         OpenAI-compatible server is `openai_compatible/MODEL` with `api_base`",
                        compatible::prefixes()
                    ))
                }
            },
        };
        Ok((provider, name, None))
    }

    /// The prefix used in model names.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Azure => "azure",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::VertexAi => "vertex_ai",
            Provider::Ollama => "ollama",
            Provider::Bedrock => "bedrock",
            Provider::VertexAiAnthropic => "vertex_ai_anthropic",
            Provider::Watsonx => "watsonx",
            Provider::SagemakerChat => "sagemaker_chat",
        }
    }
}

/// One upstream deployment. Build with [`Endpoint::new`] and the `with_*` methods;
/// the credential never appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The provider API.
    pub provider: Provider,
    /// The upstream model (or Azure deployment) name.
    pub model: String,
    /// Base URL; `None` for the provider's public API.
    pub api_base: Option<String>,
    /// The credential sent upstream (API key; a bearer token for Vertex AI).
    pub api_key: Option<Secret>,
    /// Azure `api-version`, or Anthropic `anthropic-version`.
    pub api_version: Option<String>,
    /// Vertex AI project.
    pub vertex_project: Option<String>,
    /// Vertex AI location (default `us-central1`).
    pub vertex_location: Option<String>,
    /// AWS region and keys (Bedrock, SageMaker).
    pub aws: Option<AwsAuth>,
    /// A Google service account (Vertex AI's `vertex_credentials`): its tokens are
    /// fetched and renewed per deployment, instead of a static `api_key`.
    pub vertex_credentials: Option<ServiceAccount>,
    /// watsonx.ai's project or space, static token and IAM endpoint (`api_key` is
    /// the IBM Cloud API key exchanged for tokens).
    pub watsonx: Option<WatsonxAuth>,
    /// Total time for a request, a stream included. Default [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Time until the first stream chunk; default: `timeout`.
    pub first_token_timeout: Option<Duration>,
    /// Longest gap between stream chunks. Default [`DEFAULT_STREAM_TIMEOUT`].
    pub stream_timeout: Duration,
    /// Largest non-streaming upstream body. Default [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub max_response_bytes: usize,
    /// Drop parameters the provider cannot honour (logged, counted) instead of
    /// answering 400 `unsupported_params`. Default `false`, as in LiteLLM.
    pub drop_params: bool,
}

impl Endpoint {
    /// An endpoint for `provider/model`, e.g. `anthropic/claude-3-5-haiku-latest`.
    pub fn new(model: &str) -> Result<Self, String> {
        let (provider, name, base) = Provider::parse(model)?;
        let prefix = model.split_once('/').map_or("", |(p, _)| p);
        Ok(Self {
            provider,
            model: compatible::model(prefix, name),
            api_base: base.map(str::to_string),
            api_key: None,
            api_version: None,
            vertex_project: None,
            vertex_location: None,
            aws: None,
            vertex_credentials: None,
            watsonx: None,
            timeout: DEFAULT_TIMEOUT,
            first_token_timeout: None,
            stream_timeout: DEFAULT_STREAM_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            drop_params: false,
        })
    }

    /// With this base URL.
    pub fn with_api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = Some(base.into());
        self
    }

    /// With this credential.
    pub fn with_api_key(mut self, key: Secret) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Checks what the provider requires (Azure: a base URL; Vertex AI: a project).
    pub fn validate(&self) -> Result<(), String> {
        match self.provider {
            Provider::Azure if self.api_base.is_none() => {
                Err("azure models need `api_base` (https://NAME.openai.azure.com)".into())
            }
            Provider::VertexAi | Provider::VertexAiAnthropic if self.vertex_project.is_none() => {
                Err("vertex_ai models need `vertex_project`".into())
            }
            Provider::Bedrock | Provider::SagemakerChat => match &self.aws {
                Some(aws) => aws.validate(),
                None => AwsAuth::default().validate(),
            },
            Provider::Watsonx => self.validate_watsonx(),
            _ => Ok(()),
        }
    }

    fn validate_watsonx(&self) -> Result<(), String> {
        let w = self.watsonx.as_ref();
        if self.api_base.is_none() {
            return Err(
                "watsonx models need `api_base`: the instance's URL (e.g. https://us-south.ml.cloud.ibm.com)"
                    .into(),
            );
        }
        if self.api_key.is_none() && w.and_then(|w| w.token.as_ref()).is_none() {
            return Err("watsonx models need `api_key` (an IBM Cloud API key) or `token`".into());
        }
        let scoped = w.is_some_and(|w| w.project_id.is_some() || w.space_id.is_some());
        if !scoped && !self.model.starts_with("deployment/") {
            return Err("watsonx models need `project_id` or `space_id`".into());
        }
        Ok(())
    }

    /// The key for a client cache: everything that changes how requests are sent.
    pub fn client_key(&self) -> ClientKey {
        let mut key = ClientKey::new(self.base().to_string())
            .with_timeout(self.timeout)
            .with_stream_timeout(self.stream_timeout)
            .with_setting("provider", self.provider.as_str())
            .with_setting("model", self.model.clone());
        if let Some(secret) = &self.api_key {
            key = key.with_credential(secret.clone());
        }
        for (name, value) in [
            ("api_version", &self.api_version),
            ("vertex_project", &self.vertex_project),
            ("vertex_location", &self.vertex_location),
        ] {
            if let Some(value) = value {
                key = key.with_setting(name, value.clone());
            }
        }
        if let Some(aws) = &self.aws {
            key = aws_key(key, aws);
        }
        if let Some(sa) = &self.vertex_credentials {
            key = key.with_setting("vertex_service_account", sa.client_email.clone());
            if let Some(id) = &sa.private_key_id {
                key = key.with_setting("vertex_key_id", id.clone());
            }
        }
        if let Some(w) = &self.watsonx {
            key = watsonx_key(key, w, self.api_key.as_ref());
        }
        if let Some(t) = self.first_token_timeout {
            key = key.with_setting("first_token_timeout_ms", t.as_millis().to_string());
        }
        if self.drop_params {
            key = key.with_setting("drop_params", "true");
        }
        key
    }

    /// The base URL without a trailing slash.
    pub(crate) fn base(&self) -> String {
        let base = match &self.api_base {
            Some(base) => base.clone(),
            None => crate::providers::adapter(self.provider).default_base(self),
        };
        base.trim_end_matches('/').to_string()
    }

    /// The URL of an operation.
    pub(crate) fn url(&self, op: Operation) -> Result<String, ProviderError> {
        crate::providers::adapter(self.provider).url(self, &self.base(), op)
    }

    /// With `drop_params` (LiteLLM's rule: drop what the provider cannot honour
    /// instead of refusing the request).
    pub fn with_drop_params(mut self, drop: bool) -> Self {
        self.drop_params = drop;
        self
    }
}

/// `key` with every AWS setting: two deployments with other keys or another role get
/// clients (and credential caches) of their own.
fn aws_key(mut key: ClientKey, aws: &AwsAuth) -> ClientKey {
    key = key.with_setting("aws_region", aws.region.clone());
    for (name, value) in [
        ("aws_access_key_id", &aws.access_key_id),
        ("aws_role", &aws.role_arn),
        ("aws_session_name", &aws.session_name),
        ("aws_sts_endpoint", &aws.sts_endpoint),
    ] {
        if let Some(value) = value {
            key = key.with_setting(name, value.clone());
        }
    }
    // The secret and the token are the key's one credential (compared, never shown).
    let secret = aws.secret_access_key.as_ref().map_or("", |s| s.expose());
    let token = aws.session_token.as_ref().map_or("", |s| s.expose());
    key.with_credential(Secret::new(format!("{secret}\n{token}")))
}

/// `key` with every watsonx.ai setting; the API key and the static token together are
/// the key's one credential (compared, never shown).
fn watsonx_key(mut key: ClientKey, w: &WatsonxAuth, api_key: Option<&Secret>) -> ClientKey {
    for (name, value) in [
        ("watsonx_project_id", &w.project_id),
        ("watsonx_space_id", &w.space_id),
        ("watsonx_iam_url", &w.iam_url),
    ] {
        if let Some(value) = value {
            key = key.with_setting(name, value.clone());
        }
    }
    if let Some(token) = &w.token {
        let api_key = api_key.map_or("", |k| k.expose());
        key = key.with_credential(Secret::new(format!("{api_key}\n{}", token.expose())));
    }
    key
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("api_base", &self.client_key().label())
            .field("api_key", &self.api_key)
            .field("timeout", &self.timeout)
            .field("stream_timeout", &self.stream_timeout)
            .field("drop_params", &self.drop_params)
            .finish_non_exhaustive()
    }
}
