//! The routes LiteLLM's clients call besides the hot ones: `POST /v1/responses`,
//! `POST /v1/completions`, `POST /v1/messages/count_tokens`, `GET /v1/models/{id}`,
//! each also without `/v1`. The POSTs go through events and admission like the hot
//! routes, with the same retries on another deployment.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use cache_layer::client::NewService;
use http::{HeaderValue, StatusCode};
use limits_layer::admission::AdmissionLayer;
use limits_layer::callbacks::{FinishReason, FinishReasons, ResponseFacts, UpstreamInfo};
use limits_layer::events::{EventBody, EventLayer};
use provider_adapters::body::ReadError;
use provider_adapters::responses::native::{self, Native};
use provider_adapters::responses::{self, Echo, ResponsesStream};
use provider_adapters::{Api, ProviderClient, ProviderError};
use serde_json::json;
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};

use crate::app::deployment::{Busy, BusyBody, DeploymentState};
use crate::app::state::AppState;
use crate::front::RecoverLayer;
use crate::http::error::{admission_error, error_response};
use crate::shape::ErrorShape;
mod azure;

pub(crate) use self::azure::add_azure;

/// Header on a `count_tokens` answer that is an estimate, not a provider's count.
pub const X_TOKEN_COUNT: http::HeaderName = http::HeaderName::from_static("x-gateway-token-count");

/// A route of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Extra {
    Responses,
    Completions,
    CountTokens,
}

impl Extra {
    /// The shape of the route's errors: Anthropic's on `count_tokens`.
    fn shape(self) -> ErrorShape {
        match self {
            Self::CountTokens => ErrorShape::Anthropic,
            Self::Responses | Self::Completions => ErrorShape::OpenAi,
        }
    }
}

/// `router` with this module's routes.
pub(crate) fn add(
    router: Router<Arc<AppState>>,
    state: &Arc<AppState>,
    worker: usize,
) -> Router<Arc<AppState>> {
    let mut router = router
        .route("/v1/models/{*id}", get(retrieve_model))
        .route("/models/{*id}", get(retrieve_model));
    for (paths, extra) in [
        (["/v1/responses", "/responses"], Extra::Responses),
        (["/v1/completions", "/completions"], Extra::Completions),
        (
            ["/v1/messages/count_tokens", "/messages/count_tokens"],
            Extra::CountTokens,
        ),
    ] {
        for path in paths {
            // The stack is built per request (a few `Arc` clones): axum wants a
            // `Sync` route, and the admission layers' services are not.
            let state = state.clone();
            router = router.route(
                path,
                post(move |req: Request| {
                    // The body is read (bounded in size, time and shape) before
                    // admission sees the request, as on the hot routes.
                    let service = crate::intake::intake(
                        service(&state, extra, worker),
                        crate::intake::Bounds {
                            max_body_bytes: state.config.server.max_body_bytes,
                            body_read_timeout: state.config.server.body_read_timeout,
                            shape: extra.shape(),
                        },
                    );
                    async move {
                        match service.oneshot(req).await {
                            Ok(res) => res,
                            Err(never) => match never {},
                        }
                    }
                }),
            );
        }
    }
    router
}

/// Events → admission → the handler, as the hot routes have.
pub(super) fn service(
    state: &Arc<AppState>,
    extra: Extra,
    worker: usize,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + 'static {
    let shared = state.clone();
    let handler = tower::service_fn(move |req: Request| {
        let state = shared.clone();
        async move { Ok::<_, Infallible>(handle(state, extra, worker, req).await) }
    });
    ServiceBuilder::new()
        .map_response(|res: http::Response<EventBody<_>>| res.map(Body::new))
        .layer(EventLayer::new(state.registry.clone()).with_observer(state.observers()))
        .layer(RecoverLayer::new(move |err| {
            admission_error(extra.shape(), err)
        }))
        .layer(AdmissionLayer::with_controller(state.admission.clone()))
        .service(handler)
}

async fn handle(state: Arc<AppState>, extra: Extra, worker: usize, req: Request) -> Response {
    let limit = state.config.server.max_body_bytes;
    let body = match provider_adapters::body::read_limited(req.into_body(), limit).await {
        Ok(body) => body,
        Err(ReadError::TooLarge { .. }) => {
            return extra.shape().response(&ProviderError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {limit} bytes"),
            ))
        }
        Err(ReadError::Body(err)) => {
            return extra.shape().response(&ProviderError::bad_request(format!(
                "could not read the request body: {err}"
            )))
        }
    };
    match send(&state, extra, worker, body).await {
        Ok(res) => res,
        Err((err, model, info)) => {
            crate::app::proxy::log_failure(model.as_deref().unwrap_or(""), &err);
            let mut res = extra.shape().response(&err);
            crate::app::proxy::answered(res.extensions_mut(), model, None, info);
            res
        }
    }
}

/// A request no deployment answered: the error, its group and the last deployment
/// tried.
type Failed = (ProviderError, Option<Arc<str>>, Option<UpstreamInfo>);

/// Sends the request to a deployment of its model through the router (retries on
/// another deployment, cooldowns, rate limits, fallbacks), before any byte reached
/// the client.
async fn send(
    state: &AppState,
    extra: Extra,
    worker: usize,
    body: Bytes,
) -> Result<Response, Failed> {
    let peek = provider_adapters::request::peek(&body).map_err(|e| (e, None, None))?;
    let tokens = if state.any_tpm {
        crate::router::estimate_tokens(&body)
    } else {
        0
    };
    let started = Instant::now();
    // The deployment of the last attempt, for the request's event.
    let mut last: Option<Arc<DeploymentState>> = None;
    let routed = state
        .router
        .serve(
            &peek.model,
            tokens,
            |name| state.group(name),
            |deployment: Arc<DeploymentState>| {
                last = Some(deployment.clone());
                let (body, model) = (&body, &peek.model);
                async move {
                    let busy = Busy::new(deployment.clone());
                    let res =
                        attempt_once(state, extra, worker, body, peek.stream, &deployment, model)
                            .await?;
                    Ok((res, busy))
                }
            },
        )
        .await;
    let model = routed.group.clone();
    let deployment = routed.deployment.as_deref();
    let info = last.map(|d| crate::app::proxy::upstream_info(&d));
    match routed.result {
        Ok((res, busy)) => {
            let (mut parts, body) = res.into_parts();
            let reservation = routed
                .reservation
                .and_then(|r| crate::router::settle(r, &parts.extensions));
            crate::router::name_answer(&mut parts.headers, &model, deployment);
            crate::app::proxy::answered(
                &mut parts.extensions,
                Some(model),
                Some(started.elapsed()),
                info,
            );
            let body = Body::new(BusyBody {
                inner: body,
                _busy: busy,
                _reservation: reservation,
            });
            Ok(Response::from_parts(parts, body))
        }
        Err(err) => Err((err, Some(model), info)),
    }
}

/// One attempt on `deployment`: natively where its provider serves the route,
/// translated (or answered here) otherwise.
async fn attempt_once(
    state: &AppState,
    extra: Extra,
    worker: usize,
    body: &Bytes,
    stream: bool,
    deployment: &DeploymentState,
    model: &str,
) -> Result<Response, ProviderError> {
    let client = state
        .clients
        .new_service(deployment.target.for_worker(worker));
    let ep = client.endpoint();
    let native = match extra {
        Extra::Responses => Native::Responses,
        Extra::Completions => Native::Completions,
        Extra::CountTokens => Native::CountTokens,
    };
    if !deployment.mock && native.served_by(ep.provider) {
        let http = state.http.shard(worker);
        let stream = stream && extra != Extra::CountTokens;
        let res = native::forward(&http, ep, native, body, stream).await?;
        return Ok(res.map(Body::new));
    }
    match extra {
        Extra::Responses => translated_responses(&client, body).await,
        Extra::Completions => Err(ProviderError::bad_request(format!(
            "`{model}` is served by {}, which has no legacy completions API; \
             POST /v1/completions works with openai/ (and OpenAI-compatible) and azure/ \
             models; use /v1/chat/completions for this one",
            if deployment.mock {
                "the mock provider"
            } else {
                ep.provider.as_str()
            }
        ))
        .with_code("unsupported_endpoint")),
        Extra::CountTokens => {
            let tokens = native::estimate_input_tokens(body)?;
            let mut res = axum::Json(json!({"input_tokens": tokens})).into_response();
            res.headers_mut().insert(
                X_TOKEN_COUNT,
                HeaderValue::from_static("estimate; characters/4"),
            );
            Ok(res)
        }
    }
}

/// A Responses request answered through chat completions by `client`'s provider.
async fn translated_responses(
    client: &ProviderClient,
    body: &[u8],
) -> Result<Response, ProviderError> {
    let req = responses::parse_request(body)?;
    let echo = Echo::of(&req);
    let chat = responses::request_to_chat(&req)?;
    let res = client
        .send(Api::ChatCompletions, Bytes::from(chat.to_string()))
        .await?;
    if req.stream {
        let (mut parts, body) = res.into_parts();
        let stream = ResponsesStream::new(body, &echo);
        // The Responses status the client reads, in place of the chat stream's reason.
        ResponseFacts::of(&mut parts.extensions).finish_cell = Some(stream.finish_cell());
        return Ok(Response::from_parts(parts, Body::new(stream)));
    }
    let max = client.endpoint().max_response_bytes;
    // The chat answer's usage is the Responses answer's.
    let usage = ResponseFacts::usage(res.extensions());
    let bytes = provider_adapters::body::read_limited(res.into_body(), max)
        .await
        .map_err(|_| ProviderError::bad_gateway("the upstream answer could not be read"))?;
    let out = responses::response_from_chat(&bytes, &echo)?;
    // As the client reads it: why it is incomplete, else its status.
    let reason = out
        .incomplete_details
        .as_ref()
        .map_or(out.status, |d| d.reason);
    let mut res = axum::Json(out).into_response();
    let facts = ResponseFacts::of(res.extensions_mut());
    facts.usage = usage;
    facts.finish_reasons = Some(FinishReasons::one(FinishReason::from_static(reason)));
    Ok(res)
}

/// `GET /v1/models/{id}`: a served name or one a wildcard route matches; 404 else.
async fn retrieve_model(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let config = &state.config;
    let name = config
        .aliases
        .iter()
        .find(|a| a.alias == id)
        .map_or(id.as_str(), |a| a.model.as_str());
    let deployment = config.deployments.iter().find(|d| d.model_name == name);
    if deployment.is_none() && !state.wildcards.matches(&id) {
        return error_response(
            &ProviderError::new(
                StatusCode::NOT_FOUND,
                format!("model `{id}` is not served here; GET /v1/models lists the models"),
            )
            .with_code("model_not_found"),
        );
    }
    let mut body = json!({"id": id, "object": "model", "created": 0, "owned_by": "gateway"});
    if let Some(info) = deployment.map(|d| &d.info) {
        let info = json!({
            "id": info.id,
            "mode": info.mode,
            "base_model": info.base_model,
            "max_tokens": info.max_tokens,
            "max_input_tokens": info.max_input_tokens,
            "max_output_tokens": info.max_output_tokens,
            "input_cost_per_token": info.input_cost_per_token,
            "output_cost_per_token": info.output_cost_per_token,
        });
        body["model_info"] = info;
    }
    axum::Json(body).into_response()
}
