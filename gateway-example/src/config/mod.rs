//! The YAML config: LiteLLM's `config.yaml` as it is (`model_list`,
//! `litellm_settings`, `router_settings`, `general_settings`, `environment_variables`),
//! plus the gateway's own `server`, `pool`, `limits`, `cache` and `callbacks` sections.
//!
//! Every problem is reported at once, each with file, key path, line and what is
//! wrong; every LiteLLM setting the gateway does not act on is listed as ignored,
//! grouped by section. Defaults are the layer crates' `DEFAULT_*` constants.
//!
//! ```
//! use gateway_example::config::Config;
//!
//! let yaml = "model_list:\n  - model_name: local\n    litellm_params: {model: ollama/llama3.2}\n\
//!             litellm_settings: {success_callback: [datadog]}\n";
//! let config = Config::parse(yaml, "config.yaml").unwrap();
//! assert_eq!(config.deployments[0].endpoint.model, "llama3.2");
//! assert_eq!(config.ignored_lines(), ["litellm_settings: success_callback"]);
//! ```

mod bedrock;
mod callbacks;
mod error;
mod litellm;
mod litellm_sections;
mod locate;
mod models;
mod params;
mod provider_env;
mod raw;
mod reader;
mod router;
mod sections;
mod settings;
mod vertex;
mod watsonx;
mod wildcard;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use provider_adapters::Endpoint;

pub use self::bedrock::AwsParams;
pub use self::callbacks::{
    CallbacksConfig, Only, Sink, SinkKind, DEFAULT_CALLBACK_BATCH, DEFAULT_CALLBACK_FLUSH_INTERVAL,
    DEFAULT_CALLBACK_TIMEOUT, DEFAULT_LANGFUSE_HOST, DEFAULT_OTLP_TRACES_ENDPOINT,
    DEFAULT_SERVICE_NAME,
};
pub use self::error::{ConfigError, ConfigErrors, Ignored};
pub use self::litellm::{endpoint, infer_provider, prefix_hint, qualify, EnvDefaults, Params};
pub use self::reader::{Env, MAX_COUNT, MAX_REPORTED, MAX_SECONDS};
pub use self::router::{
    Fallback, RedisCache, RouterConfig, DEFAULT_ALLOWED_FAILS, DEFAULT_COOLDOWN_TIME,
    DEFAULT_MAX_FALLBACKS, DEFAULT_RETRY_AFTER, MAX_RETRY_WAIT,
};
pub use self::settings::{
    CacheConfig, LimitsConfig, PoolConfig, ResponsesConfig, ServerConfig, Strategy,
};
pub use self::watsonx::WatsonxParams;
pub(crate) use self::wildcard::{captures, specificity};

/// The demo config served when no `--config` is given.
pub const DEMO: &str = include_str!("../demo.yaml");

/// Default `server.listen`.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 4000));
/// Default `server.max_body_bytes`: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Largest `server.max_body_bytes` / `cache.responses.max_item_bytes`: 1 GiB.
pub const MAX_BODY_BYTES: u64 = 1 << 30;
/// Default `server.request_timeout_s`: the adapters' total timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = provider_adapters::DEFAULT_TIMEOUT;
/// Default `server.header_read_timeout_s`.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `server.shutdown_timeout_s`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `server.max_client_connections`.
pub const DEFAULT_MAX_CLIENT_CONNECTIONS: usize = 10_000;
/// Default `server.body_read_timeout_s`.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `server.shutdown_delay_s`: none.
pub const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::ZERO;
/// Most worker threads `server.workers` may ask for.
pub const MAX_WORKERS: usize = 1024;
/// Default retries of a deployment (`max_retries`, `num_retries`).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Most retries a deployment may ask for.
pub const MAX_RETRIES: u8 = 10;
/// Largest config file read: a bigger one (or `/dev/zero`) is refused, not read on.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// `model_info`: what the gateway shows of it (`GET /v1/models/{id}`); other keys
/// are listed as ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInfo {
    /// `id`.
    pub id: Option<String>,
    /// `mode` (`chat`, `embedding`, `completion`, `responses`…).
    pub mode: Option<String>,
    /// `base_model`.
    pub base_model: Option<String>,
    /// `max_tokens`.
    pub max_tokens: Option<u64>,
    /// `max_input_tokens`.
    pub max_input_tokens: Option<u64>,
    /// `max_output_tokens`.
    pub max_output_tokens: Option<u64>,
    /// `input_cost_per_token`.
    pub input_cost_per_token: Option<f64>,
    /// `output_cost_per_token`.
    pub output_cost_per_token: Option<f64>,
}

/// One `model_list` entry with a fixed upstream.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The name clients ask for.
    pub model_name: String,
    /// Where it goes; `mock/…` models go to the built-in mock provider.
    pub endpoint: Endpoint,
    /// True for `mock/…` models.
    pub mock: bool,
    /// A fixed answer for the mock provider (`mock_response`).
    pub mock_response: Option<String>,
    /// Retries on connect errors, 429 and 5xx. Default [`DEFAULT_MAX_RETRIES`].
    pub max_retries: u32,
    /// `model_info`.
    pub info: ModelInfo,
    /// `rpm`, `tpm`, `weight`, `order`, `max_parallel_requests`.
    pub routing: DeploymentRouting,
}

/// How the router treats one deployment (`litellm_params`, or the entry's own
/// `rpm`/`tpm`, where LiteLLM also reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentRouting {
    /// Most requests a minute (`rpm`); at it, the deployment is skipped.
    pub rpm: Option<u64>,
    /// Most tokens a minute (`tpm`), reserved from `max_tokens` or an estimate.
    pub tpm: Option<u64>,
    /// Share of the traffic against the group's other deployments (`weight`, default 1).
    pub weight: u32,
    /// Tried only when every deployment of a lower `order` is unavailable (default 0).
    pub order: u32,
    /// Most requests in flight (`max_parallel_requests`); at it, skipped.
    pub max_parallel_requests: Option<usize>,
}

impl Default for DeploymentRouting {
    fn default() -> Self {
        Self {
            rpm: None,
            tpm: None,
            weight: 1,
            order: 0,
            max_parallel_requests: None,
        }
    }
}

/// One `model_list` entry whose `model_name` has a `*` (LiteLLM's wildcard routing):
/// a requested name that matches gets an upstream built for it.
#[derive(Debug, Clone)]
pub struct WildcardRoute {
    /// `model_name`, e.g. `*`, `openai/*`, `claude-*`.
    pub pattern: String,
    /// `litellm_params.model`, e.g. `*`, `openai/*`: each `*` takes what the
    /// pattern's matched, in order.
    pub model: String,
    /// The entry's connection settings.
    pub params: Params,
    /// The provider variables set when the config was read.
    pub env: EnvDefaults,
    /// Retries.
    pub max_retries: u32,
    /// `model_info`.
    pub info: ModelInfo,
}

/// `router_settings.model_group_alias`: another name for a `model_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelAlias {
    /// The name clients may use.
    pub alias: String,
    /// The `model_name` it stands for.
    pub model: String,
    /// Left out of `GET /v1/models` (still served).
    pub hidden: bool,
}

/// The whole config.
#[derive(Debug, Clone)]
pub struct Config {
    /// `server`.
    pub server: ServerConfig,
    /// `pool`.
    pub pool: PoolConfig,
    /// `limits`.
    pub limits: LimitsConfig,
    /// `cache`.
    pub cache: CacheConfig,
    /// The callbacks `litellm_settings` names, with the `callbacks` section's settings.
    pub callbacks: CallbacksConfig,
    /// `model_list` entries with a fixed upstream.
    pub deployments: Vec<Deployment>,
    /// `model_list` entries with a `*` in `model_name`.
    pub wildcards: Vec<WildcardRoute>,
    /// `router_settings.model_group_alias`.
    pub aliases: Vec<ModelAlias>,
    /// `router_settings.routing_strategy`.
    pub strategy: Strategy,
    /// Fallbacks, cooldowns, retry waits, Redis (`router_settings`).
    pub router: RouterConfig,
    /// LiteLLM settings accepted and not acted on, to list at start.
    pub ignored: Ignored,
    /// Other things to say at start (a setting replaced by the gateway's own).
    pub warnings: Vec<String>,
}

impl Config {
    /// Parses and validates a config, reading `os.environ/…` and the providers'
    /// variables from the process environment. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigErrors> {
        Self::parse_with_env(text, file, &|name| std::env::var(name).ok())
    }

    /// [`parse`](Self::parse) with another environment (tests).
    pub fn parse_with_env(text: &str, file: &str, env: Env<'_>) -> Result<Config, ConfigErrors> {
        let deserializer = serde_norway::Deserializer::from_str(text);
        let raw: raw::RawFile = match serde_path_to_error::deserialize(deserializer) {
            Ok(raw) => raw,
            Err(e) => {
                let key = e.path().to_string();
                let key = if key == "." { String::new() } else { key };
                let line = e.inner().location().map(|l| l.line());
                return Err(ConfigErrors(vec![ConfigError {
                    file: file.to_string(),
                    key,
                    line,
                    problem: e.inner().to_string(),
                }]));
            }
        };
        let mut ctx = reader::Ctx::new(file, text, env);
        litellm_sections::environment(&mut ctx, raw.environment_variables.as_ref());
        let litellm = litellm_sections::litellm(&mut ctx, &raw);
        let server = sections::server(&mut ctx, raw.server.as_ref(), litellm.master_key.clone());
        let pool = sections::pool(&mut ctx, raw.pool.as_ref());
        let limits = sections::limits(&mut ctx, raw.limits.as_ref());
        let cache = sections::cache(&mut ctx, raw.cache.as_ref());
        let callbacks = callbacks::callbacks(&mut ctx, raw.callbacks.as_ref(), &litellm.callbacks);
        for section in raw.other.keys() {
            ctx.ignored.add("(top level)", section);
        }
        let inherited = models::Inherited {
            max_retries: litellm.max_retries,
            timeout: litellm.timeout,
            drop_params: litellm.drop_params,
            env: EnvDefaults::read(&|name| ctx.var(name)),
        };
        let (deployments, wildcards) =
            models::model_list(&mut ctx, raw.model_list.as_ref(), &inherited);
        let served = |name: &str| {
            deployments.iter().any(|d| d.model_name == name)
                || litellm.aliases.iter().any(|a| a.alias == name)
                || wildcards
                    .iter()
                    .any(|w| captures(&w.pattern, name).is_some())
        };
        litellm.router.check_names(&mut ctx, &served);
        for alias in &litellm.aliases {
            if !deployments.iter().any(|d| d.model_name == alias.model) {
                ctx.error(
                    &format!("router_settings.model_group_alias.{}", alias.alias),
                    format!(
                        "names `{}`, which is no `model_name` of `model_list`",
                        alias.model
                    ),
                );
            }
        }
        if deployments.is_empty() && wildcards.is_empty() && ctx.errors.is_empty() {
            ctx.error(
                "model_list",
                "lists no models; the gateway would have nothing to serve",
            );
        }
        if !ctx.errors.is_empty() {
            ctx.errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            if ctx.unreported > 0 {
                ctx.errors.push(ConfigError {
                    file: file.to_string(),
                    key: String::new(),
                    line: None,
                    problem: format!(
                        "{} more problems not shown; fix these first",
                        ctx.unreported
                    ),
                });
            }
            return Err(ConfigErrors(ctx.errors));
        }
        Ok(Config {
            server,
            pool,
            limits,
            cache,
            callbacks,
            deployments,
            wildcards,
            aliases: litellm.aliases,
            strategy: litellm.strategy,
            router: litellm.router,
            ignored: ctx.ignored,
            warnings: ctx.warnings,
        })
    }

    /// Reads and parses a config file, at most [`MAX_CONFIG_BYTES`] of it.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigErrors> {
        let name = path.display().to_string();
        let text = read_capped(path).map_err(|problem| ConfigErrors::one(&name, problem))?;
        Self::parse(&text, &name)
    }

    /// One line per section of [`ignored`](Self::ignored):
    /// `litellm_settings: set_verbose, success_callback`.
    pub fn ignored_lines(&self) -> Vec<String> {
        self.ignored
            .0
            .iter()
            .map(|(section, keys)| {
                let keys: Vec<String> = keys
                    .iter()
                    .map(|(k, n)| {
                        if *n > 1 {
                            format!("{k} (×{n})")
                        } else {
                            k.clone()
                        }
                    })
                    .collect();
                format!("{section}: {}", keys.join(", "))
            })
            .collect()
    }

    /// The model names clients can ask for: each fixed name once, the aliases not
    /// hidden, then the patterns.
    pub fn served(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for d in &self.deployments {
            if !names.contains(&d.model_name.as_str()) {
                names.push(&d.model_name);
            }
        }
        for a in self.aliases.iter().filter(|a| !a.hidden) {
            if !names.contains(&a.alias.as_str()) {
                names.push(&a.alias);
            }
        }
        for w in &self.wildcards {
            if !names.contains(&w.pattern.as_str()) {
                names.push(&w.pattern);
            }
        }
        names
    }

    /// The one-line summary `--check-config` prints.
    pub fn summary(&self, file: &str) -> String {
        let fixed = self
            .deployments
            .iter()
            .map(|d| d.model_name.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        // One line, so at most a dozen names.
        let served = self.served();
        let mut names = served
            .iter()
            .take(12)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if served.len() > 12 {
            names.push_str(&format!(", … {} more", served.len() - 12));
        }
        format!(
            "{file}: ok: {} deployments of {fixed} models, {} wildcard routes (serving {names}); {} LiteLLM keys ignored; listen {}",
            self.deployments.len(),
            self.wildcards.len(),
            self.ignored.len(),
            self.server.listen,
        )
    }
}

/// The file's text, refusing one over [`MAX_CONFIG_BYTES`] without reading past it.
fn read_capped(path: &std::path::Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the config: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the config: {e}"))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "the config is larger than {MAX_CONFIG_BYTES} bytes; is this the right file?"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "the config is not UTF-8 text".to_string())
}

#[cfg(test)]
mod tests;
