//! The handler of the hot routes: the request to a deployment of its model, retried
//! on another one when the failure allows it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use cache_layer::client::NewService;
use http::StatusCode;
use limits_layer::callbacks::{ModelName, UpstreamInfo};
use provider_adapters::body::ReadError;
use provider_adapters::{Api, ProviderError};
use tokio::time::Instant;

use super::deployment::{pick, Busy, BusyBody, DeploymentState};
use super::state::AppState;
use crate::front::{UpstreamTime, X_REQUEST_ID};
use crate::shape::ErrorShape;

/// The body of [`proxy`]'s responses: an upstream's (kept counted as busy), or the
/// gateway's own answer. Not boxed: the layers around box the body once.
type ProxyBody = http_body_util::Either<BusyBody<provider_adapters::ResponseBody>, Body>;

/// The gateway's own answer, as a [`proxy`] response.
fn answer(res: Response) -> http::Response<ProxyBody> {
    res.map(http_body_util::Either::Right)
}

pub(super) async fn proxy(
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
    let mut forwarded = provider_adapters::forwarded_headers(req.headers());
    // The request id (the client's, or the one the front layer gave it) goes upstream.
    if let Some(id) = req.headers().get(&X_REQUEST_ID) {
        forwarded.insert(X_REQUEST_ID, id.clone());
    }
    let body = match read_body(req, limit).await {
        Ok(body) => body,
        Err(err) => return answer(error_response(&err)),
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
                if let Some(info) = upstream_info(&state, &deployment) {
                    parts.extensions.insert(info);
                }
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
                tracing::info!(model = %model, attempt, error = %err, "upstream failed: retrying on another deployment");
                tried.push(index);
                drop(busy);
                let backoff = Duration::from_millis(50 * 2u64.pow(attempt.min(5) - 1))
                    .min(Duration::from_secs(1));
                tokio::time::sleep(backoff).await;
            }
            Err(err) => {
                log_failure(&model, &err);
                let mut res = answer(error_response(&err));
                res.extensions_mut().insert(ModelName(model));
                res.extensions_mut().insert(UpstreamTime(upstream));
                if let Some(info) = upstream_info(&state, &deployment) {
                    res.extensions_mut().insert(info);
                }
                return res;
            }
        }
    }
}

/// The deployment that answered (or failed last), for the callbacks' events; `None`
/// when no callback is registered (an extension fewer to insert for nobody).
fn upstream_info(state: &AppState, deployment: &DeploymentState) -> Option<UpstreamInfo> {
    state.registry.has_callbacks().then(|| UpstreamInfo {
        provider: deployment.target.endpoint.provider.as_str(),
        model: deployment.upstream_model.clone(),
    })
}

/// The request body, read up to `limit` bytes.
async fn read_body(req: Request, limit: usize) -> Result<Bytes, ProviderError> {
    match provider_adapters::body::read_limited(req.into_body(), limit).await {
        Ok(body) => Ok(body),
        Err(ReadError::TooLarge { .. }) => Err(ProviderError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes"),
        )),
        Err(ReadError::Body(err)) => Err(ProviderError::bad_request(format!(
            "could not read the request body: {err}"
        ))),
    }
}

/// The cause of a failed request: at `WARN` when it is the upstream's or the
/// gateway's (5xx), at `DEBUG` when the client's request was refused.
pub(crate) fn log_failure(model: &str, err: &ProviderError) {
    let status = err.status().as_u16();
    if err.status().is_server_error() || status == 429 {
        tracing::warn!(model, status, error = %err, "upstream request failed");
    } else {
        tracing::debug!(model, status, error = %err, "upstream request refused");
    }
}
