//! The whole application as one service: the hot routes matched by hand, every other
//! route through an axum `Router`, all behind the front layer.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use provider_adapters::{Api, ProviderError};
use serde_json::json;
use tower::ServiceBuilder;
use tower_layer::Layer;
use tower_service::Service;

use super::state::AppState;
use super::upstream::upstream_service;
use crate::front::{AuthLayer, FrontLayer};
use crate::http::error::error_response;
use crate::shape::ErrorShape;

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
    let mut res = crate::metrics::render(&state.metrics, &state.snapshot()).into_response();
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
