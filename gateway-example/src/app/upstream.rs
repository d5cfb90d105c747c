//! The stack of layers in front of the handlers that call upstreams.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use limits_layer::admission::AdmissionLayer;
use limits_layer::events::{EventBody, EventLayer};
use provider_adapters::{Api, ProviderError};
use tower::ServiceBuilder;
use tower_service::Service;

use super::proxy::proxy;
use super::state::AppState;
use crate::front::RecoverLayer;
use crate::http::error::admission_error;
use crate::shape::ErrorShape;

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
        // Boxed: the handler's future is large (the router's loop, the upstream send),
        // and each layer outside moves the future it wraps by value while building its
        // own (the intake once more per state); one allocation replaces those copies.
        Box::pin(async move { Ok::<_, Infallible>(proxy(state, api, worker, req).await) })
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
        .layer(EventLayer::new(state.registry.clone()).with_observer(state.observers()))
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
