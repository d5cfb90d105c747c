//! The handler of the hot routes: the request to a deployment of its model, through
//! the router (retries on another deployment, cooldowns, rate limits, fallbacks).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use cache_layer::client::NewService;
use http::StatusCode;
use limits_layer::callbacks::{ModelName, ResponseFacts, UpstreamInfo};
use provider_adapters::body::ReadError;
use provider_adapters::{Api, ProviderError};
use tokio::time::Instant;

use super::deployment::{Busy, BusyBody, DeploymentState};
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
    // Only the provider headers worth passing on are kept (usually none: then the map
    // allocates nothing).
    let forwarded = provider_adapters::forwarded_headers(req.headers());
    // The request id (the client's, or the one the front layer gave it) goes upstream.
    let request_id = req.headers().get(&X_REQUEST_ID).cloned();
    let body = match read_body(req, limit).await {
        Ok(body) => body,
        Err(err) => return answer(error_response(&err)),
    };
    let peek = match provider_adapters::request::peek(&body) {
        Ok(peek) => peek,
        Err(err) => return answer(error_response(&err)),
    };
    let tokens = if state.any_tpm {
        crate::router::estimate_tokens(&body)
    } else {
        0
    };
    // The response head of the deployment that answered, with what it needs until the
    // body ends (its busy count, its stream limits).
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
                let (state, body, peek) = (&state, &body, &peek);
                let (forwarded, request_id) = (&forwarded, request_id.as_ref());
                async move {
                    let busy = Busy::new(deployment.clone());
                    let client = state
                        .clients
                        .new_service(deployment.target.for_worker(worker));
                    let started = Instant::now();
                    let res = client
                        .send_forwarding(api, body.clone(), peek, Some(forwarded), request_id)
                        .await?;
                    let endpoint = &deployment.target.endpoint;
                    let limits = crate::conn::SendLimits {
                        stall: endpoint.stream_timeout,
                        deadline: started.checked_add(endpoint.timeout),
                        anthropic: api == Api::Messages,
                    };
                    Ok((res, busy, limits, endpoint.provider.as_str()))
                }
            },
        )
        .await;
    let model = routed.group.clone();
    let info = last.as_deref().map(upstream_info);
    match routed.result {
        Ok((res, busy, limits, provider)) => {
            let (mut parts, body) = res.into_parts();
            let reservation = routed
                .reservation
                .and_then(|r| crate::router::settle(r, &parts.extensions));
            if let Some(dropped) = parts
                .extensions
                .remove::<provider_adapters::DroppedParams>()
            {
                state.metrics.dropped_params(provider, &dropped.0);
            }
            // The deployment of the last attempt is the one that answered.
            match &last {
                Some(d) => d.name_answer(&mut parts.headers),
                None => crate::router::name_answer(
                    &mut parts.headers,
                    &model,
                    routed.deployment.as_deref(),
                ),
            }
            answered(
                &mut parts.extensions,
                Some(model),
                Some(routed.upstream),
                info,
            );
            parts.extensions.insert(limits);
            // The deployment counts as busy until the response body ends.
            http::Response::from_parts(
                parts,
                http_body_util::Either::Left(BusyBody {
                    inner: body,
                    _busy: busy,
                    _reservation: reservation,
                }),
            )
        }
        Err(err) => {
            log_failure(&model, &err);
            let mut res = answer(error_response(&err));
            crate::router::name_answer(res.headers_mut(), &model, routed.deployment.as_deref());
            answered(
                res.extensions_mut(),
                Some(model),
                Some(routed.upstream),
                info,
            );
            res
        }
    }
}

/// Records on a response's facts the model it is for, the time spent waiting for
/// upstreams and who answered (or failed last), for the request's event, metrics and
/// overhead header.
pub(crate) fn answered(
    extensions: &mut http::Extensions,
    model: Option<Arc<str>>,
    upstream_time: Option<std::time::Duration>,
    info: Option<UpstreamInfo>,
) {
    let facts = ResponseFacts::of(extensions);
    facts.model = model.map(ModelName);
    facts.upstream_latency = upstream_time.map(UpstreamTime);
    facts.upstream = info;
}

/// Who answered (or failed last), for the request's event: its callbacks, and the
/// `deployment` label of its metrics and log line. Three words and two reference
/// counts, no allocation of its own.
pub(crate) fn upstream_info(deployment: &DeploymentState) -> UpstreamInfo {
    UpstreamInfo {
        provider: deployment.target.endpoint.provider.as_str(),
        model: deployment.upstream_model.clone(),
        deployment: deployment.name.clone(),
    }
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
