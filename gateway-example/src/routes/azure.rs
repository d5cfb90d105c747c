//! Azure OpenAI's paths, the model named in the path, the key as `api-key`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use http::StatusCode;
use provider_adapters::body::ReadError;
use provider_adapters::{Api, ProviderError};
use tower::ServiceExt;
use tower_layer::Layer;

use super::{service, Extra};
use crate::app::state::AppState;
use crate::app::upstream::upstream_service;
use crate::front::AuthLayer;
use crate::http::error::error_response;

/// Azure OpenAI's paths, as the `AzureOpenAI` SDKs call them
/// (`/openai/deployments/{model}/chat/completions`, `…/embeddings`, `…/completions`)
/// and the older `/engines/{model}/…`: the model is named in the path (it replaces
/// the body's), the key may come as `api-key`. Then as the routes without a model in
/// the path.
pub(crate) fn add_azure(
    mut router: Router<Arc<AppState>>,
    state: &Arc<AppState>,
    worker: usize,
    auth: &AuthLayer,
) -> Router<Arc<AppState>> {
    for root in ["/openai/deployments/{model}", "/engines/{model}"] {
        for (tail, api) in [
            ("/chat/completions", Some(Api::ChatCompletions)),
            ("/embeddings", Some(Api::Embeddings)),
            ("/completions", None),
        ] {
            let state = state.clone();
            let auth = auth.clone();
            router = router.route(
                &format!("{root}{tail}"),
                post(move |Path(model): Path<String>, req: Request| {
                    let state = state.clone();
                    let inner = tower::service_fn(move |req: Request| {
                        let (state, model) = (state.clone(), model.clone());
                        async move {
                            let req =
                                match with_model(req, &model, state.config.server.max_body_bytes)
                                    .await
                                {
                                    Ok(req) => req,
                                    Err(res) => return Ok::<_, Infallible>(res),
                                };
                            Ok(match api {
                                Some(api) => {
                                    upstream_service(&state, api, worker).oneshot(req).await?
                                }
                                None => {
                                    service(&state, Extra::Completions, worker)
                                        .oneshot(req)
                                        .await?
                                }
                            })
                        }
                    });
                    let service = auth.layer(inner);
                    async move {
                        match service.oneshot(azure_key(req)).await {
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

/// Azure's `api-key` header, as the `x-api-key` the auth layer reads.
fn azure_key(mut req: Request) -> Request {
    if let Some(key) = req.headers_mut().remove("api-key") {
        if !req.headers().contains_key("x-api-key") {
            req.headers_mut().insert("x-api-key", key);
        }
    }
    req
}

/// The request with `model` set in its JSON body.
async fn with_model(req: Request, model: &str, limit: usize) -> Result<Request, Response> {
    let (mut parts, body) = req.into_parts();
    let body = match provider_adapters::body::read_limited(body, limit).await {
        Ok(body) => body,
        Err(ReadError::TooLarge { .. }) => {
            return Err(error_response(&ProviderError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {limit} bytes"),
            )))
        }
        Err(ReadError::Body(err)) => {
            return Err(error_response(&ProviderError::bad_request(format!(
                "could not read the request body: {err}"
            ))))
        }
    };
    let model = serde_json::Value::from(model).to_string();
    let body = provider_adapters::request::edit_top_level(&body, &[("model", &model)], &[])
        .map_err(|e| error_response(&e))?;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Ok(Request::from_parts(parts, Body::from(body)))
}
