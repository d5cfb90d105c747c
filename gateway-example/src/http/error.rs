//! The gateway's own error answers, shared by every route.

use axum::response::Response;
use http::StatusCode;
use provider_adapters::ProviderError;

use crate::shape::ErrorShape;

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
