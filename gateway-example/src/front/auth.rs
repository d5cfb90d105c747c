//! [`AuthLayer`]: the master key check.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures_util::future::Either;
use http::header::AUTHORIZATION;
use http::StatusCode;
use provider_adapters::{ProviderError, Secret};
use subtle::ConstantTimeEq;
use tower_layer::Layer;
use tower_service::Service;

use crate::shape::ErrorShape;

/// Checks the master key (`Authorization: Bearer KEY` or `x-api-key: KEY`) in
/// constant time before the inner service sees the request. The key is never
/// forwarded: upstream requests are built afresh. A refusal is a `401`
/// (`authentication_error` in Anthropic's shape on the Messages routes).
#[derive(Clone, Debug)]
pub struct AuthLayer {
    master: Option<Secret>,
}

impl AuthLayer {
    /// Checks for `master`; with `None` every request passes.
    pub fn new(master: Option<Secret>) -> Self {
        Self { master }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            master: self.master.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct Auth<S> {
    inner: S,
    master: Option<Secret>,
}

impl<S> Service<Request> for Auth<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    /// The inner service's future, or the 401.
    type Future = Either<S::Future, Answered>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match check(self.master.as_ref(), req.headers()) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(message) => {
                // Only a refusal looks at the path, for the shape of its error.
                let shape = ErrorShape::of_path(req.uri().path());
                let err = ProviderError::new(StatusCode::UNAUTHORIZED, message)
                    .with_code("invalid_api_key");
                Either::Right(std::future::ready(Ok(shape.response(&err))))
            }
        }
    }
}

fn check(master: Option<&Secret>, headers: &http::HeaderMap) -> Result<(), &'static str> {
    let Some(master) = master else {
        return Ok(());
    };
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let expected = master.expose().as_bytes();
    let ok = [bearer, api_key]
        .into_iter()
        .flatten()
        .any(|given| bool::from(given.as_bytes().ct_eq(expected)));
    match (ok, bearer.is_none() && api_key.is_none()) {
        (true, _) => Ok(()),
        (false, true) => {
            Err("missing API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`")
        }
        (false, false) => Err("invalid API key"),
    }
}

/// A response known when the service is called.
pub type Answered = std::future::Ready<Result<Response, Infallible>>;
