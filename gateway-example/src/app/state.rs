//! The state every handler shares, built once from the config.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;

use bytes::Bytes;
use cache_layer::client::{ClientCache, ClientCacheLayer};
use cache_layer::response::{ResponseCacheConfig, ResponseCacheLayer};
use cache_layer::ttl::CacheConfig as TtlConfig;
use http::StatusCode;
use http_body_util::Full;
use limits_layer::admission::Controller;
use limits_layer::callbacks::{Registry, RegistryConfig};
use provider_adapters::ProviderError;
use tower_layer::Layer;

use super::deployment::{
    deployment_names, member_key, DeploymentState, MakeClient, ModelGroup, Target,
};
use crate::config::Config;
use crate::metrics::{Metrics, Snapshot};
use crate::mock::MockProvider;
use crate::queue::SharedQueue;
use crate::router::{Member, Router};
use crate::routing::{GroupRef, Wildcards};

/// Everything the handlers share.
pub struct AppState {
    pub(crate) config: Config,
    pub(crate) http: pool_layer::Client<Full<Bytes>>,
    pub(crate) clients: ClientCache<Target, MakeClient>,
    pub(crate) admission: Controller,
    pub(crate) registry: Registry,
    pub(crate) metrics: Metrics,
    pub(crate) response_cache: Option<ResponseCacheLayer>,
    pub(crate) ready: AtomicBool,
    /// Client connections open, over every worker (`server.max_client_connections`).
    pub(crate) client_connections: Arc<tokio::sync::Semaphore>,
    pub(crate) models: HashMap<String, ModelGroup>,
    pub(crate) names: Vec<String>,
    pub(crate) wildcards: Wildcards,
    /// Where each request goes: cooldowns, rate limits, retries, fallbacks.
    pub(crate) router: Arc<Router>,
    /// Whether any deployment has a `tpm` (only then is a request's token need read).
    pub(crate) any_tpm: bool,
    _mock: Option<MockProvider>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("models", &self.names)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the shared state: the client, the mock provider if needed, the layers.
    /// Must run inside a Tokio runtime.
    pub async fn new(config: Config) -> std::io::Result<Arc<Self>> {
        // One bound on all waiting requests, admission and upstream slots together.
        let queue = SharedQueue::new(&config.limits);
        let http = queue.client(&config);
        let mock = start_mock(&config).await?;
        let wildcards = Wildcards::new(&config.wildcards);

        let clients = ClientCacheLayer::with_config(TtlConfig {
            capacity: config.cache.client_capacity,
            ttl: config.cache.client_ttl,
            ..TtlConfig::default()
        })
        .layer(MakeClient { http: http.clone() });
        let admission = queue.controller(&config.limits);
        let registry = Registry::new(RegistryConfig {
            max_callbacks: config.limits.max_callbacks,
            queue: config.limits.callback_queue,
            ..RegistryConfig::default()
        });
        let router = Arc::new(Router::new(&config).map_err(std::io::Error::other)?);
        let any_tpm = config.deployments.iter().any(|d| d.routing.tpm.is_some());
        let (response_cache, response_store) = response_cache(&config)?;
        let metrics = {
            let (http, admission, clients) = (http.clone(), admission.clone(), clients.clone());
            let (response_cache, registry) = (response_cache.clone(), registry.clone());
            let (router, response_store) = (router.clone(), response_store.clone());
            Metrics::with_snapshot(move || Snapshot {
                pool: http.metrics(),
                admission: admission.metrics(),
                client_cache: clients.metrics(),
                response_cache: response_cache.as_ref().map(|c| c.metrics()),
                callbacks: registry.metrics(),
                router: router_numbers(&router, response_store.as_ref()),
            })
        };
        // After the metrics: each deployment resolves its counters there once.
        let (models, names) = model_groups(&config, mock.as_ref(), &metrics);
        crate::sinks::register(&registry, &config.callbacks, &metrics);
        let client_connections = Arc::new(tokio::sync::Semaphore::new(
            config.server.max_client_connections,
        ));
        Ok(Arc::new(Self {
            config,
            http,
            clients,
            admission,
            registry,
            metrics,
            response_cache,
            ready: AtomicBool::new(true),
            client_connections,
            models,
            names,
            wildcards,
            router,
            any_tpm,
            _mock: mock,
        }))
    }

    /// What sees each request's event in its own task: metrics and the request log.
    pub(crate) fn observers(&self) -> crate::log::Observers {
        crate::log::Observers {
            metrics: self.metrics.clone(),
            log_requests: self.config.server.log_requests,
        }
    }

    /// The router (its decision counters and Redis health).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The callback registry (register your own callbacks here).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The shared upstream client (its metrics show the pool).
    pub fn http(&self) -> &pool_layer::Client<Full<Bytes>> {
        &self.http
    }

    /// The admission controller.
    pub fn admission(&self) -> &Controller {
        &self.admission
    }
}

impl AppState {
    /// The deployments serving `model`: its `model_list` entries, or else those of
    /// the most specific wildcard route that matches it, built for this name.
    pub(crate) fn group(&self, model: &str) -> Result<GroupRef<'_>, ProviderError> {
        if let Some(group) = self.models.get(model).or_else(|| {
            let alias = self.config.aliases.iter().find(|a| a.alias == model)?;
            self.models.get(&alias.model)
        }) {
            return Ok(GroupRef::Fixed(group));
        }
        let routes = match self.wildcards.resolve(model) {
            None => {
                return Err(ProviderError::new(
                    StatusCode::NOT_FOUND,
                    format!("model `{model}` is not served here; GET /v1/models lists the models"),
                )
                .with_code("model_not_found"))
            }
            Some(Err(problem)) => {
                return Err(ProviderError::bad_request(format!(
                    "model `{model}` matches a wildcard route, but {problem}"
                ))
                .with_code("invalid_model"))
            }
            Some(Ok(routes)) => routes,
        };
        let max_retries = routes
            .iter()
            .map(|(_, retries)| *retries)
            .max()
            .unwrap_or_default();
        let deployments = routes
            .into_iter()
            .enumerate()
            .map(|(i, (endpoint, _))| {
                let key = member_key(model, i, &endpoint);
                let name = Arc::from(format!("{}/{}", endpoint.provider.as_str(), endpoint.model));
                Arc::new(DeploymentState::new(
                    Target {
                        key: endpoint.client_key(),
                        endpoint: Arc::new(endpoint),
                        worker: 0,
                    },
                    Member::new(key, crate::config::DeploymentRouting::default()),
                    false,
                    (model, name),
                    &self.metrics,
                ))
            })
            .collect();
        Ok(GroupRef::Wild(Box::new(ModelGroup {
            name: Arc::from(model),
            deployments,
            next: AtomicUsize::new(0),
            max_retries,
        })))
    }
}

/// The router's counters and the Redis health of the router and the response cache.
fn router_numbers(
    router: &Router,
    store: Option<&cache_layer::response::RedisResponseStore>,
) -> crate::metrics::RouterNumbers {
    let m = router.metrics();
    crate::metrics::RouterNumbers {
        fallbacks: m.fallbacks.load(Relaxed),
        cooldowns: m.cooldowns.load(Relaxed),
        rate_limited: m.rate_limited.load(Relaxed),
        unavailable: m.unavailable.load(Relaxed),
        redis_up: router
            .redis_up()
            .map(|up| up && store.is_none_or(|s| s.is_up())),
        redis_fallbacks: router.redis_fallbacks() + store.map_or(0, |s| s.errors()),
    }
}

/// The response cache: off, in process (`cache.responses`), or in process with a
/// shared Redis level (`litellm_settings.cache` with `cache_params.type: redis`).
type ResponseCaches = (
    Option<ResponseCacheLayer>,
    Option<cache_layer::response::RedisResponseStore>,
);

fn response_cache(config: &Config) -> std::io::Result<ResponseCaches> {
    let responses = &config.cache.responses;
    let settings = |ttl| ResponseCacheConfig {
        ttl,
        capacity: responses.capacity,
        max_item_bytes: responses.max_item_bytes,
    };
    let shared = config.router.redis_cache.as_ref();
    match (shared, &config.router.redis) {
        (Some(cache), Some(url)) => {
            let namespace = cache
                .namespace
                .as_deref()
                .unwrap_or(cache_layer::response::DEFAULT_NAMESPACE);
            let store = cache_layer::response::RedisResponseStore::new(
                url.expose(),
                namespace,
                cache_layer::response::DEFAULT_STORE_TIMEOUT,
            )
            .map_err(std::io::Error::other)?;
            let ttl = cache.ttl.unwrap_or(responses.ttl);
            let layer = ResponseCacheLayer::with_shared_store(settings(ttl), store.clone());
            Ok((Some(layer), Some(store)))
        }
        _ => Ok((
            responses
                .enabled
                .then(|| ResponseCacheLayer::with_config(settings(responses.ttl))),
            None,
        )),
    }
}

/// The built-in mock provider, if a deployment uses it, with the fixed answers the
/// config gives.
async fn start_mock(config: &Config) -> std::io::Result<Option<MockProvider>> {
    if !config.deployments.iter().any(|d| d.mock) {
        return Ok(None);
    }
    let fixed = config
        .deployments
        .iter()
        .filter(|d| d.mock)
        .filter_map(|d| {
            d.mock_response
                .clone()
                .map(|r| (d.endpoint.model.clone(), r))
        })
        .collect();
    Ok(Some(MockProvider::start(fixed).await?))
}

/// The model groups of the config's deployments, and the names `/v1/models` lists
/// (groups, visible aliases, wildcard patterns).
fn model_groups(
    config: &Config,
    mock: Option<&MockProvider>,
    metrics: &Metrics,
) -> (HashMap<String, ModelGroup>, Vec<String>) {
    let mut models: HashMap<String, ModelGroup> = HashMap::new();
    let mut names = Vec::new();
    let labels = deployment_names(&config.deployments);
    for (d, label) in config.deployments.iter().zip(labels) {
        let mut endpoint = d.endpoint.clone();
        if d.mock {
            endpoint.api_base = mock.map(MockProvider::base_url);
        }
        let index = models
            .get(&d.model_name)
            .map_or(0, |g: &ModelGroup| g.deployments.len());
        let member = Member::new(member_key(&d.model_name, index, &endpoint), d.routing);
        let target = Target {
            key: endpoint.client_key(),
            endpoint: Arc::new(endpoint),
            worker: 0,
        };
        let group = models.entry(d.model_name.clone()).or_insert_with(|| {
            names.push(d.model_name.clone());
            ModelGroup {
                name: Arc::from(d.model_name.as_str()),
                deployments: Vec::new(),
                next: AtomicUsize::new(0),
                max_retries: d.max_retries,
            }
        });
        group.max_retries = group.max_retries.max(d.max_retries);
        group.deployments.push(Arc::new(DeploymentState::new(
            target,
            member,
            d.mock,
            (&d.model_name, label),
            metrics,
        )));
    }
    let aliases = config.aliases.iter().filter(|a| !a.hidden);
    names.extend(
        aliases
            .map(|a| a.alias.clone())
            .filter(|a| !models.contains_key(a)),
    );
    names.extend(
        config
            .wildcards
            .iter()
            .map(|w| w.pattern.clone())
            .filter(|p| !models.contains_key(p)),
    );
    names.dedup();
    (models, names)
}
