//! The YAML config: LiteLLM's `model_list` as-is, plus the gateway's own `server`,
//! `pool`, `limits` and `cache` sections. Every error names the file, the key and the
//! problem.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use provider_adapters::{Endpoint, Provider, Secret};
use serde::Deserialize;
use serde_norway::Value;

/// The demo config served when no `--config` is given.
pub const DEMO: &str = include_str!("demo.yaml");

/// A config that cannot be used: where, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<demo>`).
    pub file: String,
    /// The key, as a path (`model_list[0].litellm_params.api_key`).
    pub key: String,
    /// The problem.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}: `{}`: {}", self.file, self.key, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The `server` section.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:4000`.
    pub listen: SocketAddr,
    /// Key clients must send (`Authorization: Bearer` or `x-api-key`); none: open.
    pub master_key: Option<Secret>,
    /// Largest request body. Default 10 MiB.
    pub max_body_bytes: usize,
    /// Longest time until response headers. Default 600 s.
    pub request_timeout: Duration,
    /// Longest time for a client to send request headers (slowloris). Default 10 s.
    pub header_read_timeout: Duration,
    /// Longest drain on shutdown. Default 30 s.
    pub shutdown_timeout: Duration,
    /// Most client connections at once; more are refused. Default 10000.
    pub max_client_connections: usize,
    /// Worker threads, each with its own event loop, accept loop and share of the
    /// upstream pool (see `pool_layer::Builder::shards`). Default: one per CPU.
    pub workers: usize,
}

/// Most worker threads `server.workers` may ask for.
pub const MAX_WORKERS: usize = 1024;

/// The `pool` section (see `pool-layer`).
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Default 300.
    pub max_connections: usize,
    /// Default 50.
    pub max_connections_per_host: usize,
    /// Idle keep-alive. Default 120 s.
    pub keepalive: Duration,
    /// Default 300 s.
    pub dns_ttl: Duration,
    /// Default 5 s.
    pub connect_timeout: Duration,
}

/// The `limits` section (see `limits-layer`).
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Default 1000.
    pub max_in_flight: usize,
    /// Default 2000.
    pub max_queued: usize,
    /// Default 30 s.
    pub queue_timeout: Duration,
    /// Default 100.
    pub max_callbacks: usize,
    /// Default 1000.
    pub callback_queue: usize,
}

/// `cache.responses`.
#[derive(Debug, Clone)]
pub struct ResponsesConfig {
    /// Default off.
    pub enabled: bool,
    /// Default 600 s.
    pub ttl: Duration,
    /// Default 200.
    pub capacity: usize,
    /// Default 1 MiB.
    pub max_item_bytes: usize,
}

/// The `cache` section (see `cache-layer`).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Default 600 s.
    pub client_ttl: Duration,
    /// Default 200.
    pub client_capacity: usize,
    /// The response cache.
    pub responses: ResponsesConfig,
}

/// How requests for one model name are spread over its deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The deployment with the fewest requests in flight (default).
    LeastBusy,
    /// In turn.
    RoundRobin,
}

/// One `model_list` entry.
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
    /// Retries on connect errors, 429 and 5xx. Default 2.
    pub max_retries: u32,
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
    /// `model_list`.
    pub deployments: Vec<Deployment>,
    /// `router_settings.routing_strategy`.
    pub strategy: Strategy,
    /// Things accepted but not used, to log at start.
    pub warnings: Vec<String>,
}

// === raw YAML shapes ===

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    pool: RawPool,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    cache: RawCache,
    #[serde(default)]
    model_list: Vec<RawModel>,
    litellm_settings: Option<BTreeMap<String, Value>>,
    router_settings: Option<BTreeMap<String, Value>>,
    general_settings: Option<BTreeMap<String, Value>>,
    environment_variables: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    master_key: Option<String>,
    max_body_bytes: Option<usize>,
    request_timeout_s: Option<f64>,
    header_read_timeout_s: Option<f64>,
    shutdown_timeout_s: Option<f64>,
    max_client_connections: Option<usize>,
    workers: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPool {
    max_connections: Option<usize>,
    max_connections_per_host: Option<usize>,
    keepalive_s: Option<f64>,
    dns_ttl_s: Option<f64>,
    connect_timeout_s: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_in_flight: Option<usize>,
    max_queued: Option<usize>,
    queue_timeout_s: Option<f64>,
    max_callbacks: Option<usize>,
    callback_queue: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCache {
    client_ttl_s: Option<f64>,
    client_capacity: Option<usize>,
    #[serde(default)]
    responses: RawResponses,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawResponses {
    enabled: Option<bool>,
    ttl_s: Option<f64>,
    capacity: Option<usize>,
    max_item_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    model_name: String,
    #[serde(alias = "params")]
    litellm_params: BTreeMap<String, Value>,
    model_info: Option<Value>,
}

/// `litellm_params` keys the gateway uses.
const USED_PARAMS: &[&str] = &[
    "model",
    "api_base",
    "base_url",
    "api_key",
    "api_version",
    "timeout",
    "stream_timeout",
    "first_token_timeout",
    "max_retries",
    "num_retries",
    "vertex_project",
    "vertex_location",
    "mock_response",
    "drop_params",
];

/// LiteLLM `litellm_params` keys accepted and ignored, with a warning.
const IGNORED_PARAMS: &[&str] = &[
    "rpm",
    "tpm",
    "input_cost_per_token",
    "output_cost_per_token",
    "organization",
    "custom_llm_provider",
    "tags",
    "region_name",
    "weight",
    "order",
    "max_parallel_requests",
    "cache_control_injection_points",
    "merge_reasoning_content_in_choices",
    "use_in_pass_through",
    "vertex_credentials",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_region_name",
];

impl Config {
    /// Parses and validates a config. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let err = |key: &str, problem: String| ConfigError {
            file: file.to_string(),
            key: key.to_string(),
            problem,
        };
        let deserializer = serde_norway::Deserializer::from_str(text);
        let raw: RawFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            err(&key, e.inner().to_string())
        })?;
        let mut warnings = Vec::new();

        let secs = |key: &str, v: Option<f64>, default: u64| -> Result<Duration, ConfigError> {
            match v {
                None => Ok(Duration::from_secs(default)),
                Some(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
                Some(s) => Err(err(
                    key,
                    format!("must be a positive number of seconds, got {s}"),
                )),
            }
        };
        let positive =
            |key: &str, v: Option<usize>, default: usize| -> Result<usize, ConfigError> {
                match v.unwrap_or(default) {
                    0 => Err(err(key, "must be at least 1".into())),
                    n => Ok(n),
                }
            };

        // general_settings.master_key is LiteLLM's place for it.
        let mut general = raw.general_settings.unwrap_or_default();
        let general_key = general.remove("master_key");
        for key in general.keys() {
            warnings.push(format!(
                "{file}: `general_settings.{key}` is not used by this gateway; ignored"
            ));
        }
        let master_key = match (raw.server.master_key, general_key) {
            (Some(k), _) => Some(resolve_env(&k).map_err(|p| err("server.master_key", p))?),
            (None, Some(Value::String(k))) => {
                Some(resolve_env(&k).map_err(|p| err("general_settings.master_key", p))?)
            }
            (None, Some(_)) => {
                return Err(err(
                    "general_settings.master_key",
                    "must be a string".into(),
                ))
            }
            (None, None) => None,
        };
        let listen = raw.server.listen.as_deref().unwrap_or("127.0.0.1:4000");
        let listen: SocketAddr = listen.parse().map_err(|_| {
            err(
                "server.listen",
                format!("`{listen}` is not an address like 127.0.0.1:4000"),
            )
        })?;
        let server = ServerConfig {
            listen,
            master_key: master_key.filter(|k| !k.is_empty()).map(Secret::new),
            max_body_bytes: positive(
                "server.max_body_bytes",
                raw.server.max_body_bytes,
                10 * 1024 * 1024,
            )?,
            request_timeout: secs(
                "server.request_timeout_s",
                raw.server.request_timeout_s,
                600,
            )?,
            header_read_timeout: secs(
                "server.header_read_timeout_s",
                raw.server.header_read_timeout_s,
                10,
            )?,
            shutdown_timeout: secs(
                "server.shutdown_timeout_s",
                raw.server.shutdown_timeout_s,
                30,
            )?,
            max_client_connections: positive(
                "server.max_client_connections",
                raw.server.max_client_connections,
                10_000,
            )?,
            workers: positive(
                "server.workers",
                raw.server.workers,
                std::thread::available_parallelism().map_or(1, usize::from),
            )?,
        };
        if server.workers > MAX_WORKERS {
            return Err(err(
                "server.workers",
                format!("must be at most {MAX_WORKERS}, got {}", server.workers),
            ));
        }
        let pool = PoolConfig {
            max_connections: positive("pool.max_connections", raw.pool.max_connections, 300)?,
            max_connections_per_host: positive(
                "pool.max_connections_per_host",
                raw.pool.max_connections_per_host,
                50,
            )?,
            keepalive: secs("pool.keepalive_s", raw.pool.keepalive_s, 120)?,
            dns_ttl: secs("pool.dns_ttl_s", raw.pool.dns_ttl_s, 300)?,
            connect_timeout: secs("pool.connect_timeout_s", raw.pool.connect_timeout_s, 5)?,
        };
        let limits = LimitsConfig {
            max_in_flight: positive("limits.max_in_flight", raw.limits.max_in_flight, 1000)?,
            max_queued: raw.limits.max_queued.unwrap_or(2000),
            queue_timeout: secs("limits.queue_timeout_s", raw.limits.queue_timeout_s, 30)?,
            max_callbacks: raw.limits.max_callbacks.unwrap_or(100),
            callback_queue: positive("limits.callback_queue", raw.limits.callback_queue, 1000)?,
        };
        let cache = CacheConfig {
            client_ttl: secs("cache.client_ttl_s", raw.cache.client_ttl_s, 600)?,
            client_capacity: positive("cache.client_capacity", raw.cache.client_capacity, 200)?,
            responses: ResponsesConfig {
                enabled: raw.cache.responses.enabled.unwrap_or(false),
                ttl: secs("cache.responses.ttl_s", raw.cache.responses.ttl_s, 600)?,
                capacity: positive(
                    "cache.responses.capacity",
                    raw.cache.responses.capacity,
                    200,
                )?,
                max_item_bytes: positive(
                    "cache.responses.max_item_bytes",
                    raw.cache.responses.max_item_bytes,
                    1024 * 1024,
                )?,
            },
        };

        let mut default_retries = 2;
        let mut strategy = Strategy::LeastBusy;
        for (key, value) in raw.router_settings.unwrap_or_default() {
            match (key.as_str(), &value) {
                ("routing_strategy", Value::String(s)) => {
                    strategy = match s.as_str() {
                        "least-busy" => Strategy::LeastBusy,
                        "simple-shuffle" | "round-robin" => Strategy::RoundRobin,
                        other => {
                            warnings.push(format!(
                                "{file}: `router_settings.routing_strategy: {other}` is not supported; using least-busy"
                            ));
                            Strategy::LeastBusy
                        }
                    }
                }
                ("num_retries", Value::Number(n)) => {
                    default_retries = n.as_u64().unwrap_or(2) as u32
                }
                _ => warnings.push(format!(
                    "{file}: `router_settings.{key}` is not used by this gateway; ignored"
                )),
            }
        }
        let mut drop_params = false;
        for (key, value) in raw.litellm_settings.unwrap_or_default() {
            match (key.as_str(), &value) {
                ("num_retries", Value::Number(n)) => {
                    default_retries = n.as_u64().unwrap_or(2) as u32
                }
                ("drop_params", Value::Bool(b)) => drop_params = *b,
                _ => warnings.push(format!(
                    "{file}: `litellm_settings.{key}` is not used by this gateway; ignored"
                )),
            }
        }
        if raw.environment_variables.is_some() {
            warnings.push(format!(
                "{file}: `environment_variables` is not used; set them in the environment"
            ));
        }

        let mut deployments = Vec::new();
        for (i, model) in raw.model_list.into_iter().enumerate() {
            let at = format!("model_list[{i}]");
            if model.model_name.trim().is_empty() {
                return Err(err(&format!("{at}.model_name"), "must not be empty".into()));
            }
            let _ = model.model_info;
            let mut params = model.litellm_params;
            // A deployment's own `drop_params` wins over `litellm_settings`'.
            if drop_params {
                params
                    .entry("drop_params".to_string())
                    .or_insert(Value::Bool(true));
            }
            deployments.push(deployment(
                &at,
                model.model_name,
                params,
                default_retries,
                file,
                &mut warnings,
            )?);
        }
        if deployments.is_empty() {
            return Err(err(
                "model_list",
                "lists no models; the gateway would have nothing to serve".into(),
            ));
        }
        Ok(Config {
            server,
            pool,
            limits,
            cache,
            deployments,
            strategy,
            warnings,
        })
    }
}

fn deployment(
    at: &str,
    model_name: String,
    params: BTreeMap<String, Value>,
    default_retries: u32,
    file: &str,
    warnings: &mut Vec<String>,
) -> Result<Deployment, ConfigError> {
    let err = |key: &str, problem: String| ConfigError {
        file: file.to_string(),
        key: format!("{at}.litellm_params.{key}"),
        problem,
    };
    for key in params.keys() {
        if USED_PARAMS.contains(&key.as_str()) {
            continue;
        }
        if IGNORED_PARAMS.contains(&key.as_str()) {
            warnings.push(format!(
                "{file}: `{at}.litellm_params.{key}` is not supported by this gateway; ignored"
            ));
            continue;
        }
        // A near miss of a key we use is a typo that would silently change behaviour.
        if let Some(close) = USED_PARAMS.iter().find(|k| edit_distance(k, key) <= 2) {
            return Err(err(key, format!("unknown key (did you mean `{close}`?)")));
        }
        warnings.push(format!(
            "{file}: `{at}.litellm_params.{key}` is not a key this gateway knows; ignored"
        ));
    }
    let string = |key: &str| -> Result<Option<String>, ConfigError> {
        match params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => resolve_env(s).map(Some).map_err(|p| err(key, p)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(err(key, "must be a string".into())),
        }
    };
    let seconds = |key: &str| -> Result<Option<Duration>, ConfigError> {
        let value = match params.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => resolve_env(s).map_err(|p| err(key, p))?.parse::<f64>().ok(),
            Some(_) => None,
        };
        match value {
            Some(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
            _ => Err(err(key, "must be a positive number of seconds".into())),
        }
    };
    let model = string("model")?
        .ok_or_else(|| err("model", "is required (e.g. `openai/gpt-4o-mini`)".into()))?;
    let (mock, spec) = match model.strip_prefix("mock/") {
        Some(name) if !name.is_empty() => (true, format!("openai/{name}")),
        _ => (false, model.clone()),
    };
    let mut endpoint = Endpoint::new(&spec).map_err(|p| err("model", p))?;
    if mock && endpoint.provider != Provider::OpenAi {
        return Err(err("model", "mock models are `mock/NAME`".into()));
    }
    if let Some(base) = string("api_base")?.or(string("base_url")?) {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(err(
                "api_base",
                format!("`{base}` must start with http:// or https://"),
            ));
        }
        endpoint.api_base = Some(base);
    }
    endpoint.api_key = string("api_key")?
        .filter(|k| !k.is_empty())
        .map(Secret::new);
    endpoint.api_version = string("api_version")?;
    endpoint.vertex_project = string("vertex_project")?;
    endpoint.vertex_location = string("vertex_location")?;
    if let Some(t) = seconds("timeout")? {
        endpoint.timeout = t;
    }
    if let Some(t) = seconds("stream_timeout")? {
        endpoint.stream_timeout = t;
    }
    endpoint.first_token_timeout = seconds("first_token_timeout")?;
    endpoint.drop_params = match params.get("drop_params") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(err("drop_params", "must be true or false".into())),
    };
    if !mock {
        endpoint.validate().map_err(|p| err("model", p))?;
    }
    let max_retries = match params
        .get("max_retries")
        .or_else(|| params.get("num_retries"))
    {
        None => default_retries,
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n <= 10)
            .ok_or_else(|| err("max_retries", "must be a whole number from 0 to 10".into()))?
            as u32,
        Some(_) => {
            return Err(err(
                "max_retries",
                "must be a whole number from 0 to 10".into(),
            ))
        }
    };
    Ok(Deployment {
        model_name,
        endpoint,
        mock,
        mock_response: string("mock_response")?,
        max_retries,
    })
}

/// `os.environ/NAME` → the variable's value; anything else as is.
fn resolve_env(value: &str) -> Result<String, String> {
    match value.strip_prefix("os.environ/") {
        Some(name) => {
            std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))
        }
        None => Ok(value.to_string()),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "test.yaml")
    }

    #[test]
    fn the_demo_config_parses_with_the_design_defaults() {
        let config = Config::parse(DEMO, "<demo>").expect("demo config");
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(
            (
                config.pool.max_connections,
                config.pool.max_connections_per_host
            ),
            (300, 50)
        );
        assert_eq!(
            (
                config.pool.keepalive.as_secs(),
                config.pool.dns_ttl.as_secs(),
                config.pool.connect_timeout.as_secs()
            ),
            (120, 300, 5)
        );
        assert_eq!(
            (
                config.limits.max_in_flight,
                config.limits.max_queued,
                config.limits.queue_timeout.as_secs()
            ),
            (1000, 2000, 30)
        );
        assert_eq!(
            (config.limits.max_callbacks, config.limits.callback_queue),
            (100, 1000)
        );
        assert_eq!(
            (
                config.cache.client_ttl.as_secs(),
                config.cache.client_capacity
            ),
            (600, 200)
        );
        assert!(!config.cache.responses.enabled);
        assert_eq!(config.cache.responses.max_item_bytes, 1024 * 1024);
        assert_eq!(config.server.max_body_bytes, 10 * 1024 * 1024);
        assert!(config.deployments.iter().all(|d| d.mock));
    }

    #[test]
    fn a_typo_in_a_gateway_section_names_the_key() {
        let e = parse("pool: {max_connection: 5}\nmodel_list: []").unwrap_err();
        assert_eq!(e.file, "test.yaml");
        assert_eq!(e.key, "pool.max_connection");
        assert!(e.problem.contains("unknown field `max_connection`"), "{e}");
    }

    #[test]
    fn workers_are_bounded() {
        let models = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n";
        let ok = parse(&format!("server: {{workers: 3}}\n{models}")).unwrap();
        assert_eq!(ok.server.workers, 3);
        assert!(parse(models).unwrap().server.workers >= 1);
        for bad in ["0", "100000"] {
            let e = parse(&format!("server: {{workers: {bad}}}\n{models}")).unwrap_err();
            assert_eq!(e.key, "server.workers", "{e}");
        }
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let e = parse("limits: {max_queued: lots}\nmodel_list: []").unwrap_err();
        assert_eq!(e.key, "limits.max_queued");
        assert!(e.problem.contains("invalid type"), "{e}");
    }

    #[test]
    fn a_missing_environment_variable_names_the_key_and_variable() {
        let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: openai/gpt-4o, api_key: os.environ/GATEWAY_TEST_SURELY_UNSET}\n";
        let e = parse(yaml).unwrap_err();
        assert_eq!(e.key, "model_list[0].litellm_params.api_key");
        assert_eq!(
            e.problem,
            "environment variable `GATEWAY_TEST_SURELY_UNSET` is not set"
        );
        assert_eq!(e.to_string(), "test.yaml: `model_list[0].litellm_params.api_key`: environment variable `GATEWAY_TEST_SURELY_UNSET` is not set");
    }

    #[test]
    fn a_near_miss_of_a_litellm_param_is_an_error_and_known_extras_are_warnings() {
        let yaml =
            "model_list:\n  - model_name: a\n    params: {model: openai/x, api_bse: http://h}\n";
        let e = parse(yaml).unwrap_err();
        assert_eq!(e.key, "model_list[0].litellm_params.api_bse");
        assert_eq!(e.problem, "unknown key (did you mean `api_base`?)");

        let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x, rpm: 100, tpm: 1000}\n";
        let config = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.warnings.len(), 2);
        assert!(config.warnings[0].contains("litellm_params.rpm"));
    }

    #[test]
    fn a_litellm_config_starts_with_its_own_sections() {
        std::env::set_var("GATEWAY_TEST_MASTER", "sk-master");
        let yaml = r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-deploy
      api_base: https://example-resource.openai.azure.com
      api_key: sk-azure
      api_version: "2024-10-21"
      timeout: 30
      stream_timeout: 10.5
      max_retries: 1
    model_info: {id: abc}
litellm_settings: {drop_params: true, num_retries: 3}
router_settings: {routing_strategy: simple-shuffle, redis_host: localhost}
general_settings: {master_key: os.environ/GATEWAY_TEST_MASTER, database_url: postgres://x}
"#;
        let config = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.server.master_key.as_ref().map(|k| k.expose()),
            Some("sk-master")
        );
        assert_eq!(config.strategy, Strategy::RoundRobin);
        let d = &config.deployments[0];
        assert_eq!(
            (
                d.endpoint.timeout.as_secs(),
                d.endpoint.stream_timeout.as_millis(),
                d.max_retries
            ),
            (30, 10_500, 1)
        );
        assert_eq!(d.endpoint.api_version.as_deref(), Some("2024-10-21"));
        // `litellm_settings.drop_params` is used, not warned about.
        assert!(d.endpoint.drop_params);
        assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    }

    #[test]
    fn a_deployments_drop_params_wins_over_litellm_settings() {
        let yaml = "litellm_settings: {drop_params: true}\nmodel_list:\n  \
            - {model_name: a, litellm_params: {model: openai/a}}\n  \
            - {model_name: b, litellm_params: {model: openai/b, drop_params: false}}\n";
        let config = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
        let drops: Vec<bool> = config
            .deployments
            .iter()
            .map(|d| d.endpoint.drop_params)
            .collect();
        assert_eq!(drops, [true, false]);
        let none = parse("model_list:\n  - {model_name: a, litellm_params: {model: openai/a}}\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!none.deployments[0].endpoint.drop_params);
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let cases = [
            ("server: {listen: nowhere}\nmodel_list: []", "server.listen"),
            ("pool: {max_connections: 0}\nmodel_list: []", "pool.max_connections"),
            ("limits: {queue_timeout_s: -1}\nmodel_list: []", "limits.queue_timeout_s"),
            ("model_list:\n  - model_name: a\n    litellm_params: {model: nope/x}\n", "model_list[0].litellm_params.model"),
            ("model_list:\n  - model_name: a\n    litellm_params: {model: azure/x}\n", "model_list[0].litellm_params.model"),
            ("model_list:\n  - model_name: a\n    litellm_params: {model: openai/x, timeout: soon}\n", "model_list[0].litellm_params.timeout"),
            ("model_list: []", "model_list"),
        ];
        for (yaml, key) in cases {
            assert_eq!(parse(yaml).unwrap_err().key, key, "{yaml}");
        }
    }
}
