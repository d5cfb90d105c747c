//! The HTTP application: routes, the middleware stack, and the proxy handler.
//!
//! Outside in: front (request id, request timeout, overhead header, JSON errors,
//! request log) → the hot routes, matched by hand: auth → the body intake (read,
//! bounded in size, time and shape; see [`crate::intake`]) → (optional) response cache →
//! events → admission → routing by model (least busy, retries) → client cache →
//! adapter → the worker's shard of the shared client; every other route: body limit →
//! an axum `Router`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_layer::client::{ClientCache, ClientCacheLayer, ClientKey, NewService};
use cache_layer::response::{ResponseCacheConfig, ResponseCacheLayer};
use cache_layer::ttl::CacheConfig as TtlConfig;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use http_body_util::Full;
use limits_layer::admission::{AdmissionLayer, Controller};
use limits_layer::callbacks::{ModelName, Registry, RegistryConfig};
use limits_layer::events::{EventBody, EventLayer};
use pin_project_lite::pin_project;
use provider_adapters::body::ReadError;
use provider_adapters::{Api, Endpoint, ProviderClient, ProviderError};
use serde_json::json;
use std::task::Poll;
use tokio::time::Instant;
use tower::ServiceBuilder;
use tower_layer::Layer;
use tower_service::Service;

use crate::config::{Config, Strategy};
use crate::metrics::{self, Metrics};
use crate::mock::MockProvider;
use crate::queue::SharedQueue;
use crate::shape::ErrorShape;

use crate::front::{AuthLayer, FrontLayer, RecoverLayer, UpstreamTime};
pub use crate::front::{X_OVERHEAD, X_REQUEST_ID};

/// A deployment and its cache key, as seen from one worker.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) key: ClientKey,
    pub(crate) endpoint: Arc<Endpoint>,
    /// The worker, whose shard of the shared client the provider client sends through.
    pub(crate) worker: usize,
}

impl Target {
    pub(crate) fn for_worker(&self, worker: usize) -> Self {
        Self {
            worker,
            ..self.clone()
        }
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.worker == other.worker
    }
}
impl Eq for Target {}
impl Hash for Target {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
        self.worker.hash(state);
    }
}

/// Builds a provider client for a target, over the one shared HTTP client (the
/// target's worker's shard of it).
#[derive(Clone)]
pub(crate) struct MakeClient {
    http: pool_layer::Client<Full<Bytes>>,
}

impl NewService<Target> for MakeClient {
    type Service = ProviderClient;

    fn new_service(&self, target: Target) -> ProviderClient {
        ProviderClient::new((*target.endpoint).clone(), self.http.shard(target.worker))
    }
}

pub(crate) struct DeploymentState {
    pub(crate) target: Target,
    pub(crate) in_flight: AtomicUsize,
    /// Served by the built-in mock provider (which speaks chat completions only).
    pub(crate) mock: bool,
}

pub(crate) struct ModelGroup {
    /// The model name clients use, shared by every request's events.
    pub(crate) name: Arc<str>,
    pub(crate) deployments: Vec<Arc<DeploymentState>>,
    pub(crate) next: AtomicUsize,
    pub(crate) max_retries: u32,
}

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
    pub(crate) wildcards: crate::routing::Wildcards,
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

        let mock = if config.deployments.iter().any(|d| d.mock) {
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
            Some(MockProvider::start(fixed).await?)
        } else {
            None
        };

        let mut models: HashMap<String, ModelGroup> = HashMap::new();
        let mut names = Vec::new();
        for d in &config.deployments {
            let mut endpoint = d.endpoint.clone();
            if d.mock {
                endpoint.api_base = mock.as_ref().map(MockProvider::base_url);
            }
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
            group.deployments.push(Arc::new(DeploymentState {
                target,
                in_flight: AtomicUsize::new(0),
                mock: d.mock,
            }));
        }
        let wildcards = crate::routing::Wildcards::new(&config.wildcards);
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
        let metrics = Metrics::new();
        let response_cache = config.cache.responses.enabled.then(|| {
            ResponseCacheLayer::with_config(ResponseCacheConfig {
                ttl: config.cache.responses.ttl,
                capacity: config.cache.responses.capacity,
                max_item_bytes: config.cache.responses.max_item_bytes,
            })
        });
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
            _mock: mock,
        }))
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

// === the router ===

/// The whole application for worker `worker`, as a service for hyper: its upstream
/// requests go through that worker's shard of the shared client (any index works;
/// it is taken modulo the number of shards).
///
/// The hot routes (`POST` to the chat, embeddings and messages paths) are matched by
/// hand and reach their stack of concrete layer types directly; everything else goes
/// through an axum `Router`. axum's router boxes each route and clones that box on
/// every call, which cost a dozen allocations per proxied request.
pub fn router(
    state: Arc<AppState>,
    worker: usize,
) -> impl Service<
    http::Request<Body>,
    Response = Response,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + 'static {
    let server = &state.config.server;
    let auth = AuthLayer::new(server.master_key.clone());
    let chat = upstream_service(&state, Api::ChatCompletions, worker);
    let embeddings = upstream_service(&state, Api::Embeddings, worker);
    let messages = upstream_service(&state, Api::Messages, worker);
    // The hot paths reach the router only with another method than POST.
    let authed = HOT_PATHS
        .iter()
        .fold(Router::new(), |router, (path, _)| {
            router.route(path, axum::routing::any(method_not_allowed))
        })
        .route("/v1/models", get(models))
        .route("/models", get(models));
    let authed = crate::routes::add(authed, &state, worker).route_layer(auth.clone());
    // Azure's paths check their own way (`api-key`), so after the layer above.
    let authed = crate::routes::add_azure(authed, &state, worker, &auth);
    let rest = Router::new()
        .route("/health/liveliness", get(liveliness))
        .route("/health/liveness", get(liveliness))
        .route("/health/readiness", get(readiness))
        .merge(metrics_route(server.metrics_auth.then(|| auth.clone())))
        .merge(authed)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    let rest = ServiceBuilder::new()
        .map_response(|res: http::Response<_>| res.map(Body::new))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            server.max_body_bytes,
        ))
        .service(rest);
    let routes = Routes {
        chat: auth.layer(chat),
        embeddings: auth.layer(embeddings),
        messages: auth.layer(messages),
        rest,
    };
    ServiceBuilder::new()
        .layer(FrontLayer::new().with_timeout(server.request_timeout))
        .service(routes)
}

/// The paths whose `POST`s [`Routes`] sends straight to an upstream service.
const HOT_PATHS: [(&str, Api); 6] = [
    ("/v1/chat/completions", Api::ChatCompletions),
    ("/chat/completions", Api::ChatCompletions),
    ("/v1/embeddings", Api::Embeddings),
    ("/embeddings", Api::Embeddings),
    ("/v1/messages", Api::Messages),
    ("/messages", Api::Messages),
];

/// Sends `POST`s to the [`HOT_PATHS`] straight to their services, and everything else
/// to the router of the rest. Ready when all of them are (they always are: admission
/// and the other layers decide in the response future, not in `poll_ready`).
#[derive(Clone)]
struct Routes<S, R> {
    chat: S,
    embeddings: S,
    messages: S,
    rest: R,
}

impl<S, R> Service<Request> for Routes<S, R>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    R: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::Either<S::Future, R::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        for ready in [
            self.chat.poll_ready(cx),
            self.embeddings.poll_ready(cx),
            self.messages.poll_ready(cx),
            self.rest.poll_ready(cx),
        ] {
            std::task::ready!(ready)?;
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let api = (req.method() == http::Method::POST)
            .then(|| HOT_PATHS.iter().find(|(path, _)| *path == req.uri().path()))
            .flatten()
            .map(|(_, api)| *api);
        let service = match api {
            None => return futures_util::future::Either::Right(self.rest.call(req)),
            Some(Api::ChatCompletions) => &mut self.chat,
            Some(Api::Embeddings) => &mut self.embeddings,
            Some(Api::Messages) => &mut self.messages,
        };
        futures_util::future::Either::Left(service.call(req))
    }
}

/// The routes that call upstreams, behind the intake (the bounded body read), the
/// optional response cache, the event layer and admission.
pub(crate) fn upstream_service(
    state: &Arc<AppState>,
    api: Api,
    worker: usize,
) -> impl Service<Request, Response = Response, Error = Infallible, Future = impl Send + 'static>
       + Clone
       + Send
       + 'static {
    let shared = state.clone();
    let handlers = tower::service_fn(move |req: Request| {
        let state = shared.clone();
        async move { Ok::<_, Infallible>(proxy(state, api, worker, req).await) }
    });
    // Every error from here on is in the shape of the route's API.
    let shape = ErrorShape::of_api(api);
    let admitted = ServiceBuilder::new()
        .layer(RecoverLayer::new(move |err| admission_error(shape, err)))
        .layer(AdmissionLayer::with_controller(state.admission.clone()))
        .service(handlers);
    let evented = ServiceBuilder::new()
        // The one box of the response body on this path.
        .map_response(|res: http::Response<EventBody<_>>| res.map(Body::new))
        .layer(EventLayer::new(state.registry.clone()).with_observer(state.metrics.clone()))
        .service(admitted);
    let served = match &state.response_cache {
        None => tower::util::Either::Left(evented),
        Some(cache) => tower::util::Either::Right(
            ServiceBuilder::new()
                .map_response(|res: http::Response<_>| res.map(Body::new))
                .layer(RecoverLayer::new(move |err: tower::BoxError| {
                    shape.response(&ProviderError::new(
                        StatusCode::BAD_REQUEST,
                        format!("could not read the request: {err}"),
                    ))
                }))
                .layer(cache.clone())
                .service(evented.clone()),
        ),
    };
    // The body is read (bounded) before the cache and admission see the request.
    crate::intake::intake(
        served,
        crate::intake::Bounds {
            max_body_bytes: state.config.server.max_body_bytes,
            body_read_timeout: state.config.server.body_read_timeout,
            shape,
        },
    )
}

/// The answer to an admission error: the queue's refusal (`429 queue_full`, `503
/// queue_timeout`, with `Retry-After`), or a `500`; in the route's `shape`.
pub(crate) fn admission_error(shape: ErrorShape, err: tower::BoxError) -> Response {
    let err = match limits_layer::http::rejection(&*err) {
        Some(rejection) => ProviderError::queue_rejection(rejection),
        None => ProviderError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {err}"),
        ),
    };
    shape.response(&err)
}

// === handlers ===

/// `err` as an OpenAI-shaped JSON response (see [`ErrorShape`] for the routes that
/// answer in another shape).
pub(crate) fn error_response(err: &ProviderError) -> Response {
    ErrorShape::OpenAi.response(err)
}

/// The body of [`proxy`]'s responses: an upstream's (kept counted as busy), or the
/// gateway's own answer. Not boxed: the layers around box the body once.
type ProxyBody = http_body_util::Either<BusyBody<provider_adapters::ResponseBody>, Body>;

/// The gateway's own answer, as a [`proxy`] response.
fn answer(res: Response) -> http::Response<ProxyBody> {
    res.map(http_body_util::Either::Right)
}

async fn proxy(
    state: Arc<AppState>,
    api: Api,
    worker: usize,
    req: Request,
) -> http::Response<ProxyBody> {
    let limit = state.config.server.max_body_bytes;
    // `/v1/messages` clients get Anthropic-shaped errors.
    let shape = ErrorShape::of_api(api);
    let error_response = |err: &ProviderError| shape.response(err);
    // Only the provider headers worth passing on are kept (usually none).
    let forwarded = provider_adapters::forwarded_headers(req.headers());
    let body = match provider_adapters::body::read_limited(req.into_body(), limit).await {
        Ok(body) => body,
        Err(ReadError::TooLarge { .. }) => {
            return answer(error_response(&ProviderError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {limit} bytes"),
            )))
        }
        Err(ReadError::Body(err)) => {
            return answer(error_response(&ProviderError::bad_request(format!(
                "could not read the request body: {err}"
            ))))
        }
    };
    let peek = match provider_adapters::request::peek(&body) {
        Ok(peek) => peek,
        Err(err) => return answer(error_response(&err)),
    };
    let group = match state.group(&peek.model) {
        Ok(group) => group,
        Err(err) => return answer(error_response(&err)),
    };
    let model = group.name.clone();

    let attempts = group.max_retries + 1;
    let mut tried: Vec<usize> = Vec::new();
    let mut attempt = 0;
    // Time spent waiting for upstreams, over every attempt (the overhead header
    // leaves it out).
    let mut upstream = Duration::ZERO;
    loop {
        attempt += 1;
        let index = pick(&group, state.config.strategy, &tried);
        let deployment = group.deployments[index].clone();
        let busy = Busy::new(deployment.clone());
        let client = state
            .clients
            .new_service(deployment.target.for_worker(worker));
        let started = Instant::now();
        let result = client
            .send_with_headers(api, body.clone(), &peek, Some(&forwarded))
            .await;
        upstream += started.elapsed();
        match result {
            Ok(res) => {
                let (mut parts, body) = res.into_parts();
                if let Some(dropped) = parts
                    .extensions
                    .remove::<provider_adapters::DroppedParams>()
                {
                    let provider = client.endpoint().provider.as_str();
                    state.metrics.dropped_params(provider, &dropped.0);
                }
                parts.extensions.insert(ModelName(model));
                parts.extensions.insert(UpstreamTime(upstream));
                let endpoint = &deployment.target.endpoint;
                parts.extensions.insert(crate::conn::SendLimits {
                    stall: endpoint.stream_timeout,
                    deadline: started.checked_add(endpoint.timeout),
                    anthropic: api == Api::Messages,
                });
                // The deployment counts as busy until the response body ends.
                return http::Response::from_parts(
                    parts,
                    http_body_util::Either::Left(BusyBody {
                        inner: body,
                        _busy: busy,
                    }),
                );
            }
            Err(err) if err.is_retryable() && attempt < attempts => {
                tracing::debug!(model = %model, attempt, error = %err, "retrying on another attempt");
                tried.push(index);
                drop(busy);
                let backoff = Duration::from_millis(50 * 2u64.pow(attempt.min(5) - 1))
                    .min(Duration::from_secs(1));
                tokio::time::sleep(backoff).await;
            }
            Err(err) => {
                tracing::debug!(model = %model, error = %err, "upstream request failed");
                let mut res = answer(error_response(&err));
                res.extensions_mut().insert(ModelName(model));
                res.extensions_mut().insert(UpstreamTime(upstream));
                return res;
            }
        }
    }
}

/// The deployment to try: not yet tried if possible, then least busy or in turn.
pub(crate) fn pick(group: &ModelGroup, strategy: Strategy, tried: &[usize]) -> usize {
    let n = group.deployments.len();
    let turn = group.next.fetch_add(1, Ordering::Relaxed);
    if n == 1 {
        return 0;
    }
    // Deployments not tried yet, or all of them once every one was tried (a first
    // attempt, the usual case, allocates nothing).
    let untried = (0..n).filter(|i| !tried.contains(i)).count();
    let candidate = |k: usize| -> usize {
        if untried == 0 {
            k
        } else {
            (0..n)
                .filter(|i| !tried.contains(i))
                .nth(k)
                .unwrap_or_default()
        }
    };
    let len = if untried == 0 { n } else { untried };
    match strategy {
        Strategy::RoundRobin => candidate(turn % len),
        Strategy::LeastBusy => {
            // Ties go round robin so equal deployments share the load.
            (0..len)
                .map(|k| candidate((turn + k) % len))
                .min_by_key(|i| group.deployments[*i].in_flight.load(Ordering::Relaxed))
                .unwrap_or_else(|| candidate(0))
        }
    }
}

/// Counts a request against its deployment while it lives.
pub(crate) struct Busy(Arc<DeploymentState>);

impl Busy {
    pub(crate) fn new(d: Arc<DeploymentState>) -> Self {
        d.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(d)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project! {
    /// A response body that keeps its deployment counted as busy until it is dropped.
    pub(crate) struct BusyBody<B> {
        #[pin]
        pub(crate) inner: B,
        pub(crate) _busy: Busy,
    }
}

impl<B: http_body::Body> http_body::Body for BusyBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn models(State(state): State<Arc<AppState>>) -> Response {
    let data: Vec<_> = state
        .names
        .iter()
        .map(|name| json!({"id": name, "object": "model", "created": 0, "owned_by": "gateway"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn liveliness() -> Response {
    axum::Json("I'm alive!").into_response()
}

async fn readiness(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        axum::Json(json!({"status": "healthy", "models": state.names.len()})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "draining"})),
        )
            .into_response()
    }
}

/// `/metrics`, behind `auth` when `server.metrics_auth` is on.
fn metrics_route(auth: Option<AuthLayer>) -> Router<Arc<AppState>> {
    let route = Router::new().route("/metrics", get(metrics_text));
    match auth {
        Some(auth) => route.route_layer(auth),
        None => route,
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let mut res = metrics::render(&state).into_response();
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

async fn not_found() -> Response {
    error_response(
        &ProviderError::new(StatusCode::NOT_FOUND, "no such route").with_code("not_found"),
    )
}

/// `405`, in the shape of the route's errors (Anthropic's on the Messages paths).
async fn method_not_allowed(uri: http::Uri) -> Response {
    ErrorShape::of_path(uri.path()).response(
        &ProviderError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this route",
        )
        .with_code("method_not_allowed"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(n: usize) -> ModelGroup {
        let endpoint = Endpoint::new("openai/gpt-4o-mini").unwrap_or_else(|e| panic!("{e}"));
        ModelGroup {
            name: Arc::from("gpt"),
            deployments: (0..n)
                .map(|_| {
                    Arc::new(DeploymentState {
                        target: Target {
                            key: endpoint.client_key(),
                            endpoint: Arc::new(endpoint.clone()),
                            worker: 0,
                        },
                        in_flight: AtomicUsize::new(0),
                        mock: false,
                    })
                })
                .collect(),
            next: AtomicUsize::new(0),
            max_retries: 2,
        }
    }

    #[test]
    fn round_robin_takes_turns_and_skips_what_was_tried() {
        let g = group(3);
        let first: Vec<usize> = (0..6)
            .map(|_| pick(&g, Strategy::RoundRobin, &[]))
            .collect();
        assert_eq!(first, [0, 1, 2, 0, 1, 2]);
        for _ in 0..6 {
            let i = pick(&g, Strategy::RoundRobin, &[1]);
            assert_ne!(i, 1, "a tried deployment is not picked again");
        }
        for _ in 0..6 {
            assert_eq!(pick(&g, Strategy::RoundRobin, &[0, 2]), 1);
        }
        // Every one tried: all are candidates again.
        let all: std::collections::BTreeSet<usize> = (0..6)
            .map(|_| pick(&g, Strategy::RoundRobin, &[0, 1, 2]))
            .collect();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn least_busy_picks_the_idlest_untried_deployment() {
        let g = group(3);
        g.deployments[0].in_flight.store(5, Ordering::Relaxed);
        g.deployments[1].in_flight.store(1, Ordering::Relaxed);
        g.deployments[2].in_flight.store(3, Ordering::Relaxed);
        for _ in 0..4 {
            assert_eq!(pick(&g, Strategy::LeastBusy, &[]), 1);
            assert_eq!(pick(&g, Strategy::LeastBusy, &[1]), 2);
        }
        // Ties share the load.
        g.deployments[0].in_flight.store(1, Ordering::Relaxed);
        let tied: std::collections::BTreeSet<usize> =
            (0..4).map(|_| pick(&g, Strategy::LeastBusy, &[])).collect();
        assert_eq!(tied, [0, 1].into_iter().collect());
        assert_eq!(pick(&group(1), Strategy::LeastBusy, &[0]), 0);
    }
}
